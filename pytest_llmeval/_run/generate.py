"""Before the tests run: plan every selected item and generate its answers, with progress.

Under pytest-xdist this runs on each worker (each collected every item); the controller,
which has no items, shows one progress line for the run from the workers' heartbeats
(:mod:`.folder`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from .._core.counters import Counters
from .._engine.client import MissingAPIKeyError
from .crashes import write_stand_ins
from .folder import RUN_FOLDER
from .plan import Planner, jobs_of, planned_specs
from .progress import Progress
from .state import state_of


def before_tests(session: pytest.Session, planners: Sequence[Planner]) -> None:
    """Plan and prefetch; on Ctrl-C say how far generation got, then let pytest stop."""
    config = session.config
    if config.option.collectonly or not session.items:
        return
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return  # pytest is about to stop for the collection errors
    run = state_of(config)
    specs = planned_specs(session.items, run.settings, planners)
    share = run.engine.share
    if share is not None and share.index == 0:
        write_stand_ins(share.root, specs)  # should a worker die, its case is still recorded
    jobs = jobs_of(specs, run.settings, run.targets.get)
    if not jobs:
        return
    progress = Progress(config) if not hasattr(config, "workerinput") else None
    try:
        run.engine.prefetch(jobs, progress.update if progress else None)
    except MissingAPIKeyError:
        return  # the first test that needs the network stops the run with the message
    except KeyboardInterrupt:
        meter = run.engine.meter
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
        progress.update(run.engine.meter, final=True)


def run_counters(config: pytest.Config) -> Counters | None:
    """The engine's counters for the whole run: this process's, or every xdist worker's."""
    folder = config.stash.get(RUN_FOLDER, None)
    if folder is not None and folder.path is not None:
        return folder.totals()
    meter = state_of(config).engine.meter
    return meter if meter.total else None
