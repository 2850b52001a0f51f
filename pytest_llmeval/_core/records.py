"""The records a run produces; the JSON report's schema is generated from these models.

A record is built on the worker that ran the test, travels to the controller on the
``TestReport`` as plain JSON-able data (xdist serializes report attributes), and is
aggregated there. ``llmeval-report.json`` is a :class:`RunReport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Verdict = Literal["pass", "fail", "inconclusive", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Model):
    """Tokens as reported by the server (cached answers keep what was recorded)."""

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    prompt_tokens: int = Field(0, description="Input tokens.")
    completion_tokens: int = Field(0, description="Output tokens.")
    total_tokens: int = Field(0, description="prompt_tokens + completion_tokens.")

    @model_validator(mode="before")
    @classmethod
    def _total(cls, data: Any) -> Any:
        # The total is derived, never trusted: a record read back cannot disagree with itself.
        if isinstance(data, dict):
            data = {
                **data,
                "total_tokens": int(data.get("prompt_tokens") or 0) + int(data.get("completion_tokens") or 0),
            }
        return data


UsageRecord = Usage
"""The name the report models used before: the same class."""


class Grade(_Model):
    """The verdict of one grader on one sample: a value, never an exception.

    Graders return it and the JSON report stores it as it is (one type, not a copy).
    """

    grader: str = Field(description="Grader name, e.g. string_check or json_schema.")
    passed: bool = Field(description="True when the sample met this grader's bar. Always False for an error.")
    score: float = Field(description="The grader's number (1.0/0.0 for checks that only pass or fail).")
    reason: str = Field(description="What was expected and what came, in one line a person can read.")
    error: str | None = Field(None, description="Set when the grader could not decide; counted apart from fail.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Extra data from the grader (schema errors, parsed values, judge usage)."
    )

    @field_validator("details", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        # Details cross xdist's serializer and become JSON: keep plain data, repr the rest.
        return jsonable(dict(value)) if isinstance(value, Mapping) else value

    @classmethod
    def check(cls, grader: str, passed: bool, reason: str, **details: Any) -> Grade:
        """A pass/fail grade whose score is 1.0 or 0.0."""
        return cls(passed=passed, score=1.0 if passed else 0.0, reason=reason, grader=grader, details=details)

    @classmethod
    def errored(cls, grader: str, reason: str, **details: Any) -> Grade:
        """A grade that could not be decided; ``reason`` says why."""
        return cls(passed=False, score=0.0, reason=reason, grader=grader, details=details, error=reason)


GradeRecord = Grade
"""The name the report models used before: the same class."""


def jsonable(value: Any) -> Any:
    """Plain JSON data: containers kept, anything else that is not a JSON scalar as its ``repr``."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return repr(value)


class ToolCallRecord(_Model):
    """One function call the model made in a sample, and what it was answered with."""

    id: str = Field(description="The call's id (the tool message answering it carries it).")
    name: str = Field(description="The function called.")
    arguments: str = Field(description="The arguments as the model wrote them (JSON text when valid).")
    round: int = Field(0, description="Which request of the sample made the call: 0 first, 1 after one tool result...")
    result: str | None = Field(None, description="What the call was answered with; None when it was not answered.")
    error: str | None = Field(None, description="Why the tool function failed (its message went to the model).")


class SampleRecord(_Model):
    """One sample of a case: the answer and its grades, or the error that replaced it."""

    index: int = Field(description="0-based sample number; each is its own cache entry.")
    outcome: Literal["pass", "fail", "error"] = Field(description="pass when every grader passed.")
    answer: str | None = Field(description="The model's answer; None when the request errored.")
    error: str | None = Field(None, description="Why the sample errored (request or grader).")
    grades: list[Grade] = Field(default_factory=list)
    usage: Usage = Field(default_factory=lambda: Usage())
    latency_s: float = Field(0.0, description="Request seconds (as recorded, for cached answers).")
    cached: bool = Field(False, description="True when the answer came from the response cache.")
    finish_reason: str | None = Field(None, description="The server's finish_reason.")
    tool_calls: list[ToolCallRecord] = Field(
        default_factory=list, description="Every function the model called, in order, over every tool round."
    )


