"""Targets: a user's own application (a RAG pipeline, an agent) evaluated in place of a bare model.

A target is ``target(case) -> str | dict`` (sync or async), registered by name::

    @pytest_llmeval.target("rag")
    async def rag(case):                  # case: input, messages, row, model, sample
        return await my_pipeline(case["input"])

A dict answer is graded as its JSON text, so JSON graders see exactly what the
application returned. As for graders, the decorator only marks the function; each run's
:class:`TargetRegistry` finds the marked functions in the project's modules and plugins.
Targets named by the run's registry are planned and called before the tests, on the
engine (async ones on its loop, sync ones in a bounded thread pool); the ``llmeval_targets``
fixture still works, for targets made per test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .._core.marked import MarkedFunctions

Target = Callable[[Mapping[str, Any]], Any]
"""A user's application: ``target(case) -> str | dict``, sync or async."""

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__llmeval_target__"


def target(name: str) -> Callable[[F], F]:
    """Mark ``fn(case) -> str | dict`` (sync or async) as the target ``name``; return it unchanged.

    Feature files use it with ``Given the target "name"`` or ``@target:name``; Python tests
    with ``@pytest.mark.llmeval(target="name")``.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a target name must be a non-empty string without outer spaces, got {name!r}")

    def mark(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"target {name!r}: expected a function target(case), got {type(fn).__name__}")
        setattr(fn, _MARK, name)
        return fn

    return mark


class TargetRegistry:
    """The targets of one run: ``@target`` functions of the project's modules and of plugins."""

    def __init__(self, root: Path) -> None:
        self._targets: dict[str, Target] = {}
        self._conflicts: dict[str, str] = {}
        self._marked = MarkedFunctions(root, _MARK, self._found)

    def search_all(self, modules: Iterable[object]) -> None:
        self._marked.search_all(modules)

    def get(self, name: str) -> Target | None:
        """The target registered as ``name``; None when there is none (the fixture may have it)."""
        if name not in self._targets:
            self._marked.search_project()
        if name in self._conflicts:
            raise ValueError(self._conflicts[name])
        return self._targets.get(name)

    def all(self) -> dict[str, Target]:
        """Every target; a name two functions claim is one whose every call fails, saying so."""
        self._marked.search_project()
        return {
            name: _Taken(self._conflicts[name]) if name in self._conflicts else fn for name, fn in self._targets.items()
        }

    def _found(self, mark: Any, fn: Callable[..., Any]) -> None:
        if not isinstance(mark, str):
            return
        existing = self._targets.get(mark)
        if existing is not None and existing is not fn and origin(existing) != origin(fn):
            self._conflicts[mark] = (
                f"target name {mark!r} is taken by {origin(existing)} and {origin(fn)}: rename one of them"
            )
        self._targets[mark] = fn


class _Taken:
    """The target of a name two functions claim: calling it fails with the reason."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __call__(self, case: Mapping[str, Any]) -> Any:
        raise ValueError(self.problem)


def origin(fn: Callable[..., Any]) -> str:
    """``module:qualname``: what identifies a target in its answers' cache key."""
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__qualname__
    return f"{module}:{qualname}"
