"""Prompt variants side by side, as the terminal section and the Markdown report show them.

One line per variant (case pass rate with its Wilson interval, tokens, cost), then one
per pair of variants: the paired sign test over the suite, naming the better variant only
when it is significant, and the cases where one variant is significantly better.
"""

from __future__ import annotations

from .._core.records import RunReport, VariantComparison


def variant_lines(report: RunReport) -> list[str]:
    """The terminal's lines for prompt variants (none when fewer than two ran)."""
    if not report.variants:
        return []
    lines = ["", "prompt variants side by side (case pass rate with 95% interval; tokens; cost):"]
    for v in report.variants:
        rate = "n/a" if v.pass_rate is None else f"{v.pass_rate:.1%}"
        ci = "" if v.interval is None else f" [{v.interval[0]:.1%}, {v.interval[1]:.1%}]"
        lines.append(
            f"  {v.variant}: {v.passed}/{v.decided} {rate}{ci} | {v.tokens:,} tokens | ${v.cost_usd:.4f} | {v.prompt}"
        )
    for c in report.variant_comparisons:
        lines.append(f"  {summary(c)}")
        for d in c.differences:
            lines.append(
                f"    {d.better} better: {d.case_id} on {d.model}: "
                f"{c.variant_a} {d.a}, {c.variant_b} {d.b} p = {d.p_value:.4f}"
            )
    return lines


def summary(c: VariantComparison) -> str:
    """``terse vs current: 12 shared cases, ...; terse is better`` — the verdict only when significant."""
    mean = "n/a" if c.mean_difference is None else f"{c.mean_difference:+.1%}"
    verdict = (
        f"{c.better} is better (p < {c.alpha:g})"
        if c.better is not None
        else f"no significant difference at alpha {c.alpha:g}"
    )
    return (
        f"{c.variant_b} vs {c.variant_a}: {c.shared_cases} shared cases, mean difference {mean}, "
        f"better on {c.b_better}, worse on {c.a_better}, sign test p = {c.p_value:.4f}: {verdict}"
    )


def variant_markdown(report: RunReport) -> list[str]:
    """The Markdown report's section for prompt variants (empty when fewer than two ran)."""
    if not report.variants:
        return []
    lines = [
        "",
        "## Prompt variants",
        "",
        "| variant | prompt | cases passed | pass rate | 95% interval | tokens | cost (USD) |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in report.variants:
        rate = "n/a" if v.pass_rate is None else f"{v.pass_rate:.1%}"
        ci = "" if v.interval is None else f"{v.interval[0]:.1%} - {v.interval[1]:.1%}"
        prompt = v.prompt.replace("|", "\\|")
        lines.append(
            f"| {v.variant} | {prompt} | {v.passed}/{v.decided} | {rate} | {ci} | {v.tokens} | {v.cost_usd:.4f} |"
        )
    if report.variant_comparisons:
        lines += ["", "| comparison | shared cases | mean difference | better / worse | sign test p | verdict |"]
        lines.append("|---|---|---|---|---|---|")
        for c in report.variant_comparisons:
            mean = "n/a" if c.mean_difference is None else f"{c.mean_difference:+.1%}"
            verdict = f"**{c.better}** is better" if c.better is not None else "no significant difference"
            lines.append(
                f"| {c.variant_b} vs {c.variant_a} | {c.shared_cases} | {mean} | {c.b_better} / {c.a_better} "
                f"| {c.p_value:.4f} | {verdict} |"
            )
        found = [(c, d) for c in report.variant_comparisons for d in c.differences]
        if found:
            lines += ["", "| case | model | better | counts | p (Holm) |", "|---|---|---|---|---|"]
            for c, d in found:
                case = d.case_id.replace("|", "\\|")
                lines.append(
                    f"| `{case}` | {d.model} | {d.better} "
                    f"| {c.variant_a} {d.a}, {c.variant_b} {d.b} | {d.p_value:.4f} |"
                )
    return lines
