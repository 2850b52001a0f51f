"""Before the tests run: plan every selected item and generate its answers, with progress.

Under pytest-xdist this runs on each worker (each collected every item); the controller,
which has no items, shows one progress line for the run from the workers' heartbeats.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from .._engine.client import MissingAPIKeyError
from .._engine.share import SharedRun
from .plan import plan
from .progress import Progress
from .session import state_of


def before_tests(session: pytest.Session) -> None:
    """Plan and prefetch; on Ctrl-C say how far generation got, then let pytest stop."""
    config = session.config
    if config.option.collectonly or not session.items:
        return
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return  # pytest is about to stop for the collection errors
    engine = state_of(config).engine
    jobs = plan(session.items)
    if not jobs:
        return
    progress = Progress(config) if not hasattr(config, "workerinput") else None
    try:
        engine.prefetch(jobs, (lambda meter: progress.update(meter.counters())) if progress else None)
    except MissingAPIKeyError:
        return  # the first test that needs the network stops the run with the message
    except KeyboardInterrupt:
        meter = engine.meter
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(
                f"llmeval: generation interrupted: {meter.done} of {meter.total} jobs answered; "
                "finished answers are kept in the cache",
                yellow=True,
            )
        raise
    if progress is not None:
        progress.update(engine.meter.counters(), final=True)


RUN_FOLDER = pytest.StashKey["RunFolder"]()


def run_counters(config: pytest.Config) -> dict[str, float] | None:
    """The engine's counters for the whole run: this process's, or every xdist worker's."""
    folder = config.stash.get(RUN_FOLDER, None)
    if folder is not None and folder.path is not None:
        return SharedRun(folder.path, 0, max(folder.workers, 1)).totals() or None
    meter = state_of(config).engine.meter
    return meter.counters() if meter.total else None


def describe_run(counters: dict[str, float]) -> str:
    """One line for the llmeval section: what generation did, whatever the progress line showed."""
    fresh = int(counters.get("done", 0)) - int(counters.get("cached", 0))
    return (
        f"requests: {int(counters.get('total', 0))} planned, {int(counters.get('cached', 0))} from the cache, "
        f"{fresh} sent | {int(counters.get('retries', 0))} retries | "
        f"{int(counters.get('rate_limited', 0))} rate-limited | {int(counters.get('errors', 0))} errors | "
        f"${float(counters.get('spent', 0.0)):.4f} spent"
    )


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
        self.workers += 1
        workerinput["llmeval_run_dir"] = str(self.path)
        if self._watcher is None and config.get_verbosity() >= 0:
            self._watcher = threading.Thread(target=self._watch, args=(config,), name="llmeval-progress", daemon=True)
            self._watcher.start()

    def _watch(self, config: pytest.Config) -> None:
        """Print the run's combined progress until every worker is done generating."""
        assert self.path is not None
        progress = Progress(config)
        progress.tty = False  # the controller's line would fight xdist's own output
        while not self._stop.wait(0.25):
            count = max(self.workers, 1)
            share = SharedRun(self.path, 0, count)
            totals = share.totals()
            if totals:
                progress.update({k: totals.get(k, 0) for k in _COUNTERS}, final=share.all_done())
                if share.all_done():
                    return

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


_COUNTERS = ("total", "done", "cached", "in_flight", "retries", "errors", "rate_limited", "tokens", "spent")
