"""The one case pipeline: spec → requests → generations → grades → verdict → record.

Every front end runs its cases through here — a scenario at its last step, ``llm.ask``
and ``Answer.check`` in two halves (:func:`draw`, then :func:`grade`), an OpenAI eval
item with a pre-generated sample straight from :func:`grade` — so a case is generated,
graded and recorded the same way whichever way it was written::

    runtime = Runtime(engine, settings, targets=lambda: {...})
    record = evaluate(spec, runtime)           # a set-up problem is an error record
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._config.options import Settings
from .._core.records import EvalRecord, Grade, SampleRecord
from .._core.request import ChatRequest, Generation, Request, ToolCall
from .._engine.pricing import PriceTable
from ..graders._base import Grader, make_sample
from ..graders._context import GradingContext, grading
from ..graders._judge import JudgeGrader
from .spec import ROUND, CaseSetupError, CaseSpec
from .targets import Target
from .tools import ToolFunction, tool_loop
from .verdict import error_record, make_record, sample_record, settled


class Generator(Protocol):
    """What the pipeline needs of the engine."""

    prices: PriceTable

    def generate(
        self, requests: Sequence[Request], after: str | Sequence[str | None] | None = None
    ) -> list[Generation]: ...

    def keys_of(self, requests: Sequence[Request]) -> list[str | None]: ...


@dataclass(frozen=True)
class Runtime:
    """What running a case needs from the run: the engine, the settings and the targets."""

    engine: Generator
    settings: Settings
    targets: Callable[[], Mapping[str, Target]] = dict
    """Asked only when a case has a target (the ``llmeval_targets`` fixture is looked up then)."""
    tools: Callable[[], Mapping[str, ToolFunction]] = dict
    """The run's ``@pytest_llmeval.tool`` functions, asked only when a case offers tools."""


def evaluate(spec: CaseSpec, runtime: Runtime) -> EvalRecord:
    """Generate every sample of a case, grade it, and return its record.

    A case that cannot be set up (no model, unknown target) is an error record; a missing
    API key is not caught here, because it stops the whole run.
    """
    try:
        samples = sample_rounds(spec, runtime)
    except CaseSetupError as exc:
        return error_record(spec, str(exc) if spec.where is None else f"{spec.where}: {exc}")
    return make_record(spec, samples, runtime.engine.prices)


def draw(spec: CaseSpec, runtime: Runtime, start: int = 0, count: int | None = None) -> list[Generation]:
    """Answers for samples ``start`` .. ``start + count``, through the engine: the model's or the target's.

    A case that answers tool calls goes on asking, round by round (:func:`.tools.tool_loop`),
    and each sample's answer is the last one, with every call made on the way.
    """
    requests = requests_of(spec, runtime, start, count)
    generations = runtime.engine.generate(requests)
    if spec.target is not None or spec.tools is None:
        return generations
    functions = runtime.tools()
    if not spec.answers_tools(functions):
        return generations
    chat = [r for r in requests if isinstance(r, ChatRequest)]

    def generate(asked: Sequence[ChatRequest], roots: Sequence[str | None]) -> list[Generation]:
        return runtime.engine.generate(asked, after=list(roots))

    return tool_loop(
        chat,
        generations,
        canned=spec.tool_results,
        functions=functions,
        max_rounds=runtime.settings.max_tool_rounds,
        generate=generate,
        roots=runtime.engine.keys_of(chat),
    )


def requests_of(spec: CaseSpec, runtime: Runtime, start: int = 0, count: int | None = None) -> list[Request]:
    """The requests of samples ``start`` .. ``start + count``: target calls, or model requests."""
    if spec.target is None:
        return list(spec.requests(start, count))
    targets = runtime.targets()
    call = targets.get(spec.target)
    if call is None:
        known = ", ".join(sorted(targets)) or "none registered"
        raise CaseSetupError(
            f"unknown target {spec.target!r} (known: {known}); register it with "
            f'@pytest_llmeval.target("{spec.target}") or in the llmeval_targets fixture'
        )
    return list(spec.target_requests(call, start, count))


def sample_rounds(spec: CaseSpec, runtime: Runtime, first: Sequence[Generation] | None = None) -> list[SampleRecord]:
    """Draw and grade the case's samples; an adaptive case draws rounds until its verdict is clear.

    The first round is usually answered already (planned before the tests, or ``first``
    from ``llm.ask``); later rounds go through the same engine, concurrently within the round.
    """
    records: list[SampleRecord] = []
    count = spec.samples
    generations = list(first) if first is not None else None
    while True:
        if generations is None:
            generations = draw(spec, runtime, len(records), count)
        records.extend(grade(spec, runtime, generations, start=len(records)))
        generations = None
        top = spec.adaptive_max
        if top is None or len(records) >= top or settled(records, spec.threshold):
            return records
        count = min(ROUND, top - len(records))


def grade(spec: CaseSpec, runtime: Runtime, generations: Sequence[Generation], start: int = 0) -> list[SampleRecord]:
    """One record per generation: every grader on every answer; an errored answer is not graded."""
    # A judge needs its generation's cache key (to find it under xdist); others need none.
    # A pre-generated sample (no user message) was not sent: there is no key to find.
    judged = (spec.target is not None or spec.model is not None) and spec.user is not None
    judged = judged and any(isinstance(g, JudgeGrader) for g in spec.graders)
    keys = runtime.engine.keys_of(requests_of(spec, runtime, start, len(generations))) if judged else None
    records = []
    for offset, generation in enumerate(generations):
        grades: list[Grade] = []
        if generation.text is not None:
            context = grading_context(runtime, spec, keys[offset] if keys else None)
            grades = grade_sample(spec.graders, generation.text, spec.row, context, generation.tool_calls)
            if generation.stopped is not None:  # the loop ended without a final answer: the sample fails
                grades.insert(0, Grade.check("tool_loop", False, generation.stopped))
        records.append(sample_record(start + offset, generation, grades))
    return records


def grade_sample(
    graders: Sequence[Grader],
    text: str,
    item: Mapping[str, Any],
    context: GradingContext | None = None,
    tool_calls: Sequence[ToolCall] = (),
) -> list[Grade]:
    """Run every grader; a grader that raises is an error grade, not a crash of the run.

    ``context`` lets model-graded graders ask their judge through the run's engine.
    """
    sample = make_sample(text, tool_calls)
    grades = []
    with grading(context):
        for grader in graders:
            try:
                grades.append(grader(sample, item))
            except (Exception, SystemExit) as exc:  # a broken grader must not hide the others, nor end the run
                name = getattr(grader, "name", type(grader).__name__)
                grades.append(Grade.errored(name, f"grader raised {type(exc).__name__}: {exc}"))
    return grades


def grading_context(runtime: Runtime, spec: CaseSpec, parent_key: str | None) -> GradingContext:
    return GradingContext(
        engine=runtime.engine,
        judge_model=spec.judge_model or runtime.settings.judge_model,
        parent_key=parent_key,
        embedding_model=runtime.settings.embedding_model,
        tools=spec.tools,
    )
