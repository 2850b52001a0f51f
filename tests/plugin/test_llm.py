"""The Python front end: the llm fixture, the llmeval markers and the case fixture."""

from __future__ import annotations

import pytest
from loopback import Fault
from project import Project


def test_ask_and_check(project: Project, mode: list[str]) -> None:
    project.server.add_rule("refund", "You have 30 days.", times=4)
    project.server.add_rule("refund", "Two weeks.")
    project.pytester.makepyfile(
        test_py="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(samples=5, threshold=0.8, model="gpt-test", parameters={"temperature": 0.1})
        def test_refund(llm):
            answer = llm.ask("How long for a refund?", system="You are support.")
            assert len(answer) == 5
            answer.check(graders.string_check(reference="30 days", operation="ilike"))

        @pytest.mark.llmeval(samples=2, model="gpt-test")
        def test_strict(llm):
            llm.ask("anything").check(graders.regex(r"^\\d+$"), graders.valid_json())
        """
    )
    result = project.run("--llmeval-report=json", "-p", "no:llmeval-steps", *mode)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*case 'test_strict' on model 'gpt-test': pass rate 0/2 = 0% (95% CI 0%-66%), threshold 100% -> FAIL*",
            "*failed: regex: *",
            "*failed: valid_json: *",
        ]
    )
    cases = project.cases()
    assert cases["test_refund"]["passes"] == 4 and cases["test_refund"]["verdict"] == "pass"
    assert cases["test_refund"]["group"] == "test_py.py"
    bodies = [r.body for r in project.server.requests if "refund" in str(r.body)]
    assert bodies[0]["temperature"] == 0.1
    assert bodies[0]["messages"][0] == {"role": "system", "content": "You are support."}


def test_dataset_marker_and_case_fixture(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, lambda body: body["messages"][-1]["content"].upper())  # type: ignore[arg-type,return-value]
    project.file("data/rows.csv", "id,word\nw1,apple\nw2,pear\n")
    project.file("schemas/s.json", '{"type": "string"}')
    project.pytester.makepyfile(
        test_ds="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m")
        @pytest.mark.llmeval_dataset("data/rows.csv")
        def test_upper(llm, case):
            answer = llm.ask(case["word"])
            assert answer.text == case["word"].upper()
            answer.check(graders.string_check(reference=case["word"].upper(), operation="eq"))
        """
    )
    result = project.run("--llmeval-report=json", "-v", *mode)
    result.assert_outcomes(passed=2)
    assert sorted(project.cases()) == ["test_upper[w1]", "test_upper[w2]"]


def test_errors_are_not_passes(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, Fault.status(500))
    project.pytester.makepyfile(
        test_err="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(samples=2, model="m")
        def test_down(llm):
            llm.ask("hi").check(graders.string_check(reference="x", operation="like"))
        """
    )
    result = project.run("--llmeval-report=json", "--llmeval-max-retries=1", *mode)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ERROR: every sample errored: HTTP 500: *"])
    (case,) = project.report()["cases"]
    assert case["verdict"] == "error" and case["errors"] == 2 and case["pass_rate"] is None
    assert project.server.total_requests == 4  # two samples, one retry each


def test_case_fixture_without_marker(project: Project) -> None:
    project.pytester.makepyfile(test_x="def test_x(case):\n    pass\n")
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the 'case' fixture needs @pytest.mark.llmeval_dataset(\"path\")*"])


def test_bad_marker_values(project: Project) -> None:
    project.pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.llmeval(samples=0)
        def test_x(llm):
            pass
        """
    )
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_x.py::test_x: @pytest.mark.llmeval: expected a whole number >= 1, auto, or auto:MAX, got '0'*"]
    )


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_missing_api_key_stops_the_run_once(project: Project, extra: list[str]) -> None:
    project.feature(
        """
        Feature: f
          Scenario Outline: s
            Given the model "gpt-4.1-mini"
            When the user says "<q>"
            Then the answer contains "x"

            Examples:
              | q |
              | a |
              | b |
              | c |
        """
    )
    result = project.run(*extra, base_url=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "OPENAI_API_KEY is not set" in output
    assert "--llmeval-base-url" in output and "--llmeval-cache replay" in output
    assert project.server.total_requests == 0


def test_targets_replace_the_model(project: Project) -> None:
    project.pytester.makeconftest(
        """
        import pytest

        async def shouty(case):
            return case["input"].upper() + "!"

        @pytest.fixture
        def llmeval_targets():
            return {"shouty": shouty, "broken": lambda case: 1 / 0}
        """
    )
    project.feature(
        """
        Feature: app
          Scenario: async target
            Given the target "shouty"
            When the user says "hello"
            Then the answer equals "HELLO!"

          @target:broken
          Scenario: raising target
            When the user says "hello"
            Then the answer equals "HELLO!"
        """
    )
    result = project.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ERROR: every sample errored: target raised ZeroDivisionError: division by zero*"])
    assert project.server.total_requests == 0
