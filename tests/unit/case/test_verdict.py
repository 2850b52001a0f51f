from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmeval._case.failure import failure_text
from pytest_llmeval._case.pipeline import grade_sample
from pytest_llmeval._case.spec import CaseSetupError, CaseSpec
from pytest_llmeval._case.verdict import make_record, sample_record
from pytest_llmeval._core.request import Generation
from pytest_llmeval.graders import Grade, string_check


def spec(**changes: object) -> CaseSpec:
    base = CaseSpec(case_id="c", nodeid="t::c", group="g", base_dir=Path("."), model="m", user="hi")
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def record_for(outcomes: list[str], threshold: float = 1.0, **rules: object) -> object:
    grader = string_check("yes", "eq")
    samples = []
    for i, outcome in enumerate(outcomes):
        generation = Generation.failed("boom") if outcome == "error" else Generation(text=outcome)
        grades = grade_sample([grader], generation.text, {}) if generation.text is not None else []
        samples.append(sample_record(i, generation, grades))
    return make_record(spec(threshold=threshold, **rules), samples)


def test_pass_rate_excludes_errors_and_threshold_is_inclusive() -> None:
    record = record_for(["yes", "yes", "yes", "yes", "no", "error"], threshold=0.8, max_error_rate=0.2)
    assert record.passes == 4 and record.failures == 1 and record.errors == 1  # type: ignore[attr-defined]
    assert record.pass_rate == 0.8 and record.verdict == "pass"  # type: ignore[attr-defined]


def test_by_default_one_errored_sample_makes_the_case_an_error() -> None:
    # Four of five samples errored, the one left passed: that is no evidence of a 100 % pass rate.
    record = record_for(["yes", "error", "error", "error", "error"])
    assert record.verdict == "error" and record.pass_rate == 1.0  # type: ignore[attr-defined]
    assert record.reason == "4 of 5 samples errored (--llmeval-max-error-rate 0): boom"  # type: ignore[attr-defined]


def test_an_allowed_share_of_errors_still_needs_enough_decided_samples() -> None:
    allowed = record_for(["yes", "yes", "error"], max_error_rate=0.5, min_decided=2)
    assert allowed.verdict == "pass"  # type: ignore[attr-defined]
    short = record_for(["yes", "error"], max_error_rate=0.5, min_decided=2)
    assert short.verdict == "error"  # type: ignore[attr-defined]
    assert short.reason.startswith("only 1 decided sample(s), 1 errored (--llmeval-min-decided 2)")  # type: ignore[attr-defined]


def test_below_threshold_fails() -> None:
    assert record_for(["yes", "no"], threshold=0.75).verdict == "fail"  # type: ignore[attr-defined]


def test_all_errors_is_error_not_fail() -> None:
    record = record_for(["error", "error"])
    assert record.verdict == "error" and record.pass_rate is None  # type: ignore[attr-defined]
    assert record.reason == "every sample errored: boom"  # type: ignore[attr-defined]


def test_a_raising_grader_is_an_error_grade() -> None:
    def broken(sample: object, item: object) -> Grade:
        raise KeyError("x")

    (grade,) = grade_sample([broken], "text", {})  # type: ignore[list-item]
    assert grade.error == "grader raised KeyError: 'x'"
    sample = sample_record(0, Generation(text="text"), [grade])
    assert sample.outcome == "error"


def test_failure_text_lists_samples_answers_and_failed_grades() -> None:
    text = failure_text(record_for(["yes", "no"]))  # type: ignore[arg-type]
    assert "pass rate 1/2 = 50% (95% CI 9%-91%), threshold 100% -> FAIL" in text
    assert "sample 1: FAIL" in text and "answer: 'no'" in text and "string_check" in text


def test_requests_one_per_sample_with_messages_in_order() -> None:
    requests = spec(samples=3, system="s", history=[{"role": "user", "content": "earlier"}]).requests()
    assert [r.sample_index for r in requests] == [0, 1, 2]
    assert [m["role"] for m in requests[0].messages] == ["system", "user", "user"]


def test_no_model_and_no_user_message_are_setup_errors() -> None:
    with pytest.raises(CaseSetupError, match="no model"):
        spec(model=None).requests()
    with pytest.raises(CaseSetupError, match="no user message"):
        spec(user=None).requests()
