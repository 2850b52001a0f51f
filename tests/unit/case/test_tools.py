"""Tool arrays, tool choice, answering calls, and the loop, without a server."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_llmeval._case.tools import (
    ToolChain,
    ToolsError,
    answer_calls,
    check_tools,
    tool_choice,
    tool_fields,
    tool_loop,
)
from pytest_llmeval._core.records import Usage
from pytest_llmeval._core.request import ChatRequest, Generation, ToolCall
from pytest_llmeval._engine.client import _read_completion

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
CALL = ToolCall(id="c1", name="f", raw_arguments='{"x": 1}')
FIRST = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},), params={"tools": TOOLS})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "function"}, "must be a JSON array"),
        ([], "an empty array"),
        ([{"type": "function", "function": {}}], "tool 0 has no function name"),
        ([*TOOLS, *TOOLS], "the name 'f' is given twice"),
        ([{"type": "function", "function": {"name": "f", "parameters": []}}], "parameters must be a JSON Schema"),
    ],
)
def test_bad_tools_arrays(value: object, message: str) -> None:
    with pytest.raises(ToolsError, match=message):
        check_tools(value)


def test_tool_choice() -> None:
    assert tool_choice("required", None) == "required"
    assert tool_choice("f", TOOLS) == {"type": "function", "function": {"name": "f"}}
    with pytest.raises(ToolsError, match="no tool 'g' in the tools"):
        tool_choice("g", TOOLS)
    with pytest.raises(ToolsError, match="need tools="):
        tool_fields(None, "auto")


def test_answer_calls_prefers_canned_then_functions_and_records_errors() -> None:
    def boom(x: int) -> str:
        raise ValueError("no")

    answered, problem = answer_calls([CALL], 0, {"f": "canned"}, {"f": boom})
    assert problem is None and answered[0].result == "canned"
    answered, problem = answer_calls([CALL], 2, {}, {"f": boom})
    assert answered[0].error == "ValueError: no" and answered[0].round == 2 and problem is None
    _, problem = answer_calls([CALL], 0, {}, {})
    assert problem is not None and "which has no result" in problem


def answering(*answers: Generation) -> tuple[list[list[ChatRequest]], object]:
    asked: list[list[ChatRequest]] = []
    queue = list(answers)

    def generate(requests: Sequence[ChatRequest], roots: Sequence[str | None]) -> list[Generation]:
        asked.append(list(requests))
        return [queue.pop(0) for _ in requests]

    return asked, generate


def test_the_loop_sends_results_and_sums_usage() -> None:
    calling = Generation(text="", tool_calls=(CALL,), usage=Usage.of(10, 5))
    final = Generation(text="done", usage=Usage.of(20, 2))
    asked, generate = answering(final)
    (outcome,) = tool_loop([FIRST], [calling], canned={"f": "r"}, functions={}, max_rounds=5, generate=generate)  # type: ignore[arg-type]
    messages = asked[0][0].messages
    assert messages[-2]["tool_calls"][0]["id"] == "c1" and messages[-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "r",
    }
    assert outcome.text == "done" and outcome.usage.total_tokens == 37 and outcome.tool_calls[0].result == "r"
    # Planned: the chain builds the same request from the same answer.
    assert ToolChain(FIRST, {"f": "r"}).builder(1)(calling) == asked[0][0]


def test_the_loop_stops_at_the_round_limit() -> None:
    calling = Generation(text="", tool_calls=(CALL,))
    asked, generate = answering(calling, calling)
    (outcome,) = tool_loop([FIRST], [calling], canned={"f": "r"}, functions={}, max_rounds=2, generate=generate)  # type: ignore[arg-type]
    assert len(asked) == 2 and outcome.stopped is not None and "after 2 round(s)" in outcome.stopped
    assert [c.round for c in outcome.tool_calls] == [0, 1, 2]


def test_the_client_reads_a_tool_call_answer() -> None:
    data = {
        "model": "m",
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
            }
        ],
    }
    generation = _read_completion(data, 0.1, None)
    assert generation.error is None and generation.text == "" and generation.tool_calls[0].name == "f"
    assert Generation.load(generation.dump()).tool_calls == generation.tool_calls
    broken = {"choices": [{"message": {"content": None, "tool_calls": [{"function": {"name": "f"}}]}}]}
    assert "tool call 0 needs an id" in (_read_completion(broken, 0.1, None).error or "")
    empty = {"choices": [{"message": {"content": None, "tool_calls": []}, "finish_reason": "stop"}]}
    assert "empty answer" in (_read_completion(empty, 0.1, None).error or "")
