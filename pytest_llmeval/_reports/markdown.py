"""The Markdown report: for CI job summaries and PR comments."""

from __future__ import annotations

import re

from .._core.records import EvalRecord, RunReport
from .variants import variant_markdown


def markdown(report: RunReport) -> str:
    """A Markdown summary for CI job summaries and PR comments."""
    lines = [
        "# LLM eval results",
        "",
        *([f"**Partial run** ({report.partial}): not every selected test ran.", ""] if report.partial else []),
        "| group | pass rate | cases | failed | errored | samples | failed samples | errored samples "
        "| cache hits | tokens | cost (USD) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in [*report.groups, report.overall]:
        rate = "n/a" if g.pass_rate is None else f"{g.pass_rate:.1%}"
        lines.append(
            f"| {_cell(g.group)} | {g.passed}/{g.decided} ({rate}) | {g.cases} | {g.failed} | "
            f"{g.errored} | {g.samples} | {g.sample_failures} | {g.sample_errors} | {g.cache_hits} | {g.tokens} "
            f"| {g.cost_usd:.4f} |"
        )
    lines += model_markdown(report)
    lines += variant_markdown(report)
    lines += baseline_markdown(report)
    bad = [r for r in report.cases if r.verdict != "pass"]
    if bad:
        lines += ["", "## Cases that did not pass", "", "| case | model | verdict | passes | reason |"]
        lines.append("|---|---|---|---|---|")
        for r in bad:
            reason = r.reason.splitlines()[0].replace("|", "/") if r.reason else ""
            cut = sum(s.finish_reason == "length" for s in r.sample_records)
            if cut:
                reason = (reason + "; " if reason else "") + f"{cut} answer(s) cut off at the token limit"
            lines.append(
                f"| {_code(r.case_id)} | {_cell(r.model)} | {r.verdict} | {r.passes}/{r.passes + r.failures} "
                f"| {reason} |"
            )
    lines += tool_markdown(bad)
    return "\n".join(lines)


MAX_TOOL_TEXT = 200
"""Characters of a tool call's arguments or result shown; the JSON and HTML reports have all of it."""


def tool_markdown(cases: list[EvalRecord]) -> list[str]:
    """Every tool call of the samples of ``cases`` (the ones that did not pass): what the model did.

    Names, arguments and results are model output or a tool's output, so each is a code
    span no backtick in it can close (GitHub renders no HTML or Markdown inside one), on
    one line, its pipes escaped: a hostile call cannot break out of its cell.
    """
    rows = [
        f"| {_code(r.case_id)} | {s.index} | {c.round} | {_tool_cell(c.name)} | {_tool_cell(c.arguments)} "
        f"| {'-' if c.result is None else _tool_cell(c.result)} | {_tool_cell(c.error)} |"
        for r in cases
        for s in r.sample_records
        for c in s.tool_calls
    ]
    if not rows:
        return []
    return [
        "",
        "## Tool calls of the cases that did not pass",
        "",
        "| case | sample | round | tool | arguments | result | error |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


def _tool_cell(text: str | None) -> str:
    """A tool's name, arguments, result or error: shortened, in a code span; empty when there is none."""
    if not text:
        return ""
    return _code(text if len(text) <= MAX_TOOL_TEXT else text[:MAX_TOOL_TEXT] + " …")


def _rate(rate: float | None, interval: tuple[float, float] | None = None) -> str:
    shown = "n/a" if rate is None else f"{rate:.1%}"
    return shown if interval is None else f"{shown} ({interval[0]:.1%} - {interval[1]:.1%})"


def model_markdown(report: RunReport) -> list[str]:
    """Models side by side, then each pair's paired comparison (empty with one model)."""
    if not report.models:
        return []
    lines = [
        "",
        "## Models side by side",
        "",
        "| model | cases passed | pass rate (95% interval) | sample pass rate | tokens | cost (USD) "
        "| request seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in report.models:
        lines.append(
            f"| {_cell(m.model)} | {m.passed}/{m.decided} | {_rate(m.pass_rate, m.interval)} "
            f"| {_rate(m.sample_pass_rate)} | {m.tokens} | {m.cost_usd:.4f} | {m.latency_s:.1f} |"
        )
    if report.comparisons:
        lines += ["", "| comparison | shared cases | mean difference | better / worse | sign test p |"]
        lines.append("|---|---|---|---|---|")
        for c in report.comparisons:
            mean = "n/a" if c.mean_difference is None else f"{c.mean_difference:+.1%}"
            lines.append(
                f"| {_cell(c.model_b)} vs {_cell(c.model_a)} | {c.shared_cases} | {mean} "
                f"| {c.b_better} / {c.a_better} | {c.p_value:.4f} |"
            )
    return lines


def baseline_markdown(report: RunReport) -> list[str]:
    """The comparison with the baseline: counts, the suite's paired test, every notable case."""
    b = report.baseline
    if b is None:
        return []
    counts = ", ".join(f"{b.count(kind)} {kind}" for kind in ("regressed", "improved", "unchanged", "new", "removed"))
    mean = "n/a" if b.mean_difference is None else f"{b.mean_difference:+.1%}"
    lines = [
        "",
        "## Baseline",
        "",
        f"{_code(b.path)}: {counts}, {b.redefined} redefined. Suite: {b.shared_cases} shared cases, "
        f"mean pass-rate change {mean}, paired sign test p = {b.suite_p_value:.4f} (alpha {b.alpha:g}).",
    ]
    notable = [c for c in b.changes if c.change != "unchanged" or c.redefined]
    if notable:
        lines += ["", "| change | case | model | before | after | p (Holm) |", "|---|---|---|---|---|---|"]
        for c in notable:
            change = f"**{c.change}**" if c.change == "regressed" else c.change
            p = "" if c.p_value is None else f"{c.p_value:.4f}"
            lines.append(
                f"| {change}{' (redefined)' if c.redefined else ''} | {_code(c.case_id)} | {_cell(c.model)} "
                f"| {c.before or '-'} | {c.after or '-'} | {p} |"
            )
    return lines


def _cell(text: str) -> str:
    """Text that stays in its table cell: one line, pipes escaped (GitHub splits on them).

    GitHub reads a backslash before any character as an escape when it splits a row, so a
    pipe after an odd run of backslashes (``\\|`` in a model's text) would still split it:
    such a run gets one more backslash.
    """
    one = " ".join(text.splitlines())
    return re.sub(r"(\\*)\|", lambda m: m.group(1) + "\\" * (len(m.group(1)) % 2) + "\\|", one)


def _code(text: str) -> str:
    """A code span around ``text`` that no backtick in it can close, in one cell."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"
