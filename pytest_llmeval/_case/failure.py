"""The message a failing or errored case shows: the numbers, then one row per sample."""

from __future__ import annotations

from collections.abc import Sequence

from .._core.records import EvalRecord, ToolCallRecord


def failure_text(record: EvalRecord) -> str:
    """Pass rate, interval, threshold and verdict, then each sample's answer and failed grades."""
    head = f"case {record.case_id!r} on model {record.model!r}: "
    if record.verdict == "error":
        lines = [head + f"ERROR: {record.reason}"]
    else:
        rate = "n/a" if record.pass_rate is None else f"{record.pass_rate:.0%}"
        ci = "" if record.interval is None else f" (95% CI {record.interval[0]:.0%}-{record.interval[1]:.0%})"
        lines = [
            head + f"pass rate {record.passes}/{record.passes + record.failures} = {rate}{ci}, "
            f"threshold {record.threshold:.0%} -> {record.verdict.upper()}"
            + (f" ({record.errors} sample(s) errored, not counted)" if record.errors else "")
        ]
    for sample in record.sample_records:
        notes = " (cached)" if sample.cached else ""
        if sample.finish_reason == "length":
            notes += " (cut off: the answer reached the token limit, finish_reason=length)"
        lines.append(f"  sample {sample.index}: {sample.outcome.upper()}{notes}")
        if sample.answer is not None:
            lines.append(f"    answer: {_shorten(sample.answer, 300)}")
        if sample.tool_calls:
            lines.append(f"    tool calls: {tool_calls_text(sample.tool_calls)}")
        if sample.error is not None and not any(g.error for g in sample.grades):
            for i, line in enumerate(sample.error.splitlines()):
                lines.append(("    error: " if i == 0 else "      ") + line)
        for grade in sample.grades:
            if not grade.passed:
                label = "error" if grade.error else "failed"
                lines.append(f"    {label}: {grade.grader}: {grade.reason}")
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    # repr: model output is untrusted, so newlines and control characters show escaped.
    flat = repr(text)
    return flat if len(flat) <= width else flat[: width - 4] + "...'"


def tool_calls_text(calls: Sequence[ToolCallRecord], width: int = 300) -> str:
    """``name(arguments) -> result`` per call, in order; the model's text shown escaped, as answers are."""
    shown = []
    for call in calls:
        arguments = _shorten(call.arguments, 120)[1:-1]
        result = "" if call.result is None else f" -> {_shorten(call.result, 80)}"
        shown.append(f"{call.name}({arguments}){result}")
    text = "; ".join(shown)
    return text if len(text) <= width else text[: width - 3] + "..."
