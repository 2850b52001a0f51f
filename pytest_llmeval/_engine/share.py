"""Sharing one run between pytest-xdist workers through a folder the controller creates.

Every worker collects every item, so each plans every job; a job's owner is chosen by a
stable hash of its key, so each request is sent by exactly one worker. The owner appends
the outcome (answer or error) to its own results log here; a test on another worker reads
it, waiting while the owner is alive. Each worker also writes a heartbeat with its
counters, which gives the controller a combined progress line and every worker the run's
total spend.

One append-only log per worker, not a file per outcome: the folder lives for one run, so
an outcome needs no fsync and no file of its own (creating, syncing and renaming one took
1.7 ms here, on the engine's loop, for every answer). A reader keeps its place in each
log and takes only whole lines, so it never sees half an outcome; the one writer of each
log is its owner.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, TextIO

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
        self._log: TextIO | None = None
        self._seen: dict[str, Generation] = {}
        """Outcomes read from the logs so far, by key."""
        self._read_up_to: dict[int, int] = {}
        """Per log, the offset after its last whole line read."""
        self._lock = threading.Lock()

    def owner(self, key: str) -> int:
        return int(key[:12], 16) % self.workers

    def owns(self, key: str) -> bool:
        return self.owner(key) == self.index

    def _log_path(self, index: int) -> Path:
        return self.root / "results" / f"{index}.jsonl"

    def publish(self, key: str, generation: Generation) -> None:
        line = json.dumps({"key": key, "outcome": generation.dump()}) + "\n"
        with self._lock:
            if self._log is None:
                self._log = self._log_path(self.index).open("a", encoding="utf-8")
            self._log.write(line)
            self._log.flush()

    def lookup(self, key: str, owner: int | None = None) -> Generation | None:
        """``key``'s outcome in its owner's log, if it is there yet."""
        with self._lock:
            found = self._seen.get(key)
            if found is None:
                self._read_new(self.owner(key) if owner is None else owner)
                found = self._seen.get(key)
        return found

    def _read_new(self, index: int) -> None:
        start = self._read_up_to.get(index, 0)
        try:
            with self._log_path(index).open("rb") as log:
                log.seek(start)
                chunk = log.read()
        except OSError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return  # nothing new, or a line still being written
        self._read_up_to[index] = start + end + 1
        for line in chunk[:end].splitlines():
            try:
                entry = json.loads(line)
                self._seen[entry["key"]] = Generation.load(entry["outcome"])
            except (TypeError, ValueError, KeyError, AttributeError):
                continue  # a damaged line is no outcome: the reader fetches that job itself

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

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
            found = self.lookup(key, owner)
            if found is not None:
                return found
            state = self.worker_state(owner)
            if state is not None and (state.get("finished") or time.time() - float(state["at"]) > STALE_AFTER):
                return self.lookup(key, owner)  # one last look: it may have landed just now
            if state is None and self._started_long_ago():
                return None  # the owner never even started: do not wait forever
            time.sleep(delay)
            # A look is a read of the new bytes of one log: cheap enough to keep it frequent,
            # since a test that waits here usually waits for an answer already on its way.
            delay = min(delay * 1.5, 0.1)
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
