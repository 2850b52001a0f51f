"""Python graders: a function ``grade(sample, item) -> float``, or an OpenAI python grader's source.

::

    g = python_grader(lambda sample, item: len(sample["output_text"]) < 80, name="short")
    g(make_sample("ok"), {}).passed       # True

The score is the function's result; a result that is not a finite number, or an
exception, is an error grade whose reason says what and where.
"""

from __future__ import annotations

import builtins
import hashlib
import inspect
import linecache
import math
import numbers
import traceback
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from ._base import FunctionGrader, Grade, GraderConfigError, Item, Sample, check_threshold, exception_line, one_line

_TRACEBACK_LINES = 20


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
        except (Exception, SystemExit) as exc:  # a grader's sys.exit() is its error, not the run's end
            return Grade.errored(
                label,
                f"{exception_line(exc)} (in {fn_name}{_raised_at(exc, fn)})",
                exception=type(exc).__name__,
                traceback=_short_traceback(exc),
            )
        if isinstance(result, Grade):
            return result if result.grader == label else result.model_copy(update={"grader": label})
        said = None
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            result, said = result  # (score, reason): the grader says why
        score, problem = _as_score(result)
        if problem is not None:
            return Grade.errored(
                label,
                f"{fn_name} returned {problem}; return a number such as 1.0 or 0.0 (or a bool), "
                "a (score, reason) pair or a Grade",
            )
        passed = score >= threshold
        verdict = "at least" if passed else "below"
        reason = f"{label} scored {score:g}, {verdict} the pass threshold {threshold:g}"
        if said is not None:
            reason = f"{one_line(said)} ({reason})"
        return Grade(
            passed=passed,
            score=score,
            reason=reason,
            grader=label,
            details={"pass_threshold": threshold},
        )

    spec = {"type": "python", "name": label, **where, "pass_threshold": threshold}
    return FunctionGrader(name=label, spec=spec, fn=grade)


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
