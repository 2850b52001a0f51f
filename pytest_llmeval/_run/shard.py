"""``--llmeval-shard I/N``: split a suite across CI jobs by a stable hash of each test's node id.

::

    pytest --llmeval-shard 1/3 --llmeval-report json --llmeval-report-dir shard-1   # one job per I
    python -m pytest_llmeval merge shard-*/llmeval-report.json --out llmeval-report.json

The node id names the case (feature file or module, scenario, Examples or dataset row,
model, variant), so every job of the same commit puts each test in the same shard, under
xdist too (each worker collects every test and deselects the same ones). A hash spreads the
cases evenly whatever their order; adding a case moves no other case to another shard.
Every test is sharded, eval or not, so no test runs in two jobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def shard_of(nodeid: str, total: int) -> int:
    """The 1-based shard of a node id among ``total``."""
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def split(items: Sequence[T], nodeids: Sequence[str], shard: tuple[int, int]) -> tuple[list[T], list[T]]:
    """(kept, deselected): the items of shard ``I`` of ``N``, and the others."""
    index, total = shard
    kept: list[T] = []
    dropped: list[T] = []
    for item, nodeid in zip(items, nodeids, strict=True):
        (kept if shard_of(nodeid, total) == index else dropped).append(item)
    return kept, dropped


def nothing_to_run(exitstatus: int, shard: tuple[int, int] | None) -> bool:
    """True for pytest's "no tests ran" (exit 5) in a shard: a small suite split N ways leaves some empty.

    Such a shard writes no report; ``merge`` takes the others.
    """
    return shard is not None and exitstatus == 5
