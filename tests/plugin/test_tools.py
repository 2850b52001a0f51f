"""Tool calls against the loopback server: graded calls, tool loops, caching and cost, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback import Reply, after_tool_result, tool_results, tool_rounds
from project import Project

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_table",
            "parameters": {"type": "object", "properties": {"time": {"type": "string"}}, "required": ["time"]},
        },
    },
]


def scenario(*then: str, given: tuple[str, ...] = (), tags: str = "") -> str:
    """A one-scenario feature offering TOOLS; ``given`` steps come before the user's message."""
    steps = ['Given the model "m"', 'And the tools from "tools.json"', *given, 'When the user says "weather in Paris?"']
    body = "\n".join("    " + s for s in [*steps, *then])
    return f"{tags}\nFeature: tools\n  Scenario: weather\n{body}\n"


def write(project: Project, *then: str, given: tuple[str, ...] = (), tags: str = "") -> None:
    project.file("features/tools.json", json.dumps(TOOLS))
    project.feature(scenario(*then, given=given, tags=tags), name="tools")


def calls(project: Project, *calls: tuple[str, Any]) -> None:
    project.server.add_rule("weather", Reply.tool_calls(*calls))


def sample(project: Project) -> dict[str, Any]:
    (case,) = project.report()["cases"]
    first: dict[str, Any] = case["sample_records"][0]
    return first


def test_the_right_tool_passes_and_the_request_offers_the_tools(project: Project, mode: list[str]) -> None:
    calls(project, ("get_weather", {"city": "Paris"}))
    write(project, 'Then the model calls "get_weather"', given=('And the tool choice is "required"',))
    project.run("--llmeval-report=json", *mode).assert_outcomes(passed=1)
    (request,) = project.server.requests
    assert request.body["tools"] == TOOLS and request.body["tool_choice"] == "required"
    record = sample(project)
    assert record["answer"] == "" and record["tool_calls"][0]["name"] == "get_weather"
    assert json.loads(record["tool_calls"][0]["arguments"]) == {"city": "Paris"}
    assert project.report()["cases"][0]["tools"] == TOOLS


def test_the_wrong_tool_fails_and_says_what_was_called(project: Project, mode: list[str]) -> None:
    calls(project, ("book_table", {"time": "8pm"}))
    write(project, 'Then the model calls "get_weather"')
    result = project.run(*mode)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*failed: tool_call: expected a call of 'get_weather', got book_table(*8pm*)*"])
    result.stdout.fnmatch_lines(['*tool calls: book_table({"time": "8pm"})*'])


@pytest.mark.parametrize(
    ("arguments", "passed"),
    [({"city": "Paris", "unit": "c"}, True), ({"city": "Lyon"}, False), ('{"city": "Paris"', False)],
    ids=["equal-with-extra-key", "differs", "not-json"],
)
def test_arguments_are_compared_key_by_key(project: Project, arguments: Any, passed: bool) -> None:
    calls(project, ("get_weather", arguments))
    write(project, 'Then the model calls "get_weather" with arguments:', '  """', '  {"city": "<city>"}', '  """')
    project.feature(
        scenario('Then the model calls "get_weather" with arguments:', '  """', '  {"city": "Paris"}', '  """'),
        name="tools",
    )
    result = project.run()
    result.assert_outcomes(passed=int(passed), failed=int(not passed))
    if not passed:
        result.stdout.fnmatch_lines(["*'get_weather' was called, but its *"])


def test_arguments_invalid_for_the_schema_never_pass(project: Project) -> None:
    calls(project, ("get_weather", {"city": 7}))
    write(project, 'Then the model calls "get_weather"')
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*its arguments do not fit the tool's schema (at /city: 7 is not of type 'string')*"])


