"""pytest hooks and fixtures of pytest-llmeval; each is a few lines calling a plain module.

This module is also where the parts meet: it hands the front ends' planners to the run,
the run's state to the front ends, and the run's counters to the reports, so none of
them imports another.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from ._bdd import errors as bdd_errors
from ._bdd import plan as bdd_plan
from ._bdd import scenario as bdd_scenario
from ._bdd import tags as bdd_tags
from ._bdd.phrases import phrases
from ._case.outcome import attach_record, stop_run
from ._config import options
from ._engine.client import MissingAPIKeyError
from ._python import declare as py_declare
from ._python import errors as py_errors
from ._python import llm as py_llm
from ._python import marker as py_marker
from ._python import openai_eval as py_openai_eval
from ._reports import junit
from ._reports.collector import Collector
from ._reports.writers import WRITERS
from ._run import crashes, generate, models, shard, signals, state, variants
from ._run.folder import RUN_FOLDER, RunFolder

if TYPE_CHECKING:
    from pytest_bdd.parser import Feature, Scenario, Step

    from ._core.records import EvalRecord

_MARKERS = (
    "llmeval(samples=1, threshold=1.0, model=None, parameters=None, target=None): "
    "settings of the LLM eval case behind the llm fixture",
    "llmeval_dataset(path): one test per row of a JSONL, CSV or JSON-list file; the row is the case fixture",
    "llmeval_openai_eval(definition, items=None): one test per item of an exported OpenAI eval; "
    "the openai_eval fixture runs and grades it",
)
_PLANNERS = (bdd_plan.planned_case, py_declare.planned_case)
"""Front ends whose cases are known before the tests run."""
_SIGTERM = pytest.StashKey["signals.Handler | None"]()
_IS_EVAL = (py_marker.is_eval, bdd_plan.is_eval)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser, tuple(WRITERS))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in _MARKERS:
        config.addinivalue_line("markers", marker)
    run = state.configure(config)
    from ._bdd import library

    # As a plugin, the library's three step definitions are global: every test module sees the phrases.
    config.pluginmanager.register(library, "llmeval-steps")
    # Only the controller aggregates and writes files (xdist workers have workerinput).
    if not hasattr(config, "workerinput"):
        config.stash[_SIGTERM] = signals.sigterm_as_interrupt()
        config.pluginmanager.register(_collector(config, run), "llmeval-collector")


def _collector(config: pytest.Config, run: state.RunState) -> Collector:
    """The reports' view of the run: its counters, and the stand-in records of crashed workers' cases."""

    def crashed(nodeid: str, crash: str) -> EvalRecord | None:
        folder = config.stash.get(RUN_FOLDER, None)
        return crashes.stand_in(None if folder is None else folder.path, nodeid, crash)

    return Collector(config, run.settings, run.cache.damaged, lambda: generate.run_counters(config), crashed)


def pytest_unconfigure(config: pytest.Config) -> None:
    # At interpreter exit CPython's last garbage collection walks every object a big suite
    # made (4 s for 10,000 cases here); freezing first skips that walk. atexit, so that
    # in-process pytester runs leave their host's collector alone; unregister, so once.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    state.unconfigure(config)
    signals.restore(config.stash.get(_SIGTERM, None))
    folder = config.stash.get(RUN_FOLDER, None)
    if folder is not None:
        folder.close()


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    # A conftest.py found during collection: its @grader and @target functions join the run's.
    config = manager.get_plugin("pytestconfig")
    run = config.stash.get(state.STATE_KEY, None) if isinstance(config, pytest.Config) else None
    if run is not None:
        run.search([plugin])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: give every worker the folder through which they share the run."""
    folder = node.config.stash.setdefault(RUN_FOLDER, RunFolder())
    folder.configure_node(node.config, node.workerinput)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--llmeval-shard I/N``: keep this shard's tests; the others are reported as deselected."""
    chosen = state.state_of(config).settings.shard
    if chosen is not None:
        kept, deselected = shard.split(items, [item.nodeid for item in items], chosen)
        items[:] = kept
        if deselected:
            config.hook.pytest_deselected(items=deselected)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A shard that every test hashed away from ran nothing, and that is not an error."""
    if shard.nothing_to_run(exitstatus, state.state_of(session.config).settings.shard):
        session.exitstatus = pytest.ExitCode.OK


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    generate.before_tests(session, _PLANNERS)
    return (yield)


# tryfirst: pytest-bdd answers this firstresult hook for every tag itself, and which
# plugin registers last depends on site-packages order.
@pytest.hookimpl(tryfirst=True)
def pytest_bdd_apply_tag(tag: str, function: Callable[..., object]) -> bool | None:
    return bdd_tags.apply_tag(tag, function)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    bdd_tags.generate_tests(metafunc)
    py_marker.generate_tests(metafunc)
    py_openai_eval.generate_tests(metafunc)
    variants.generate_tests(metafunc, _IS_EVAL)
    models.generate_tests(metafunc, _IS_EVAL)


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario) -> None:
    settings = state.state_of(request.config).settings
    bdd_scenario.start_scenario(request, feature.filename, scenario.name, scenario.line_number, settings)


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Step) -> None:
    bdd_scenario.before_step(request, step)


def pytest_bdd_step_error(request: pytest.FixtureRequest, exception: Exception) -> None:
    bdd_scenario.step_error(request, exception)


def pytest_bdd_after_scenario(request: pytest.FixtureRequest) -> None:
    bdd_scenario.finish_scenario(request, state.runtime(request))


def pytest_bdd_step_func_lookup_error(request: pytest.FixtureRequest, scenario: Scenario, step: Step) -> None:
    bdd_errors.step_not_found(request, step, scenario, [shown for _, shown in phrases(step.type)])


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.failed:
        bdd_errors.clean_collect_error(report, collector.config.rootpath)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A missing API key anywhere in a test stops the run once, with one message."""
    try:
        yield
    except MissingAPIKeyError as exc:
        stop_run(item, str(exc))
    py_llm.after_test(item, state.state_of(item.config).settings)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call":
        py_errors.shorten_config_error(item, call, report)
        attach_record(item, report, state.state_of(item.config).settings)
        junit.add_properties(item, report)
        bdd_scenario.forget_case(item)
    return report


