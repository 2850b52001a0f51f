"""From graded samples to a case's verdict and its record.

A sample passes when every grader passed; the pass rate is passes / decided samples with
its Wilson 95 % interval; the verdict is pass / fail on the point estimate, or with
``--llmeval-stats strict`` inconclusive when the interval straddles the threshold.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, Literal

from .._core.records import EvalRecord, Grade, SampleRecord, ToolCallRecord, Usage, Verdict, jsonable
from .._core.request import Generation
from .._engine.pricing import PriceTable
from .._verdicts.stats import wilson
from ..graders._base import Grader
from .spec import CaseSetupError, CaseSpec


def sample_record(index: int, generation: Generation, grades: Sequence[Grade]) -> SampleRecord:
    """One sample: its answer (or error) and its grades; an erroring grader errors the sample."""
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
        grades=list(grades),
        usage=generation.usage,
        latency_s=round(generation.latency, 4),
        cached=generation.cached,
        finish_reason=generation.finish_reason,
        tool_calls=[ToolCallRecord(**call.dump()) for call in generation.tool_calls],
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
    elif errors and errors / len(samples) > spec.max_error_rate + 1e-9:
        # Missing data never makes a verdict: 1 pass of 5 samples, 4 errored, is not "100 %".
        verdict = "error"
        reason = (
            f"{errors} of {len(samples)} samples errored (--llmeval-max-error-rate {spec.max_error_rate:g}): "
            + _first_error(samples)
        )
    elif errors and decided < spec.min_decided:
        verdict = "error"
        reason = (
            f"only {decided} decided sample(s), {errors} errored (--llmeval-min-decided {spec.min_decided}): "
            + _first_error(samples)
        )
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
        usage=Usage.of(prompt, completion),
        latency_s=round(sum(s.latency_s for s in samples), 4),
        cost_usd=_case_cost(spec, samples, prompt, completion, prices),
        cache_hits=sum(s.cached for s in samples),
        sample_records=list(samples),
        **case_fields(spec),
    )


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
        **case_fields(spec),
    )


def case_fields(spec: CaseSpec) -> dict[str, Any]:
    """What a record keeps of the case itself: its prompt variant, the messages sent, its row.

    The messages and the row are what ``finetune export`` turns into training data.
    """
    try:
        messages: list[dict[str, Any]] | None = [dict(m) for m in spec.messages()]
    except CaseSetupError:
        messages = None  # nothing was sent: a pre-generated sample, a case that could not be set up
    return {
        "variant": spec.variant.name if spec.variant is not None else None,
        "messages": jsonable(messages),
        "row": spec.row,
        "tools": jsonable(spec.tools) if spec.tools is not None else None,
    }


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
    if spec.tools is not None:  # only then: fingerprints of cases without tools stay as they were
        material["tools"] = {"tools": spec.tools, "choice": spec.tool_choice, "results": spec.tool_results}
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _grader_identity(grader: Grader) -> Any:
    spec = getattr(grader, "spec", None)
    if spec is not None:
        return jsonable(dict(spec))
    kind = type(grader)
    return f"{kind.__module__}.{getattr(grader, '__qualname__', kind.__qualname__)}"


def judge_cost(samples: Sequence[SampleRecord], prices: PriceTable) -> float:
    """What the judges' tokens cost (their usage travels in the grades' details)."""
    total = 0.0
    for sample in samples:
        for grade in sample.grades:
            usage, model = grade.details.get("judge_usage"), grade.details.get("judge_model")
            if isinstance(usage, list) and len(usage) == 2 and isinstance(model, str):
                total += prices.cost(model, int(usage[0]), int(usage[1])) or 0.0
    return total


def _case_cost(
    spec: CaseSpec, samples: Sequence[SampleRecord], prompt: int, completion: int, prices: PriceTable | None
) -> float | None:
    if prices is None or not spec.model:
        return None
    generation = prices.cost(spec.model, prompt, completion)
    return None if generation is None else generation + judge_cost(samples, prices)


def _first_error(samples: Sequence[SampleRecord]) -> str:
    first = next((s.error for s in samples if s.error), "no samples")
    return first.splitlines()[0]
