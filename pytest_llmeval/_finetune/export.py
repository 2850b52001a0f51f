"""A JSON report's cases as fine-tuning data: OpenAI chat-format SFT, or DPO preference pairs.

::

    python -m pytest_llmeval finetune export llmeval-report/llmeval-report.json --format sft --out train.jsonl
    python -m pytest_llmeval finetune export report.json --format dpo --only failing --out prefs.jsonl

Each case of the report holds the messages its samples were sent and its row, so an
example is exactly what the model saw, with:

- **SFT**: one example per distinct passing answer, ``{"messages": [system, earlier turns,
  user, assistant]}``; the earlier assistant turns get ``weight: 0`` (train on the answer,
  not on the history), images stay content parts. A case that failed every sample gives
  its row's reference answer instead (``--reference-field``, default ``ideal`` then
  ``expected``). A strong model's passing answers so become a small model's training data.
  An answer that called tools keeps its calls: the ``tools`` array, the assistant's
  ``tool_calls`` message and the ``tool`` results of each round, then the final text.
- **DPO**: pairs from one case: a passing answer preferred to a failing one (each answer
  used at least once, without building every pair), or, when no sample passed, the
  reference preferred to each failing answer.

The validation split is by case, so no prompt is both trained on and validated against.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._core.files import atomic_write_text
from .._core.ids import without_model, without_variant
from .._core.records import EvalRecord, RunReport
from .report import FinetuneError

Format = Literal["sft", "dpo"]
Only = Literal["passing", "failing", "all"]
DEFAULT_REFERENCE_FIELDS = ("ideal", "expected")


@dataclass
class Example:
    """One JSONL line, and the case it came from (the validation split keeps cases whole)."""

    case: str
    data: dict[str, Any]

    def line(self) -> str:
        return json.dumps(self.data, ensure_ascii=False)


@dataclass
class Export:
    """What an export made, and what it left out and why (the command prints both)."""

    examples: list[Example] = field(default_factory=list)
    cases: int = 0
    """Cases that gave at least one example."""
    from_reference: int = 0
    """Cases whose reference answer was used (they failed every sample)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Why cases gave nothing, with how many."""

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def export(report: RunReport, fmt: Format, only: Only = "all", reference_field: str | None = None) -> Export:
    """Every example of ``report`` in ``fmt``, deduplicated, in the report's case order."""
    result = Export()
    seen: set[str] = set()
    for record in report.cases:
        if not _selected(record, only):
            continue
        if record.messages is None:
            result.skip("no messages in the report (a set-up error, or a report of an older pytest-llmeval)")
            continue
        reference = reference_of(record.row, reference_field)
        build = _sft if fmt == "sft" else _dpo
        examples, used_reference = build(record, reference)
        if not examples:
            result.skip(_why_nothing(record, fmt, reference_field))
            continue
        result.cases += 1
        result.from_reference += used_reference
        for data in examples:
            text = json.dumps(data, sort_keys=True)
            if text not in seen:  # the same answer of the same prompt on two models is one example
                seen.add(text)
                result.examples.append(Example(case=case_group(record), data=data))
    return result


def _selected(record: EvalRecord, only: Only) -> bool:
    if only == "passing":
        return record.verdict == "pass"
    if only == "failing":
        return record.verdict != "pass"
    return True


def case_group(record: EvalRecord) -> str:
    """The case itself, whatever model or prompt variant it ran on: the unit of the validation split."""
    base = without_model(record.case_id, record.model)
    if record.variant is not None:
        base = without_variant(base, record.variant)
    return f"{record.group}::{base}"


def reference_of(row: dict[str, Any], reference_field: str | None) -> str | None:
    """The row's reference answer as text (JSON for a structured one), or None."""
    names: Sequence[str] = (reference_field,) if reference_field else DEFAULT_REFERENCE_FIELDS
    for name in names:
        value = row.get(name)
        if value is None or value == "":
            continue
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return None


def _prompt(record: EvalRecord, weights: bool) -> list[dict[str, Any]]:
    """The messages the case sent; with ``weights``, earlier assistant turns are not trained on."""
    messages = [dict(m) for m in record.messages or []]
    if weights:
        for message in messages:
            if message.get("role") == "assistant":
                message["weight"] = 0
    return messages


def _answers(record: EvalRecord, outcome: str) -> list[str]:
    """The distinct answers of the samples with ``outcome``, in sample order."""
    found: list[str] = []
    for sample in record.sample_records:
        answer = sample.answer
        if sample.outcome == outcome and answer is not None and answer.strip() and answer not in found:
            found.append(answer)
    return found