@pytest.fixture
def llm(request: pytest.FixtureRequest) -> py_llm.LLM:
    """Ask the model for this test's case: ``llm.ask(prompt, system=...).check(*graders)``."""
    return py_llm.LLM(request, state.runtime(request))


@pytest.fixture
def answer(llm: py_llm.LLM, _llmeval_row: object) -> py_llm.Answer:
    """The answer to the case ``@pytest.mark.llmeval(prompt=..., system=...)`` declares, planned before the tests.

    It takes the row fixture, so a declared dataset test need not take ``case`` as well.
    """
    return py_declare.make_answer(llm)


@pytest.fixture
def case(request: pytest.FixtureRequest, _llmeval_row: object) -> dict[str, Any]:
    """The current row of ``@pytest.mark.llmeval_dataset(path)``, as a dict."""
    return py_marker.case_row(request, _llmeval_row)


@pytest.fixture
def openai_eval(request: pytest.FixtureRequest, llm: py_llm.LLM) -> py_openai_eval.OpenAIEval:
    """One item of ``@pytest.mark.llmeval_openai_eval(definition, items=...)``: ``openai_eval.check()``."""
    return py_openai_eval.make_eval(request, llm)


@pytest.fixture
def _llmeval_row() -> None:
    """Parametrized with a dataset row by the dataset tag or marker; None otherwise."""
    return None


@pytest.fixture
def _llmeval_model() -> None:
    """Parametrized with each --llmeval-model when several are compared; None otherwise."""
    return None


@pytest.fixture
def _llmeval_variant() -> None:
    """Parametrized with each --llmeval-prompt-variant's name when several are compared; None otherwise."""
    return None


@pytest.fixture
def llmeval_targets() -> Mapping[str, Callable[[Mapping[str, Any]], Any]]:
    """Override in conftest.py to register targets by name: ``{"rag": my_pipeline}``."""
    return {}
