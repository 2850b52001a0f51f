"""Custom graders: your own ``grade(sample, item) -> float``, known by name.

The shape is OpenAI's python grader: a function of the sample and the case row that
returns a number, which passes when it reaches ``pass_threshold``::

    import re
    import pytest_llmeval

    @pytest_llmeval.grader("order-id", pass_threshold=1.0)
    def order_id(sample, item):
        return 1.0 if re.fullmatch(r"ORDER-\\d{5}", sample["output_text"].strip()) else 0.0

    order_id({"output_text": "ORDER-12345", "output_json": None}, {})      # 1.0: still a plain function
    graders.named("order-id")                                              # a FunctionGrader

The decorator only marks the function; nothing global is filled. Each pytest run has its
own :class:`GraderRegistry` (in ``config.stash``), which finds the marked functions in
the modules of the project (everything imported from under pytest's rootdir: conftest
files, test modules and what they import), in plugins, and in installed packages through
the entry point group ``pytest_llmeval.graders``, read lazily the first time a name is
not found. So two in-process runs never see each other's graders.
"""

from __future__ import annotations

import contextvars
import difflib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from .._core.marked import MarkedFunctions, mark_of
from ._base import FunctionGrader, Grader, GraderConfigError, check_threshold, exception_line
from ._python import _check_signature, _origin, python_grader

__all__ = [
    "ENTRY_POINT_GROUP",
    "GraderRegistry",
    "RegisteredGrader",
    "activate",
    "active",
    "check_threshold",
    "deactivate",
    "exception_line",
    "grader",
    "named",
    "python_grader",
]

ENTRY_POINT_GROUP = "pytest_llmeval.graders"
"""Entry point group through which installed packages provide graders by name."""

F = TypeVar("F", bound=Callable[..., Any])

# Set by @grader on the function it returns: how a registry recognizes a grader, and how
# an entry point naming a decorated function keeps its pass_threshold.
_MARK = "__llmeval_grader__"


@dataclass(frozen=True)
class RegisteredGrader:
    """One name in a :class:`GraderRegistry`."""

    name: str
    """The name steps and :func:`named` look it up by."""
    fn: Callable[..., Any]
    """The user's ``grade(sample, item) -> float``, unchanged."""
    pass_threshold: float
    """A sample passes when the function's score is at least this."""
    origin: str
    """``module:qualname`` of ``fn``, to say which function took a name."""


