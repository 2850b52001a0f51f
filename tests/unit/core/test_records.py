"""Records cross xdist as JSON and end in the report: totals derived, details plain, round trips exact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_llmeval._core.records import EvalRecord, Grade, SampleRecord, Usage, jsonable


def through_json(record: EvalRecord) -> Any:
    """What the controller gets: the worker's ``model_dump(mode='json')`` after a JSON hop."""
    return json.loads(json.dumps(record.model_dump(mode="json")))


# ---- Usage ----------------------------------------------------------------------------------


def test_usage_of_derives_the_total() -> None:
    usage = Usage.of(12, 30)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 30, 42)


@pytest.mark.parametrize("claimed", [0, 1, 999])
def test_a_claimed_total_is_never_trusted(claimed: int) -> None:
    assert Usage(prompt_tokens=2, completion_tokens=3, total_tokens=claimed).total_tokens == 5
    assert Usage.model_validate({"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": claimed}).total_tokens == 5


def test_a_total_read_back_from_json_is_derived() -> None:
    assert Usage.model_validate_json('{"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 100}') == Usage.of(
        7, 1
    )


def test_usage_defaults_to_zero() -> None:
    assert Usage() == Usage.of(0, 0)
    assert Usage().total_tokens == 0
    assert Usage(prompt_tokens=4).total_tokens == 4


def test_usage_is_frozen() -> None:
    with pytest.raises(ValidationError):
        Usage.of(1, 2).prompt_tokens = 5  # type: ignore[misc]


# ---- Grade ----------------------------------------------------------------------------------


def test_check_scores_one_or_zero_and_keeps_details() -> None:
    passed = Grade.check("string_check", True, "found 'Paris'", expected="Paris")
    failed = Grade.check("string_check", False, "no 'Paris'")
    assert (passed.passed, passed.score, passed.error) == (True, 1.0, None)
    assert passed.details == {"expected": "Paris"}
    assert (failed.passed, failed.score, failed.error) == (False, 0.0, None)
    assert failed.reason == "no 'Paris'"


def test_errored_is_a_failed_grade_whose_error_is_the_reason() -> None:
    grade = Grade.errored("judge", "the judge answered no score", raw="???")
    assert (grade.passed, grade.score) == (False, 0.0)
    assert grade.error == grade.reason == "the judge answered no score"
    assert grade.details == {"raw": "???"}


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque 7>"


def test_details_are_made_json_able() -> None:
    grade = Grade.check(
        "custom",
        True,
        "ok",
        tags={"b"},  # a set: no JSON form, so its repr
        thing=Opaque(),  # an object: its repr
        pair=(1, "x"),  # a tuple: a list
        nested={"inner": [Opaque(), None, 2.5], 3: True},  # keys become strings, depth is kept
    )
    assert grade.details == {
        "tags": "{'b'}",
        "thing": "<Opaque 7>",
        "pair": [1, "x"],
        "nested": {"inner": ["<Opaque 7>", None, 2.5], "3": True},
    }
    assert json.loads(json.dumps(grade.details)) == grade.details


def test_details_given_directly_are_made_json_able_too() -> None:
    assert Grade(grader="g", passed=True, score=1.0, reason="r", details={"s": frozenset()}).details == {
        "s": "frozenset()"
    }


def test_jsonable_keeps_json_scalars() -> None:
    for value in (None, "s", True, 0, -1.5):
        assert jsonable(value) == value
        assert type(jsonable(value)) is type(value)


def test_grade_round_trips_through_json() -> None:
    grade = Grade.check("json_schema", False, "missing 'id'", errors=["'id' is a required property"], seen={1})
    assert Grade.model_validate(json.loads(json.dumps(grade.model_dump(mode="json")))) == grade


# ---- EvalRecord -----------------------------------------------------------------------------


def make_record(**changes: Any) -> EvalRecord:
    grades = [
        Grade.check("string_check", True, "found", expected="Paris"),
        Grade.errored("judge", "no score", raw=Opaque()),
    ]
    samples = [
        SampleRecord(index=0, outcome="pass", answer="Paris", grades=grades[:1], usage=Usage.of(10, 2), latency_s=0.5),
        SampleRecord(
            index=1,
            outcome="error",
            answer="Paris!",
            error="no score",
            grades=grades,
            usage=Usage.of(10, 3),
            cached=True,
            finish_reason="stop",
        ),
    ]
    fields: dict[str, Any] = {
        "case_id": "capital[fr]@gpt-4.1-mini",
        "nodeid": "features/geo.feature::capital[fr]",
        "group": "features/geo.feature",
        "model": "gpt-4.1-mini",
        "samples": 2,
        "passes": 1,
        "failures": 0,
        "errors": 1,
        "pass_rate": 1.0,
        "threshold": 0.8,
        "interval": (0.2065, 1.0),
        "verdict": "pass",
        "fingerprint": "abc123",
        "usage": Usage.of(20, 5),
        "latency_s": 0.5,
        "cost_usd": 0.0000123,
        "cache_hits": 1,
        "sample_records": samples,
    }
    return EvalRecord(**{**fields, **changes})


def test_record_round_trips_through_json() -> None:
    record = make_record()
    assert EvalRecord.model_validate(through_json(record)) == record


def test_record_without_an_interval_or_cost_round_trips() -> None:
    record = make_record(interval=None, pass_rate=None, cost_usd=None, verdict="error", reason="every sample errored")
    assert EvalRecord.model_validate(through_json(record)) == record


def test_the_interval_comes_back_as_a_tuple() -> None:
    data = through_json(make_record())
    assert data["interval"] == [0.2065, 1.0]  # JSON has no tuples...
    assert EvalRecord.model_validate(data).interval == (0.2065, 1.0)  # ...the model makes it one again


def test_a_tampered_usage_total_is_derived_again() -> None:
    data = through_json(make_record())
    data["usage"]["total_tokens"] = 1
    data["sample_records"][0]["usage"]["total_tokens"] = 1
    record = EvalRecord.model_validate(data)
    assert record.usage.total_tokens == 25
    assert record.sample_records[0].usage.total_tokens == 12


def test_unknown_fields_are_refused() -> None:
    data = through_json(make_record())
    data["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        EvalRecord.model_validate(data)


def test_an_unknown_verdict_is_refused() -> None:
    data = through_json(make_record())
    data["verdict"] = "maybe"
    with pytest.raises(ValidationError):
        EvalRecord.model_validate(data)
