"""The Markdown report: a GitHub table per group and the cases that did not pass."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest

from pytest_llmeval._core.records import EvalRecord, SampleRecord, ToolCallRecord, Usage, Verdict
from pytest_llmeval._reports.markdown import markdown
from pytest_llmeval._reports.summary import build_report

GROUP_HEADER = [
    "group",
    "pass rate",
    "cases",
    "failed",
    "errored",
    "samples",
    "failed samples",
    "errored samples",
    "cache hits",
    "tokens",
    "cost (USD)",
]
CASE_HEADER = ["case", "model", "verdict", "passes", "reason"]


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


def row_cells(line: str) -> list[str]:
    """A GitHub table row's cells: split on pipes that are not escaped with a backslash."""
    assert line.startswith("|") and line.endswith("|"), line
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line[1:-1])]


def table(text: str, header: list[str]) -> list[list[str]]:
    """The rows of the table whose header is ``header``; every row must have as many cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and row_cells(line) == header)
    assert set(row_cells(lines[start + 1])) == {"---"}
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = row_cells(line)
        assert len(cells) == len(header), f"row has {len(cells)} cells, the header {len(header)}: {line!r}"
        rows.append(cells)
    return rows


def test_one_row_per_group_then_overall() -> None:
    report = build_report(
        [
            record("p", usage=Usage.of(10, 2), cost_usd=0.123456, cache_hits=1),
            record("f", passes=1, failures=3),
            record("e", group="b.feature", passes=0, errors=2),
        ],
        "0",
    )
    text = markdown(report)
    assert text.startswith("# LLM eval results\n\n")
    assert table(text, GROUP_HEADER) == [
        ["a.feature", "1/2 (50.0%)", "2", "1", "0", "5", "3", "0", "1", "12", "0.1235"],
        ["b.feature", "0/0 (n/a)", "1", "0", "1", "2", "0", "2", "0", "0", "0.0000"],
        ["overall", "1/2 (50.0%)", "3", "1", "1", "7", "3", "2", "1", "12", "0.1235"],
    ]


def test_all_passing_has_no_section_for_failures() -> None:
    text = markdown(build_report([record("p"), record("q")], "0"))
    assert "Cases that did not pass" not in text
    assert text.splitlines()[-1].startswith("| overall |")


def test_cases_that_did_not_pass_with_their_reason_and_decided_samples() -> None:
    report = build_report(
        [
            record("ok"),
            record("wrong", passes=1, failures=2, errors=1),
            record("broken", passes=0, errors=1, reason="HTTP 500 from the server\nTraceback ..."),
            record("unsure", passes=3, failures=2, verdict="inconclusive", model="gpt-x"),
        ],
        "0",
    )
    text = markdown(report)
    assert "\n\n## Cases that did not pass\n\n" in text
    # Sorted by node id (as the report's cases are); the reason keeps its first line only.
    assert table(text, CASE_HEADER) == [
        ["`broken`", "m", "error", "0/0", "HTTP 500 from the server"],
        ["`unsure`", "gpt-x", "inconclusive", "3/5", ""],
        ["`wrong`", "m", "fail", "1/3", ""],
    ]
    assert "Traceback" not in text


def test_a_pipe_in_a_reason_does_not_split_the_cell() -> None:
    # The code turns "|" into "/", so the table keeps its five columns.
    text = markdown(build_report([record("c", passes=0, errors=1, reason="expected a | b, got c")], "0"))
    assert table(text, CASE_HEADER) == [["`c`", "m", "error", "0/0", "expected a / b, got c"]]


@pytest.mark.parametrize("case_id", ["refund[a|b]", "refund[line one\nline two]"])
def test_a_case_id_with_a_pipe_or_a_newline_stays_in_its_cell(case_id: str) -> None:
    text = markdown(build_report([record(case_id, passes=0, failures=1)], "0"))
    rows = table(text, CASE_HEADER)
    assert len(rows) == 1
    assert rows[0][1:4] == ["m", "fail", "0/1"]


TOOL_HEADER = ["case", "sample", "round", "tool", "arguments", "result", "error"]


def tool_sample(index: int, outcome: Literal["pass", "fail", "error"], *calls: ToolCallRecord) -> SampleRecord:
    return SampleRecord(index=index, outcome=outcome, answer="", tool_calls=list(calls))


def test_the_tool_calls_of_the_cases_that_did_not_pass_each_on_its_row() -> None:
    weather = ToolCallRecord(id="c1", name="get_weather", arguments='{"city": "Paris"}', result="rain")
    again = ToolCallRecord(id="c2", name="get_weather", arguments='{"city": "Lyon"}', round=1, error="ValueError: x")
    unanswered = ToolCallRecord(id="c3", name="book", arguments="{}")
    passing = record("ok", sample_records=[tool_sample(0, "pass", weather)])
    failing = record(
        "wrong",
        passes=0,
        failures=2,
        sample_records=[tool_sample(0, "fail", weather, again), tool_sample(1, "fail", unanswered)],
    )
    text = markdown(build_report([passing, failing], "0"))
    assert table(text, TOOL_HEADER) == [
        ["`wrong`", "0", "0", "`get_weather`", '`{"city": "Paris"}`', "`rain`", ""],
        ["`wrong`", "0", "1", "`get_weather`", '`{"city": "Lyon"}`', "-", "`ValueError: x`"],
        ["`wrong`", "1", "0", "`book`", "`{}`", "-", ""],
    ]
    assert "`ok`" not in text.split("## Tool calls")[1]  # a passing case's calls are in the HTML and JSON


def test_no_tool_section_without_tool_calls() -> None:
    assert "Tool calls" not in markdown(build_report([record("f", passes=0, failures=1)], "0"))


HOSTILE = "x`` | <img src=x onerror=alert(1)>\n| injected | row |\\| `"


def test_a_hostile_tool_call_stays_in_its_code_spans_and_cells() -> None:
    call = ToolCallRecord(id="c", name=HOSTILE, arguments=HOSTILE, result=HOSTILE + "y" * 300)
    text = markdown(
        build_report([record("c", passes=0, failures=1, sample_records=[tool_sample(0, "fail", call)])], "0")
    )
    (row,) = table(text, TOOL_HEADER)
    assert row[:3] == ["`c`", "0", "0"] and row[6] == ""
    for cell in row[3:6]:
        # A code span whose fence is longer than any backtick run inside: nothing in it is HTML.
        fence = re.match(r"`+", cell)
        assert fence is not None and len(fence.group(0)) == 3 and cell.endswith(fence.group(0))
        assert "\n" not in cell
    assert row[5].endswith("y …```") and len(row[5]) < 260  # results are shortened
    assert "\n| injected |" not in text
    # GitHub's own split: a backslash escapes whatever follows it, so only the parity of a
    # run of backslashes before a pipe decides; the row still has its seven cells.
    line = next(line for line in text.splitlines() if line.startswith("| `c` | 0 |"))
    assert len(re.findall(r"(?:\\.|[^|\\])+", line.strip("|"))) == len(TOOL_HEADER)
