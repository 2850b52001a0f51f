"""Tool calls in OpenAI eval definitions: ``{{sample.output_tools}}``, ``tools``/``tool_choice`` sampling params."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_bdd.feature
from loopback import Fault, Reply
from project import Project

from pytest_llmeval._core.request import ToolCall
from pytest_llmeval._openai_evals.convert import convert
from pytest_llmeval._openai_evals.criteria import criteria_graders
from pytest_llmeval._openai_evals.definition import EvalDefinitionError, load_definition
from pytest_llmeval._openai_evals.items import load_items
from pytest_llmeval.graders import make_sample

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather <now> of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

NAMES_THE_TOOL = {
    "type": "string_check",
    "name": "calls get_weather",
    "input": "{{sample.output_tools.0.function.name}}",
    "reference": "get_weather",
    "operation": "eq",
}
CALLS_SOURCE = """\
import json

def grade(sample, item):
    calls = [c for c in sample["output_tools"] if c["function"]["name"] == "get_weather"]
    return 1.0 if any(json.loads(c["function"]["arguments"]).get("city") == item["city"] for c in calls) else 0.0
"""

WEATHER: dict[str, Any] = {
    "name": "Weather",
    "data_source_config": {"type": "custom", "include_sample_schema": True},
    "testing_criteria": [
        NAMES_THE_TOOL,
        {"type": "python", "name": "right city", "source": CALLS_SOURCE, "pass_threshold": 1},
    ],
    "data_source": {
        "type": "completions",
        "model": "gpt-test",
        "input_messages": {
            "type": "template",
            "template": [{"role": "user", "content": "Do I need an umbrella in {{item.city}}?"}],
        },
        "sampling_params": {
            "temperature": 0,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
    },
}
ITEMS = [{"item": {"id": "paris", "city": "Paris"}}, {"item": {"id": "rome", "city": "Rome"}}]


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(x) + "\n" for x in data) if isinstance(data, list) else json.dumps(data, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def call(name: str, arguments: str, id: str = "call_1") -> ToolCall:
    return ToolCall(id=id, name=name, raw_arguments=arguments)


def test_output_tools_in_a_template_is_the_openai_list_as_json(tmp_path: Path) -> None:
    sample = make_sample("", [call("get_weather", '{"city": "Paris"}')])
    expected = json.dumps(sample["output_tools"], ensure_ascii=False)
    assert expected.startswith('[{"id": "call_1", "type": "function", "function": {"name": "get_weather"')
    whole = {"type": "string_check", "name": "w", "input": "{{sample.output_tools}}", "reference": expected}
    definition = write(
        tmp_path / "e.json", {"name": "e", "testing_criteria": [NAMES_THE_TOOL, {**whole, "operation": "eq"}]}
    )
    by_name, as_text = criteria_graders(load_definition(definition))
    assert by_name(sample, {}).passed and as_text(sample, {}).passed
    other = make_sample("", [call("get_time", "{}")])
    assert not by_name(other, {}).passed and not as_text(other, {}).passed
    # No call: the list is empty, and a path into it is an error naming what is missing.
    assert by_name(make_sample("It rains."), {}).error is not None


def test_pre_generated_samples_keep_their_output_tools(tmp_path: Path) -> None:
    sample = {"output_tools": [{"id": "c9", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}
    path = write(tmp_path / "items.jsonl", [{"item": {"id": "a"}, "sample": sample}])
    (row,) = load_items(path)
    assert row.text == "" and row.tool_calls == (ToolCall(id="c9", name="f", raw_arguments='{"a": 1}'),)
    write(path, [{"item": {"id": "a"}, "sample": {"output_tools": [{"function": {"arguments": "{}"}}]}}])
    with pytest.raises(EvalDefinitionError, match=r"items.jsonl:1: output_tools\[0\] needs a function name"):
        load_items(path)
    write(path, [{"item": {"id": "a"}, "sample": {"output_tools": {"name": "f"}}}])
    with pytest.raises(EvalDefinitionError, match=r'items.jsonl:1: the sample\'s "output_tools" must be a list'):
        load_items(path)


def test_the_converter_writes_tools_and_tool_choice_as_the_tool_steps(tmp_path: Path) -> None:
    items = write(tmp_path / "items.jsonl", ITEMS)
    convert(write(tmp_path / "weather.json", WEATHER), items, tmp_path / "out")
    pytest_bdd.feature.features.clear()
    from pytest_bdd.parser import FeatureParser

    feature = FeatureParser(str(tmp_path / "out"), "weather.feature").parse()
    (scenario,) = feature.scenarios.values()
    steps = {step.name: step for step in scenario.steps}
    docstring = steps["the tools:"].docstring
    assert docstring is not None and json.loads(docstring.replace("\\<", "<")) == TOOLS
    assert 'the tool choice is "get_weather"' in steps
    params = steps["the parameters:"].datatable
    assert params is not None and params.raw()[1:] == [["temperature", "0"]]  # tools are no raw parameter
    odd = {**WEATHER, "data_source": {**WEATHER["data_source"], "sampling_params": {"tools": [{"type": "x"}]}}}
    with pytest.raises(EvalDefinitionError, match=r"sampling_params.tools: tool 0 is not"):
        convert(write(tmp_path / "odd.json", odd), items, tmp_path / "odd")


MARKED = """
    import pytest

    @pytest.mark.llmeval_openai_eval("evals/weather.json", items="evals/weather.jsonl")
    def test_weather(openai_eval):
        openai_eval.check()
