"""Intervals, strict verdicts, adaptive sampling, baselines, models side by side and gates."""

from __future__ import annotations

import json

import pytest
from project import Project

FIVE = """
    @samples:5 @threshold:0.6
    Feature: noisy
      Scenario Outline: q
        Given the model "m"
        When the user says "<q>"
        Then the answer contains "yes"

        Examples:
          | id | q        |
          | a  | first    |
          | b  | second   |
"""


def test_interval_in_the_report_and_strict_verdicts(project: Project) -> None:
    project.server.add_rule(None, "yes", times=4)
    project.server.add_rule(None, "no", times=1)
    project.server.add_rule(None, "yes")
    project.feature(FIVE)
    project.run("--llmeval-report=json").assert_outcomes(passed=2)
    case = project.cases()["q[a]"]
    low, high = case["interval"]
    assert 0 < low < case["pass_rate"] <= high <= 1
    # 4/5 or 5/5 against 0.6: the Wilson interval straddles 0.6 -> inconclusive.
    result = project.run("--llmeval-stats=strict", "--llmeval-report=json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*-> INCONCLUSIVE*"])
    assert {c["verdict"] for c in project.cases().values()} == {"inconclusive"}
    project.run("--llmeval-stats=strict", "--llmeval-allow-inconclusive").assert_outcomes(passed=2)


def test_adaptive_sampling_stops_when_the_verdict_is_clear(project: Project, mode: list[str]) -> None:
    project.server.add_rule("first", "no")
    project.server.add_rule("second", "yes")
    project.feature(FIVE.replace("@samples:5", "@samples:auto:40").replace("@threshold:0.6", "@threshold:0.8"))
    project.run("--llmeval-report=json", "--llmeval-cache=off", *mode).assert_outcomes(passed=1, failed=1)
    cases = project.cases()
    assert cases["q[a]"]["samples"] == 5  # 0/5: the interval is already wholly below 0.8
    assert cases["q[b]"]["samples"] == 20  # 20/20 is the first count whose interval clears 0.8
    assert project.server.total_requests == 25


