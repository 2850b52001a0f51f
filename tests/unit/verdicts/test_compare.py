"""Models side by side: per-model summaries and paired comparisons of the same cases."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval._core.ids import with_model
from pytest_llmeval._core.records import EvalRecord, Usage, Verdict
from pytest_llmeval._verdicts.compare import base_id, comparisons, model_summaries
from pytest_llmeval._verdicts.stats import sign_test_two_sided, wilson


def record(
    case: str,
    model: str,
    *,
    passes: int = 1,
    failures: int = 0,
    errors: int = 0,
    verdict: Verdict | None = None,
    group: str = "a.feature",
    side_by_side: bool = True,
    **extra: Any,
) -> EvalRecord:
    """A case on ``model``; side by side, its id carries the ``@model`` suffix as the front ends give it."""
    decided = passes + failures
    rate = passes / decided if decided else None
    if verdict is None:
        verdict = "error" if rate is None else "pass" if rate == 1.0 else "fail"
    case_id = with_model(case, model if side_by_side else None)
    return EvalRecord(
        case_id=case_id,
        nodeid=f"{group}::{case_id}",
        group=group,
        model=model,
        samples=passes + failures + errors,
        passes=passes,
        failures=failures,
        errors=errors,
        pass_rate=rate,
        threshold=1.0,
        verdict=verdict,
        **extra,
    )


def test_base_id_drops_only_the_own_model_suffix() -> None:
    assert base_id(record("refund[30d]", "ft:gpt-4.1-mini:acme::x")) == "refund[30d]"
    assert base_id(record("refund", "m", side_by_side=False)) == "refund"
    # Another model's name in the id is part of the case, not a suffix to drop.
    other = record("x", "m", side_by_side=False).model_copy(update={"case_id": "x@other"})
    assert base_id(other) == "x@other"


def test_model_summaries_per_model_in_first_seen_order() -> None:
    records = [
        record("a", "gpt-b", passes=2, failures=1, verdict="pass", usage=Usage.of(10, 5), cost_usd=0.1, latency_s=1.0),
        record("a", "gpt-a", passes=0, failures=3, usage=Usage.of(1, 1), cost_usd=None, latency_s=0.25),
        record("b", "gpt-b", passes=0, errors=3, usage=Usage.of(2, 0), cost_usd=0.2, latency_s=2.0004),
        record("c", "gpt-b", passes=1, failures=1, verdict="inconclusive"),
    ]
    b, a = model_summaries(records)
    assert (b.model, a.model) == ("gpt-b", "gpt-a")
    # Errored cases are not decided; inconclusive ones are, and did not pass.
    assert (b.cases, b.passed, b.decided, b.pass_rate) == (3, 1, 2, 0.5)
    assert b.interval == wilson(1, 2)
    assert b.sample_pass_rate == 3 / 5  # passing samples / decided samples over all cases
    assert (b.tokens, b.cost_usd, b.latency_s) == (17, 0.3, 3.0)  # cost to 6 decimals, seconds to 3
    assert (a.cases, a.passed, a.decided, a.pass_rate, a.sample_pass_rate) == (1, 0, 1, 0.0, 0.0)
    assert a.interval == wilson(0, 1)
    assert a.cost_usd == 0.0  # an unpriced case adds nothing


def test_a_model_whose_every_case_errored_has_no_rate() -> None:
    (summary,) = model_summaries([record("a", "m", passes=0, errors=2)])
    assert (summary.decided, summary.pass_rate, summary.interval, summary.sample_pass_rate) == (0, None, None, None)


def test_comparisons_pair_cases_by_id_without_the_model_suffix() -> None:
    records = [
        record("a", "gpt-a", passes=1, failures=1),
        record("b", "gpt-a", passes=2, failures=0),
        record("c", "gpt-a", passes=0, failures=2),
        record("only-a", "gpt-a"),
        record("a", "gpt-b", passes=2, failures=0),
        record("b", "gpt-b", passes=2, failures=0),
        record("c", "gpt-b", passes=2, failures=0),
        record("only-b", "gpt-b"),
    ]
    (comparison,) = comparisons(records, ["gpt-a", "gpt-b"])
    assert (comparison.model_a, comparison.model_b, comparison.shared_cases) == ("gpt-a", "gpt-b", 3)
    assert comparison.mean_difference == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert (comparison.b_better, comparison.a_better) == (2, 0)  # the tie on "b" counts for neither
    assert comparison.p_value == sign_test_two_sided([0.5, 0.0, 1.0]) == 0.5


def test_comparisons_follow_the_given_model_order_for_every_pair() -> None:
    records = [record("a", model) for model in ("m3", "m1", "m2")]
    pairs = [(c.model_a, c.model_b) for c in comparisons(records, ["m1", "m2", "m3"])]
    assert pairs == [("m1", "m2"), ("m1", "m3"), ("m2", "m3")]
    # Without an order, models come as the records do.
    first, *_ = comparisons(records)
    assert (first.model_a, first.model_b) == ("m3", "m1")


def test_a_decisive_comparison_has_a_small_sign_test_p() -> None:
    records = [record(f"c{i}", "old", passes=0, failures=1) for i in range(8)]
    records += [record(f"c{i}", "new", passes=1, failures=0) for i in range(8)]
    (comparison,) = comparisons(records, ["old", "new"])
    assert (comparison.b_better, comparison.a_better, comparison.mean_difference) == (8, 0, 1.0)
    assert comparison.p_value == pytest.approx(2 / 2**8)


def test_errored_cases_and_models_without_rates_are_left_out() -> None:
    records = [
        record("a", "m1"),
        record("b", "m1", passes=0, errors=1),
        record("a", "m2", passes=0, failures=1),
        record("b", "m2"),
        record("a", "m3", passes=0, errors=1),  # nothing decided on m3: no pair with it
    ]
    (comparison,) = comparisons(records, ["m1", "m2", "m3"])
    assert (comparison.model_a, comparison.model_b, comparison.shared_cases) == ("m1", "m2", 1)
    assert (comparison.a_better, comparison.mean_difference) == (1, -1.0)


def test_no_shared_case_gives_no_mean_and_p_one() -> None:
    (comparison,) = comparisons([record("a", "m1"), record("b", "m2")], ["m1", "m2"])
    assert (comparison.shared_cases, comparison.mean_difference, comparison.p_value) == (0, None, 1.0)


def test_one_model_has_nothing_to_compare() -> None:
    assert comparisons([record("a", "m1"), record("b", "m1")], ["m1"]) == []


def test_cases_of_the_same_name_in_two_groups_are_two_cases() -> None:
    records = [
        record("refund", model, passes=passes, failures=1 - passes, group=group)
        for model, group, passes in [
            ("m1", "a.feature", 1),
            ("m1", "b.feature", 0),
            ("m2", "a.feature", 1),
            ("m2", "b.feature", 0),
        ]
    ]
    (comparison,) = comparisons(records, ["m1", "m2"])
    assert comparison.shared_cases == 2
