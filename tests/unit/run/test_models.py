"""Models side by side: with two or more ``--llmeval-model``, every eval test runs once per model, and only those."""

from __future__ import annotations

import pytest
from project import Project

from pytest_llmeval._case.params import MODEL_FIXTURE, compared_model, params_of

PYTHON_TESTS = """
    import pytest

    def test_eval(llm):
        pass

    @pytest.mark.parametrize("p", ["x"])
    def test_eval_with_params(llm, p):
        pass

    def test_not_an_eval():
        pass
    """


def collected(project: Project, *args: str) -> list[str]:
    result = project.pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    return [line for line in result.stdout.lines if "::" in line]


def test_one_model_parametrizes_nothing(project: Project) -> None:
    project.pytester.makepyfile(test_py=PYTHON_TESTS)
    expected = ["test_py.py::test_eval", "test_py.py::test_eval_with_params[x]", "test_py.py::test_not_an_eval"]
    assert collected(project) == expected
    assert collected(project, "--llmeval-model=a") == expected


def test_several_models_parametrize_the_eval_tests_in_the_order_given(project: Project) -> None:
    project.pytester.makepyfile(test_py=PYTHON_TESTS)
    assert collected(project, "--llmeval-model=zeta", "--llmeval-model=alpha", "--llmeval-model=ft:m:acme::x") == [
        "test_py.py::test_eval[zeta]",
        "test_py.py::test_eval[alpha]",
        "test_py.py::test_eval[ft:m:acme::x]",
        "test_py.py::test_eval_with_params[zeta-x]",
        "test_py.py::test_eval_with_params[alpha-x]",
        "test_py.py::test_eval_with_params[ft:m:acme::x-x]",
        "test_py.py::test_not_an_eval",
    ]


def test_the_model_reaches_the_item_as_its_parameter(pytester: pytest.Pytester) -> None:
    module = pytester.getmodulecol(
        "def test_eval(llm):\n    pass\n", configargs=("--llmeval-model=a", "--llmeval-model=b")
    )
    items = pytester.genitems([module])
    assert [compared_model(params_of(item)) for item in items] == ["a", "b"]


def test_the_model_fixture_is_the_items_model(project: Project) -> None:
    project.pytester.makepyfile(
        test_py=f"""
        def test_looked_up(llm, request):
            assert request.getfixturevalue("{MODEL_FIXTURE}") == request.node.callspec.id

        def test_requested(llm, {MODEL_FIXTURE}):
            assert {MODEL_FIXTURE} in ("a", "b")
        """
    )
    project.run("--llmeval-model=a", "--llmeval-model=b").assert_outcomes(passed=4)


def test_scenarios_with_our_phrases_are_evals_and_others_are_not(project: Project) -> None:
    project.file(
        "conftest.py",
        """
        from pytest_bdd import given, then

        @given("a plain precondition")
        def plain():
            pass

        @then("nothing is asked")
        def nothing():
            pass
        """,
    )
    project.feature(
        """
        Feature: f
          Scenario: an eval
            When the user says "hi"
            Then the answer contains "hi"

          Scenario: not an eval
            Given a plain precondition
            Then nothing is asked
        """
    )
    assert collected(project, "--llmeval-model=a", "--llmeval-model=b") == [
        "test_bdd_scenarios.py::test_an_eval[a]",
        "test_bdd_scenarios.py::test_an_eval[b]",
        "test_bdd_scenarios.py::test_not_an_eval",
    ]
