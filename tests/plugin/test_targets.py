"""Targets registered with @pytest_llmeval.target: planned, called concurrently before the tests.

Each target here writes what it did into files of the project folder, so the assertions are
counts and orderings that hold under xdist too (every worker is its own process).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from project import Project

TARGETS = """
import asyncio, json, os, threading, time
import pytest_llmeval

HERE = os.path.dirname(__file__)
_lock = threading.Lock()
_running = [0]


def _note(kind, case):
    # One line per call: which sample, and how many calls were running when it started.
    with _lock:
        _running[0] += 1
        running = _running[0]
    with open(os.path.join(HERE, "calls.jsonl"), "a") as f:
        f.write(json.dumps({"kind": kind, "input": case["input"], "sample": case["sample"],
                            "running": running, "at": time.time()}) + "\\n")


def _done():
    with _lock:
        _running[0] -= 1


@pytest_llmeval.target("async-app")
async def async_app(case):
    _note("async", case)
    try:
        await asyncio.sleep(0.2)
        if "boom" in case["input"]:
            raise ValueError("the app broke on " + case["input"])
        if "slow" in case["input"]:
            await asyncio.sleep(5)
        if "dict" in case["input"]:
            return {"answer": "ok", "sample": case["sample"]}
        return "ok"
    finally:
        _done()


@pytest_llmeval.target("sync-app")
def sync_app(case):
    _note("sync", case)
    try:
        time.sleep(0.2)
        return "ok"
    finally:
        _done()
"""

FIRST_TEST = """
import os, time

def pytest_runtest_setup(item):
    # One file per process: under xdist each worker starts its tests when its own share is in.
    worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    path = os.path.join(os.path.dirname(__file__), "first-test-at-" + worker)
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(repr(time.time()))
"""


def last_first_test(project: Project) -> float:
    """When the last process to start testing started: every planned call comes before it."""
    return max(float(path.read_text()) for path in project.path.glob("first-test-at-*"))


def calls(project: Project) -> list[dict[str, object]]:
    path = project.path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outline(project: Project, target: str, n: int, then: str = 'Then the answer equals "ok"') -> None:
    rows = "\n".join(f"      | q{i} |" for i in range(n))
    project.feature(
        f"""
        Feature: app
          Scenario Outline: ask
            Given the target "{target}"
            When the user says "question <q>"
            {then}

            Examples:
              | q |
        {rows}
        """
    )


@pytest.fixture
def with_targets(project: Project) -> Project:
    project.file("app_targets.py", TARGETS)
    project.pytester.makeconftest("from app_targets import *  # noqa\n" + FIRST_TEST)
    return project


@pytest.mark.parametrize("target", ["async-app", "sync-app"])
def test_targets_are_called_before_the_tests_and_side_by_side(
    with_targets: Project, mode: list[str], target: str
) -> None:
    outline(with_targets, target, 8)
    result = with_targets.run("--llmeval-report=json", "--llmeval-concurrency=8", *mode)
    result.assert_outcomes(passed=8)
    made = calls(with_targets)
    assert len(made) == 8  # once per case, also with -n 2
    assert all(float(str(call["at"])) < last_first_test(with_targets) for call in made)
    assert max(int(str(call["running"])) for call in made) > 1  # not one after another
    assert with_targets.server.total_requests == 0  # no model was asked
    result.stdout.fnmatch_lines(["*requests: 8 planned*"])


def test_a_target_case_with_samples_calls_once_per_sample(with_targets: Project, mode: list[str]) -> None:
    outline(with_targets, "async-app", 2)
    with_targets.feature(
        """
        @samples:3
        Feature: app
          Scenario Outline: ask
            Given the target "async-app"
            When the user says "question <q>"
            Then the answer equals "ok"

            Examples:
              | q |
              | a |
              | b |
        """
    )
    with_targets.run("--llmeval-report=json", *mode).assert_outcomes(passed=2)
    assert sorted((c["input"], c["sample"]) for c in calls(with_targets)) == [
        ("question a", 0),
        ("question a", 1),
        ("question a", 2),
        ("question b", 0),
        ("question b", 1),
        ("question b", 2),
    ]


def test_errors_timeouts_and_dicts_of_a_target(with_targets: Project, mode: list[str]) -> None:
    with_targets.feature(
        """
        Feature: app
          Scenario Outline: ask
            Given the target "async-app"
            When the user says "<q>"
            Then the answer contains "ok"

            Examples:
              | id   | q    |
              | fine | fine |
              | boom | boom |
              | slow | slow |
              | dict | dict |
        """
    )
    result = with_targets.run("--llmeval-report=json", "--llmeval-timeout=1", *mode)
    result.assert_outcomes(passed=2, failed=2)
    cases = with_targets.cases()
    assert cases["ask[fine]"]["verdict"] == "pass"
    assert cases["ask[boom]"]["reason"] == "every sample errored: target raised ValueError: the app broke on boom"
    assert "target 'async-app' timed out after 1 s" in cases["ask[slow]"]["reason"]
    dict_answer = json.loads(cases["ask[dict]"]["sample_records"][0]["answer"])
    assert dict_answer == {"answer": "ok", "sample": 0}


def test_target_answers_are_not_cached_unless_asked(with_targets: Project) -> None:
    outline(with_targets, "async-app", 3)
    with_targets.run().assert_outcomes(passed=3)
    with_targets.run().assert_outcomes(passed=3)
    assert len(calls(with_targets)) == 6  # an application is run each time
    (with_targets.path / "calls.jsonl").unlink()
    with_targets.run("--llmeval-cache-targets").assert_outcomes(passed=3)
    with_targets.run("--llmeval-cache-targets").assert_outcomes(passed=3)
    assert len(calls(with_targets)) == 3  # recorded once, then served from the cache


def test_a_target_run_needs_no_api_key(with_targets: Project) -> None:
    outline(with_targets, "sync-app", 2)
    with_targets.run(base_url=False).assert_outcomes(passed=2)


def test_target_concurrency_bounds_the_calls(with_targets: Project) -> None:
    outline(with_targets, "sync-app", 6)
    with_targets.run("--llmeval-target-concurrency=2").assert_outcomes(passed=6)
    assert max(int(str(call["running"])) for call in calls(with_targets)) <= 2


def test_the_fixture_still_provides_targets(project: Project, mode: list[str]) -> None:
    project.pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def llmeval_targets():
            return {"echo": lambda case: "ok " + case["input"]}
        """
    )
    outline(project, "echo", 3, then='Then the answer contains "ok question"')
    project.run(*mode).assert_outcomes(passed=3)


