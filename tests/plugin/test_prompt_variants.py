"""Prompt variants side by side: ids, the swapped prompt (planned and sent), reports, comparisons,
the prompt x model grid, baselines per variant, and the option's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from project import Project

TWO = """
    @samples:5 @threshold:0.6
    Feature: support
      Scenario Outline: q
        Given the model "m"
        And the system prompt from "prompts/support.md"
        When the user says "<q>"
        Then the answer contains "yes"

        Examples:
          | id | q      |
          | a  | first  |
          | b  | second |
"""


def _system(body: dict[str, Any]) -> str:
    first = body["messages"][0]
    return str(first["content"]) if first["role"] == "system" else ""


def _setup(project: Project, feature: str = TWO) -> None:
    # The loopback server answers "yes" only to the better prompt: the variants differ for sure.
    project.server.add_rule(lambda body: "BETTER" in _system(body), "yes")  # type: ignore[arg-type]
    project.server.add_rule(None, "no")
    project.feature(feature)
    project.file("features/prompts/support.md", "You are Acme's support bot.\n")
    project.file("prompts/better.md", "BETTER: you are Acme's support bot, {{ id }}.\n")


def test_every_case_runs_once_per_variant_and_the_better_one_is_named(project: Project, mode: list[str]) -> None:
    _setup(project)
    result = project.run(
        "--llmeval-prompt-variant=current=",
        "--llmeval-prompt-variant=better=prompts/better.md",
        "--llmeval-report=json,md",
        "--llmeval-cache=off",
        *mode,
    )
    result.assert_outcomes(passed=2, failed=2)
    cases = project.cases()
    assert sorted(cases) == ["q[a]@better", "q[a]@current", "q[b]@better", "q[b]@current"]
    assert cases["q[a]@better"]["variant"] == "better"
    # The variant's {{ id }} is filled from the row; the control arm keeps the case's own prompt.
    assert cases["q[a]@better"]["messages"][0] == {
        "role": "system",
        "content": "BETTER: you are Acme's support bot, a.\n",
    }
    assert cases["q[b]@current"]["messages"][0]["content"] == "You are Acme's support bot.\n"
    # Planned before the tests, swapped: 2 variants x 2 rows x 5 samples, each sent once.
    assert "requests: 20 planned, 0 from the cache, 20 sent" in result.stdout.str()
    assert project.server.total_requests == 20
    result.stdout.fnmatch_lines(
        [
            "prompt variants side by side*",
            "  current: 0/2 0.0% [[]0.0%, 65.8%[]] | * | each case's own prompt",
            "  better: 2/2 100.0% [[]34.2%, 100.0%[]] | * | prompts/better.md",
            "  better vs current: 2 shared cases, mean difference +100.0%, better on 2, worse on 0, "
            "sign test p = 0.5000: no significant difference at alpha 0.05",
            # 0/5 against 5/5: one-sided Fisher 1/252, Holm over 2 cases x 2 directions.
            "    better better: q[[]a[]] on m: current 0/5, better 5/5 p = 0.0159",
            "    better better: q[[]b[]] on m: current 0/5, better 5/5 p = 0.0159",
        ]
    )
    report = project.report()
    assert [v["variant"] for v in report["variants"]] == ["current", "better"]
    (comparison,) = report["variant_comparisons"]
    assert (comparison["variant_a"], comparison["variant_b"], comparison["better"]) == ("current", "better", None)
    assert [d["case_id"] for d in comparison["differences"]] == ["q[a]", "q[b]"]
    assert report["models"] == []
    markdown = (project.path / "llmeval-report" / "llmeval-report.md").read_text()
    assert "## Prompt variants" in markdown
    assert "| better vs current | 2 | +100.0% | 2 / 0 | 0.5000 | no significant difference |" in markdown


def test_the_suite_level_sign_test_names_the_better_variant(project: Project, mode: list[str]) -> None:
    rows = "\n".join(f"          | r{i} | question {i} |" for i in range(6))
    feature = TWO.replace("@samples:5 @threshold:0.6", "@samples:1").split("Examples:")[0]
    feature += "Examples:\n          | id | q |\n" + rows + "\n"
    _setup(project, feature)
    result = project.run(
        "--llmeval-prompt-variant=plain=Answer briefly.",
        "--llmeval-prompt-variant=better=prompts/better.md",
        "--llmeval-report=json",
        *mode,
    )
    result.assert_outcomes(passed=6, failed=6)
    # Six cases of six better: a fair coin does that with p = 2/64 (two-sided).
    result.stdout.fnmatch_lines(
        ["  better vs plain: 6 shared cases, *sign test p = 0.0312: better is better (p < 0.05)"]
    )
    assert project.report()["variant_comparisons"][0]["better"] == "better"
    assert {c["messages"][0]["content"] for c in project.cases().values() if c["variant"] == "plain"} == {
        "Answer briefly."
    }


def test_old_md_new_md_swaps_only_the_cases_of_that_prompt_file(project: Project) -> None:
    _setup(project)
    project.feature(
        """
        Feature: other
          Scenario: inline
            Given the model "m"
            And the system prompt:
              \"\"\"
              Inline prompt.
              \"\"\"
            When the user says "third"
            Then the answer contains "yes"
        """,
        name="other",
    )
    project.file("v2/support.md", "BETTER v2.\n")
    result = project.run(
        "--llmeval-prompt-variant=current=",
        "--llmeval-prompt-variant=support.md=v2/support.md",
        "--llmeval-report=json",
    )
    result.assert_outcomes(passed=2, failed=4)
    cases = project.cases()
    assert sorted(cases) == [
        "inline@current",
        "inline@support",
        "q[a]@current",
        "q[a]@support",
        "q[b]@current",
        "q[b]@support",
    ]
    assert cases["inline@support"]["messages"] == cases["inline@current"]["messages"]
    assert cases["q[a]@support"]["messages"][0]["content"] == "BETTER v2.\n"
    # The unswapped case sends the same request under both variants: once.
    assert project.server.total_requests == 2 * 5 + 2 * 5 + 1
    assert project.report()["variants"][1]["prompt"] == "support.md -> v2/support.md"


def test_a_prompt_by_model_grid_with_python_cases(project: Project, mode: list[str]) -> None:
    project.server.add_rule(
        lambda body: "BETTER" in _system(body) and body["model"] == "big",  # type: ignore[arg-type]
        "yes",
    )
    project.server.add_rule(None, "no")
    project.file(
        "test_grid.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(prompt="Declared?", system="Own prompt.")
        def test_declared(answer):
            answer.check(graders.string_check(reference="yes", operation="like"))

        def test_asked(llm):
            llm.ask("Asked?", system="Own prompt.").check(graders.string_check(reference="yes", operation="like"))
        """,
    )
    result = project.run(
        "--llmeval-model=small",
        "--llmeval-model=big",
        "--llmeval-prompt-variant=own=",
        "--llmeval-prompt-variant=better=BETTER prompt.",
        "--llmeval-report=json",
        *mode,
    )
    result.assert_outcomes(passed=2, failed=6)
    cases = project.cases()
    assert sorted(cases) == sorted(
        f"{test}@{variant}@{model}"
        for test in ("test_asked", "test_declared")
        for variant in ("own", "better")
        for model in ("small", "big")
    )
    assert cases["test_asked@better@big"]["verdict"] == "pass"
    assert cases["test_declared@own@big"]["messages"][0]["content"] == "Own prompt."
    report = project.report()
    assert [m["model"] for m in report["models"]] == ["small", "big"]
    # Models are paired by case and variant, variants by case and model.
    assert report["comparisons"][0]["shared_cases"] == 4
    assert report["variant_comparisons"][0]["shared_cases"] == 4
    assert "requests: 4 planned" in result.stdout.str()  # the declared case, on the grid; llm.ask is not planned


