"""A case from its parts to its record: requests, grading, verdict and the failure table.

Both front ends — the Gherkin steps and the ``llm`` fixture — fill a :class:`CaseSpec`
and hand it here, so a case means the same thing whichever way it was written.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest

from .._core.records import EvalRecord, GradeRecord, SampleRecord, UsageRecord, Verdict
from .._core.request import ChatRequest, Generation
from .._engine.pricing import PriceTable
from .._verdicts.stats import wilson
from ..graders._base import Grade, Grader, make_sample
from ..graders._context import GradingContext, grading


def fail(message: str) -> NoReturn:
    """Fail the current test with ``message`` alone: no traceback, no chained exception.

    ``from None`` matters: called while handling a parse error, ``pytest.fail`` would
    otherwise print the raw error first ("During handling of the above exception...").
    """
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None


class CaseSetupError(Exception):
    """A case cannot be run as written (no model, unreadable prompt file...)."""


@dataclass
class CaseSpec:
    """What defines one case, filled step by step (or by one ``llm.ask``)."""

    case_id: str
    nodeid: str
    group: str
    base_dir: Path
    """Folder that relative paths in this case are resolved from."""
    row: dict[str, Any] = field(default_factory=dict)
    """The Examples row and/or dataset row (the graders' ``item``)."""
    model: str | None = None
    samples: int = 1
    threshold: float = 1.0
    system: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    user: str | None = None
    images: list[str] = field(default_factory=list)
    """Data URLs of images attached to the user message."""
    params: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    target: str | None = None
    judge_model: str | None = None
    """The scenario's @judge: tag, for judges that name no model."""
    adaptive_max: int | None = None
    """``@samples:auto``: draw rounds of samples until the verdict is clear, at most this many."""
    side_by_side: str | None = None
    """The model this item runs on when several ``--llmeval-model`` are compared."""
    strict_stats: bool = False
    """--llmeval-stats=strict: a case whose interval straddles the threshold is inconclusive."""
    graders: list[Grader] = field(default_factory=list)

    def messages(self) -> tuple[dict[str, Any], ...]:
        if self.user is None:
            raise CaseSetupError("no user message: add a step 'When the user says \"...\"'")
        messages: list[dict[str, Any]] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        messages.extend(self.history)
        if self.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": self.user}]
            parts.extend({"type": "image_url", "image_url": {"url": url}} for url in self.images)
            messages.append({"role": "user", "content": parts})
        else:
            messages.append({"role": "user", "content": self.user})
        return tuple(messages)

    def requests(self, start: int = 0, count: int | None = None) -> list[ChatRequest]:
        """One request per sample; the sample index keeps their cache entries apart."""
        if self.model is None:
            raise CaseSetupError(
                "no model: add 'Given the model \"...\"', a @model:NAME tag, the llmeval marker's model=, "
                "--llmeval-model, or llmeval_model in the ini file"
            )
        messages = self.messages()
        return [
            ChatRequest(
                model=self.model,
                messages=messages,
                params=dict(self.params),
                response_format=self.response_format,
                sample_index=index,
            )
            for index in range(start, start + (self.samples if count is None else count))
        ]


def grade_sample(
    graders: Sequence[Grader], text: str, item: Mapping[str, Any], context: GradingContext | None = None
) -> list[Grade]:
    """Run every grader; a grader that raises is an error grade, not a crash of the run.

    ``context`` lets model-graded graders ask their judge through the run's engine.
    """
    sample = make_sample(text)
    grades = []
    with grading(context):
        for grader in graders:
            try:
                grades.append(grader(sample, item))
            except Exception as exc:  # a broken grader must not hide the others
                name = getattr(grader, "name", type(grader).__name__)
                grades.append(Grade.errored(name, f"grader raised {type(exc).__name__}: {exc}"))
    return grades


def judge_cost(samples: Sequence[SampleRecord], prices: PriceTable) -> float:
    """What the judges' tokens cost (their usage travels in the grades' details)."""
    total = 0.0
    for sample in samples:
        for grade in sample.grades:
            usage, model = grade.details.get("judge_usage"), grade.details.get("judge_model")
            if isinstance(usage, list) and len(usage) == 2 and isinstance(model, str):
                total += prices.cost(model, int(usage[0]), int(usage[1])) or 0.0
    return total


def sample_record(index: int, generation: Generation, grades: Sequence[Grade]) -> SampleRecord:
    usage = UsageRecord(
        prompt_tokens=generation.usage.prompt_tokens,
        completion_tokens=generation.usage.completion_tokens,
        total_tokens=generation.usage.total_tokens,
    )
    grader_error = next((g.error for g in grades if g.error is not None), None)
    outcome: Literal["pass", "fail", "error"]
    if generation.error is not None:
        outcome, error = "error", generation.error
    elif grader_error is not None:
        outcome, error = "error", grader_error
    else:
        outcome, error = ("pass" if all(g.passed for g in grades) else "fail"), None
    return SampleRecord(
        index=index,
        outcome=outcome,
        answer=generation.text,
        error=error,
        grades=[
            GradeRecord(
                grader=g.grader,
                passed=g.passed,
                score=g.score,
                reason=g.reason,
                error=g.error,
                details=_jsonable(dict(g.details)),
            )
            for g in grades
        ],
        usage=usage,
        latency_s=round(generation.latency, 4),
        cached=generation.cached,
        finish_reason=generation.finish_reason,
    )


def make_record(spec: CaseSpec, samples: Sequence[SampleRecord], prices: PriceTable | None = None) -> EvalRecord:
    """Count, decide the verdict, total the usage and its cost."""
    passes = sum(s.outcome == "pass" for s in samples)
    failures = sum(s.outcome == "fail" for s in samples)
    errors = sum(s.outcome == "error" for s in samples)
    decided = passes + failures
    pass_rate = passes / decided if decided else None
    verdict: Verdict
    reason = None
    interval = wilson(passes, decided) if decided else None
    if pass_rate is None:
        verdict = "error"
        reason = "every sample errored: " + _first_error(samples)
    else:
        verdict = decide(pass_rate, interval, spec.threshold, spec.strict_stats)
    prompt = sum(s.usage.prompt_tokens for s in samples)
    completion = sum(s.usage.completion_tokens for s in samples)
    return EvalRecord(
        case_id=spec.case_id,
        nodeid=spec.nodeid,
        group=spec.group,
        model=spec.model or "",
        samples=len(samples),
        passes=passes,
        failures=failures,
        errors=errors,
        pass_rate=pass_rate,
        threshold=spec.threshold,
        interval=interval,
        verdict=verdict,
        fingerprint=fingerprint(spec),
        reason=reason,
        usage=UsageRecord(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        latency_s=round(sum(s.latency_s for s in samples), 4),
        cost_usd=_case_cost(spec, samples, prompt, completion, prices),
        cache_hits=sum(s.cached for s in samples),
        sample_records=list(samples),
    )


def _at_least(value: float, bar: float) -> bool:
    # isclose: 4/5 against a threshold of 0.8 must pass despite float rounding.
    return value > bar or math.isclose(value, bar, abs_tol=1e-9)


def decide(pass_rate: float, interval: tuple[float, float] | None, threshold: float, strict: bool) -> Verdict:
    """pass / fail on the point estimate; with ``strict``, inconclusive when the interval straddles."""
    if not strict or interval is None:
        return "pass" if _at_least(pass_rate, threshold) else "fail"
    low, high = interval
    if _at_least(low, threshold):
        return "pass"
    if not _at_least(high, threshold):
        return "fail"
    return "inconclusive"


ROUND = 5
"""Samples per round of adaptive sampling."""


def settled(samples: Sequence[SampleRecord], threshold: float) -> bool:
    """Whether the Wilson interval of the samples so far lies wholly above or below the threshold."""
    passes = sum(s.outcome == "pass" for s in samples)
    decided = passes + sum(s.outcome == "fail" for s in samples)
    if not decided:
        return False
    low, high = wilson(passes, decided)
    return _at_least(low, threshold) or not _at_least(high, threshold)


def fingerprint(spec: CaseSpec) -> str:
    """What defines a case — messages, model parameters, response format, graders — as a short hash.

    Sample count, threshold and model are left out: changing them re-measures the same
    case (the model is part of a baseline entry's key instead).
    """
    try:
        messages = list(spec.messages())
    except CaseSetupError:
        messages = []
    material = {
        "messages": messages,
        "params": dict(sorted(spec.params.items())),
        "response_format": spec.response_format,
        "target": spec.target,
        "graders": [_grader_identity(g) for g in spec.graders],
    }
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _grader_identity(grader: Grader) -> Any:
    spec = getattr(grader, "spec", None)
    if spec is not None:
        return _jsonable(dict(spec))
    kind = type(grader)
    return f"{kind.__module__}.{getattr(grader, '__qualname__', kind.__qualname__)}"


def _case_cost(
    spec: CaseSpec, samples: Sequence[SampleRecord], prompt: int, completion: int, prices: PriceTable | None
) -> float | None:
    if prices is None or not spec.model:
        return None
    generation = prices.cost(spec.model, prompt, completion)
    return None if generation is None else generation + judge_cost(samples, prices)


def error_record(spec: CaseSpec, reason: str) -> EvalRecord:
    """The record of a case that could not run at all (set-up error)."""
    return EvalRecord(
        case_id=spec.case_id,
        nodeid=spec.nodeid,
        group=spec.group,
        model=spec.model or "",
        samples=0,
        passes=0,
        failures=0,
        errors=0,
        pass_rate=None,
        threshold=spec.threshold,
        verdict="error",
        reason=reason,
        latency_s=0.0,
        cache_hits=0,
    )


def _first_error(samples: Sequence[SampleRecord]) -> str:
    first = next((s.error for s in samples if s.error), "no samples")
    return first.splitlines()[0]


def failure_text(record: EvalRecord) -> str:
    """The message a failing or errored case shows: the numbers, then one row per sample."""
    head = f"case {record.case_id!r} on model {record.model!r}: "
    if record.verdict == "error":
        lines = [head + f"ERROR: {record.reason}"]
    else:
        rate = "n/a" if record.pass_rate is None else f"{record.pass_rate:.0%}"
        ci = "" if record.interval is None else f" (95% CI {record.interval[0]:.0%}-{record.interval[1]:.0%})"
        lines = [
            head + f"pass rate {record.passes}/{record.passes + record.failures} = {rate}{ci}, "
            f"threshold {record.threshold:.0%} -> {record.verdict.upper()}"
            + (f" ({record.errors} sample(s) errored, not counted)" if record.errors else "")
        ]
    for sample in record.sample_records:
        lines.append(f"  sample {sample.index}: {sample.outcome.upper()}" + (" (cached)" if sample.cached else ""))
        if sample.answer is not None:
            lines.append(f"    answer: {_shorten(sample.answer, 300)}")
        if sample.error is not None and not any(g.error for g in sample.grades):
            for i, line in enumerate(sample.error.splitlines()):
                lines.append(("    error: " if i == 0 else "      ") + line)
        for grade in sample.grades:
            if not grade.passed:
                label = "error" if grade.error else "failed"
                lines.append(f"    {label}: {grade.grader}: {grade.reason}")
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    flat = repr(text)
    return flat if len(flat) <= width else flat[: width - 4] + "...'"


def _jsonable(value: Any) -> Any:
    """Grade details must survive xdist's serializer and JSON: keep plain data, repr the rest."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)
