"""Bad input gets one clear error that says where, and nothing recorded is lost."""

from __future__ import annotations

import os

import pytest
from project import Project

OK_SCENARIO = """
    Feature: f
      Scenario: s
        Given the model "m"
        When the user says "hi"
        Then the answer contains "hi"
"""


def test_malformed_feature_file_names_file_and_line(project: Project) -> None:
    project.feature(
        """
        Feature: broken
          Scenario: s
            Given the model "m"
              | a | b |
              | c |
        """
    )
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*features/eval.feature:5: malformed feature file: (5:7): inconsistent cell count within the table",
            "    | c |",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_unknown_step_lists_the_closest_phrases(project: Project) -> None:
    project.server.add_rule(None, "hi")
    project.feature(
        """
        Feature: f
          Scenario: typo
            Given the model "m"
            When the user says "hi"
            Then the answer contians "hi" in any case
        """
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*features/eval.feature:5: unknown step: Then the answer contians "hi" in any case*',
            "*closest phrases in pytest-llmeval's step library:*",
            '*Then the answer contains "x" in any case*',
        ]
    )
    assert project.server.total_requests == 0


def test_placeholder_without_a_value(project: Project) -> None:
    project.feature(
        """
        Feature: f
          Scenario: no row
            Given the model "m"
            When the user says "<email>"
            Then the answer is valid JSON
        """
    )
    result = project.run("--llmeval-report=json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ['*features/eval.feature:4: When the user says "<email>": no value for <email> (the row has: none)*']
    )
    assert project.server.total_requests == 0
    (case,) = project.report()["cases"]
    assert case["verdict"] == "error" and "<email>" in case["reason"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "*dataset file not found: *missing.jsonl*"),
        ('{"id": "a", "q": 1}\n{"id": "b", "q": \n', "*rows.jsonl:2: malformed JSON line*"),
        ('{"id": "a"}\n{"id": "b"}\n{"id": "a"}\n', "*rows.jsonl:3: duplicate case id 'a' (first on line 1)*"),
        ('{"id": "a"}\n[1, 2]\n', "*rows.jsonl:2: each row must be a JSON object, got list*"),
    ],
)
def test_bad_dataset_is_one_collection_error(project: Project, content: str | None, message: str) -> None:
    name = "missing.jsonl" if content is None else "rows.jsonl"
    if content is not None:
        project.file(f"features/{name}", content)
    project.feature(
        f"""
        Feature: f
          @dataset:{name}
          Scenario: s
            Given the model "m"
            When the user says "<q>"
            Then the answer is valid JSON
        """
    )
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("@samples:0", "*tag @samples:0: expected a whole number >= 1, auto, or auto:MAX, got '0'*"),
        ("@samples:many", "*tag @samples:many: expected a whole number >= 1*"),
        ("@threshold:1.5", "*tag @threshold:1.5: expected a threshold between 0 and 1*"),
        ("@model:", "*tag @model:: the tag needs a value*"),
    ],
)
def test_bad_tag_values(project: Project, tag: str, message: str) -> None:
    project.feature(
        f"""
        Feature: f
          {tag}
          Scenario: s
            Given the model "m"
            When the user says "hi"
            Then the answer contains "hi"
        """
    )
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["features/eval.feature:3: scenario 's': " + message.lstrip("*")])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--llmeval-cache=sometimes",
            "*--llmeval-cache: unknown cache mode 'sometimes'; use one of: off, record, replay*",
        ),
        ("--llmeval-samples=0", "*--llmeval-samples: expected a whole number >= 1, got '0'*"),
        ("--llmeval-threshold=1.5", "*--llmeval-threshold: expected a threshold between 0 and 1*"),
        ("--llmeval-timeout=-1", "*--llmeval-timeout: expected a number of seconds > 0*"),
        ("--llmeval-max-retries=x", "*--llmeval-max-retries: expected a whole number >= 0*"),
        ("--llmeval-report=xml", "*--llmeval-report: unknown report format 'xml'; use: html, json, md*"),
        ("--llmeval-base-url=localhost:8000", "*--llmeval-base-url: expected an http(s) URL*"),
    ],
)
def test_bad_option_values_are_one_usage_error(project: Project, option: str, message: str) -> None:
    project.feature(OK_SCENARIO)
    result = project.run(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_ini_value_names_the_ini_file(project: Project) -> None:
    project.pytester.makeini("[pytest]\nllmeval_samples = none\n")
    project.feature(OK_SCENARIO)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option llmeval_samples in *tox.ini: expected a whole number >= 1*"])


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root can write anywhere")
def test_unwritable_cache_dir(project: Project) -> None:
    locked = project.path / "locked"
    locked.mkdir(mode=0o500)
    project.feature(OK_SCENARIO)
    result = project.run(f"--llmeval-cache-dir={locked / 'cache'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot write to the cache folder*locked*"])


def test_cache_dir_that_is_a_file(project: Project) -> None:
    # Root can write anywhere, so a path below a plain file is the portable "cannot write".
    blocker = project.file("blocker", "a file, not a folder\n")
    project.feature(OK_SCENARIO)
    result = project.run(f"--llmeval-cache-dir={blocker / 'cache'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-cache-dir*cannot write to the cache folder*blocker*"])
    assert blocker.read_text() == "a file, not a folder\n"


def test_invalid_schema_file(project: Project) -> None:
    project.file("features/bad.json", '{"type": "objekt"}')
    project.feature(
        """
        Feature: f
          Scenario: s
            Given the model "m"
            When the user says "hi"
            Then the answer matches the JSON schema "bad.json"
        """
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ['*features/eval.feature:5: Then the answer matches the JSON schema "bad.json": *bad.json*']
    )
    assert project.server.total_requests == 0


def test_schema_file_that_is_not_json(project: Project) -> None:
    project.file("features/bad.json", '{"type": "object",\n  oops}')
    project.feature(
        OK_SCENARIO.replace('Then the answer contains "hi"', 'Then the answer matches the JSON schema "bad.json"')
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*eval.feature:5:*bad.json*line 2*"])


def test_model_that_does_not_import(project: Project) -> None:
    project.feature(
        OK_SCENARIO.replace('Then the answer contains "hi"', 'Then the answer validates as "nowhere:Order"')
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*eval.feature:5: *cannot import 'nowhere:Order': No module named 'nowhere'*"])


def test_no_model_anywhere(project: Project) -> None:
    project.feature(OK_SCENARIO.replace('Given the model "m"', "Given the temperature is 0"))
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no model: add 'Given the model*--llmeval-model*"])


def test_a_scenario_with_nothing_to_grade_is_an_error(project: Project) -> None:
    project.server.add_rule(None, "anything")
    project.feature(
        """
        Feature: f
          Scenario: ungraded
            Given the model "m"
            When the user says "hi"
        """
    )
    result = project.run("--llmeval-report=json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["features/eval.feature:*: scenario 'ungraded': nothing grades the answer*"])
    assert project.cases()["ungraded"]["verdict"] == "error"


def test_the_same_model_twice_is_a_usage_error(project: Project) -> None:
    project.feature(OK_SCENARIO)
    result = project.run("--llmeval-model=a", "--llmeval-model=a")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-model: the same model is given twice*"])


def test_errors_inside_steps_print_one_message_without_a_chain(project: Project) -> None:
    project.feature(OK_SCENARIO.replace('Given the model "m"', "Given the temperature is warm"))
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["features/eval.feature:3: Given the temperature is warm: expected a number*"])
    result.stdout.no_fnmatch_line("*During handling*")
