"""pytest hooks and fixtures of pytest-llmeval; each is a few lines calling a plain module."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from ._bdd import scenario as _bdd
from ._config import options as _options
from ._openai_evals import evals as _openai_evals
from ._python import llm as _llm
from ._reports import collector as _report
from ._run import generate as _generate
from ._run import session as _session
from ._verdicts import compare as _compare

if TYPE_CHECKING:
    from pytest_bdd.parser import Feature, Scenario, Step

_MARKERS = (
    "llmeval(samples=1, threshold=1.0, model=None, parameters=None, target=None): "
    "settings of the LLM eval case behind the llm fixture",
    "llmeval_dataset(path): one test per row of a JSONL, CSV or JSON-list file; the row is the case fixture",
    "llmeval_openai_eval(definition, items=None): one test per item of an exported OpenAI eval; "
    "the openai_eval fixture runs and grades it",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    _options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in _MARKERS:
        config.addinivalue_line("markers", marker)
    _session.configure(config)
    from ._bdd import steps as _steps

    # As a plugin, the step module's fixtures are global: every test module sees the phrases.
    config.pluginmanager.register(_steps, "llmeval-steps")
    # Only the controller aggregates and writes files (xdist workers have workerinput).
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_report.Collector(config), "llmeval-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    # At interpreter exit CPython's last garbage collection walks every object a big suite
    # made (4 s for 10,000 cases here); freezing first skips that walk. atexit, so that
    # in-process pytester runs leave their host's collector alone; unregister, so once.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    state = config.stash.get(_session.STATE_KEY, None)
    if state is not None:
        state.engine.close()
    folder = config.stash.get(_generate.RUN_FOLDER, None)
    if folder is not None:
        folder.close()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: give every worker the folder through which they share the run."""
    folder = node.config.stash.setdefault(_generate.RUN_FOLDER, _generate.RunFolder())
    folder.configure_node(node.config, node.workerinput)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    _generate.before_tests(session)
    return (yield)


# tryfirst: pytest-bdd answers this firstresult hook for every tag itself, and which
# plugin registers last depends on site-packages order.
@pytest.hookimpl(tryfirst=True)
def pytest_bdd_apply_tag(tag: str, function: Callable[..., object]) -> bool | None:
    return _bdd.apply_tag(tag, function)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    _bdd.generate_tests(metafunc)
    _llm.generate_tests(metafunc)
    _openai_evals.generate_tests(metafunc)
    _compare.generate_tests(metafunc)


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario) -> None:
    _bdd.start_scenario(request, feature, scenario)


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Step) -> None:
    _bdd.before_step(request, step)


def pytest_bdd_step_error(request: pytest.FixtureRequest, exception: Exception) -> None:
    _bdd.step_error(request, exception)


def pytest_bdd_after_scenario(request: pytest.FixtureRequest) -> None:
    _bdd.finish_scenario(request)


def pytest_bdd_step_func_lookup_error(request: pytest.FixtureRequest, scenario: Scenario, step: Step) -> None:
    from ._bdd.steps import PHRASES

    phrases = [p for kind, p in PHRASES if kind == step.type]
    _bdd.step_not_found(request, step, scenario, phrases)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.failed:
        _bdd.clean_collect_error(report, collector.config.rootpath)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call":
        _session.attach_record(item, report)
        _bdd.forget_case(item)
    return report


@pytest.fixture
def llm(request: pytest.FixtureRequest) -> _llm.LLM:
    """Ask the model for this test's case: ``llm.ask(prompt, system=...).check(*graders)``."""
    return _llm.make_llm(request)


@pytest.fixture
def case(request: pytest.FixtureRequest, _llmeval_row: object) -> dict[str, Any]:
    """The current row of ``@pytest.mark.llmeval_dataset(path)``, as a dict."""
    return _llm.case_row(request, _llmeval_row)


@pytest.fixture
def openai_eval(request: pytest.FixtureRequest, llm: _llm.LLM) -> _openai_evals.OpenAIEval:
    """One item of ``@pytest.mark.llmeval_openai_eval(definition, items=...)``: ``openai_eval.check()``."""
    return _openai_evals.make_eval(request, llm)


@pytest.fixture
def _llmeval_row() -> None:
    """Parametrized with a dataset row by the dataset tag or marker; None otherwise."""
    return None


@pytest.fixture
def _llmeval_model() -> None:
    """Parametrized with each --llmeval-model when several are compared; None otherwise."""
    return None


@pytest.fixture
def llmeval_targets() -> Mapping[str, Callable[[Mapping[str, Any]], Any]]:
    """Override in conftest.py to register targets by name: ``{"rag": my_pipeline}``."""
    return {}