class GraderRegistry:
    """The named custom graders of one run: marked functions of ``root``'s modules, plugins, entry points.

    ``root``: modules whose file is under it are searched for ``@grader`` functions
    (pytest's rootdir in a run; the working directory outside one).
    """

    def __init__(self, root: Path, *, entry_point_group: str = ENTRY_POINT_GROUP) -> None:
        self.root = root.resolve()
        self.entry_point_group = entry_point_group
        self._graders: dict[str, RegisteredGrader] = {}
        self._conflicts: dict[str, str] = {}
        self._marked = MarkedFunctions(self.root, _MARK, self._found)
        self._entry_points: dict[str, tuple[EntryPoint, ...]] | None = None
        self._resolved: dict[str, FunctionGrader] = {}
        self._lock = threading.Lock()

    def register(self, name: str, fn: Callable[..., Any], *, pass_threshold: float = 1.0) -> None:
        """Register ``fn(sample, item) -> float`` as ``name`` in this registry.

        The same function again (same module and qualified name) replaces it; another
        function under a taken name is a :class:`GraderConfigError` naming both.
        """
        _check_name(name)
        threshold = check_threshold(f"grader {name!r}", pass_threshold)
        _check_signature(f"grader {name!r}", fn)
        problem = self._add(name, fn, threshold)
        if problem is not None:
            raise GraderConfigError(problem)

    def search(self, module: ModuleType) -> None:
        """Take every ``@grader`` function found in ``module``'s namespace."""
        self._marked.search(module)

    def search_all(self, modules: Iterable[object]) -> None:
        """Take the ``@grader`` functions of every module among ``modules`` (pytest's plugins)."""
        self._marked.search_all(modules)

    def search_project(self) -> None:
        """Search the modules imported from under ``root`` since the last search."""
        self._marked.search_project()

    def _found(self, mark: Any, fn: Callable[..., Any]) -> None:
        if not (isinstance(mark, tuple) and len(mark) == 2 and isinstance(mark[0], str)):
            return
        problem = self._add(mark[0], fn, float(mark[1]))
        if problem is not None:
            # Reported when the name is used: the module that defines it is already imported.
            self._conflicts[mark[0]] = problem

    def get(self, name: str) -> FunctionGrader:
        """The grader registered or installed as ``name``; else a :class:`GraderConfigError`.

        A name defined in the project wins over an installed entry point of the same name.
        """
        if not isinstance(name, str):
            raise GraderConfigError(f"a grader name must be a string, got {type(name).__name__} {name!r}")
        if name not in self._graders:
            self.search_project()
        if name in self._conflicts:
            raise GraderConfigError(self._conflicts[name])
        entry = self._graders.get(name)
        if entry is not None:
            return python_grader(entry.fn, pass_threshold=entry.pass_threshold, name=name)
        found = self._from_entry_point(name)
        if found is not None:
            return found
        raise GraderConfigError(self._unknown(name))

    def names(self) -> list[str]:
        """Every known name, sorted (installed ones are listed, not imported)."""
        self.search_project()
        return sorted(set(self._graders) | set(self._entry_point_map()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def _add(self, name: str, fn: Callable[..., Any], threshold: float) -> str | None:
        origin = _origin(fn)
        existing = self._graders.get(name)
        if existing is not None and existing.fn is not fn and existing.origin != origin:
            return (
                f"grader name {name!r} is already taken by {existing.origin}; cannot also register "
                f"{origin} under it: rename one of them"
            )
        self._graders[name] = RegisteredGrader(name=name, fn=fn, pass_threshold=threshold, origin=origin)
        self._resolved.pop(name, None)
        return None

    def _entry_point_map(self) -> Mapping[str, tuple[EntryPoint, ...]]:
        with self._lock:
            if self._entry_points is None:
                found: dict[str, list[EntryPoint]] = {}
                for ep in entry_points(group=self.entry_point_group):
                    found.setdefault(ep.name, []).append(ep)
                self._entry_points = {name: tuple(eps) for name, eps in found.items()}
            return self._entry_points

    def _from_entry_point(self, name: str) -> FunctionGrader | None:
        if name in self._resolved:
            return self._resolved[name]
        eps = self._entry_point_map().get(name)
        if not eps:
            return None
        values = sorted({ep.value for ep in eps})
        if len(values) > 1:
            provided = ", ".join(f"{_dist_name(ep)} ({ep.value})" for ep in eps)
            raise GraderConfigError(
                f"grader {name!r} is provided by more than one installed package: {provided}; "
                "uninstall one of them or register the one you mean in your conftest.py"
            )
        ep = eps[0]
        where = f"entry point {name} = {ep.value!r} of {_dist_name(ep)} (group {self.entry_point_group!r})"
        try:
            obj = ep.load()
        except Exception as exc:
            raise GraderConfigError(f"cannot load grader {name!r} from {where}: {exception_line(exc)}") from exc
        resolved: FunctionGrader
        if isinstance(obj, FunctionGrader):
            resolved = obj
        elif isinstance(obj, Grader):  # a grader object returning Grade values itself
            spec = getattr(obj, "spec", None)
            resolved = FunctionGrader(
                name=obj.name,
                spec=spec if isinstance(spec, Mapping) else {"type": "entry_point", "value": ep.value},
                fn=obj,
            )
        elif callable(obj):
            mark = _mark_of(obj)
            resolved = python_grader(obj, pass_threshold=mark[1] if mark else 1.0, name=name)
        else:
            raise GraderConfigError(f"{where} is a {type(obj).__name__}, not a function grade(sample, item) -> float")
        self._resolved[name] = resolved
        return resolved

    def _unknown(self, name: str) -> str:
        known = self.names()
        if not known:
            return (
                f"no grader named {name!r}: no graders are registered. Register one with "
                f'@pytest_llmeval.grader("{name}") in a conftest.py (or a module it imports), '
                f"or install a package with entry points in group {self.entry_point_group!r}"
            )
        by_fold = {known_name.casefold(): known_name for known_name in known}
        close = difflib.get_close_matches(name.casefold(), list(by_fold), n=1, cutoff=0.6)
        hint = f"did you mean {by_fold[close[0]]!r}? " if close else ""
        return f"no grader named {name!r}; {hint}known graders: {', '.join(known)}"


_ACTIVE: contextvars.ContextVar[GraderRegistry | None] = contextvars.ContextVar("llmeval_graders", default=None)
"""The registry of the pytest run in progress: set in its configure, reset in its unconfigure
(nested in-process runs restore the outer one's)."""


def activate(registry: GraderRegistry) -> contextvars.Token[GraderRegistry | None]:
    return _ACTIVE.set(registry)


def deactivate(token: contextvars.Token[GraderRegistry | None]) -> None:
    _ACTIVE.reset(token)


def active() -> GraderRegistry:
    """The running session's registry; outside a session, one for the working directory."""
    return _ACTIVE.get() or GraderRegistry(Path.cwd())


def grader(name: str, *, pass_threshold: float = 1.0) -> Callable[[F], F]:
    """Mark ``fn(sample, item) -> float | bool`` as the grader ``name``; return it unchanged.

    The function stays an ordinary function you can call in a unit test. Feature files
    use it with ``Then the answer passes "name"``; Python code with :func:`named`. A
    sample passes when the score is at least ``pass_threshold`` (``True`` is 1.0).
    """
    _check_name(name)
    threshold = check_threshold(f"grader {name!r}", pass_threshold)

    def mark(fn: F) -> F:
        _check_signature(f"grader {name!r}", fn)
        try:
            setattr(fn, _MARK, (name, threshold))
        except (AttributeError, TypeError):
            raise GraderConfigError(
                f"grader {name!r}: {_origin(fn)} takes no attributes; decorate a function (or a class instance)"
            ) from None
        return fn

    return mark


def named(name: str) -> FunctionGrader:
    """The grader defined with :func:`grader` (or installed through entry points) as ``name``.

    An unknown name is a :class:`GraderConfigError` that lists the known names and the
    closest one.
    """
    return active().get(name)


def _mark_of(value: object) -> tuple[str, float] | None:
    mark = mark_of(value, _MARK)
    if not (isinstance(mark, tuple) and len(mark) == 2 and isinstance(mark[0], str)):
        return None
    return mark[0], float(mark[1])


def _check_name(name: object) -> None:
    if not isinstance(name, str):
        raise GraderConfigError(f"a grader name must be a string, got {type(name).__name__} {name!r}")
    if not name or name != name.strip() or not name.isprintable():
        raise GraderConfigError(
            f"grader name {name!r} must be non-empty, printable, without leading or trailing spaces"
        )


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return f"distribution {name!r}" if name else "an unknown distribution"
