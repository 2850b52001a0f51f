"""The xdist controller's side of sharing a run: the folder every worker writes into.

The controller makes the folder in ``pytest_configure_node`` and hands its path to every
worker; a thread prints one combined progress line from the workers' heartbeats; the
folder is removed at the end.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from .._core.counters import Counters
from .._engine.share import SharedRun
from .progress import Progress

RUN_FOLDER = pytest.StashKey["RunFolder"]()


class RunFolder:
    """The controller's side of sharing a run between xdist workers."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.workers = 0
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    def configure_node(self, config: pytest.Config, workerinput: dict[str, object]) -> None:
        if self.path is None:
            self.path = Path(tempfile.mkdtemp(prefix="llmeval-run-"))
            # The folder holds answers: it must go even when the run does not end normally.
            atexit.register(self.close)
        self.workers += 1
        workerinput["llmeval_run_dir"] = str(self.path)
        if self._watcher is None and config.get_verbosity() >= 0:
            self._watcher = threading.Thread(target=self._watch, args=(config,), name="llmeval-progress", daemon=True)
            self._watcher.start()

    def totals(self) -> Counters | None:
        """Every worker's counters added up, or None before any heartbeat."""
        if self.path is None:
            return None
        share = SharedRun(self.path, 0, max(self.workers, 1))
        return share.totals() if share.any_heartbeat() else None

    def _watch(self, config: pytest.Config) -> None:
        """Print the run's combined progress until every worker is done generating."""
        assert self.path is not None
        progress = Progress(config)
        progress.tty = False  # the controller's line would fight xdist's own output
        while not self._stop.wait(0.25):
            share = SharedRun(self.path, 0, max(self.workers, 1))
            if share.any_heartbeat():
                finished = share.all_done()
                progress.update(share.totals(), final=finished)
                if finished:
                    return

    def close(self) -> None:
        atexit.unregister(self.close)
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
