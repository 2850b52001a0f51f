"""Plan: turn every selected test item into the requests it will send, before any test runs.

Feature-file scenarios are planned from their steps with the same handlers that run them
(:data:`pytest_llmeval._steps.STEPS`), so a planned request is byte-for-byte the request
the scenario would send. Tests that call ``llm.ask`` in their body cannot be planned; they
go through the same engine and cache when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from .._bdd.scenario import ScenarioCase, has_step_definition, new_case, resolve_model, scenario_template
from .._case.case import CaseSpec
from .._core.request import ChatRequest, Generation, Job
from .._engine.cache import cache_key, key_material
from ..graders._base import GraderConfigError, make_sample
from ..graders._judge import JudgeGrader
from .session import state_of


def plan(items: Sequence[pytest.Item]) -> list[Job]:
    """Every distinct request the selected items will send, each once, in item order.

    A judge of a planned case becomes a job derived from its generation's job: it is
    built from the answer once that is in, and runs in the same engine.
    """
    jobs: dict[str, Job] = {}
    for item in items:
        if _skipped(item):
            continue
        spec = planned_case(item)
        if spec is None:
            continue
        settings = state_of(item.config).settings
        judges = [g for g in spec.graders if isinstance(g, JudgeGrader)]
        for request in spec.requests():
            material = key_material(request, settings.base_url)
            key = cache_key(material)
            jobs.setdefault(key, Job(key=key, material=material, request=request))
            for index, judge in enumerate(judges):
                derive = _judge_builder(judge, spec.row, spec.judge_model or settings.judge_model)
                placeholder = f"{key}>{index}:{id(judge)}"
                jobs.setdefault(placeholder, Job(key=placeholder, material={}, request=None, after=key, derive=derive))
    return list(jobs.values())


def _skipped(item: pytest.Item) -> bool:
    """A test that will be skipped sends nothing: its requests are not planned (nor paid for)."""
    try:
        from _pytest.skipping import evaluate_skip_marks

        return evaluate_skip_marks(item) is not None
    except Exception:  # a private helper; if it moves or a condition fails, plan the item
        return False


def _judge_builder(
    judge: JudgeGrader, row: dict[str, Any], default_model: str | None
) -> Callable[[Generation], ChatRequest | None]:
    def build(generation: Generation) -> ChatRequest | None:
        if generation.text is None:
            return None
        try:
            return judge.judge_request(make_sample(generation.text), row, default_model)
        except GraderConfigError:
            return None  # no judge model, a bad template: the test reports it

    return build


def planned_case(item: pytest.Item) -> CaseSpec | None:
    """The case a scenario item will run, built from its steps; None when it cannot be known."""
    template = scenario_template(getattr(item, "obj", None))
    if template is None:
        return None
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec is not None else {}
    scenario = template.render(example if isinstance(example, dict) else {})
    try:
        case = new_case(item, template.feature.filename, scenario.name)
    except pytest.fail.Exception:
        return None  # a bad tag: collection reports it
    if not _apply_steps(item, case, scenario.steps):
        return None
    spec = case.spec
    spec.model = resolve_model(
        state_of(item.config).settings, case.step_model, case.tags.model, side_by_side=spec.side_by_side
    )
    if spec.target is not None or spec.user is None or spec.model is None or not spec.graders:
        return None
    return spec


def _apply_steps(item: pytest.Item, case: ScenarioCase, steps: Sequence[Any]) -> bool:
    """Run the plugin's step handlers over the scenario; False when the run would fail anyway.

    A step of the user's own is skipped (it cannot change the request); a step nobody
    defines, or one of ours written wrongly, means the scenario will fail before it sends
    anything, so it is not planned and nothing is spent on it.
    """
    from .._bdd.steps import match_phrase

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