def test_no_tool_wanted_and_order(project: Project, mode: list[str]) -> None:
    project.server.add_rule(
        "order", Reply.tool_calls(("get_weather", {"city": "Paris"}), ("book_table", {"time": "8"}))
    )
    project.server.add_rule("chat", "Hello!")
    project.file("features/tools.json", json.dumps(TOOLS))
    project.feature(
        """
        Feature: tools
          Background:
            Given the model "m"
            And the tools from "tools.json"
          Scenario: in order
            When the user says "order"
            Then the model calls "get_weather" then "book_table"
          Scenario: wrong order
            When the user says "order"
            Then the model calls "book_table" then "get_weather"
          Scenario: chat
            When the user says "chat"
            Then the model calls no tool
            And the answer contains "Hello"
          Scenario: unwanted call
            When the user says "order"
            Then the model calls no tool
        """
    )
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=2, failed=2)
    cases = project.cases()
    assert cases["in order"]["verdict"] == "pass" and cases["chat"]["verdict"] == "pass"
    reason = cases["wrong order"]["sample_records"][0]["grades"][0]["reason"]
    wanted = "expected 'book_table' then 'get_weather' in this order, got 'get_weather', 'book_table'"
    assert reason == wanted + " (missing from 'get_weather' on)"
    assert (
        "expected no tool call, got get_weather" in cases["unwanted call"]["sample_records"][0]["grades"][0]["reason"]
    )


def test_canned_results_over_several_rounds_then_the_final_text_is_graded(project: Project, mode: list[str]) -> None:
    project.server.add_rule(
        lambda body: after_tool_result(body) and tool_rounds(body) >= 2,
        lambda body: Reply.text("Booked; it is " + tool_results(body)[0]),
    )
    project.server.add_rule(lambda body: tool_rounds(body) == 1, Reply.tool_calls(("book_table", {"time": "8pm"})))
    calls(project, ("get_weather", {"city": "Paris"}))
    write(
        project,
        'Then the answer contains "sunny"',
        'And the model calls "get_weather" then "book_table"',
        given=(
            'And the tool "get_weather" returns "sunny, 21 C"',
            'And the tool "book_table" returns:',
            '  """',
            '  {"ok": true}',
            '  """',
        ),
    )
    result = project.run("--llmeval-report=json", "--llmeval-cache=record", *mode)
    result.assert_outcomes(passed=1)
    assert project.server.total_requests == 3
    last = project.server.requests[-1].body["messages"]
    assert [m["role"] for m in last[-4:]] == ["assistant", "tool", "assistant", "tool"]
    assert last[-1]["content"] == '{"ok": true}' and last[-1]["tool_call_id"] == last[-2]["tool_calls"][0]["id"]
    record = sample(project)
    assert record["answer"] == "Booked; it is sunny, 21 C"
    assert [(c["name"], c["round"], c["result"]) for c in record["tool_calls"]] == [
        ("get_weather", 0, "sunny, 21 C"),
        ("book_table", 1, '{"ok": true}'),
    ]
    # Every round's tokens are the sample's: three requests' usage, and their price.
    case = project.report()["cases"][0]
    assert record["usage"]["completion_tokens"] > 10 and case["usage"] == record["usage"]
    # Every round is its own cache entry: a re-run sends nothing.
    project.server.reset(rules=False)
    project.run("--llmeval-report=json", "--llmeval-cache=replay", *mode).assert_outcomes(passed=1)
    assert project.server.total_requests == 0
    assert sample(project)["cached"] is True


def test_a_registered_tool_function_runs_for_real(project: Project, mode: list[str]) -> None:
    project.file(
        "conftest.py",
        """
        import pytest_llmeval

        @pytest_llmeval.tool("get_weather")
        async def weather(city, unit="c"):
            return {"city": city, "sky": "sunny" if city == "Paris" else "rain"}

        @pytest_llmeval.tool("book_table")
        def book(time):
            raise RuntimeError("fully booked")
        """,
    )
    project.server.add_rule(
        lambda body: tool_rounds(body) >= 2, lambda body: Reply.text(" | ".join(tool_results(body)))
    )
    project.server.add_rule(lambda body: tool_rounds(body) == 1, Reply.tool_calls(("book_table", {"time": "8pm"})))
    calls(project, ("get_weather", {"city": "Paris"}))
    write(project, 'Then the answer contains "sunny"', 'And the answer contains "fully booked"')
    project.run("--llmeval-report=json", *mode).assert_outcomes(passed=1)
    record = sample(project)
    assert record["answer"] == '{"city": "Paris", "sky": "sunny"} | error: RuntimeError: fully booked'
    assert record["tool_calls"][1]["error"] == "RuntimeError: fully booked"


