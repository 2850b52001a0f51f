"""The only uses of pytest-bdd's private API, isolated here (the tested range is pinned in pyproject.toml).

- :func:`scenario_template` reads ``pytest_bdd.scenario.scenario_wrapper_template_registry``
  to get from a scenario's test function to its ``ScenarioTemplate`` (feature, tags, line,
  Rule, steps), at collection time and before a scenario runs (the planner).
- :func:`has_step_definition` asks pytest-bdd's own step lookup, so the planner knows
  whether one of the user's step definitions matches a step, exactly as the run will.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_bdd.parser import ScenarioTemplate, Step


def scenario_template(function: object) -> ScenarioTemplate | None:
    """The Gherkin template behind a scenario test function, or None for other tests."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    try:
        return scenario_wrapper_template_registry.get(function)  # type: ignore[call-overload, no-any-return]
    except TypeError:  # not weak-referenceable: certainly not a scenario
        return None


def has_step_definition(item: pytest.Item, step: Step) -> bool:
    """Whether some step definition visible to ``item`` matches ``step`` (the user's own, say).

    If the private lookup fails (pytest-bdd changed), the answer is yes: the planner then
    plans the scenario as if the step exists, and the run reports what really happens.
    """
    from pytest_bdd.scenario import find_fixturedefs_for_step

    try:
        manager = item.session._fixturemanager
        return next(iter(find_fixturedefs_for_step(step, manager, item)), None) is not None
    except Exception:  # a private API: if it changes, plan as if the step exists
        return True
