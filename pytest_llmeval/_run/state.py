"""Per-run state, kept in ``config.stash`` (never module globals: pytester runs share modules)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from contextvars import Token
from dataclasses import dataclass
from pathlib import Path

import pytest

from .._case.pipeline import Runtime
from .._case.targets import Target, TargetRegistry
from .._case.tools import ToolRegistry
from .._config.options import Settings, resolve
from .._engine.cache import CacheDirError, ResponseCache
from .._engine.engine import Engine
from .._engine.pricing import PriceTable, PriceTableError
from .._engine.share import SharedRun
from .._reports.writers import WRITERS
from ..graders._custom import GraderRegistry, activate, deactivate


@dataclass
class RunState:
    """Everything one pytest run shares: settings, cache and engine."""

    settings: Settings
    cache: ResponseCache
    engine: Engine
    graders: GraderRegistry
    """The run's named custom graders (what ``graders.named`` and ``passes "name"`` look up)."""
    targets: TargetRegistry
    """The run's ``@pytest_llmeval.target`` functions (planned before the tests)."""
    tools: ToolRegistry
    """The run's ``@pytest_llmeval.tool`` functions (run in the tool loop of the tests)."""

    def search(self, modules: Iterable[object]) -> None:
        """Take the marked graders, targets and tools of plugin modules (conftest files, ``-p`` plugins)."""
        self.graders.search_all(modules)
        self.targets.search_all(modules)
        self.tools.search_all(modules)


STATE_KEY = pytest.StashKey[RunState]()
_ACTIVE_KEY = pytest.StashKey[Token[GraderRegistry | None]]()


def configure(config: pytest.Config) -> RunState:
    """Resolve the options, check the cache folder and price file, and build the engine."""
    settings = resolve(config, tuple(WRITERS))
    cache = ResponseCache(settings.cache_dir, settings.cache_mode)
    try:
        cache.check_writable()
    except CacheDirError as exc:
        raise pytest.UsageError(f"--llmeval-cache-dir / llmeval_cache_dir: {exc}") from None
    if settings.reports:
        _check_report_dir(settings.report_dir)
    try:
        prices = PriceTable.load(settings.prices_path)
    except PriceTableError as exc:
        raise pytest.UsageError(f"--llmeval-prices / llmeval_prices: {exc}") from None
    engine = Engine(settings, cache, prices, _shared_run(config))
    graders, targets = GraderRegistry(settings.project_root), TargetRegistry(settings.project_root)
    tools = ToolRegistry(settings.project_root)
    state = RunState(settings=settings, cache=cache, engine=engine, graders=graders, targets=targets, tools=tools)
    state.search(config.pluginmanager.get_plugins())
    config.stash[STATE_KEY] = state
    config.stash[_ACTIVE_KEY] = activate(graders)
    return state


def unconfigure(config: pytest.Config) -> None:
    """Close the engine and let the graders of the run go (an outer in-process run gets its own back)."""
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.engine.close()
    token = config.stash.get(_ACTIVE_KEY, None)
    if token is not None:
        deactivate(token)
        del config.stash[_ACTIVE_KEY]


def state_of(config: pytest.Config) -> RunState:
    return config.stash[STATE_KEY]


def runtime(request: pytest.FixtureRequest) -> Runtime:
    """The pipeline's runtime for the current test; targets come from its ``llmeval_targets`` fixture."""
    state = state_of(request.config)

    def targets() -> Mapping[str, Target]:
        # The fixture's targets win over registered ones of the same name: they are this test's.
        fixture: Mapping[str, Target] = request.getfixturevalue("llmeval_targets")
        return {**state.targets.all(), **fixture}

    return Runtime(engine=state.engine, settings=state.settings, targets=targets, tools=state.tools.all)


def _check_report_dir(folder: Path) -> None:
    """Fail before a paid run, not after it, when the reports could not be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise pytest.UsageError(
            f"--llmeval-report-dir / llmeval_report_dir: cannot write reports to {folder}: {exc.strerror or exc}"
        ) from None


def _shared_run(config: pytest.Config) -> SharedRun | None:
    """On an xdist worker, the run folder the controller made (see plugin.pytest_configure_node)."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or "llmeval_run_dir" not in workerinput:
        return None
    index = int(str(workerinput["workerid"]).removeprefix("gw") or 0)
    count = int(workerinput.get("workercount", 1))
    return SharedRun(Path(workerinput["llmeval_run_dir"]), index % count, count)
