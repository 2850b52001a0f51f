"""Numbers you can trust: no verdict from missing data, no silent compare of nothing, no unchecked ask.

Each test here was a pass (or a silent zero) before the fix it guards; see issues 13 and 14.
"""

from __future__ import annotations

import json

from loopback import Fault
from project import Project

FIVE_SAMPLES = """
    import pytest
    from pytest_llmeval import graders

    @pytest.mark.llmeval(samples=5, threshold=1.0, model="m")
    def test_five(llm):
        llm.ask("five please").check(graders.string_check(reference="ok", operation="like"))
"""


def test_errored_samples_never_leave_the_denominator(project: Project, mode: list[str]) -> None:
    # 4 of 5 samples are HTTP 500 with no retries left; the one answer passes.
    project.server.add_rule("five", "ok", times=1)
    project.server.add_rule("five", Fault.status(500))
    project.pytester.makepyfile(test_five=FIVE_SAMPLES)
    result = project.run("--llmeval-cache=off", "--llmeval-max-retries=0", "--llmeval-report=json", *mode)
    result.assert_outcomes(failed=1)
    (case,) = project.report()["cases"]
    assert case["verdict"] == "error" and case["errors"] == 4 and case["passes"] == 1
    result.stdout.fnmatch_lines(["*ERROR: 4 of 5 samples errored (--llmeval-max-error-rate 0): HTTP 500*"])


def test_a_share_of_errors_is_allowed_with_enough_decided_samples(project: Project) -> None:
    project.server.add_rule("five", "ok", times=3)
    project.server.add_rule("five", Fault.status(500))
    project.pytester.makepyfile(test_five=FIVE_SAMPLES)
    args = ("--llmeval-cache=off", "--llmeval-max-retries=0", "--llmeval-report=json", "--llmeval-max-error-rate=0.4")
    project.run(*args).assert_outcomes(passed=1)  # 2 of 5 errored: within 40 %, 3 decided >= 1
    project.server.reset()
    project.server.add_rule("five", "ok", times=3)
    project.server.add_rule("five", Fault.status(500))
    # The same run, but three decided samples are too few.
    project.run(*args, "--llmeval-min-decided=4").assert_outcomes(failed=1)
    (case,) = project.report()["cases"]
    assert case["verdict"] == "error" and "decided" in (case["reason"] or "")


UNCHECKED = """
    import pytest

    @pytest.mark.llmeval(model="m")
    def test_forgot(llm):
        llm.ask("anything")
"""


def test_an_answer_never_checked_fails_the_test_naming_the_ask(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok")
    project.pytester.makepyfile(test_unchecked=UNCHECKED)
    result = project.run("--llmeval-cache=off", *mode)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*llm.ask at test_unchecked.py:5: the answer was never checked, so nothing graded it*"]
    )


def test_with_the_option_an_unchecked_answer_warns(project: Project) -> None:
    project.server.add_rule(None, "ok")
    project.pytester.makepyfile(test_unchecked=UNCHECKED)
    result = project.run("--llmeval-cache=off", "--llmeval-unchecked=warn")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*UncheckedAnswerWarning*llm.ask at test_unchecked.py:5: the answer was never checked*"]
    )


def test_a_baseline_saved_to_an_absolute_path_keeps_the_case_keys(project: Project, mode: list[str]) -> None:
    # The space form with an absolute path once moved pytest's rootdir, and so every case key.
    project.server.add_rule(None, "ok")
    project.feature(
        """
        Feature: f
          Scenario: s
            Given the model "m"
            When the user says "hello"
            Then the answer equals "ok"
        """
    )
    outside = project.pytester.path.parent / f"{project.pytester.path.name}-baselines" / "b.json"
    cache = outside.parent / "cache"  # an absolute cache dir, space form, under -n 2 too
    args = ("--llmeval-save-baseline", str(outside), "--llmeval-cache-dir", str(cache), "--llmeval-report=json")
    project.run(*args, *mode).assert_outcomes(passed=1)
    keys = list(json.loads(outside.read_text())["entries"])
    assert keys == ["features/eval.feature::s::m"]
    assert [c["group"] for c in project.report()["cases"]] == ["features/eval.feature"]
    result = project.run("--llmeval-baseline", str(outside), "--llmeval-fail-on-regression", *mode)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*0 regressed, 0 improved, 1 unchanged, 0 new, 0 removed*"])


def test_a_baseline_that_shares_no_case_fails_the_gate(project: Project) -> None:
    project.server.add_rule(None, "ok")
    project.feature(
        """
        Feature: f
          Scenario: s
            Given the model "m"
            When the user says "hello"
            Then the answer equals "ok"
        """
    )
    project.run("--llmeval-save-baseline=b.json").assert_outcomes(passed=1)
    project.feature(
        """
        Feature: f
          Scenario: renamed
            Given the model "m"
            When the user says "hello"
            Then the answer equals "ok"
        """
    )
    result = project.run("--llmeval-baseline=b.json", "--llmeval-fail-on-regression")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*shares no case with this run*"])


def test_openai_eval_rows_are_unwrapped_in_a_dataset(project: Project, mode: list[str]) -> None:
    project.server.add_rule("capital of France", "Paris")
    project.file(
        "features/rows.jsonl",
        '{"item": {"id": "fr", "country": "France", "ideal": "Paris"}}\n',
    )
    project.feature(
        """
        Feature: f
          @dataset:rows.jsonl
          Scenario: capital
            Given the model "m"
            When the user says "What is the capital of <country>?"
            Then the answer contains "<ideal>"
        """
    )
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=1)
    assert list(project.cases()) == ["capital[fr]"]
