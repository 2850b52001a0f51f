"""The phrase table of the step library: what each phrase reads like, its pattern, its handler.

A handler is declared once with :func:`phrase` and serves both when the scenario runs and
when the planner reads the steps before the run, so a phrase cannot mean two things. The
phrases shown in docs and in "closest phrase" hints come from the same declarations
(:func:`phrases`), never from a copy.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .scenario import ScenarioCase

Kind = Literal["given", "when", "then"]
Q = r'"(?P<{}>(?:[^"\\]|\\.)*)"'  # a quoted argument with \" escapes


@dataclass(frozen=True)
class StepDef:
    """One phrase: its kind, its pattern, and the handler that adds it to a case."""

    kind: Kind
    pattern: re.Pattern[str]
    handler: Callable[..., None]
    takes: frozenset[str]
    """Which of ``docstring`` / ``datatable`` the handler takes from the step."""
    shown: tuple[str, ...]
    """How the phrase reads in docs and hints (one pattern may cover several forms)."""
    grader: str | None = None
    """The built-in grader type a Then phrase adds (its handler returns the factory's arguments)."""


STEPS: list[StepDef] = []
"""Every phrase, in the order declared; the planner matches steps against these."""


def phrase(
    kind: Kind, regex: str, *shown: str, grader: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare ``handler(case, **args)`` for a phrase that reads as ``shown``.

    With ``grader``, the handler returns the arguments of that built-in grader type
    (a dict of keyword arguments, or a tuple of positional ones) and the grader is built
    and added to the case here, so a misconfigured grader fails the step that named it.
    """
    if not shown:
        raise ValueError(f"phrase {regex!r} needs at least one shown form")

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        names = frozenset(inspect.signature(handler).parameters) - {"case"}
        run = handler if grader is None else _adding(grader, handler)
        STEPS.append(StepDef(kind, re.compile(regex), run, names & {"docstring", "datatable"}, shown, grader))
        return handler

    return register


def _adding(grader: str, arguments: Callable[..., Any]) -> Callable[..., None]:
    from ..graders import _registry
    from ..graders._base import GraderConfigError

    @functools.wraps(arguments)
    def add(case: ScenarioCase, **args: Any) -> None:
        __tracebackhide__ = True
        made = arguments(case, **args)
        positional, named = (made, {}) if isinstance(made, tuple) else ((), made)
        problem = None
        try:
            case.spec.graders.append(_registry.build(grader, *positional, **named))
        except GraderConfigError as exc:
            problem = str(exc)
        if problem is not None:
            case.fail(problem)

    return add


def q(*names: str) -> str:
    """The regex of a quoted argument (``"..."`` with ``\\"`` escapes) captured as ``names``."""
    return Q.format(*names)


def match_phrase(kind: str, text: str) -> tuple[StepDef, dict[str, Any]] | None:
    """The phrase of the library that ``text`` is, with its arguments; None if it is none."""
    for definition in STEPS:
        if definition.kind == kind:
            found = definition.pattern.fullmatch(text)
            if found is not None:
                return definition, found.groupdict()
    return None


@functools.lru_cache(maxsize=4096)
def match_cached(kind: str, text: str) -> tuple[StepDef, dict[str, Any]] | None:
    """:func:`match_phrase`, memoized: pytest-bdd asks for every step of every scenario."""
    return match_phrase(kind, text)


def phrases(kind: str | None = None) -> list[tuple[str, str]]:
    """(kind, phrase as shown) for every phrase, or those of one kind, in declaration order."""
    return [(d.kind, shown) for d in STEPS if kind in (None, d.kind) for shown in d.shown]
