"""The ``llmeval`` section of the terminal summary: the table, comparisons, the requests line."""

from __future__ import annotations

from collections.abc import Sequence

from .._core.counters import Counters
from .._core.records import RunReport


def terminal_lines(report: RunReport, damaged: Sequence[str]) -> list[str]:
    """The table under the ``llmeval`` heading: one row per group, then the overall row.

    Failed samples get their own column: a case can pass its threshold with some samples
    failing, and that is exactly what a reader of an eval wants to notice.
    """
    rows = [*report.groups, report.overall]
    width = max(len(g.group) for g in rows)
    columns = (
        "pass rate",
        "cases",
        "failed",
        "errored",
        "samples",
        "s.failed",
        "s.errored",
        "cached",
        "tokens",
        "cost",
    )
    widths = (15, 5, 6, 7, 7, 8, 9, 6, 8, 9)
    header = f"{'':<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    lines = [header]
    if report.partial:
        lines.insert(0, f"partial run ({report.partial}): not every selected test ran")
    for group in rows:
        if group is report.overall:
            lines.append("-" * len(header))
        rate = "n/a" if group.pass_rate is None else f"{group.pass_rate:.1%}"
        values = (
            f"{group.passed}/{group.decided} {rate}",
            group.cases,
            group.failed,
            group.errored,
            group.samples,
            group.sample_failures,
            group.sample_errors,
            group.cache_hits,
            group.tokens,
            f"${group.cost_usd:.4f}",
        )
        lines.append(f"{group.group:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    for line in damaged:
        lines.append(f"damaged cache entry ignored: {line}")
    return lines


def comparison_lines(report: RunReport) -> list[str]:
    """Models side by side, then the baseline comparison, for the terminal."""
    lines: list[str] = []
    if report.models:
        lines.append("")
        lines.append("models side by side (case pass rate with 95% interval; tokens; cost; request seconds):")
        for m in report.models:
            rate = "n/a" if m.pass_rate is None else f"{m.pass_rate:.1%}"
            ci = "" if m.interval is None else f" [{m.interval[0]:.1%}, {m.interval[1]:.1%}]"
            lines.append(
                f"  {m.model}: {m.passed}/{m.decided} {rate}{ci} | {m.tokens:,} tokens | ${m.cost_usd:.4f} | "
                f"{m.latency_s:.1f}s"
            )
        for c in report.comparisons:
            mean = "n/a" if c.mean_difference is None else f"{c.mean_difference:+.1%}"
            lines.append(
                f"  {c.model_b} vs {c.model_a}: {c.shared_cases} shared cases, mean difference {mean}, "
                f"better on {c.b_better}, worse on {c.a_better}, sign test p = {c.p_value:.4f}"
            )
    comparison = report.baseline
    if comparison is not None:
        lines.append("")
        counts = ", ".join(
            f"{comparison.count(kind)} {kind}" for kind in ("regressed", "improved", "unchanged", "new", "removed")
        )
        mean = "n/a" if comparison.mean_difference is None else f"{comparison.mean_difference:+.1%}"
        lines.append(f"baseline {comparison.path}: {counts}, {comparison.redefined} redefined")
        lines.append(
            f"  suite: {comparison.shared_cases} shared cases, mean pass-rate change {mean}, "
            f"paired sign test p = {comparison.suite_p_value:.4f}"
        )
        for change in comparison.changes:
            if change.change in ("regressed", "improved", "removed", "new") or change.redefined:
                flag = " (redefined)" if change.redefined else ""
                p = "" if change.p_value is None else f" p = {change.p_value:.4f}"
                lines.append(
                    f"  {change.change}{flag}: {change.case_id} on {change.model}: "
                    f"{change.before or '-'} -> {change.after or '-'}{p}"
                )
    return lines


def describe_run(counters: Counters) -> str:
    """One line for the llmeval section: what generation did, whatever the progress line showed."""
    waited = f" (waited {counters.waited_s:.1f} s)" if counters.rate_waits else ""
    asked = f", {counters.asked} asked by tests" if counters.asked else ""
    line = (
        f"requests: {counters.planned} planned{asked}, {counters.cached} from the cache, "
        f"{counters.sent} sent | {counters.retries} retries | "
        f"{counters.rate_limited} rate-limited{waited} | {counters.errors} errors | "
        f"${counters.spent:.4f} spent"
    )
    learned = [
        f"{value:,} {kind}"
        for value, kind in ((counters.learned_requests, "requests"), (counters.learned_tokens, "tokens"))
        if value
    ]
    return line + (f" | learned limits: {', '.join(learned)} (x-ratelimit headers)" if learned else "")