def test_adaptive_sampling_in_python(project: Project) -> None:
    project.server.add_rule(None, "no")
    project.pytester.makepyfile(
        test_a="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m", samples="auto", threshold=0.5)
        def test_x(llm):
            llm.ask("hi").check(graders.string_check(reference="yes", operation="like"))
        """
    )
    project.run("--llmeval-report=json").assert_outcomes(failed=1)
    (case,) = project.report()["cases"]
    assert case["samples"] == 5 and project.server.total_requests == 5


def test_baseline_save_compare_regress_and_gate(project: Project, mode: list[str]) -> None:
    baseline = project.path / "baselines" / "main.json"
    project.server.add_rule(None, "yes")
    project.feature(FIVE)
    result = project.run(f"--llmeval-save-baseline={baseline}", *mode)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"baseline written: {baseline}"])
    saved = json.loads(baseline.read_text())
    assert set(saved["entries"]) == {"features/eval.feature::q[a]::m", "features/eval.feature::q[b]::m"}

    project.run(f"--llmeval-baseline={baseline}", "--llmeval-fail-on-regression", *mode).assert_outcomes(passed=2)

    project.server.reset()
    project.server.add_rule("first", "no")
    project.server.add_rule("second", "yes")
    result = project.run(f"--llmeval-baseline={baseline}", "--llmeval-fail-on-regression", "--llmeval-cache=off", *mode)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"baseline {baseline}: 1 regressed, 0 improved, 1 unchanged, 0 new, 0 removed, 0 redefined",
            "*regressed: q?a? on m: 5/5 -> 0/5 p = 0.0*",
            f"llmeval gate failed: 1 case(s) regressed against {baseline}*",
        ]
    )


def test_suite_level_drop_fails_the_gate_when_no_single_case_is_significant(project: Project) -> None:
    baseline = project.path / "base.json"
    project.file("features/rows.jsonl", "\n".join(f'{{"id": "c{i}", "q": "question {i}"}}' for i in range(8)))
    project.feature(
        """
        @samples:5 @threshold:0.2
        Feature: drift
          @dataset:rows.jsonl
          Scenario: s
            Given the model "m"
            When the user says "<q>"
            Then the answer contains "yes"
        """
    )
    project.server.add_rule(None, "yes")
    project.run(f"--llmeval-save-baseline={baseline}").assert_outcomes(passed=8)
    project.server.reset()
    for i in range(8):  # every case drops from 5/5 to 2/5: still above its threshold
        project.server.add_rule(f"^question {i}$", "yes", times=2)
        project.server.add_rule(f"^question {i}$", "no")
    result = project.run(f"--llmeval-baseline={baseline}", "--llmeval-fail-on-regression", "--llmeval-cache=off")
    result.assert_outcomes(passed=8)  # every case still meets its (low) threshold...
    assert result.ret == 1  # ...but the suite as a whole got worse than the baseline
    result.stdout.fnmatch_lines(["llmeval gate failed: 0 case(s) regressed against *; suite paired p = 0.0039*"])


def test_redefined_new_and_removed(project: Project) -> None:
    baseline = project.path / "base.json"
    project.server.add_rule(None, "yes")
    project.feature(FIVE)
    project.run(f"--llmeval-save-baseline={baseline}").assert_outcomes(passed=2)
    project.feature(
        FIVE.replace('Given the model "m"', 'Given the model "m"\n        And the temperature is 0').replace(
            "| b  | second   |", "| c  | third    |"
        )
    )
    result = project.run(f"--llmeval-baseline={baseline}")
    result.stdout.fnmatch_lines(
        [
            "*1 unchanged, 1 new, 1 removed, 1 redefined*",
            "*unchanged (redefined): q?a? on m*",
            "*new: q?c? on m*",
            "*removed: q?b? on m*",
        ]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "*--llmeval-baseline: *base.json:1: the baseline is not valid JSON*"),
        ('{"format": 1, "plugin_version": "0.0.1", "entries": {}}', "*written by pytest-llmeval 0.0.1, this is *"),
        ('{"entries": {}, "format": 99}', "*baseline format 99*"),
        ("[1, 2]", "*not a pytest-llmeval baseline*"),
    ],
)
def test_damaged_or_foreign_baselines_are_a_clear_error(project: Project, content: str, message: str) -> None:
    (project.path / "base.json").write_text(content)
    project.feature(FIVE)
    result = project.run("--llmeval-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert project.server.total_requests == 0


def test_models_side_by_side(project: Project, mode: list[str]) -> None:
    project.server.add_rule(lambda body: body["model"] == "base", "no")  # type: ignore[arg-type]
    project.server.add_rule(lambda body: body["model"].startswith("ft:"), "yes")  # type: ignore[arg-type]
    project.feature(FIVE.replace('Given the model "m"', "Given the temperature is 0"))
    ft = "ft:gpt-4.1-mini:acme:support:7p4lURel"
    result = project.run("--llmeval-model=base", f"--llmeval-model={ft}", "--llmeval-report=json", *mode)
    result.assert_outcomes(passed=2, failed=2)
    assert sorted(project.cases()) == sorted(["q[a]@base", "q[b]@base", f"q[a]@{ft}", f"q[b]@{ft}"])
    result.stdout.fnmatch_lines(
        [
            "models side by side*",
            "  base: 0/2 0.0%*",
            f"  {ft}: 2/2 100.0%*",
            f"  {ft} vs base: 2 shared cases, mean difference +100.0%, better on 2, worse on 0, sign test p = 0.5000",
        ]
    )
    report = project.report()
    assert [m["model"] for m in report["models"]] == ["base", ft]
    assert report["comparisons"][0]["shared_cases"] == 2


def test_min_pass_rate_gate(project: Project) -> None:
    project.server.add_rule("first", "yes")
    project.server.add_rule("second", "no")
    project.feature(FIVE)
    result = project.run("--llmeval-min-pass-rate=90%")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["llmeval gate failed: m: 1/2 cases passed (50.0%), below --llmeval-min-pass-rate 90.0%"]
    )
    assert project.run("--llmeval-min-pass-rate=0.5").ret == 1  # one test failed anyway


def test_gate_without_a_baseline_and_an_unwritable_baseline_are_usage_errors(project: Project) -> None:
    project.feature(FIVE)
    result = project.run("--llmeval-fail-on-regression")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-fail-on-regression needs --llmeval-baseline PATH*"])
    blocker = project.file("blocker", "a file\n")
    result = project.run(f"--llmeval-save-baseline={blocker / 'base.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-save-baseline: cannot write *blocker/base.json*"])
    assert project.server.total_requests == 0


def test_a_single_model_baseline_matches_a_side_by_side_run(project: Project) -> None:
    baseline = project.path / "base.json"
    project.server.add_rule(None, "yes")
    project.feature(FIVE.replace('Given the model "m"', "Given the temperature is 0"))
    project.run("--llmeval-model=zeta", f"--llmeval-save-baseline={baseline}").assert_outcomes(passed=2)
    result = project.run("--llmeval-model=zeta", "--llmeval-model=alpha", f"--llmeval-baseline={baseline}")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "models side by side*",
            "  zeta: 2/2*",  # in the order the flags were given, not alphabetical
            "  alpha: 2/2*",
            "*0 regressed, 0 improved, 2 unchanged, 2 new, 0 removed*",
        ]
    )
