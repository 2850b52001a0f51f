"""Runs the project's living specification in ``features/`` (see features/README.md).

The steps here drive real pytest sessions (pytester) against the loopback server, so each
scenario states a user-facing behaviour and checks it the way a user would see it.
"""

from __future__ import annotations

import json
import shlex
import textwrap
from typing import Any

import pytest
from loopback import Fault, Reply, after_tool_result
from project import Project
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("../../features")


@pytest.fixture
def world() -> dict[str, Any]:
    """What one specification scenario has done so far (the last run's result)."""
    return {}


@given(parsers.parse('a feature file "{name}":'))
def _feature_file(project: Project, name: str, docstring: str) -> None:
    project.feature(docstring, name=name.removesuffix(".feature"))


@given(parsers.parse('a file "{path}":'))
def _a_file(project: Project, path: str, docstring: str) -> None:
    project.file(path, docstring + "\n")


@given(parsers.parse('a test module "{name}":'))
def _test_module(project: Project, name: str, docstring: str) -> None:
    project.file(name, docstring + "\n")


@given(parsers.parse('the loopback model answers "{answer}" when asked about "{pattern}"'))
def _answers(project: Project, answer: str, pattern: str) -> None:
    project.server.add_rule(pattern, answer)


@given(parsers.parse('the loopback model answers "{answer}" {times:d} times when asked about "{pattern}"'))
def _answers_times(project: Project, answer: str, times: int, pattern: str) -> None:
    project.server.add_rule(pattern, answer, times=times)


@given(parsers.parse('the loopback model answers "{answer}" after a tool result'))
def _answers_after_tool(project: Project, answer: str) -> None:
    project.server.add_rule(after_tool_result, answer)


@given(parsers.parse('the loopback model calls "{name}" with \'{arguments}\' when asked about "{pattern}"'))
def _calls_tool(project: Project, name: str, arguments: str, pattern: str) -> None:
    project.server.add_rule(pattern, Reply.tool_calls((name, json.loads(arguments))))


@given(parsers.parse("the loopback model is rate limited {times:d} times with Retry-After {ms:d} ms"))
def _rate_limited(project: Project, times: int, ms: int) -> None:
    project.server.add_rule(None, Fault.status(429, retry_after_ms=ms), times=times)


@given(parsers.parse("the loopback model fails with HTTP {status:d}"))
def _fails(project: Project, status: int) -> None:
    project.server.add_rule(None, Fault.status(status))


@given("the loopback model is switched off")
def _switched_off(project: Project) -> None:
    project.server.reset()
    project.server.add_rule(None, Fault.status(503, message="the loopback model is switched off"))


@given("no API key is set")
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@when(parsers.parse('I run pytest with "{args}"'))
def _run_with(project: Project, world: dict[str, Any], args: str) -> None:
    project.server.reset(rules=False)
    world["result"] = project.run(*shlex.split(args))


@when("I run pytest")
def _run(project: Project, world: dict[str, Any]) -> None:
    project.server.reset(rules=False)
    world["result"] = project.run()


@when(parsers.parse('I run pytest against OpenAI itself with "{args}"'))
def _run_openai(project: Project, world: dict[str, Any], args: str) -> None:
    project.server.reset(rules=False)
    world["result"] = project.run(*shlex.split(args), base_url=False)


@then(parsers.parse("{passed:d} passed and {failed:d} failed"))
def _outcomes(world: dict[str, Any], passed: int, failed: int) -> None:
    world["result"].assert_outcomes(passed=passed, failed=failed)


@then(parsers.parse("the exit code is {code:d}"))
def _exit_code(world: dict[str, Any], code: int) -> None:
    assert int(world["result"].ret) == code


@then("the output shows:")
def _output_shows(world: dict[str, Any], docstring: str) -> None:
    result = world["result"]
    lines = [line for line in textwrap.dedent(docstring).splitlines() if line.strip()]
    output = result.stdout.lines + result.stderr.lines
    from _pytest.pytester import LineMatcher

    LineMatcher(output).fnmatch_lines(lines)


@then(parsers.parse("the model received {count:d} requests"))
def _requests(project: Project, count: int) -> None:
    assert project.server.total_requests == count


@then(parsers.parse('the JSON report has case "{case_id}" with {field} {value}'))
def _report_case(project: Project, case_id: str, field: str, value: str) -> None:
    case = project.cases()[case_id]
    assert case[field] == json.loads(value), (field, case[field])


@then(parsers.parse("the JSON report's overall {field} is {value}"))
def _report_overall(project: Project, field: str, value: str) -> None:
    assert project.report()["overall"][field] == json.loads(value)
