"""The Markdown report: for CI job summaries and PR comments."""

from __future__ import annotations

import re

from .._core.records import RunReport


def markdown(report: RunReport) -> str:
    """A Markdown summary for CI job summaries and PR comments."""
    lines = [
        "# LLM eval results",
        "",
        "| group | pass rate | cases | failed | errored | samples | failed samples | errored samples "
        "| cache hits | tokens | cost (USD) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in [*report.groups, report.overall]:
        rate = "n/a" if g.pass_rate is None else f"{g.pass_rate:.1%}"
        lines.append(
            f"| {_cell(g.group)} | {g.passed}/{g.passed + g.failed} ({rate}) | {g.cases} | {g.failed} | "
            f"{g.errored} | {g.samples} | {g.sample_failures} | {g.sample_errors} | {g.cache_hits} | {g.tokens} "
            f"| {g.cost_usd:.4f} |"
        )
    bad = [r for r in report.cases if r.verdict != "pass"]
    if bad:
        lines += ["", "## Cases that did not pass", "", "| case | model | verdict | passes | reason |"]
        lines.append("|---|---|---|---|---|")
        for r in bad:
            reason = r.reason.splitlines()[0].replace("|", "/") if r.reason else ""
            lines.append(
                f"| {_code(r.case_id)} | {_cell(r.model)} | {r.verdict} | {r.passes}/{r.passes + r.failures} "
                f"| {reason} |"
            )
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text that stays in its table cell: one line, pipes escaped (GitHub splits on them)."""
    return " ".join(text.splitlines()).replace("|", "\\|")


def _code(text: str) -> str:
    """A code span around ``text`` that no backtick in it can close, in one cell."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"
