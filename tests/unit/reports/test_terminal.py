"""The ``llmeval`` terminal section: the table, models side by side, the baseline, the requests line."""

from __future__ import annotations

from typing import Any

from pytest_llmeval._core.counters import Counters
from pytest_llmeval._core.records import (
    BaselineComparison,
    CaseChange,
    EvalRecord,
    ModelComparison,
    ModelSummary,
    RunReport,
    Usage,
    Verdict,
)
from pytest_llmeval._reports.summary import build_report
from pytest_llmeval._reports.terminal import comparison_lines, describe_run, terminal_lines

COLUMNS = ("pass rate", "cases", "failed", "errored", "samples", "s.failed", "s.errored", "cached", "tokens", "cost")


def record(
    case_id: str,
    *,
    group: str = "a.feature",
    passes: int = 1,
    failures: int = 0,
    errors: int = 0,
    verdict: Verdict | None = None,
    **extra: Any,
) -> EvalRecord:
    decided = passes + failures
    rate = passes / decided if decided else None
    if verdict is None:
        verdict = "error" if rate is None else "pass" if rate == 1.0 else "fail"
    return EvalRecord(
        case_id=case_id,
        nodeid=f"{group}::{case_id}",
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


def cells(header: str, row: str, width: int) -> dict[str, str]:
    """The row's text under each right-aligned column of the header (``width``: the label's), stripped."""
    ends = [header.index(name) + len(name) for name in COLUMNS]
    starts = [width + 2] + [end + 2 for end in ends[:-1]]
    found = {"group": row[:width].strip()}
    assert row[width : width + 2] == "  "
    for name, start, end in zip(COLUMNS, starts, ends, strict=True):
        found[name] = row[start:end].strip()
        assert row[end : end + 1] in ("", " "), f"{name!r} is not right-aligned in {row!r}"
    return found


def report_of(*records: EvalRecord) -> RunReport:
    return build_report(records, "0")


def test_the_table_has_one_row_per_group_then_a_rule_and_the_overall_row() -> None:
    wide = len("long/path/b.feature")
    report = report_of(
        record("p", usage=Usage.of(100, 20), cost_usd=0.00125, cache_hits=1),
        record("f", passes=3, failures=2, errors=1, usage=Usage.of(3, 4)),
        record("e", group="long/path/b.feature", passes=0, errors=2),
    )
    header, a, b, rule, overall = terminal_lines(report, [])
    assert header.split() == ["pass", "rate", *COLUMNS[1:]]
    assert rule == "-" * len(header)
    assert cells(header, a, wide) == {
        "group": "a.feature",
        "pass rate": "1/2 50.0%",
        "cases": "2",
        "failed": "1",
        "errored": "0",
        "samples": "7",
        "s.failed": "2",
        "s.errored": "1",
        "cached": "1",
        "tokens": "127",
        "cost": "$0.0013",
    }
    assert cells(header, b, wide)["group"] == "long/path/b.feature"
    assert cells(header, b, wide)["pass rate"] == "0/0 n/a"  # nothing decided: no rate, not 0%
    assert cells(header, b, wide)["errored"] == "1"
    assert cells(header, overall, wide) == {
        "group": "overall",
        "pass rate": "1/2 50.0%",
        "cases": "3",
        "failed": "1",
        "errored": "1",
        "samples": "9",
        "s.failed": "2",
        "s.errored": "3",
        "cached": "1",
        "tokens": "127",
        "cost": "$0.0013",
    }


def test_the_group_column_is_as_wide_as_the_longest_name() -> None:
    # "overall" is longer than "x": the label column grows to fit it, rows stay aligned.
    header, row, _, overall = terminal_lines(report_of(record("c", group="x")), [])
    assert header.startswith(" " * len("overall") + "  ")
    assert row.startswith("x" + " " * (len("overall") - 1) + "  ")
    assert len(row) == len(overall) == len(header)


def test_damaged_cache_lines_follow_the_table() -> None:
    lines = terminal_lines(report_of(record("c")), ["cache/ab.json: not JSON", "cache/cd.json: no answer"])
    assert lines[-2:] == [
        "damaged cache entry ignored: cache/ab.json: not JSON",
        "damaged cache entry ignored: cache/cd.json: no answer",
    ]
    assert len(lines) == 4 + 2


def test_no_models_and_no_baseline_add_nothing() -> None:
    assert comparison_lines(report_of(record("c"))) == []


def test_models_side_by_side_and_their_comparison() -> None:
    report = report_of(record("c")).model_copy(
        update={
            "models": [
                ModelSummary(
                    model="gpt-a",
                    cases=4,
                    passed=3,
                    decided=4,
                    pass_rate=0.75,
                    interval=(0.3, 0.95),
                    sample_pass_rate=0.8,
                    tokens=12345,
                    cost_usd=0.01234,
                    latency_s=3.21,
                ),
                ModelSummary(
                    model="gpt-b",
                    cases=4,
                    passed=0,
                    decided=0,
                    pass_rate=None,
                    interval=None,
                    sample_pass_rate=None,
                    tokens=0,
                    cost_usd=0.0,
                    latency_s=0.0,
                ),
            ],
            "comparisons": [
                ModelComparison(
                    model_a="gpt-a",
                    model_b="gpt-b",
                    shared_cases=3,
                    mean_difference=-0.25,
                    b_better=0,
                    a_better=2,
                    p_value=0.5,
                ),
                ModelComparison(
                    model_a="gpt-a",
                    model_b="gpt-c",
                    shared_cases=0,
                    mean_difference=None,
                    b_better=0,
                    a_better=0,
                    p_value=1.0,
                ),
            ],
        }
    )
    assert comparison_lines(report) == [
        "",
        "models side by side (case pass rate with 95% interval; tokens; cost; request seconds):",
        "  gpt-a: 3/4 75.0% [30.0%, 95.0%] | 12,345 tokens | $0.0123 | 3.2s",
        "  gpt-b: 0/0 n/a | 0 tokens | $0.0000 | 0.0s",
        "  gpt-b vs gpt-a: 3 shared cases, mean difference -25.0%, better on 0, worse on 2, sign test p = 0.5000",
        "  gpt-c vs gpt-a: 0 shared cases, mean difference n/a, better on 0, worse on 0, sign test p = 1.0000",
    ]


def change(case_id: str, kind: str, **extra: Any) -> CaseChange:
    return CaseChange(key=f"g::{case_id}::m", case_id=case_id, model="m", change=kind, **extra)


def test_the_baseline_comparison_lists_what_changed_and_hides_the_unchanged() -> None:
    comparison = BaselineComparison(
        path="baselines/main.json",
        alpha=0.05,
        changes=[
            change("worse", "regressed", before="5/5", after="0/5", p_value=0.00794),
            change("better", "improved", before="0/5", after="5/5", p_value=0.0079),
            change("same", "unchanged", before="1/1", after="1/1"),
            change("edited", "unchanged", redefined=True, before="1/1", after="1/1"),
            change("added", "new", after="2/2"),
            change("gone", "removed", before="1/1"),
        ],
        shared_cases=4,
        mean_difference=0.0,
        suite_p_value=0.6875,
    )
    lines = comparison_lines(report_of(record("c")).model_copy(update={"baseline": comparison}))
    assert lines == [
        "",
        "baseline baselines/main.json: 1 regressed, 1 improved, 2 unchanged, 1 new, 1 removed, 1 redefined",
        "  suite: 4 shared cases, mean pass-rate change +0.0%, paired sign test p = 0.6875",
        "  regressed: worse on m: 5/5 -> 0/5 p = 0.0079",
        "  improved: better on m: 0/5 -> 5/5 p = 0.0079",
        "  unchanged (redefined): edited on m: 1/1 -> 1/1",
        "  new: added on m: - -> 2/2",
        "  removed: gone on m: 1/1 -> -",
    ]


def test_the_baseline_without_shared_cases_has_no_mean() -> None:
    comparison = BaselineComparison(
        path="b.json", alpha=0.05, changes=[], shared_cases=0, mean_difference=None, suite_p_value=1.0
    )
    lines = comparison_lines(report_of(record("c")).model_copy(update={"baseline": comparison}))
    assert lines[1] == "baseline b.json: 0 regressed, 0 improved, 0 unchanged, 0 new, 0 removed, 0 redefined"
    assert "mean pass-rate change n/a" in lines[2]


def test_the_requests_line_says_what_was_planned_asked_and_sent() -> None:
    counters = Counters(
        total=10, planned=8, asked=2, done=9, cached=4, sent=4, retries=2, errors=1, rate_limited=3, spent=0.012345
    )
    assert describe_run(counters) == (
        "requests: 8 planned, 2 asked by tests, 4 from the cache, 4 sent | 2 retries | 3 rate-limited | "
        "1 errors | $0.0123 spent"
    )


def test_the_requests_line_of_workers_added_up() -> None:
    # xdist workers report their own counters; the line shows their sum, as a heartbeat carries it.
    parts = [
        Counters(total=3, planned=3, done=3, cached=1, sent=2, spent=0.5),
        Counters(total=2, planned=2, done=1, cached=0, sent=1, retries=1),
    ]
    total = Counters.from_dict((parts[0] + parts[1]).to_dict())
    assert describe_run(total) == (
        "requests: 5 planned, 1 from the cache, 3 sent | 1 retries | 0 rate-limited | 0 errors | $0.5000 spent"
    )
