"""``@pytest.mark.llmeval_openai_eval``: an exported OpenAI eval, one test per item.

::

    @pytest.mark.llmeval_openai_eval("evals/support.json", items="evals/support.jsonl")
    def test_support(openai_eval):
        openai_eval.check()

An item that comes with a pre-generated ``sample`` is graded as it is, without a model
call; any other item is answered by the model from the rendered ``input_messages``,
through ``llm.ask`` — the same pipeline, engine and cache. Feature files use the step
``Then the answer meets the testing criteria of "eval.json"`` instead (see
docs/openai-evals.md); the format itself is read in :mod:`pytest_llmeval._openai_evals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._case import pipeline
from .._case.outcome import conclude, fail, keep
from .._case.spec import resolve_model
from .._case.tools import ToolsError, tool_fields
from .._case.verdict import error_record, make_record
from .._core.records import EvalRecord
from .._core.request import Generation
from ..graders._base import Grader, GraderConfigError
from .llm import LLM

if TYPE_CHECKING:
    # Imported when an eval is used: most runs have none, and its models take a while to build.
    from .._openai_evals.definition import EvalDefinition
    from .._openai_evals.items import EvalItem

MARKER = "llmeval_openai_eval"
FIXTURE = "openai_eval"


@dataclass(frozen=True)
class EvalParam:
    """What one parametrized test gets: the definition, its graders, and one item."""

    definition: EvalDefinition
    graders: tuple[Grader, ...]
    row: EvalItem


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests marked ``llmeval_openai_eval``: one test per item (paths relative to the module)."""
    __tracebackhide__ = True
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    nodeid = metafunc.definition.nodeid
    if len(marker.args) != 1 or not isinstance(marker.args[0], str | Path) or set(marker.kwargs) - {"items"}:
        fail(f'{nodeid}: use @pytest.mark.{MARKER}("eval.json", items="items.jsonl")')
    if FIXTURE not in metafunc.fixturenames:
        fail(f"{nodeid}: @pytest.mark.{MARKER} needs the test to take the '{FIXTURE}' fixture")
    from .._openai_evals.criteria import criteria_graders
    from .._openai_evals.definition import EvalDefinitionError, load_definition
    from .._openai_evals.items import embedded_items, load_items

    base = _shown(Path(str(metafunc.definition.path)).parent)
    items = marker.kwargs.get("items")
    problem = None
    try:
        definition = load_definition(base / marker.args[0])
        graders = tuple(criteria_graders(definition))
        rows = load_items(base / items, definition) if items is not None else embedded_items(definition)
    except EvalDefinitionError as exc:
        problem = f"{nodeid}: {exc}"
    if problem is not None:
        fail(problem)
    params = [pytest.param(EvalParam(definition, graders, row), id=row.case_id) for row in rows]
    metafunc.parametrize(FIXTURE, params, indirect=True)


def make_eval(request: pytest.FixtureRequest, llm: LLM) -> OpenAIEval:
    """The ``openai_eval`` fixture's value for the current item (``llm``: the test's ``llm`` fixture)."""
    __tracebackhide__ = True
    param = getattr(request, "param", None)
    if not isinstance(param, EvalParam):
        fail(f"{request.node.nodeid}: the '{FIXTURE}' fixture needs @pytest.mark.{MARKER}(\"eval.json\", items=...)")
    return OpenAIEval(llm, param)


class OpenAIEval:
    """One item of an exported OpenAI eval; ``check()`` answers (or takes the sample) and grades it."""

    def __init__(self, llm: LLM, param: EvalParam) -> None:
        self._llm = llm
        self.definition = param.definition
        self.graders = list(param.graders)
        """One grader per testing criterion."""
        self.row = param.row
        self.item: dict[str, Any] = dict(param.row.item)
        """OpenAI's ``item``."""
        self.sample = param.row.sample
        """The pre-generated sample, or None when the model answers."""
        llm.row = self.item  # graders' item, and the row ask() puts in the case

    @property
    def case_id(self) -> str:
        return self._llm.case_id

    def check(self, *extra: Grader) -> EvalRecord:
        """Grade with every testing criterion (and ``extra``); fail the test unless the case passes."""
        __tracebackhide__ = True
        from .._openai_evals.definition import EvalDefinitionError
        from .._openai_evals.items import mode
        from .._openai_evals.messages import render_messages, split_messages

        graders = [*self.graders, *extra]
        if mode(self.definition, self.row) != "generate":
            return self._grade_as_is(graders)
        problem = None
        try:
            system, history, user = split_messages(render_messages(self.definition, self.item))
        except (GraderConfigError, EvalDefinitionError) as exc:
            problem = f"{self._llm.item.nodeid}: {self.row.where}: {exc}"
        if problem is not None:
            keep(self._llm.item, error_record(self._llm.spec(samples=1), problem))
            fail(problem)
        params = self.definition.sampling_params()
        response_format = params.pop("response_format", None)
        answer = self._llm.ask(
            user, system=system, history=history, model=self.definition.model, response_format=response_format, **params
        )
        return answer.check(*graders)

    def _grade_as_is(self, graders: list[Grader]) -> EvalRecord:
        """A pre-generated sample (or an eval that grades items alone): no model call."""
        __tracebackhide__ = True
        llm = self._llm
        settings = llm.runtime.settings
        # The model the run would have asked: where the samples came from, as far as we know.
        model = resolve_model(settings, self.definition.model, llm.model, side_by_side=llm.case.side_by_side)
        # The tools the sample was generated with: a tool_call grader checks its calls against them.
        params = self.definition.sampling_params()
        problem = None
        try:
            offered = tool_fields(params.get("tools"), params.get("tool_choice"))
        except ToolsError as exc:
            problem = f"{llm.item.nodeid}: {self.definition.path}: sampling_params: {exc}"
        if problem is not None:
            keep(llm.item, error_record(llm.spec(samples=1), problem))
            fail(problem)
        spec = llm.spec(model=model, samples=1, graders=graders, **offered)
        answer = Generation(text=self.row.text or "", tool_calls=self.row.tool_calls)
        samples = pipeline.grade(spec, llm.runtime, [answer])
        return conclude(llm.item, make_record(spec, samples, llm.runtime.engine.prices), settings)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when inside it: shorter in error messages."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
