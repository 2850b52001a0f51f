"""The Markdown report's comparison sections and the GitHub job summary built on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval._core.records import BaselineComparison, CaseChange, EvalRecord, RunReport
from pytest_llmeval._reports.github import MAX_CASES, append_step_summary, step_summary
from pytest_llmeval._reports.markdown import markdown
from pytest_llmeval._reports.summary import build_report
from pytest_llmeval._verdicts.compare import comparisons, model_summaries


def record(case_id: str, model: str, passes: int, answer: str = "fine", **extra: Any) -> EvalRecord:
    samples = [
        {
            "index": i,
            "outcome": "pass" if i < passes else "fail",
            "answer": answer,
            "grades": [{"grader": "string_check", "passed": i < passes, "score": 0.0, "reason": f"reason {i}"}],
        }
        for i in range(2)
    ]
    fields: dict[str, Any] = {
        "case_id": f"{case_id}@{model}",
        "nodeid": f"t.py::{case_id}[{model}]",
        "group": "t.py",
        "model": model,
        "samples": 2,
        "passes": passes,
        "failures": 2 - passes,
        "errors": 0,
        "pass_rate": passes / 2,
        "threshold": 1.0,
        "verdict": "pass" if passes == 2 else "fail",
        "sample_records": samples,
        "cost_usd": 0.5,
        **extra,
    }
    return EvalRecord.model_validate(fields)


@pytest.fixture
def report() -> RunReport:
    records = [
        record("a", "base", 2),
        record("a", "ft", 1, answer="```bad``` | pipe"),
        record("b", "base", 2),
        record("b", "ft", 2),
    ]
    base = build_report(records, "1")
    change = CaseChange(
        key="t.py::a::ft",
        case_id="a@ft",
        model="ft",
        change="regressed",
        before="2/2",
        after="1/2",
        p_value=0.04,
        redefined=True,
    )
    baseline = BaselineComparison(
        path="main.json", alpha=0.05, changes=[change], shared_cases=1, mean_difference=-0.5, suite_p_value=0.5
    )
    return base.model_copy(
        update={
            "models": model_summaries(base.cases),
            "comparisons": comparisons(base.cases, ["base", "ft"]),
            "baseline": baseline,
        }
    )


def test_markdown_has_models_side_by_side_and_the_baseline(report: RunReport) -> None:
    text = markdown(report)
    assert "## Models side by side" in text
    assert "| base | 2/2 | 100.0% (" in text and "| ft | 1/2 | 50.0% (" in text
    assert "| ft vs base | 2 | -25.0% | 0 / 1 | 1.0000 |" in text
    assert "`main.json`: 1 regressed, 0 improved, 0 unchanged, 0 new, 0 removed, 1 redefined." in text
    assert "| **regressed** (redefined) | `a@ft` | ft | 2/2 | 1/2 | 0.0400 |" in text
    assert markdown(report.model_copy(update={"models": [], "baseline": None})).count("##") == 1


def test_step_summary_shows_the_worst_sample_in_a_fence_it_cannot_close(report: RunReport) -> None:
    text = step_summary(report)
    assert text.startswith(markdown(report))
    assert "<summary>a@ft on ft: fail (1/2)</summary>" in text
    assert "sample 1: reason 1" in text
    assert "````\n```bad``` | pipe\n````" in text
    assert text.rstrip().endswith("Cost: $2.0000 over 0 tokens, 0 of 8 samples from the cache.")


def test_step_summary_lists_a_bounded_number_of_cases() -> None:
    records = [record(f"c{i}", "m", 0) for i in range(MAX_CASES + 3)]
    text = step_summary(build_report(records, "1"))
    assert text.count("<details>") == MAX_CASES and "3 more cases did not pass" in text


def test_appended_only_when_github_says_where(
    report: RunReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_step_summary(report) is None
    target = tmp_path / "summary.md"
    target.write_text("before\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert append_step_summary(report) == target
    assert target.read_text(encoding="utf-8") == "before\n" + step_summary(report)
