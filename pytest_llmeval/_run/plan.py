"""Plan: turn every selected test item into the requests it will send, before any test runs.

Each front end that can know a case before it runs gives a *planner*, ``planner(item,
settings) -> CaseSpec | None``; the plugin passes them in, so this module knows no front
end. A judge of a planned case becomes a job derived from its generation's job: it is
built from the answer once that is in, and runs in the same engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from .._case.spec import CaseSpec
from .._case.targets import Target
from .._case.tools import ToolChain
from .._config.options import Settings
from .._core.request import ChatRequest, Generation, Job, Request
from .._engine.cache import cache_key, key_material
from ..graders._base import GraderConfigError, make_sample
from ..graders._judge import JudgeGrader

Planner = Callable[[pytest.Item, Settings], CaseSpec | None]
Targets = Callable[[str], Target | None]


def plan(
    items: Sequence[pytest.Item], settings: Settings, planners: Sequence[Planner], targets: Targets = lambda name: None
) -> list[Job]:
    """Every distinct request the selected items will send, each once, in item order.

    A case of a target is planned when ``targets`` knows the target (registered with
    ``@pytest_llmeval.target``); one the ``llmeval_targets`` fixture provides is called
    when its test runs.
    """
    return jobs_of(planned_specs(items, settings, planners), settings, targets)


def jobs_of(specs: Sequence[CaseSpec], settings: Settings, targets: Targets = lambda name: None) -> list[Job]:
    """The distinct jobs of planned cases (see :func:`plan`)."""
    jobs: dict[str, Job] = {}
    for spec in specs:
        requests: Sequence[Request]
        if spec.target is not None:
            try:
                call = targets(spec.target)
            except ValueError:  # a name two functions claim: the test reports it
                call = None
            if call is None:
                continue
            requests = spec.target_requests(call)
        else:
            requests = spec.requests()
        judges = [g for g in spec.graders if isinstance(g, JudgeGrader)]
        looped = spec.target is None and bool(spec.tools) and bool(spec.tool_results)
        for request in requests:
            material = key_material(request, settings.base_url)
            key = cache_key(material)
            jobs.setdefault(key, Job(key=key, material=material, request=request))
            # A tool round is derived from the round before it (its placeholder starts with the
            # sample's key: one owner under xdist); a judge from each round that may be the last.
            rounds = [key]
            if looped and isinstance(request, ChatRequest):
                chain = ToolChain(request, spec.tool_results)
                for round in range(1, settings.max_tool_rounds + 1):
                    placeholder = f"{key}>tool{round}"
                    builder = chain.builder(round)
                    jobs.setdefault(
                        placeholder, Job(key=placeholder, material={}, request=None, after=rounds[-1], derive=builder)
                    )
                    rounds.append(placeholder)
            judge_model = spec.judge_model or settings.judge_model
            for index, judge in enumerate(judges):
                for round, parent in enumerate(rounds):
                    derive = _judge_builder(judge, spec.row, judge_model, spec.tools is not None)
                    placeholder = f"{key}>{index}:{id(judge)}" + (f"@{round}" if round else "")
                    jobs.setdefault(
                        placeholder, Job(key=placeholder, material={}, request=None, after=parent, derive=derive)
                    )
    return list(jobs.values())


def planned_specs(items: Sequence[pytest.Item], settings: Settings, planners: Sequence[Planner]) -> list[CaseSpec]:
    """The case of every item a front end can know before it runs (skipped items have none)."""
    specs = []
    for item in items:
        if _skipped(item):
            continue
        spec = _planned(item, settings, planners)
        if spec is not None:
            specs.append(spec)
    return specs


def _planned(item: pytest.Item, settings: Settings, planners: Sequence[Planner]) -> CaseSpec | None:
    """The first planner's case for ``item``; one that raises plans nothing (the test reports it).

    Planning runs inside pytest's test loop, where an exception would be an INTERNALERROR
    before any test ran; the same mistake met by the test itself is one clear failure.
    """
    for planner in planners:
        try:
            found = planner(item, settings)
        except (Exception, pytest.fail.Exception, pytest.skip.Exception):
            continue
        if found is not None:
            return found
    return None


def _skipped(item: pytest.Item) -> bool:
    """A test that will be skipped sends nothing: its requests are not planned (nor paid for)."""
    try:
        from _pytest.skipping import evaluate_skip_marks

        return evaluate_skip_marks(item) is not None
    # A condition that raises is reported with pytest.fail (a BaseException): the test's
    # own run reports it; here the item is planned as if it ran.
    except (Exception, pytest.fail.Exception, pytest.skip.Exception):
        return False


def _judge_builder(
    judge: JudgeGrader, row: dict[str, Any], default_model: str | None, with_tools: bool = False
) -> Callable[[Generation], Request | None]:
    """A judge of a generation; with tools, only of an answer that calls none (the round that ends a loop;
    a judge of an answer that calls tools, or of one a tool function answered, is asked in its test)."""

    def build(generation: Generation) -> Request | None:
        if generation.text is None or (with_tools and generation.tool_calls):
            return None
        try:
            return judge.judge_request(make_sample(generation.text, generation.tool_calls), row, default_model)
        except GraderConfigError:
            return None  # no judge model, a bad template: the test reports it

    return build
