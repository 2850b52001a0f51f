"""finetune validate: what OpenAI rejects or mis-trains on, one problem per line; counts of a clean file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval._finetune.report import FinetuneError
from pytest_llmeval._finetune.tokens import estimate
from pytest_llmeval._finetune.validate import validate

USER = {"role": "user", "content": "How long do I have for a refund?"}
ANSWER = {"role": "assistant", "content": "30 days."}


def _file(tmp_path: Path, *examples: Any) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in examples), encoding="utf-8")
    return path


def _problems(tmp_path: Path, *examples: Any, fmt: str | None = None, max_tokens: int = 1000) -> list[str]:
    checked = validate(_file(tmp_path, *examples), fmt, max_tokens, estimate())  # type: ignore[arg-type]
    return [f"{p.line}: {p.message}" for p in checked.problems]


def test_a_clean_sft_file_is_counted(tmp_path: Path) -> None:
    checked = validate(
        _file(tmp_path, {"messages": [USER, ANSWER]}, {"messages": [USER, {**ANSWER, "content": "A month."}]}),
        None,
        1000,
        estimate(),
    )
    assert checked.problems == [] and checked.format == "sft" and checked.examples == 2
    assert checked.tokens == [3 + 3 + 1 + 8 + 3 + 3 + 2, 3 + 3 + 1 + 8 + 3 + 3 + 2]


def test_a_clean_dpo_file_counts_both_sides(tmp_path: Path) -> None:
    pair = {
        "input": {"messages": [USER]},
        "preferred_output": [ANSWER],
        "non_preferred_output": [{"role": "assistant", "content": "14 days."}],
    }
    checked = validate(_file(tmp_path, pair), None, 1000, estimate())
    assert checked.problems == [] and checked.format == "dpo"
    assert checked.tokens == [2 * (3 + 3 + 1 + 8 + 3 + 3 + 2)]


@pytest.mark.parametrize(
    ("example", "problem"),
    [
        ({"messages": [USER]}, "no assistant message"),
        ({"messages": [USER, {**ANSWER, "weight": 0}]}, "every assistant message has weight 0"),
        ({"messages": [USER, {**ANSWER, "weight": 0.5}]}, "weight must be 0 or 1, got 0.5"),
        ({"messages": [USER, {**ANSWER, "weight": True}]}, "weight must be 0 or 1, got True"),
        ({"messages": [{**USER, "weight": 1}, ANSWER]}, "weight is only for assistant messages"),
        ({"messages": [USER, {**ANSWER, "content": " "}]}, "messages[1] (assistant): empty content"),
        ({"messages": [{"role": "bot", "content": "x"}, ANSWER]}, "unknown role 'bot'"),
        ({"messages": [USER, ANSWER], "prompt": "x"}, "unknown key(s) 'prompt' in an SFT example"),
        ({"messages": [{**USER, "score": 1}, ANSWER]}, "messages[0] (user): unknown key(s) 'score'"),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{"}}],
                    },
                ]
            },
            "function.arguments is not valid JSON",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
                    },
                ]
            },
            "missing 'id'",
        ),
        (
            {"messages": [USER, {"role": "tool", "tool_call_id": "9", "content": "ok"}, ANSWER]},
            "answers no earlier tool call",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                    },
                    {"role": "tool", "tool_call_id": "1", "content": "ok"},
                    ANSWER,
                ],
                "tools": [{"type": "function", "function": {"name": "g"}}],
            },
            "messages[1].tool_calls[0]: calls 'f', which is not in tools",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "cat.png"}}]},
                    ANSWER,
                ]
            },
            "neither a data URL",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}],
                    },
                    ANSWER,
                ]
            },
            "not valid base64",
        ),
        ({"input": {"messages": [USER]}, "preferred_output": [ANSWER]}, "validate the file with --format dpo"),
        ([USER], "expected a JSON object (one example), got a list of 1"),
    ],
)
def test_each_sft_problem_is_named(tmp_path: Path, example: Any, problem: str) -> None:
    (found,) = _problems(tmp_path, example, fmt="sft")
    assert found.startswith("1: ") and problem in found


@pytest.mark.parametrize(
    ("example", "problem"),
    [
        ({"input": {"messages": [USER]}, "preferred_output": [ANSWER]}, "DPO side missing: 'non_preferred_output'"),
        (
            {"input": {"messages": [USER]}, "preferred_output": [ANSWER], "non_preferred_output": [ANSWER]},
            "are the same",
        ),
        ({"preferred_output": [ANSWER], "non_preferred_output": [{**ANSWER, "content": "no"}]}, "missing 'input'"),
        (
            {
                "input": {"messages": [USER, ANSWER]},
                "preferred_output": [ANSWER],
                "non_preferred_output": [{**ANSWER, "content": "no"}],
            },
            "ends with an assistant message",
        ),
        (
            {
                "input": {"messages": [USER]},
                "preferred_output": [ANSWER, ANSWER],
                "non_preferred_output": [{**ANSWER, "content": "no"}],
            },
            "exactly one assistant message",
        ),
        (
            {
                "input": {"messages": [USER]},
                "preferred_output": [{**ANSWER, "weight": 1}],
                "non_preferred_output": [{**ANSWER, "content": "no"}],
            },
            "weight is for SFT examples",
        ),
    ],
)
def test_each_dpo_problem_is_named(tmp_path: Path, example: Any, problem: str) -> None:
    (found,) = _problems(tmp_path, example, fmt="dpo")
    assert problem in found


def test_lines_that_are_not_examples_and_duplicates_have_their_line(tmp_path: Path) -> None:
    good = {"messages": [USER, ANSWER]}
    found = _problems(tmp_path, good, "{not json", "", good, max_tokens=10)
    assert found == [
        "1: 23 tokens (estimated), over --max-tokens 10: OpenAI drops or refuses it",
        "2: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        "3: empty line: every line of a JSONL file is one example",
        "4: duplicate of line 1",
        "4: 23 tokens (estimated), over --max-tokens 10: OpenAI drops or refuses it",
    ]


def test_bytes_that_are_not_utf8_and_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"messages": []}\n\xff\xfe\n')
    problems = validate(path, "sft", 1000, estimate()).problems
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (1, "missing 'messages'"),
        (2, "not UTF-8 text (byte 1 of the line)"),
    ]
    path.write_text("\n\n")
    assert [(p.line, p.message) for p in validate(path, None, 1000, estimate()).problems] == [
        (1, "the file holds no examples")
    ]
    with pytest.raises(FinetuneError, match="no such file"):
        validate(tmp_path / "nope.jsonl", None, 1000, estimate())
