"""Fixtures of the reliability corpus (faults, bad inputs, interrupts, secrets, hostile content, fuzz)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sessions import SHARED, USED_BY, prewarm

# The longest first: each worker's background thread takes the next session nobody has taken.
PREWARM_ORDER = (
    "interrupted_0",
    "interrupted_1",
    "matrix_xdist",
    "server_killed_xdist",
    "interrupted_xdist",
    "worker_killed",
    "matrix_plain",
    "server_killed_plain",
    "bad_inputs",
    "damaged_cache",
    "secrets_xdist",
    "secrets_plain",
    "hostile",
    "hostile_xdist",
    "ctrl_c_in_when",
    "ctrl_c_in_then",
)


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every xdist worker of this session shares, for sessions run once (see ``sessions.once``)."""
    base = tmp_path_factory.getbasetemp()
    return (base if worker_id == "master" else base.parent) / "reliability-shared"


@pytest.fixture(scope="session", autouse=True)
def _prewarm_shared_sessions(request: pytest.FixtureRequest, shared_root: Path) -> Iterator[None]:
    """Run the subprocess sessions the selected tests read in the background while other tests run."""
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    used |= {shared for name in list(used) for shared in USED_BY.get(name, ())}
    order = [f for f in PREWARM_ORDER if f in used] + sorted(used & set(SHARED) - set(PREWARM_ORDER))
    thread = prewarm(shared_root, order)
    yield
    thread.join(timeout=300)
