"""The step library as pytest-bdd sees it: three catch-all step definitions, one per kind.

pytest-bdd looks a step up by scanning every step fixture, so three definitions whose
parser matches a step against the whole phrase table (:mod:`.phrases`) keep that scan,
run for every step of every scenario, short. The plugin registers this module as a
plugin, which makes the three definitions visible to every test module.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import parsers
from pytest_bdd.steps import step as bdd_step

from . import steps as _steps  # noqa: F401  (declares the phrases)
from .phrases import Kind, StepDef, match_cached
from .scenario import current_case


class _LibraryParser(parsers.StepParser):
    """One pytest-bdd parser for all phrases of a kind."""

    def __init__(self, kind: Kind) -> None:
        super().__init__(f"pytest-llmeval {kind} phrases")
        self.kind = kind

    def is_matching(self, name: str) -> bool:
        return match_cached(self.kind, name) is not None

    def parse_arguments(self, name: str) -> dict[str, Any]:
        return {"llmeval_phrase": match_cached(self.kind, name)}


def _run_phrase(
    request: pytest.FixtureRequest,
    llmeval_phrase: tuple[StepDef, dict[str, Any]],
    docstring: str | None = None,
    datatable: list[list[str]] | None = None,
) -> None:
    __tracebackhide__ = True
    definition, parsed = llmeval_phrase
    case = current_case(request)
    args = dict(parsed)
    if "docstring" in definition.takes:
        if docstring is None:
            case.fail('this step needs a docstring (text between """ lines) below it')
        args["docstring"] = docstring
    if "datatable" in definition.takes:
        if datatable is None:
            case.fail("this step needs a table (| a | b | rows) below it")
        args["datatable"] = datatable
    definition.handler(case, **args)


KINDS: tuple[Kind, ...] = ("given", "when", "then")
for _kind in KINDS:
    bdd_step(_LibraryParser(_kind), _kind)(_run_phrase)
