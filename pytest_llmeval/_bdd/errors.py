"""Errors that say where: a malformed feature file in one line, an unknown step with its closest phrases."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from .._case.outcome import fail
from .._core.paths import relative
from .scenario import CASE_KEY

if TYPE_CHECKING:
    from pytest_bdd.parser import Scenario, Step

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def clean_collect_error(report: pytest.CollectReport, root: Path) -> None:
    """Replace pytest-bdd's traceback for a malformed feature file with one line that says where."""
    from pytest_bdd.exceptions import GherkinParseError

    call = report.__dict__.get("call")
    error = call.excinfo.value if call is not None and call.excinfo is not None else None
    while error is not None and not isinstance(error, GherkinParseError):
        error = error.__cause__ or error.__context__
    if isinstance(error, GherkinParseError):
        message = error.message.replace("Unknown parsing error: ", "").replace("Parser errors:\n", "")
        report.longrepr = (
            f"{relative(Path(error.filename), root)}:{error.line}: malformed feature file: {message.strip()}\n"
            f"    {error.line_content.strip()}"
        )


def step_not_found(request: pytest.FixtureRequest, step: Step, scenario: Scenario, phrases: Sequence[str]) -> NoReturn:
    """Replace pytest-bdd's lookup error with one that lists our closest phrases."""
    __tracebackhide__ = True
    root = request.config.rootpath
    wanted = _QUOTED.sub('"x"', step.name)
    shapes = {_QUOTED.sub('"x"', p): p for p in phrases}
    close = difflib.get_close_matches(wanted, list(shapes), n=3, cutoff=0.4)
    hint = "".join(f"\n    {step.type.capitalize()} {shapes[c]}" for c in close)
    where = f"{relative(Path(scenario.feature.filename), root)}:{step.line_number}"
    message = f"{where}: unknown step: {step.keyword} {step.name} (scenario {scenario.name!r})"
    message += f"\n  closest phrases in pytest-llmeval's step library:{hint}" if close else ""
    message += "\n  (all phrases: see docs/steps.md, or define your own step with pytest_bdd.given/when/then)"
    case = request.node.stash.get(CASE_KEY, None)
    if case is not None:
        case.aborted = message.splitlines()[0]
    fail(message)
