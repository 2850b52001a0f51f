"""The failure message of a case: the numbers first, then every sample, with model output kept inert."""

from __future__ import annotations

from pytest_llmeval._case.failure import failure_text
from pytest_llmeval._core.records import EvalRecord, Grade, SampleRecord


def record(samples: list[SampleRecord], **fields: object) -> EvalRecord:
    passes = sum(s.outcome == "pass" for s in samples)
    failures = sum(s.outcome == "fail" for s in samples)
    decided = passes + failures
    base: dict[str, object] = {
        "case_id": "refund[30d]",
        "nodeid": "t::x",
        "group": "g",
        "model": "m",
        "samples": len(samples),
        "passes": passes,
        "failures": failures,
        "errors": len(samples) - decided,
        "pass_rate": passes / decided if decided else None,
        "threshold": 0.8,
        "interval": (0.1, 0.9),
        "verdict": "fail",
        "sample_records": samples,
    }
    return EvalRecord(**{**base, **fields})  # type: ignore[arg-type]


FAILED = Grade.check("string_check", False, "expected '30 days'")
PASSED = Grade.check("regex", True, "matched")


def test_the_head_line_has_rate_interval_threshold_and_verdict() -> None:
    text = failure_text(record([SampleRecord(index=0, outcome="fail", answer="no", grades=[FAILED])]))
    assert text.splitlines()[0] == (
        "case 'refund[30d]' on model 'm': pass rate 0/1 = 0% (95% CI 10%-90%), threshold 80% -> FAIL"
    )


def test_no_interval_no_ci() -> None:
    text = failure_text(record([SampleRecord(index=0, outcome="fail", answer="no")], interval=None))
    assert "CI" not in text.splitlines()[0] and "= 0%, threshold 80% -> FAIL" in text


def test_errored_samples_are_noted_as_not_counted() -> None:
    samples = [
        SampleRecord(index=0, outcome="fail", answer="no", grades=[FAILED]),
        SampleRecord(index=1, outcome="error", answer=None, error="HTTP 500"),
        SampleRecord(index=2, outcome="error", answer=None, error="timeout"),
    ]
    head = failure_text(record(samples)).splitlines()[0]
    assert head.endswith("-> FAIL (2 sample(s) errored, not counted)")
    assert "pass rate 0/1 " in head  # errors are not in the denominator


def test_no_note_without_errors() -> None:
    text = failure_text(record([SampleRecord(index=0, outcome="fail", answer="no")]))
    assert "errored" not in text


def test_an_error_record_shows_its_reason() -> None:
    text = failure_text(record([], verdict="error", reason="no model: add ...", pass_rate=None, interval=None))
    assert text == "case 'refund[30d]' on model 'm': ERROR: no model: add ..."


def test_each_sample_with_its_answer_and_only_its_failed_grades() -> None:
    samples = [
        SampleRecord(index=0, outcome="pass", answer="30 days", grades=[PASSED], cached=True),
        SampleRecord(index=1, outcome="fail", answer="two weeks", grades=[PASSED, FAILED]),
    ]
    lines = failure_text(record(samples)).splitlines()[1:]
    assert lines == [
        "  sample 0: PASS (cached)",
        "    answer: '30 days'",
        "  sample 1: FAIL",
        "    answer: 'two weeks'",
        "    failed: string_check: expected '30 days'",
    ]


def test_answers_are_shown_with_repr_so_newlines_and_escapes_stay_inert() -> None:
    answer = "line one\nFAILED fake \x1b[31mred\x1b[0m\r"
    text = failure_text(record([SampleRecord(index=0, outcome="fail", answer=answer)]))
    assert "\x1b" not in text and "\r" not in text
    assert "    answer: 'line one\\nFAILED fake \\x1b[31mred\\x1b[0m\\r'" in text.splitlines()
    assert len(text.splitlines()) == 3  # the answer did not add a line of its own


def test_a_long_answer_is_cut_to_300_characters_with_a_closing_quote() -> None:
    text = failure_text(record([SampleRecord(index=0, outcome="fail", answer="x" * 1000)]))
    (shown,) = [line for line in text.splitlines() if line.startswith("    answer: ")]
    value = shown.removeprefix("    answer: ")
    assert len(value) == 300 and value.endswith("x...'") and value.startswith("'x")


def test_an_errored_sample_shows_its_error_over_indented_lines() -> None:
    sample = SampleRecord(index=0, outcome="error", answer=None, error="HTTP 500\nretried twice")
    text = failure_text(record([sample], verdict="error", reason="every sample errored: HTTP 500"))
    assert text.splitlines()[1:] == ["  sample 0: ERROR", "    error: HTTP 500", "      retried twice"]


def test_a_grader_error_is_shown_once_as_a_grade() -> None:
    broken = Grade.errored("json_schema", "grader raised KeyError: 'x'")
    sample = SampleRecord(index=0, outcome="error", answer="{}", error=broken.error, grades=[broken])
    text = failure_text(record([sample], verdict="error", reason="every sample errored"))
    assert text.splitlines()[1:] == [
        "  sample 0: ERROR",
        "    answer: '{}'",
        "    error: json_schema: grader raised KeyError: 'x'",
    ]