class EvalRecord(_Model):
    """One case: a scenario or test x row x model, run ``samples`` times."""

    case_id: str = Field(description="Stable id: scenario or test name and the row's id.")
    nodeid: str = Field(description="pytest node id of the test item.")
    group: str = Field(description="Feature file or test module the case belongs to.")
    model: str = Field(description="Model the samples were drawn from.")
    samples: int = Field(description="Samples drawn.")
    passes: int = Field(description="Samples where every grader passed.")
    failures: int = Field(description="Samples where a grader failed.")
    errors: int = Field(description="Samples that errored (request failed or a grader could not decide).")
    pass_rate: float | None = Field(description="passes / (samples - errors); None when all errored.")
    threshold: float = Field(description="Pass rate the case needs.")
    interval: tuple[float, float] | None = Field(
        None, description="Wilson 95% interval of the pass rate; None when every sample errored."
    )
    verdict: Verdict = Field(
        description="pass, fail, inconclusive (--llmeval-stats=strict: the interval straddles the threshold), "
        "or error (every sample errored, or set-up failed)."
    )
    fingerprint: str = Field(
        "", description="Hash of what defines the case (messages, parameters, graders): a baseline sees redefinitions."
    )
    reason: str | None = Field(None, description="Why the verdict is error, when it is.")
    usage: Usage = Field(default_factory=lambda: Usage(), description="Tokens over all samples.")
    latency_s: float = Field(0.0, description="Sum of the samples' request seconds.")
    cost_usd: float | None = Field(
        None,
        description="What the samples' tokens cost at the price table's rates (cached ones too); None if unpriced.",
    )
    cache_hits: int = Field(0, description="Samples answered from the cache.")
    sample_records: list[SampleRecord] = Field(default_factory=list, description="Every sample, in order.")
    variant: str | None = Field(
        None, description="The prompt variant the case ran under (--llmeval-prompt-variant); None without one."
    )
    messages: list[dict[str, Any]] | None = Field(
        None,
        description="The messages every sample was sent (system, earlier turns, user; images as content parts), "
        "as Chat Completions takes them: what a fine-tuning export trains on. None when nothing was sent "
        "(a pre-generated sample, a set-up error).",
    )
    row: dict[str, Any] = Field(
        default_factory=dict,
        description="The case's Examples and dataset row (the graders' item): where a fine-tuning export "
        "finds a reference answer (ideal, expected).",
    )
    tools: list[dict[str, Any]] | None = Field(
        None, description="The OpenAI tools array the model was offered; None when it was offered none."
    )

    @field_validator("row", mode="before")
    @classmethod
    def _plain_row(cls, value: Any) -> Any:
        # A row crosses xdist and becomes JSON like a grade's details.
        return jsonable(dict(value)) if isinstance(value, Mapping) else value


class GroupSummary(_Model):
    """Totals for one feature file or test module."""

    group: str
    cases: int
    passed: int = Field(description="Cases whose verdict is pass.")
    failed: int
    errored: int
    inconclusive: int = Field(0, description="Cases whose interval straddles the threshold (--llmeval-stats strict).")
    decided: int = Field(
        0, description="Cases with a verdict other than error (pass, fail, inconclusive): the pass rate's denominator."
    )
    pass_rate: float | None = Field(
        description="Passed cases / decided cases, the same denominator as models side by side and the gate."
    )
    samples: int
    sample_failures: int = Field(description="Samples where a grader failed (also in passing cases).")
    sample_errors: int
    cache_hits: int
    tokens: int
    cost_usd: float = Field(0.0, description="Sum of the priced cases' cost.")


class ModelSummary(_Model):
    """One model's results over all its cases."""

    model: str
    cases: int
    passed: int = Field(description="Cases whose verdict is pass.")
    decided: int = Field(description="Cases with a pass/fail/inconclusive verdict (not error).")
    pass_rate: float | None = Field(description="Passed cases / decided cases.")
    interval: tuple[float, float] | None = Field(description="Wilson 95% interval of that rate.")
    sample_pass_rate: float | None = Field(description="Passing samples / decided samples over all cases.")
    tokens: int
    cost_usd: float
    latency_s: float = Field(description="Sum of request seconds over all samples.")


class ModelComparison(_Model):
    """Model B against model A over the cases both ran (paired by case)."""

    model_a: str
    model_b: str
    shared_cases: int
    mean_difference: float | None = Field(description="Mean of (B's pass rate - A's) per shared case.")
    b_better: int = Field(description="Shared cases where B's pass rate is higher.")
    a_better: int
    p_value: float = Field(description="Two-sided exact sign test over the shared cases.")


class VariantSummary(_Model):
    """One prompt variant's results over all its cases (on every model, in a prompt x model grid)."""

    variant: str
    prompt: str = Field(description="What the variant puts in place: a file, inline text, or each case's own prompt.")
    cases: int
    passed: int = Field(description="Cases whose verdict is pass.")
    decided: int = Field(description="Cases with a pass/fail/inconclusive verdict (not error).")
    pass_rate: float | None = Field(description="Passed cases / decided cases.")
    interval: tuple[float, float] | None = Field(description="Wilson 95% interval of that rate.")
    sample_pass_rate: float | None = Field(description="Passing samples / decided samples over all cases.")
    tokens: int
    cost_usd: float


