"""From records to the run's report: totals per feature file / test module and overall."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from .._core.records import EvalRecord, GroupSummary, RunReport


def summarize(group: str, records: Sequence[EvalRecord]) -> GroupSummary:
    passed = sum(r.verdict == "pass" for r in records)
    failed = sum(r.verdict == "fail" for r in records)
    return GroupSummary(
        group=group,
        cases=len(records),
        passed=passed,
        failed=failed,
        errored=sum(r.verdict == "error" for r in records),
        inconclusive=sum(r.verdict == "inconclusive" for r in records),
        decided=(decided := sum(r.verdict != "error" for r in records)),
        pass_rate=passed / decided if decided else None,
        samples=sum(r.samples for r in records),
        sample_failures=sum(r.failures for r in records),
        sample_errors=sum(r.errors for r in records),
        cache_hits=sum(r.cache_hits for r in records),
        tokens=sum(r.usage.total_tokens for r in records),
        cost_usd=round(sum(r.cost_usd or 0.0 for r in records), 6),
    )


def build_report(records: Iterable[EvalRecord], version: str) -> RunReport:
    ordered = sorted(records, key=lambda r: (r.group, r.nodeid))
    groups: dict[str, list[EvalRecord]] = {}
    for record in ordered:
        groups.setdefault(record.group, []).append(record)
    return RunReport(
        plugin_version=version,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        overall=summarize("overall", ordered),
        groups=[summarize(name, rs) for name, rs in groups.items()],
        cases=ordered,
    )