def test_a_baseline_keeps_one_entry_per_variant(project: Project, mode: list[str]) -> None:
    _setup(project)
    args = ["--llmeval-prompt-variant=current=", "--llmeval-prompt-variant=better=prompts/better.md"]
    project.run(*args, "--llmeval-save-baseline=base.json", *mode).assert_outcomes(passed=2, failed=2)
    entries = json.loads((project.path / "base.json").read_text())["entries"]
    assert sorted(entries) == [
        "features/eval.feature::q[a]@better::m",
        "features/eval.feature::q[a]@current::m",
        "features/eval.feature::q[b]@better::m",
        "features/eval.feature::q[b]@current::m",
    ]
    result = project.run(*args, "--llmeval-baseline=base.json", "--llmeval-fail-on-regression", *mode)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*0 regressed, 0 improved, 4 unchanged, 0 new, 0 removed, 0 redefined"])
    # Dropping a variant is its cases removed, not the other variant's regressed.
    result = project.run("--llmeval-prompt-variant=current=", "--llmeval-baseline=base.json")
    result.stdout.fnmatch_lines(["*0 regressed, 0 improved, 0 unchanged, 2 new, 4 removed*"])


def test_one_variant_swaps_the_prompt_without_a_suffix_and_the_ini_key_works(project: Project) -> None:
    _setup(project)
    project.pytester.makeini(
        """
        [pytest]
        llmeval_prompt_variants =
            better=prompts/better.md
        """
    )
    project.run("--llmeval-report=json").assert_outcomes(passed=2)
    cases = project.cases()
    assert sorted(cases) == ["q[a]", "q[b]"]
    assert cases["q[a]"]["variant"] == "better"
    assert "prompt variants side by side" not in project.run().stdout.str()
    # The CLI replaces the ini's list.
    project.run("--llmeval-prompt-variant=x=Say no.", "--llmeval-report=json").assert_outcomes(failed=2)


def test_a_variant_placeholder_the_row_lacks_is_the_cases_error(project: Project) -> None:
    _setup(project)
    project.file("prompts/bad.md", "Hello {{ nobody }}.\n")
    result = project.run("--llmeval-prompt-variant=bad=prompts/bad.md", "--llmeval-report=json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*prompt variant 'bad': no value for {{ nobody }} (the row has: id, q)*"])
    assert project.server.total_requests == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llmeval-prompt-variant=x=prompts/missing.md"], "*prompt file not found: *missing.md*"),
        (["--llmeval-prompt-variant=x=A.", "--llmeval-prompt-variant=x=B."], "*two prompt variants are named 'x'*"),
        (["--llmeval-prompt-variant==text"], "*expected NAME=PATH_OR_TEXT*"),
        (["--llmeval-prompt-variant=a@b=text"], "*a variant name is letters*"),
        (["--llmeval-prompt-variant=old.md=nope.md"], "*prompt file not found*nope.md*"),
    ],
)
def test_a_bad_variant_is_a_usage_error(project: Project, args: list[str], message: str) -> None:
    _setup(project)
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--llmeval-prompt-variant: {message}"])
    assert project.server.total_requests == 0