"""


def test_tools_are_sent_and_graded_with_the_marker_and_the_converted_feature(project: Project) -> None:
    project.pytester.makeini("[pytest]\n")  # one rootdir (and cache) for both runs
    project.server.add_rule("umbrella in Paris", Reply.tool_calls(("get_weather", {"city": "Paris"})))
    project.server.add_rule("umbrella in Rome", Reply.tool_calls(("get_weather", {"city": "Milan"})))
    definition = write(project.path / "evals" / "weather.json", WEATHER)
    items = write(project.path / "evals" / "weather.jsonl", ITEMS)
    project.pytester.makepyfile(test_marked=MARKED)
    project.run("--llmeval-report=json", "test_marked.py").assert_outcomes(passed=1, failed=1)
    bodies = [r.body for r in project.server.requests]
    assert len(bodies) == 2
    assert all(b["tools"] == TOOLS for b in bodies)
    assert all(b["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}} for b in bodies)
    cases = {c["case_id"]: c for c in project.report()["cases"]}
    assert {k: c["verdict"] for k, c in cases.items()} == {"test_weather[paris]": "pass", "test_weather[rome]": "fail"}
    assert cases["test_weather[paris]"]["tools"] == TOOLS
    (sample,) = cases["test_weather[rome]"]["sample_records"]
    assert [g["grader"] for g in sample["grades"] if not g["passed"]] == ["right city"]

    command = [sys.executable, "-m", "pytest_llmeval", "convert-openai-eval", str(definition)]
    result = subprocess.run(
        [*command, "--items", str(items), "--out", "converted"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Replay only: the converted scenarios must send exactly the marker's requests (same key).
    project.server.reset()
    project.server.add_rule(None, Fault.status(500))
    pytest_bdd.feature.features.clear()
    converted = project.run("--llmeval-report=json", "--llmeval-cache=replay", "converted")
    converted.assert_outcomes(passed=1, failed=1)
    assert project.server.total_requests == 0
    rows = {c["case_id"]: c for c in project.report()["cases"]}
    assert {k: c["verdict"] for k, c in rows.items()} == {"Weather[paris]": "pass", "Weather[rome]": "fail"}
    assert rows["Weather[paris]"]["tools"] == TOOLS


def test_a_pre_generated_sample_is_graded_on_its_output_tools(project: Project) -> None:
    data = {k: v for k, v in WEATHER.items() if k != "data_source"}
    write(project.path / "evals" / "weather.json", data)
    calls = [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]
    rows = [
        {"item": {"id": "rome", "city": "Rome"}, "sample": {"output_tools": calls}},
        {"item": {"id": "oslo", "city": "Oslo"}, "sample": {"output_text": "", "output_tools": calls}},
    ]
    write(project.path / "evals" / "weather.jsonl", rows)
    project.pytester.makepyfile(test_marked=MARKED)
    project.run("--llmeval-report=json").assert_outcomes(passed=1, failed=1)
    assert project.server.total_requests == 0
    cases = {c["case_id"]: c for c in project.report()["cases"]}
    assert cases["test_weather[rome]"]["sample_records"][0]["tool_calls"][0]["name"] == "get_weather"
    assert cases["test_weather[oslo]"]["verdict"] == "fail"


def test_a_pre_generated_sample_is_checked_against_the_tools_of_the_eval(project: Project) -> None:
    # Only the name criterion: what tells the two samples apart is the tool's schema ("city" is required).
    data = {**WEATHER, "testing_criteria": [NAMES_THE_TOOL]}
    write(project.path / "evals" / "weather.json", data)

    def calls(arguments: str) -> list[dict[str, Any]]:
        return [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]

    rows = [
        {"item": {"id": "fits", "city": "Rome"}, "sample": {"output_tools": calls('{"city": "Rome"}')}},
        {"item": {"id": "misfits", "city": "Rome"}, "sample": {"output_tools": calls('{"town": "Rome"}')}},
    ]
    write(project.path / "evals" / "weather.jsonl", rows)
    project.pytester.makepyfile(
        test_marked="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval_openai_eval("evals/weather.json", items="evals/weather.jsonl")
        def test_weather(openai_eval):
            openai_eval.check(graders.tool_call("get_weather"))
        """
    )
    project.run("--llmeval-report=json").assert_outcomes(passed=1, failed=1)
    assert project.server.total_requests == 0
    cases = {c["case_id"]: c for c in project.report()["cases"]}
    assert cases["test_weather[fits]"]["verdict"] == "pass" and cases["test_weather[fits]"]["tools"] == TOOLS
    assert cases["test_weather[misfits]"]["verdict"] == "fail"
    grades = cases["test_weather[misfits]"]["sample_records"][0]["grades"]
    assert any(g["grader"] == "tool_call" and not g["passed"] for g in grades), grades
