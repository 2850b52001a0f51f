"""The tool graders alone: name, arguments against the schema and by key, no call, order."""

from __future__ import annotations

import pytest

from pytest_llmeval import graders
from pytest_llmeval._core.request import ToolCall
from pytest_llmeval.graders._base import GraderConfigError
from pytest_llmeval.graders._context import GradingContext, grading

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {"type": "function", "function": {"name": "book"}},
]


def sample(*calls: tuple[str, str]) -> graders.Sample:
    return graders.make_sample("", [ToolCall(id=f"c{i}", name=n, raw_arguments=a) for i, (n, a) in enumerate(calls)])


def test_output_tools_has_openai_shape() -> None:
    made = sample(("get_weather", '{"city": "Paris"}'))
    assert made["output_tools"] == [
        {"id": "c0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]


@pytest.mark.parametrize(
    ("calls", "arguments", "passed", "reason"),
    [
        ([("get_weather", '{"city": "Paris"}')], None, True, "called 'get_weather'"),
        ([("get_weather", '{"city": "Paris", "unit": "c"}')], {"city": "Paris"}, True, "called 'get_weather' with"),
        (
            [("get_weather", '{"city": "Lyon"}')],
            {"city": "Paris"},
            False,
            'its argument \'city\' is "Lyon", not "Paris"',
        ),
        ([("get_weather", '{"town": "Paris"}')], {"city": "Paris"}, False, "do not fit the tool's schema"),
        ([("get_weather", '{"city": 3}')], None, False, "at /city: 3 is not of type 'string'"),
        ([("get_weather", "{city: Paris}")], None, False, "its arguments are not JSON"),
        ([("get_weather", "[1]")], None, False, "not a JSON object"),
        ([("book", "{}")], None, False, "expected a call of 'get_weather', got book({})"),
        ([], None, False, "got no tool call"),
        # A second call of the tool may pass where the first did not.
        ([("get_weather", '{"city": 1}'), ("get_weather", '{"city": "Paris"}')], {"city": "Paris"}, True, "called"),
    ],
)
def test_tool_call(calls: list[tuple[str, str]], arguments: dict[str, str] | None, passed: bool, reason: str) -> None:
    grade = graders.tool_call("get_weather", arguments=arguments, tools=TOOLS)(sample(*calls), {})
    assert grade.passed is passed and reason in grade.reason


def test_tool_call_takes_the_tools_from_the_grading_context() -> None:
    context = GradingContext(engine=None, judge_model=None, tools=TOOLS)  # type: ignore[arg-type]
    with grading(context):
        assert not graders.tool_call("get_weather")(sample(("get_weather", '{"city": 3}')), {}).passed
        unknown = graders.tool_call("send_mail")(sample(("send_mail", "{}")), {})
    assert "'send_mail' is not one of the tools offered" in unknown.reason
    # Without tools anywhere, only the arguments' JSON is checked.
    assert graders.tool_call("get_weather")(sample(("get_weather", '{"city": 3}')), {}).passed


def test_no_tool_call_and_sequence() -> None:
    assert graders.no_tool_call()(graders.make_sample("hi"), {}).passed
    assert not graders.no_tool_call()(sample(("book", "{}")), {}).passed
    calls = sample(("get_weather", "{}"), ("x", "{}"), ("book", "{}"))
    assert graders.tool_sequence(["get_weather", "book"])(calls, {}).passed
    grade = graders.tool_sequence(["book", "get_weather"])(calls, {})
    assert not grade.passed and "missing from 'get_weather' on" in grade.reason


def test_bad_grader_arguments_are_config_errors() -> None:
    with pytest.raises(GraderConfigError):
        graders.tool_call("")
    with pytest.raises(GraderConfigError):
        graders.tool_sequence("get_weather")  # type: ignore[arg-type]
