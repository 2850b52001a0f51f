"""Custom graders: your own ``grade(sample, item) -> float``, registered by name.

The shape is OpenAI's python grader: a function of the sample and the case row that
returns a number, which passes when it reaches ``pass_threshold``::

    import re
    import pytest_llmeval

    @pytest_llmeval.grader("order-id", pass_threshold=1.0)
    def order_id(sample, item):
        return 1.0 if re.fullmatch(r"ORDER-\\d{5}", sample["output_text"].strip()) else 0.0

    order_id({"output_text": "ORDER-12345", "output_json": None}, {})      # 1.0: still a plain function
    graders.named("order-id")                                              # a FunctionGrader

Names come from the decorator (at import time, like pytest's markers) or from installed
packages through the entry point group ``pytest_llmeval.graders``, read lazily the first
time a name is not found. :func:`python_grader` wraps a function, or the ``source`` of an
OpenAI python grader, without registering it.
"""

from __future__ import annotations

import builtins
import difflib
import hashlib
import inspect
import linecache
import math
import numbers
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import PurePath
from typing import Any, TypeVar

from ._base import FunctionGrader, Grade, Grader, GraderConfigError, Item, Sample, one_line

ENTRY_POINT_GROUP = "pytest_llmeval.graders"
"""Entry point group through which installed packages provide graders by name."""

F = TypeVar("F", bound=Callable[..., Any])

# Set by @grader on the function it returns, so an entry point naming a decorated
# function keeps its pass_threshold even when loaded into another registry.
_MARK = "__llmeval_grader__"
_TRACEBACK_LINES = 20


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


@dataclass(frozen=True)
class RegistrySnapshot:
    """The state of a registry at one moment, for :meth:`GraderRegistry.restore`."""

    graders: Mapping[str, RegisteredGrader]
    entry_points: Mapping[str, tuple[EntryPoint, ...]] | None
    resolved: Mapping[str, FunctionGrader]