class VariantCaseDifference(_Model):
    """A case on one model where one variant's pass rate is significantly higher than the other's."""

    key: str = Field(description="group :: case id without variant and model :: model.")
    case_id: str = Field(description="The case id without its @variant and @model suffixes.")
    model: str
    a: str = Field(description="passes/decided under variant_a.")
    b: str = Field(description="passes/decided under variant_b.")
    better: str = Field(description="The variant with the higher pass rate.")
    p_value: float = Field(description="Holm-adjusted one-sided Fisher p-value, over both directions of every case.")


class VariantComparison(_Model):
    """Variant B against variant A, paired by case and model: the statistics of the baseline gate."""

    variant_a: str
    variant_b: str
    alpha: float
    shared_cases: int = Field(description="Cases (on each model) that both variants decided.")
    mean_difference: float | None = Field(description="Mean of (B's pass rate - A's) per shared case.")
    b_better: int = Field(description="Shared cases where B's pass rate is higher (significant or not).")
    a_better: int
    p_value: float = Field(description="Two-sided exact sign test over the shared cases (ties dropped).")
    better: str | None = Field(
        description="The variant that is better over the suite (sign test p < alpha); None when neither is."
    )
    differences: list[VariantCaseDifference] = Field(
        default_factory=list, description="The cases where one variant is significantly better (Holm, alpha)."
    )


Change = Literal["regressed", "improved", "unchanged", "new", "removed"]


class CaseChange(_Model):
    key: str
    case_id: str
    model: str
    change: Change
    redefined: bool = Field(False, description="The case's fingerprint differs from the baseline's.")
    before: str | None = Field(None, description="passes/decided in the baseline.")
    after: str | None = Field(None, description="passes/decided now.")
    p_value: float | None = Field(None, description="Holm-adjusted one-sided Fisher p-value of the change.")


class BaselineComparison(_Model):
    path: str
    alpha: float
    changes: list[CaseChange]
    shared_cases: int
    mean_difference: float | None = Field(description="Mean of (now - baseline) pass rate over shared cases.")
    suite_p_value: float = Field(description="One-sided exact sign test that shared cases got worse.")

    def count(self, change: Change) -> int:
        return sum(c.change == change for c in self.changes)

    @property
    def redefined(self) -> int:
        return sum(c.redefined for c in self.changes)


class RunInfo(_Model):
    """What the run was: enough to tell two reports apart and to rerun one (no keys, no headers)."""

    models: list[str] = Field(default_factory=list, description="Models the cases ran on, in order.")
    options: dict[str, str] = Field(
        default_factory=dict, description="The llmeval options that shaped the verdicts (name -> value as given)."
    )
    started_at: str | None = Field(None, description="UTC time the session started, ISO 8601.")
    duration_s: float | None = Field(None, description="Seconds from the session's start to the report.")
    python: str | None = Field(None, description="Python version.")
    pytest: str | None = Field(None, description="pytest version.")
    shards: list[str] = Field(
        default_factory=list, description="The --llmeval-shard values of the reports merged into this one."
    )


class RunReport(_Model):
    """The JSON report: every case, per group and overall totals, comparisons and gates."""

    plugin_version: str
    created_at: str = Field(description="UTC time the report was written, ISO 8601.")
    overall: GroupSummary
    groups: list[GroupSummary]
    cases: list[EvalRecord]
    models: list[ModelSummary] = Field(default_factory=list, description="Per-model results, side by side.")
    comparisons: list[ModelComparison] = Field(default_factory=list, description="Paired model comparisons.")
    variants: list[VariantSummary] = Field(
        default_factory=list, description="Per-prompt-variant results, side by side (several variants only)."
    )
    variant_comparisons: list[VariantComparison] = Field(
        default_factory=list, description="Paired comparisons of every two prompt variants."
    )
    baseline: BaselineComparison | None = Field(None, description="The comparison with --llmeval-baseline.")
    gates: list[str] = Field(default_factory=list, description="One line per failed gate; empty when all held.")
    partial: str | None = Field(
        None,
        description="Why the run did not run every selected test (interrupted, stopped by -x or --maxfail); "
        "None for a whole run. A partial run never writes a baseline.",
    )
    run: RunInfo | None = Field(None, description="Run metadata: models, options, time, versions.")
