"""Sharing one run between pytest-xdist workers through a folder the controller creates.

Every worker collects every item, so each plans every job; a job's owner is chosen by a
stable hash of its key, so each request is sent by exactly one worker. The owner writes
the outcome (answer or error) here; a test on another worker reads it, waiting while the
owner is alive. Each worker also writes a heartbeat with its counters, which gives the
controller a combined progress line and every worker the run's total spend.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .._core.counters import Counters, sum_counters
from .._core.files import atomic_write_text
from .._core.request import Generation

STALE_AFTER = float(os.environ.get("PYTEST_LLMEVAL_STALE_AFTER", "20"))
"""Seconds without a heartbeat after which a worker is taken for dead (the variable is for tests)."""


class SharedRun:
    """This worker's view of the run folder."""

    def __init__(self, root: Path, worker_index: int, workers: int) -> None:
        self.root = root
        self.index = worker_index
        self.workers = workers
        (root / "results").mkdir(parents=True, exist_ok=True)
        (root / "workers").mkdir(parents=True, exist_ok=True)

    def owner(self, key: str) -> int:
        return int(key[:12], 16) % self.workers

    def owns(self, key: str) -> bool:
        return self.owner(key) == self.index

    def _result_path(self, key: str) -> Path:
        return self.root / "results" / f"{key}.json"

    def publish(self, key: str, generation: Generation) -> None:
        atomic_write_text(self._result_path(key), json.dumps(generation.dump()))

    def lookup(self, key: str) -> Generation | None:
        try:
            data = json.loads(self._result_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        try:
            return Generation.load(data)
        except (TypeError, ValueError, KeyError):
            return None

    def heartbeat(self, counters: Counters, *, done: bool = False) -> None:
        # "finished" is the flag; counters have a "done" of their own.
        state = {**counters.to_dict(), "at": time.time(), "finished": done}
        atomic_write_text(self.root / "workers" / f"{self.index}.json", json.dumps(state))

    def worker_state(self, index: int) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / "workers" / f"{index}.json").read_text())
        except (OSError, ValueError):
            return None
        # A damaged heartbeat is no heartbeat: the worker is judged by its next one.
        if not isinstance(data, dict) or not isinstance(data.get("at"), int | float):
            return None
        return data

    def wait_for(self, key: str, limit: float = 1800.0, owner: int | None = None) -> Generation | None:
        """The owner's outcome for ``key``; None when the owner is done without it or gone."""
        owner = self.owner(key) if owner is None else owner
        deadline = time.monotonic() + limit
        delay = 0.02
        while time.monotonic() < deadline:
            found = self.lookup(key)
            if found is not None:
                return found
            state = self.worker_state(owner)
            if state is not None and (state.get("finished") or time.time() - float(state["at"]) > STALE_AFTER):
                return self.lookup(key)  # one last look: it may have landed just now
            if state is None and self._started_long_ago():
                return None  # the owner never even started: do not wait forever
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        return None

    def _started_long_ago(self) -> bool:
        try:
            return time.time() - os.stat(self.root).st_mtime > STALE_AFTER * 3
        except OSError:
            return True

    def totals(self, *, exclude_self: bool = False) -> Counters:
        """Counters summed over every worker's last heartbeat."""
        return sum_counters(
            Counters.from_dict(self.worker_state(index) or {})
            for index in range(self.workers)
            if not (exclude_self and index == self.index)
        )

    def any_heartbeat(self) -> bool:
        return any(self.worker_state(i) is not None for i in range(self.workers))

    def all_done(self) -> bool:
        return all((self.worker_state(i) or {}).get("finished") for i in range(self.workers))