class GraderRegistry:
    """Named custom graders: those registered with :meth:`register` and installed ones.

    There is one instance per process (:data:`registry`) rather than one per pytest
    config, because decorators run at import time, before any config exists. Code that
    imports modules registering graders more than once in a process (tests, in-process
    ``pytester`` runs) wraps itself in :meth:`isolated` so that names do not leak from
    one run into the next.
    """

    def __init__(self, *, entry_point_group: str = ENTRY_POINT_GROUP) -> None:
        self.entry_point_group = entry_point_group
        self._graders: dict[str, RegisteredGrader] = {}
        self._entry_points: dict[str, tuple[EntryPoint, ...]] | None = None
        self._resolved: dict[str, FunctionGrader] = {}
        self._lock = threading.Lock()

    def register(self, name: str, fn: Callable[..., Any], *, pass_threshold: float = 1.0) -> None:
        """Register ``fn(sample, item) -> float`` as ``name``.

        Registering the same function again (same module and qualified name, as when a
        ``conftest.py`` is imported again by another in-process run) replaces it; another
        function under a taken name is a :class:`GraderConfigError` naming both.
        """
        _check_name(name)
        threshold = check_threshold(f"grader {name!r}", pass_threshold)
        _check_signature(f"grader {name!r}", fn)
        origin = _origin(fn)
        existing = self._graders.get(name)
        if existing is not None and existing.fn is not fn and existing.origin != origin:
            raise GraderConfigError(
                f"grader name {name!r} is already taken by {existing.origin}; cannot also register "
                f"{origin} under it: rename one of them"
            )
        self._graders[name] = RegisteredGrader(name=name, fn=fn, pass_threshold=threshold, origin=origin)
        self._resolved.pop(name, None)

    def decorator(self, name: str, *, pass_threshold: float = 1.0) -> Callable[[F], F]:
        """``@registry.decorator("name")``: :meth:`register` the function and return it.

        The same object comes back; it only gains a marker attribute that keeps its
        pass_threshold when an entry point names it.
        """
        _check_name(name)
        threshold = check_threshold(f"grader {name!r}", pass_threshold)

        def register(fn: F) -> F:
            self.register(name, fn, pass_threshold=threshold)
            with suppress(AttributeError, TypeError):  # a callable that takes no attributes
                setattr(fn, _MARK, (name, threshold))
            return fn

        return register

    def get(self, name: str) -> FunctionGrader:
        """The grader registered or installed as ``name``; else a :class:`GraderConfigError`.

        A name registered in code wins over an installed entry point of the same name.
        """
        if not isinstance(name, str):
            raise GraderConfigError(f"a grader name must be a string, got {type(name).__name__} {name!r}")
        entry = self._graders.get(name)
        if entry is not None:
            return python_grader(entry.fn, pass_threshold=entry.pass_threshold, name=name)
        found = self._from_entry_point(name)
        if found is not None:
            return found
        raise GraderConfigError(self._unknown(name))

    def names(self) -> list[str]:
        """Every registered and installed name, sorted (installed ones are not imported)."""
        return sorted(set(self._graders) | set(self._entry_point_map()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._graders or name in self._entry_point_map())

    def snapshot(self) -> RegistrySnapshot:
        """The registry's state now; :meth:`restore` puts it back."""
        return RegistrySnapshot(
            graders=dict(self._graders),
            entry_points=None if self._entry_points is None else dict(self._entry_points),
            resolved=dict(self._resolved),
        )

    def restore(self, snapshot: RegistrySnapshot) -> None:
        """Return to the state of ``snapshot``: names registered since are forgotten."""
        self._graders = dict(snapshot.graders)
        self._entry_points = None if snapshot.entry_points is None else dict(snapshot.entry_points)
        self._resolved = dict(snapshot.resolved)

    @contextmanager
    def isolated(self) -> Iterator[GraderRegistry]:
        """Inside the block, register freely; on exit the registry is as it was before.

        Entry points are read afresh inside the block, so a package installed (or a
        ``*.dist-info`` put on ``sys.path``) by a test is seen.
        """
        saved = self.snapshot()
        self._entry_points = None
        self._resolved = {}
        try:
            yield self
        finally:
            self.restore(saved)

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
            mark = getattr(obj, _MARK, None)
            threshold = mark[1] if isinstance(mark, tuple) and len(mark) == 2 else 1.0
            resolved = python_grader(obj, pass_threshold=threshold, name=name)
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


registry = GraderRegistry()
"""The process's registry, which :func:`grader` fills and :func:`named` reads."""


def grader(name: str, *, pass_threshold: float = 1.0) -> Callable[[F], F]:
    """Register ``fn(sample, item) -> float | bool`` under ``name``; return it unchanged.

    The function stays an ordinary function you can call in a unit test. Feature files
    use it with ``Then the answer passes "name"``; Python code with :func:`named`. A
    sample passes when the score is at least ``pass_threshold`` (``True`` is 1.0).
    """
    return registry.decorator(name, pass_threshold=pass_threshold)


def named(name: str) -> FunctionGrader:
    """The grader registered with :func:`grader` or installed (entry points) as ``name``.

    An unknown name is a :class:`GraderConfigError` that lists the known names and the
    closest one.
    """
    return registry.get(name)


def python_grader(
    fn_or_source: Callable[..., Any] | str,
    *,
    pass_threshold: float = 1.0,
    name: str | None = None,
) -> FunctionGrader:
    """A grader from a function ``grade(sample, item) -> float``, or from its source text.

    A string is run as the ``source`` of an OpenAI python grader: it must define
    ``grade(sample, item)``. It is run in a fresh namespace with the same trust as a
    ``conftest.py`` (it is the user's own code), once, here.

    The score is ``float(result)`` (``True`` / ``False`` are 1.0 / 0.0), and the sample
    passes when the score is at least ``pass_threshold``. A function that raises gives an
    error grade whose reason is the exception's last traceback line and where it was
    raised; a result that is not a finite number is an error grade too.
    """
    if isinstance(fn_or_source, str):
        label = name if name is not None else "python"
        fn = _from_source(label, fn_or_source)
        where: dict[str, Any] = {"source": fn_or_source}
    elif callable(fn_or_source):
        fn = fn_or_source
        label = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        where = {"function": _origin(fn)}
        digest = _source_digest(fn)
        if digest is not None:
            where["source_sha256"] = digest
    else:
        raise GraderConfigError(
            "python_grader: expected a function grade(sample, item) or its source as a string, "
            f"got {type(fn_or_source).__name__} {fn_or_source!r}"
        )
    if not isinstance(label, str) or not label:
        raise GraderConfigError(f"python_grader: name must be a non-empty string, got {label!r}")
    threshold = check_threshold(f"python_grader {label!r}", pass_threshold)
    _check_signature(f"python_grader {label!r}", fn)
    fn_name = getattr(fn, "__name__", None) or type(fn).__name__

    def grade(sample: Sample, item: Item) -> Grade:
        try:
            result = fn(sample, item)
        except Exception as exc:
            return Grade.errored(
                label,
                f"{exception_line(exc)} (in {fn_name}{_raised_at(exc, fn)})",
                exception=type(exc).__name__,
                traceback=_short_traceback(exc),
            )
        score, problem = _as_score(result)
        if problem is not None:
            return Grade.errored(
                label,
                f"{fn_name} returned {problem}; return a number such as 1.0 or 0.0 (or a bool)",
            )
        passed = score >= threshold
        verdict = "at least" if passed else "below"
        reason = f"{label} scored {score:g}, {verdict} the pass threshold {threshold:g}"
        return Grade(
            passed=passed,
            score=score,
            reason=reason,
            grader=label,
            details={"pass_threshold": threshold},
        )

    spec = {"type": "python", "name": label, **where, "pass_threshold": threshold}
    return FunctionGrader(name=label, spec=spec, fn=grade)


def check_threshold(who: str, value: object) -> float:
    """``value`` as a float when it is a finite real number, else a GraderConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise GraderConfigError(f"{who}: pass_threshold must be a number, got {type(value).__name__} {value!r}")
    threshold = float(value)
    if not math.isfinite(threshold):
        raise GraderConfigError(f"{who}: pass_threshold must be a finite number, got {value!r}")
    return threshold


def exception_line(exc: BaseException) -> str:
    """The last line Python prints for ``exc``: ``ZeroDivisionError: division by zero``.

    Squeezed onto one line, as grade reasons are one line in failure tables.
    """
    kind = type(exc)
    qualname = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        qualname = f"{kind.__module__}.{qualname}"
    try:
        message = str(exc)
    except Exception:
        message = "<exception str() failed>"
    return one_line(f"{qualname}: {message}" if message else qualname)


def _check_name(name: object) -> None:
    if not isinstance(name, str):
        raise GraderConfigError(f"a grader name must be a string, got {type(name).__name__} {name!r}")
    if not name or name != name.strip() or not name.isprintable():
        raise GraderConfigError(
            f"grader name {name!r} must be non-empty, printable, without leading or trailing spaces"
        )


def _check_signature(who: str, fn: Callable[..., Any]) -> None:
    if not callable(fn):
        raise GraderConfigError(f"{who}: expected a function grade(sample, item), got {type(fn).__name__} {fn!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature to check
        return
    try:
        signature.bind(None, None)
    except TypeError as exc:
        raise GraderConfigError(
            f"{who}: {_origin(fn)}({', '.join(signature.parameters)}) cannot be called as grade(sample, item): {exc}"
        ) from None


def _origin(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__qualname__
    return f"{module}:{qualname}"


def _source_digest(fn: Callable[..., Any]) -> str | None:
    # In the spec so that editing a grader's body marks the cases that use it as
    # redefined against a baseline.
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _from_source(label: str, source: str) -> Callable[..., Any]:
    filename = f"<python_grader {label}>"
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        caret = f"\n    {line}\n    {' ' * max((exc.offset or 1) - 1, 0)}^" if line else ""
        raise GraderConfigError(
            f"python_grader {label!r}: source does not compile: {exc.msg} (line {exc.lineno}, "
            f"column {exc.offset}){caret}"
        ) from None
    # Tracebacks of errors raised while grading can then show the source's lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"__name__": f"llmeval_python_grader_{label}", "__builtins__": builtins}
    try:
        exec(code, namespace)
    except Exception as exc:
        raise GraderConfigError(f"python_grader {label!r}: running the source raised {exception_line(exc)}") from exc
    fn = namespace.get("grade")
    if not callable(fn):
        defined = sorted(key for key, value in namespace.items() if callable(value) and not key.startswith("__"))
        shown = ", ".join(defined) if defined else "nothing callable"
        raise GraderConfigError(
            f"python_grader {label!r}: the source must define a function grade(sample, item); it defines {shown}"
        )
    return fn  # type: ignore[no-any-return]


def _as_score(result: object) -> tuple[float, str | None]:
    """(score, None), or (0.0, what was wrong with ``result``)."""
    if isinstance(result, bool):
        return (1.0 if result else 0.0), None
    if not isinstance(result, numbers.Real):
        return 0.0, f"{type(result).__name__} {one_line(repr(result), 60)}, not a number"
    try:
        score = float(result)
    except (OverflowError, ValueError, TypeError):
        return 0.0, f"{type(result).__name__} too large for a float"
    if not math.isfinite(score):
        return 0.0, f"{score!r}, not a finite number"
    return score, None


def _raised_at(exc: BaseException, fn: Callable[..., Any]) -> str:
    """``", conftest.py line 12"``: the grader function's line that led to ``exc``."""
    code = getattr(fn, "__code__", None)
    frames = list(traceback.walk_tb(exc.__traceback__))
    own = [(frame, lineno) for frame, lineno in frames if frame.f_code is code]
    chosen = own[-1] if own else (frames[-1] if frames else None)
    if chosen is None:
        return ""
    frame, lineno = chosen
    filename = frame.f_code.co_filename
    shown = filename if filename.startswith("<") else PurePath(filename).name
    return f", {shown} line {lineno}"


def _short_traceback(exc: BaseException) -> str:
    # The first entry is this module's call of the user's function: not worth showing.
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    lines = "".join(traceback.format_exception(type(exc), exc, tb)).splitlines()
    return "\n".join(lines[-_TRACEBACK_LINES:])


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return f"distribution {name!r}" if name else "an unknown distribution"