def _sft(record: EvalRecord, reference: str | None) -> tuple[list[dict[str, Any]], bool]:
    tails = _passing_turns(record)
    used_reference = False
    if not tails and record.failures > 0 and reference is not None:
        tails, used_reference = [[{"role": "assistant", "content": reference}]], True
    prompt = _prompt(record, weights=True)
    examples = []
    for tail in tails:
        example: dict[str, Any] = {"messages": [*prompt, *tail]}
        if record.tools is not None and any("tool_calls" in m for m in tail):
            example["tools"] = record.tools
        examples.append(example)
    return examples, used_reference


def _passing_turns(record: EvalRecord) -> list[list[dict[str, Any]]]:
    """What each distinct passing sample answered: its tool rounds, then its final text.

    A round is the assistant's ``tool_calls`` message and one ``tool`` message per call
    answered (with the call's id), as Chat Completions had them, so the model learns to call
    and to answer from the results. A sample whose calls do not parse as JSON objects is
    left out: OpenAI rejects such a line, and it is not worth training on.
    """
    found: list[list[dict[str, Any]]] = []
    for sample in record.sample_records:
        if sample.outcome != "pass" or sample.answer is None:
            continue
        if not all(_json_object(c.arguments) for c in sample.tool_calls):
            continue
        turns: list[dict[str, Any]] = []
        for round_ in sorted({c.round for c in sample.tool_calls}):
            calls = [c for c in sample.tool_calls if c.round == round_]
            turns.append(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                        for c in calls
                    ],
                }
            )
            turns += [
                {"role": "tool", "tool_call_id": c.id, "content": c.result} for c in calls if c.result is not None
            ]
        if sample.answer.strip():
            turns.append({"role": "assistant", "content": sample.answer})
        elif not turns or turns[-1]["role"] != "assistant":
            continue  # nothing to train on: no text after the last tool results
        if turns not in found:
            found.append(turns)
    return found


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def _dpo(record: EvalRecord, reference: str | None) -> tuple[list[dict[str, Any]], bool]:
    preferred = _answers(record, "pass")
    used_reference = False
    if not preferred and reference is not None:
        preferred, used_reference = [reference], True
    rejected = [a for a in _answers(record, "fail") if a not in preferred]
    if not preferred or not rejected:
        return [], False
    prompt = _prompt(record, weights=False)
    pairs = []
    # Every answer at least once, without the len(P) x len(F) pairs of a big case.
    for index in range(max(len(preferred), len(rejected))):
        pairs.append(
            {
                "input": {"messages": prompt},
                "preferred_output": [{"role": "assistant", "content": preferred[index % len(preferred)]}],
                "non_preferred_output": [{"role": "assistant", "content": rejected[index % len(rejected)]}],
            }
        )
    return pairs, used_reference


def _why_nothing(record: EvalRecord, fmt: Format, reference_field: str | None) -> str:
    field_names = reference_field or " or ".join(DEFAULT_REFERENCE_FIELDS)
    if record.passes + record.failures == 0:
        return "every sample errored"
    if fmt == "sft":
        return f"no passing sample, and no reference answer in the row ({field_names})"
    if record.failures == 0:
        return "no failing sample to pair with"
    return f"no passing sample, and no reference answer in the row ({field_names})"


def split(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(training, validation): ``fraction`` of the cases, drawn with ``seed``, go to validation whole."""
    if not 0 < fraction < 1:
        raise FinetuneError(f"--validation-fraction must be between 0 and 1 (exclusive), got {fraction:g}")
    cases = sorted({e.case for e in examples})
    if len(cases) < 2:
        raise FinetuneError(
            f"a validation split needs examples of at least 2 cases (the split keeps a case whole), got {len(cases)}"
        )
    random.Random(seed).shuffle(cases)
    count = min(len(cases) - 1, max(1, round(fraction * len(cases))))
    held = set(cases[:count])
    return [e for e in examples if e.case not in held], [e for e in examples if e.case in held]


def write(examples: Iterable[Example], path: Path) -> int:
    """Write the examples as JSONL, atomically; return how many."""
    lines = [e.line() for e in examples]
    try:
        atomic_write_text(path, "".join(line + "\n" for line in lines))
    except OSError as exc:
        raise FinetuneError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(lines)
