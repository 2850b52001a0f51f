"""Planning a scenario before it runs: the case its steps will build, from the same handlers.

The scenario's template is rendered with its Examples row and the plugin's step handlers
run over it (:mod:`.phrases`), so a planned request is byte-for-byte the request the
scenario would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from .._case.spec import CaseSpec
from .._config.options import Settings
from . import steps as _steps  # noqa: F401  (declares the phrases)
from .phrases import match_phrase
from .scenario import ScenarioCase, new_case
from .template import has_step_definition, scenario_template


def planned_case(item: pytest.Item, settings: Settings) -> CaseSpec | None:
    """The case a scenario item will run, built from its steps; None when it cannot be known."""
    template = scenario_template(getattr(item, "obj", None))
    if template is None:
        return None
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec is not None else {}
    scenario = template.render(example if isinstance(example, dict) else {})
    try:
        case = new_case(item, template.feature.filename, scenario.name, settings)
    except pytest.fail.Exception:
        return None  # a bad tag: collection reports it
    if not _apply_steps(item, case, scenario.steps):
        return None
    case.resolve_model(settings)
    spec = case.spec
    return None if spec.problem() is not None else spec


def _apply_steps(item: pytest.Item, case: ScenarioCase, steps: Sequence[Any]) -> bool:
    """Run the plugin's step handlers over the scenario; False when the run would fail anyway.

    A step of the user's own is skipped (it cannot change the request); a step nobody
    defines, or one of ours written wrongly, means the scenario will fail before it sends
    anything, so it is not planned and nothing is spent on it.
    """
    for step in steps:
        case.step = step
        found = match_phrase(step.type, step.name)
        if found is None:
            if not has_step_definition(item, step):
                return False
            continue
        definition, parsed = found
        args: dict[str, Any] = dict(parsed)
        if "docstring" in definition.takes:
            args["docstring"] = step.docstring
        if "datatable" in definition.takes:
            args["datatable"] = step.datatable.raw() if step.datatable is not None else None
        if any(value is None for value in args.values()):
            return False  # a phrase with ':' but no docstring/table: the run will say so
        try:
            definition.handler(case, **args)
        except pytest.fail.Exception:
            return False  # a mistake in the step: the run reports it where it stands
    return True


def is_eval(metafunc: pytest.Metafunc) -> bool:
    """A scenario that uses one of the plugin's phrases is an eval (others are left alone)."""
    template = scenario_template(metafunc.function)
    return template is not None and any(match_phrase(step.type, step.name) is not None for step in template.steps)
