"""Hand-made JSON reports for the fine-tuning commands' tests: cases with chosen answers and outcomes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval._core.records import EvalRecord, GroupSummary, RunReport, SampleRecord

SYSTEM = {"role": "system", "content": "You are Acme's support bot."}


def case(
    case_id: str,
    samples: Sequence[tuple[str, str | None]],
    *,
    question: str | None = None,
    row: dict[str, Any] | None = None,
    model: str = "gpt-4.1-mini",
    messages: list[dict[str, Any]] | None = None,
    group: str = "features/support.feature",
    variant: str | None = None,
    threshold: float = 1.0,
) -> EvalRecord:
    """A case whose samples are ``(outcome, answer)`` pairs; its verdict follows from them."""
    records = [
        SampleRecord(index=i, outcome=outcome, answer=answer, error="boom" if outcome == "error" else None)
        for i, (outcome, answer) in enumerate(samples)
    ]
    passes = sum(1 for o, _ in samples if o == "pass")
    failures = sum(1 for o, _ in samples if o == "fail")
    errors = len(samples) - passes - failures
    decided = passes + failures
    rate = passes / decided if decided else None
    verdict = "error" if rate is None else ("pass" if rate >= threshold else "fail")
    if messages is None:
        messages = [SYSTEM, {"role": "user", "content": question or f"question of {case_id}"}]
    return EvalRecord(
        case_id=case_id,
        nodeid=f"test_support.py::test_{case_id}",
        group=group,
        model=model,
        samples=len(samples),
        passes=passes,
        failures=failures,
        errors=errors,
        pass_rate=rate,
        threshold=threshold,
        verdict=verdict,
        sample_records=records,
        messages=messages,
        row=row or {},
        variant=variant,
    )


def report(cases: Sequence[EvalRecord]) -> RunReport:
    """A RunReport around ``cases`` (the summaries are not what an export reads)."""
    summary = GroupSummary(
        group="overall",
        cases=len(cases),
        passed=sum(c.verdict == "pass" for c in cases),
        failed=sum(c.verdict == "fail" for c in cases),
        errored=sum(c.verdict == "error" for c in cases),
        pass_rate=None,
        samples=sum(c.samples for c in cases),
        sample_failures=sum(c.failures for c in cases),
        sample_errors=sum(c.errors for c in cases),
        cache_hits=0,
        tokens=0,
    )
    return RunReport(
        plugin_version="0", created_at="2026-11-01T00:00:00Z", overall=summary, groups=[], cases=list(cases)
    )


def write_report(path: Path, cases: Sequence[EvalRecord]) -> Path:
    path.write_text(json.dumps(report(cases).model_dump(mode="json"), indent=1), encoding="utf-8")
    return path


def mixed_report() -> list[EvalRecord]:
    """Four cases: one passing, one mixed, one failing with a reference, one failing without."""
    return [
        case("refund", [("pass", "30 days."), ("pass", "30 days."), ("pass", "Within 30 days.")]),
        case("warranty", [("pass", "2 years."), ("fail", "1 year."), ("fail", "6 months.")]),
        case(
            "paypal",
            [("fail", "Yes, PayPal."), ("fail", "Sure!")],
            row={"id": "paypal", "ideal": "A human will answer."},
        ),
        case("shipping", [("fail", "Tomorrow."), ("error", None)]),
    ]
