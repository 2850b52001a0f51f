"""Suite gates: a run exits 1 when a model's pass rate is too low or a case regressed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_llmeval._config.options import CacheMode, Settings
from pytest_llmeval._config.parse import parse_threshold
from pytest_llmeval._core.records import BaselineComparison, CaseChange, ModelSummary
from pytest_llmeval._verdicts.gates import gate_failures

SETTINGS = Settings(
    model_override=None,
    default_model=None,
    base_url="http://localhost",
    base_url_is_custom=True,
    samples=1,
    threshold=1.0,
    timeout=60.0,
    max_retries=0,
    cache_mode=CacheMode.OFF,
    cache_dir=Path(".llmeval-cache"),
    reports=(),
    report_dir=Path("llmeval-report"),
)


def summary(model: str, passed: int, decided: int, *, rate: float | None = None) -> ModelSummary:
    pass_rate = rate if rate is not None else (passed / decided if decided else None)
    return ModelSummary(
        model=model,
        cases=decided,
        passed=passed,
        decided=decided,
        pass_rate=pass_rate,
        interval=None,
        sample_pass_rate=pass_rate,
        tokens=0,
        cost_usd=0.0,
        latency_s=0.0,
    )


def comparison(*changes: str, suite_p: float = 1.0, alpha: float = 0.05) -> BaselineComparison:
    return BaselineComparison(
        path="baselines/main.json",
        alpha=alpha,
        changes=[
            CaseChange(key=f"g::c{i}::m", case_id=f"c{i}", model="m", change=kind) for i, kind in enumerate(changes)
        ],
        shared_cases=len(changes),
        mean_difference=None,
        suite_p_value=suite_p,
    )


def test_no_gate_set_means_no_failure_whatever_the_results() -> None:
    assert gate_failures(SETTINGS, [summary("m", 0, 10)], comparison("regressed", suite_p=0.0)) == []


def test_min_pass_rate_fails_each_model_below_it_and_says_by_how_much() -> None:
    settings = replace(SETTINGS, min_pass_rate=0.8)
    lines = gate_failures(settings, [summary("gpt-a", 7, 10), summary("gpt-b", 8, 10), summary("gpt-c", 1, 3)], None)
    assert lines == [
        "llmeval gate failed: gpt-a: 7/10 cases passed (70.0%), below --llmeval-min-pass-rate 80.0%",
        "llmeval gate failed: gpt-c: 1/3 cases passed (33.3%), below --llmeval-min-pass-rate 80.0%",
    ]


def test_min_pass_rate_is_met_exactly_at_the_bar_despite_float_rounding() -> None:
    # "7.2%" parses to 0.07200000000000001 but 9/125 is 0.072: the same rate, so the gate holds.
    bar = parse_threshold("7.2%")
    assert bar > 9 / 125
    assert gate_failures(replace(SETTINGS, min_pass_rate=bar), [summary("m", 9, 125)], None) == []
    # The tolerance is for rounding only: a rate truly below the bar still fails.
    assert len(gate_failures(replace(SETTINGS, min_pass_rate=bar), [summary("m", 8, 125)], None)) == 1
    assert len(gate_failures(replace(SETTINGS, min_pass_rate=0.5), [summary("m", 0, 1, rate=0.5 - 1e-9)], None)) == 1


def test_min_pass_rate_ignores_a_model_with_no_decided_case() -> None:
    # Every case errored: there is no rate to hold to the bar (the errors fail their own tests).
    assert gate_failures(replace(SETTINGS, min_pass_rate=1.0), [summary("m", 0, 0)], None) == []


def test_min_pass_rate_of_zero_never_fails() -> None:
    assert gate_failures(replace(SETTINGS, min_pass_rate=0.0), [summary("m", 0, 5)], None) == []


def test_fail_on_regression_needs_a_baseline() -> None:
    assert gate_failures(replace(SETTINGS, fail_on_regression=True), [], None) == []


def test_fail_on_regression_by_regressed_cases() -> None:
    lines = gate_failures(
        replace(SETTINGS, fail_on_regression=True), [], comparison("regressed", "unchanged", "regressed")
    )
    assert lines == [
        "llmeval gate failed: 2 case(s) regressed against baselines/main.json; suite paired p = 1.0000 (alpha 0.05)"
    ]


@pytest.mark.parametrize(("suite_p", "fails"), [(0.049, True), (0.05, False), (0.2, False)])
def test_fail_on_regression_by_the_suite_p_value_alone(suite_p: float, fails: bool) -> None:
    # No single case is significant, but the suite as a whole got worse.
    lines = gate_failures(
        replace(SETTINGS, fail_on_regression=True), [], comparison("unchanged", "improved", "new", suite_p=suite_p)
    )
    expected = f"llmeval gate failed: 0 case(s) regressed against baselines/main.json; suite paired p = {suite_p:.4f}"
    assert lines == ([f"{expected} (alpha 0.05)"] if fails else [])


def test_without_fail_on_regression_a_regression_is_reported_not_gated() -> None:
    assert gate_failures(SETTINGS, [], comparison("regressed", suite_p=0.001)) == []


def test_both_gates_fail_together_pass_rate_first() -> None:
    settings = replace(SETTINGS, min_pass_rate=0.9, fail_on_regression=True)
    lines = gate_failures(settings, [summary("m", 1, 2)], comparison("regressed", suite_p=0.01, alpha=0.1))
    first, second = lines
    assert first.startswith("llmeval gate failed: m: 1/2 cases passed (50.0%), below")
    assert second.startswith("llmeval gate failed: 1 case(s) regressed against")