def test_the_round_limit_fails_the_sample(project: Project) -> None:
    calls(project, ("get_weather", {"city": "Paris"}))  # whatever it is told, it calls again
    write(project, 'Then the model calls "get_weather"', given=('And the tool "get_weather" returns "sunny"',))
    result = project.run("--llmeval-max-tool-rounds=2", "--llmeval-report=json")
    result.assert_outcomes(failed=1)
    assert project.server.total_requests == 3
    result.stdout.fnmatch_lines(["*failed: tool_loop: the model was still calling tools after 2 round(s)*"])
    assert len(sample(project)["tool_calls"]) == 3


def test_a_call_nobody_answers_fails_with_the_reason(project: Project) -> None:
    project.server.add_rule("weather", Reply.tool_calls(("book_table", {"time": "8"})))
    write(project, 'Then the model calls "book_table"', given=('And the tool "get_weather" returns "sunny"',))
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tool_loop: the model called 'book_table', which has no result*"])
    assert project.server.total_requests == 1


@pytest.mark.parametrize(
    ("tools_file", "step", "message"),
    [
        ('{"type": "function"}', "", "*tools.json:1: the tools must be a JSON array of *"),
        ('[{"type": "function",\n  "function": {"name": }}]', "", "*tools.json:2: not valid JSON: Expecting value*"),
        (
            None,
            'Then the model calls "get_wether"',
            "*tools.feature:6: Then the model calls \"get_wether\": no tool 'get_wether' in the tools*",
        ),
    ],
    ids=["not-an-array", "not-json", "unknown-name"],
)
def test_bad_input_is_one_clear_error(project: Project, tools_file: str | None, step: str, message: str) -> None:
    project.file("features/tools.json", tools_file if tools_file is not None else json.dumps(TOOLS))
    project.feature(scenario(step or 'Then the model calls "get_weather"'), name="tools")
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    assert project.server.total_requests == 0


def test_a_docstring_that_is_not_json_names_the_step(project: Project) -> None:
    project.feature(
        'Feature: tools\n  Scenario: weather\n    Given the model "m"\n    And the tools:\n'
        '      """\n      [{"type": "function", oops}]\n      """\n'
        '    When the user says "hi"\n    Then the model calls no tool\n',
        name="tools",
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*tools.feature:4: And the tools: the tools docstring is not valid JSON: *(line 1 of the docstring)*"]
    )


def test_python_ask_with_tools_and_the_declarative_form(project: Project) -> None:
    project.server.add_rule(after_tool_result, lambda body: Reply.text("It is " + tool_results(body)[-1]))
    calls(project, ("get_weather", {"city": "Paris"}))
    project.file("tools.json", json.dumps(TOOLS))
    project.file(
        "test_python_tools.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m")
        def test_ask(llm):
            answer = llm.ask("weather in Paris?", tools="tools.json", tool_results={"get_weather": "sunny"})
            (call,) = answer.tool_calls[0]
            assert (call.name, call.arguments, call.result) == ("get_weather", {"city": "Paris"}, "sunny")
            answer.check(graders.tool_call("get_weather", arguments={"city": "Paris"}),
                         graders.string_check("sunny", "like"))

        @pytest.mark.llmeval(model="m", prompt="weather in Paris?", tools="tools.json", tool_choice="get_weather")
        def test_declared(answer):
            answer.check(graders.no_tool_call())
        """,
    )
    result = project.run("--llmeval-report=json")
    result.assert_outcomes(passed=1, failed=1)
    (declared,) = [r.body for r in project.server.requests if "tool_choice" in r.body]
    assert declared["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    result.stdout.fnmatch_lines(["*failed: no_tool_call: expected no tool call, got get_weather*"])
