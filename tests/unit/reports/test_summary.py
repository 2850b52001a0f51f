"""Group and overall totals: what every report format shows, so the arithmetic must be right."""

from __future__ import annotations

import re
from typing import Any

from pytest_llmeval._core.records import EvalRecord, RunReport, Usage, Verdict
from pytest_llmeval._reports.summary import build_report, summarize


def record(
    case_id: str = "case",
    *,
    group: str = "a.feature",
    passes: int = 1,
    failures: int = 0,
    errors: int = 0,
    verdict: Verdict | None = None,
    **extra: Any,
) -> EvalRecord:
    """A case record whose counts agree with each other (as the case pipeline builds them)."""
    decided = passes + failures
    rate = passes / decided if decided else None
    if verdict is None:
        verdict = "error" if rate is None else "pass" if rate == 1.0 else "fail"
    return EvalRecord(
        case_id=case_id,
        nodeid=extra.pop("nodeid", f"{group}::{case_id}"),
        group=group,
        model=extra.pop("model", "m"),
        samples=passes + failures + errors,
        passes=passes,
        failures=failures,
        errors=errors,
        pass_rate=rate,
        threshold=1.0,
        verdict=verdict,
        **extra,
    )


def test_pass_rate_is_over_decided_cases_and_errors_are_counted_apart() -> None:
    # An errored case says nothing about the model: it must not lower (or raise) the rate.
    summary = summarize(
        "g",
        [
            record("p1"),
            record("p2"),
            record("f", passes=0, failures=1),
            record("e1", passes=0, errors=2),
            record("e2", passes=0, errors=1),
        ],
    )
    assert (summary.cases, summary.passed, summary.failed, summary.errored) == (5, 2, 1, 2)
    assert summary.pass_rate == 2 / 3
    assert (summary.samples, summary.sample_failures, summary.sample_errors) == (6, 1, 3)


def test_inconclusive_cases_are_decided_but_not_passed() -> None:
    # One denominator everywhere: the table's, the models' and the gate's (pass + fail + inconclusive).
    summary = summarize("g", [record("p"), record("i", passes=2, failures=1, verdict="inconclusive")])
    assert (summary.cases, summary.passed, summary.failed, summary.errored) == (2, 1, 0, 0)
    assert (summary.inconclusive, summary.decided) == (1, 2)
    assert summary.pass_rate == 0.5


def test_no_decided_case_gives_no_rate_not_zero() -> None:
    assert summarize("g", [record("e", passes=0, errors=1)]).pass_rate is None
    empty = summarize("g", [])
    assert (empty.cases, empty.pass_rate, empty.cost_usd, empty.tokens) == (0, None, 0.0, 0)


def test_failed_samples_of_passing_cases_are_still_counted() -> None:
    # A case can meet a 0.8 threshold with a failing sample; the table shows that sample.
    summary = summarize("g", [record("p", passes=4, failures=1, verdict="pass")])
    assert (summary.passed, summary.failed, summary.sample_failures) == (1, 0, 1)


def test_tokens_cache_hits_and_cost_add_up_with_unpriced_cases_as_zero() -> None:
    summary = summarize(
        "g",
        [
            record("a", usage=Usage.of(10, 5), cost_usd=0.1, cache_hits=1),
            record("b", usage=Usage.of(1, 2), cost_usd=0.2, cache_hits=0),
            record("c", usage=Usage.of(0, 7), cost_usd=None, cache_hits=2),
        ],
    )
    assert summary.tokens == 25
    assert summary.cache_hits == 3
    # 0.1 + 0.2 is 0.30000000000000004 in floats: the report keeps 6 decimals.
    assert summary.cost_usd == 0.3


def test_cost_is_rounded_to_six_decimals() -> None:
    summary = summarize("g", [record("a", cost_usd=0.0000014), record("b", cost_usd=0.0000002)])
    assert summary.cost_usd == 0.000002


def test_build_report_sorts_groups_and_cases_and_totals_them_overall() -> None:
    records = [
        record("z", group="b.feature", passes=0, failures=1),
        record("y", group="a.feature"),
        record("x", group="b.feature", nodeid="b.feature::0"),
        record("w", group="a.feature", passes=0, errors=1),
    ]
    report = build_report(records, "9.9.9")
    assert [g.group for g in report.groups] == ["a.feature", "b.feature"]
    assert [(c.group, c.nodeid) for c in report.cases] == sorted((r.group, r.nodeid) for r in records)
    a, b = report.groups
    assert (a.cases, a.passed, a.failed, a.errored, a.pass_rate) == (2, 1, 0, 1, 1.0)
    assert (b.cases, b.passed, b.failed, b.errored, b.pass_rate) == (2, 1, 1, 0, 0.5)
    overall = report.overall
    assert overall.group == "overall"
    assert (overall.cases, overall.passed, overall.failed, overall.errored) == (4, 2, 1, 1)
    assert overall.pass_rate == 2 / 3
    assert report.plugin_version == "9.9.9"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report.created_at)


def test_build_report_of_nothing_is_a_valid_report() -> None:
    report = build_report([], "1")
    assert report.groups == [] and report.cases == []
    assert report.overall.cases == 0 and report.overall.pass_rate is None
    assert RunReport.model_validate_json(report.model_dump_json()) == report
