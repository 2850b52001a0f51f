"""The GitHub Actions job summary: with ``GITHUB_STEP_SUMMARY`` set, the run's Markdown is appended to it.

GitHub shows that file on the run's page. It gets the Markdown report (pass rates, models
side by side, the baseline) and, for the cases that did not pass, their worst sample's
answer and reason, so a reviewer sees why without downloading an artifact. GitHub caps a
step's summary at 1 MiB: the summary lists at most :data:`MAX_CASES` cases, and says so.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .._core.records import EvalRecord, RunReport, SampleRecord
from .markdown import markdown

ENV = "GITHUB_STEP_SUMMARY"
MAX_CASES = 50
MAX_ANSWER = 600
"""Characters of an answer shown; the HTML report has all of it."""


def worst_sample(record: EvalRecord) -> SampleRecord | None:
    """An errored sample first (it says what broke), else a failed one, else none."""
    for outcome in ("error", "fail"):
        for sample in record.sample_records:
            if sample.outcome == outcome:
                return sample
    return None


def _fenced(text: str) -> list[str]:
    """A code block no backtick run in ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return [fence, text, fence]


def step_summary(report: RunReport) -> str:
    """The Markdown report, the failures with their worst samples, and the cost."""
    lines = [markdown(report)]
    bad = [r for r in report.cases if r.verdict != "pass"]
    if bad:
        lines += ["", "## Worst samples of the cases that did not pass", ""]
        for record in bad[:MAX_CASES]:
            sample = worst_sample(record)
            lines.append(
                f"<details><summary>{_escape(record.case_id)} on {_escape(record.model)}: {record.verdict}"
                f" ({record.passes}/{record.passes + record.failures})</summary>"
            )
            lines.append("")
            if sample is None:
                lines.append(_escape(record.reason or "no sample was drawn"))
            else:
                why = sample.error or "; ".join(g.reason for g in sample.grades if not g.passed) or sample.outcome
                lines.append(f"sample {sample.index}: {_escape(why)}")
                if sample.answer is not None:
                    answer = sample.answer if len(sample.answer) <= MAX_ANSWER else sample.answer[:MAX_ANSWER] + " …"
                    lines += ["", *_fenced(answer)]
            lines += ["", "</details>"]
        if len(bad) > MAX_CASES:
            lines.append(f"\n{len(bad) - MAX_CASES} more cases did not pass: see the HTML or JSON report.")
    lines += [
        "",
        f"Cost: ${report.overall.cost_usd:.4f} over {report.overall.tokens:,} tokens, "
        f"{report.overall.cache_hits} of {report.overall.samples} samples from the cache.",
    ]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """Untrusted text inside the summary's HTML: no tag of its own, one line."""
    one = " ".join(text.splitlines())
    return one.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def append_step_summary(report: RunReport) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when set (GitHub gives each step its own file); the path."""
    target = os.environ.get(ENV)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(step_summary(report))
    return path