def test_a_declared_python_case_calls_a_registered_target(with_targets: Project, mode: list[str]) -> None:
    with_targets.file("rows.jsonl", "\n".join(json.dumps({"id": f"r{i}", "q": f"q{i}"}) for i in range(4)))
    with_targets.file(
        "test_declared.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(target="async-app", prompt="question {q}")
        @pytest.mark.llmeval_dataset("rows.jsonl")
        def test_app(answer):
            answer.check(graders.string_check("ok", "eq"))
        """,
    )
    with_targets.run(*mode).assert_outcomes(passed=4)
    made = calls(with_targets)
    assert len(made) == 4
    assert all(float(str(call["at"])) < last_first_test(with_targets) for call in made)


def test_two_functions_under_one_target_name_are_an_error(project: Project) -> None:
    project.file("a_targets.py", 'import pytest_llmeval\n@pytest_llmeval.target("app")\ndef a(case): return "a"\n')
    project.file("b_targets.py", 'import pytest_llmeval\n@pytest_llmeval.target("app")\ndef b(case): return "b"\n')
    project.pytester.makeconftest("import a_targets, b_targets\n")
    outline(project, "app", 1)
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*target name 'app' is taken by a_targets:a and b_targets:b*"])


def test_the_targets_module_is_found_when_a_conftest_imports_it(project: Project) -> None:
    project.file("pkg/__init__.py", "")
    project.file("pkg/apps.py", 'import pytest_llmeval\n@pytest_llmeval.target("deep")\ndef deep(case): return "ok"\n')
    project.pytester.makeconftest("import pkg.apps\n")
    outline(project, "deep", 2)
    project.run().assert_outcomes(passed=2)
    assert Path(project.path / "pkg" / "apps.py").exists()
