"""Planning a scenario before it runs: the case it will send, or None when that cannot be known.

Scenario items only exist inside a pytest session, so each test runs one (pytester) with a
small plugin that asks :func:`planned_case` about every collected item.
"""

from __future__ import annotations

from typing import Any

import pytest
from project import Project

from pytest_llmeval._bdd.plan import planned_case
from pytest_llmeval._case.spec import CaseSpec
from pytest_llmeval._run.state import state_of


class Planned:
    """Records, by test name, what the planner makes of each collected item."""

    def __init__(self) -> None:
        self.cases: dict[str, CaseSpec | None] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        settings = state_of(config).settings
        for item in items:
            self.cases[item.name] = planned_case(item, settings)


def plan_of(project: Project, *args: str) -> dict[str, CaseSpec | None]:
    planned = Planned()
    project.pytester.runpytest(
        "-p", "no:cacheprovider", f"--llmeval-base-url={project.server.url}", *args, plugins=[planned]
    )
    return planned.cases


def only(cases: dict[str, CaseSpec | None]) -> CaseSpec | None:
    (case,) = cases.values()
    return case


def test_a_plain_scenario_is_planned_as_written(project: Project) -> None:
    project.feature(
        """
        @samples:2
        Feature: f
          Scenario: one
            Given the model "m"
            And the system prompt:
              \"\"\"
              Be brief.
              \"\"\"
            And the temperature is 0.2
            When the user says "hello"
            Then the answer contains "hi"
        """
    )
    case = only(plan_of(project, "--collect-only"))
    assert case is not None
    assert case.model == "m" and case.samples == 2 and case.params == {"temperature": 0.2}
    assert case.messages() == ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"})
    assert [g.name for g in case.graders] == ["string_check"]


def test_an_outline_row_is_rendered_into_the_plan(project: Project) -> None:
    project.feature(
        """
        Feature: f
          Scenario Outline: ask
            Given the model "m"
            When the user says "<q>"
            Then the answer contains "<a>"

            Examples:
              | id | q          | a  |
              | r1 | first one  | 1  |
              | r2 | second one | 2  |
        """
    )
    cases = plan_of(project, "--collect-only")
    assert sorted((c.case_id, c.user, c.row["a"]) for c in cases.values() if c is not None) == [
        ("ask[r1]", "first one", "1"),
        ("ask[r2]", "second one", "2"),
    ]
    assert len(cases) == 2


def test_the_model_is_resolved_as_the_run_resolves_it(project: Project) -> None:
    project.file("pytest.ini", "[pytest]\nllmeval_model = ini-model\n")
    project.feature(
        """
        @model:feature-model
        Feature: f
          Scenario: tagged
            When the user says "q"
            Then the answer contains "x"

          @model:scenario-model
          Scenario: scenario tag
            When the user says "q"
            Then the answer contains "x"

          Scenario: step
            Given the model "step-model"
            When the user says "q"
            Then the answer contains "x"
        """
    )
    models = {name: case.model for name, case in plan_of(project, "--collect-only").items() if case is not None}
    assert sorted(models.values()) == ["feature-model", "scenario-model", "step-model"]
    overridden = plan_of(project, "--collect-only", "--llmeval-model=cli")
    assert {case.model for case in overridden.values() if case is not None} == {"cli"}


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param('Given the model "m"\n    Then the answer contains "x"', id="no user message"),
        pytest.param('Given the model "m"\n    When the user says "q"', id="no grader"),
        pytest.param('When the user says "q"\n    Then the answer contains "x"', id="no model"),
        pytest.param(
            'Given the model "m"\n    When the user says "q"\n    Then the answer contians "x"', id="unknown step"
        ),
        pytest.param(
            'Given the model "m"\n    And the temperature is hot\n    When the user says "q"\n'
            '    Then the answer contains "x"',
            id="one of ours written wrongly",
        ),
        pytest.param(
            'Given the model "m"\n    And the system prompt:\n    When the user says "q"\n'
            '    Then the answer contains "x"',
            id="a docstring phrase without its docstring",
        ),
    ],
)
def test_a_case_that_cannot_be_known_or_cannot_run_is_not_planned(project: Project, steps: str) -> None:
    project.feature(f"Feature: f\n  Scenario: s\n    {steps}\n")
    assert plan_of(project, "--collect-only") == {"test_s": None}


def test_a_step_of_the_users_own_is_skipped_not_fatal(project: Project) -> None:
    project.file(
        "conftest.py",
        """
        from pytest_bdd import given

        @given("the customer is logged in")
        def logged_in():
            pass
        """,
    )
    project.feature(
        """
        Feature: f
          Scenario: s
            Given the model "m"
            And the customer is logged in
            When the user says "q"
            Then the answer contains "x"
        """
    )
    case = only(plan_of(project, "--collect-only"))
    assert case is not None and case.user == "q"


def test_other_tests_are_not_planned(project: Project) -> None:
    project.file("test_plain.py", "def test_plain():\n    pass\n")
    assert plan_of(project, "--collect-only") == {"test_plain": None}


def test_the_plan_is_the_request_the_run_sends(project: Project) -> None:
    project.server.add_rule(None, "hi there")
    project.feature(
        """
        @samples:2
        Feature: f
          Background:
            Given the model "m"
            And the conversation:
              | role      | content |
              | user      | earlier |
              | assistant | noted   |

          Scenario Outline: ask
            Given the parameters:
              | name       | value |
              | max_tokens | 20    |
            When the user says "<q>"
            Then the answer contains "hi"

            Examples:
              | q     |
              | first |
              | again |
        """
    )
    planned = plan_of(project)
    sent = [(r.body["model"], r.body["messages"], r.body.get("max_tokens")) for r in project.server.requests]
    expected: list[Any] = []
    for case in planned.values():
        assert case is not None
        for request in case.requests():
            expected.append((request.model, list(request.messages), request.params.get("max_tokens")))
    assert len(expected) == 4
    assert sorted(map(repr, sent)) == sorted(map(repr, expected))
