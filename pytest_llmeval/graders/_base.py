"""The one protocol every grader follows, and the value it returns.

A grader is called as ``grader(sample, item) -> Grade`` — the same shape as OpenAI's
python graders — so built-in, custom and combined graders are interchangeable and can be
tested alone::

    from pytest_llmeval import graders
    g = graders.string_check(reference="30 days", operation="ilike")
    grade = g({"output_text": "You have 30 Days.", "output_json": None}, {})
    assert grade.passed
"""

from __future__ import annotations

import json
import math
import numbers
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict, runtime_checkable

from .._core.records import Grade as Grade

if TYPE_CHECKING:
    from .._core.request import ToolCall


class Sample(TypedDict):
    """One model answer as graders see it (OpenAI's ``sample`` object)."""

    output_text: str
    output_json: Any
    output_tools: NotRequired[list[dict[str, Any]]]
    """The functions the model called, as OpenAI's ``sample.output_tools``: ``{"id", "type":
    "function", "function": {"name", "arguments"}}`` each (arguments as the model wrote them)."""


Item = Mapping[str, Any]
"""The case row: an Examples row or a dataset row (OpenAI's ``item``)."""


@runtime_checkable
class Grader(Protocol):
    """Anything called as ``grader(sample, item) -> Grade`` with a ``name``."""

    # Read-only, so that frozen dataclasses such as FunctionGrader satisfy the protocol.
    @property
    def name(self) -> str: ...

    def __call__(self, sample: Sample, item: Item) -> Grade: ...


@dataclass(frozen=True)
class FunctionGrader:
    """A grader built by one of the factories in :mod:`pytest_llmeval.graders`.

    ``spec`` is a JSON-able description of the grader's settings. Reports show it, and a
    baseline fingerprints a case by it, so two graders with equal specs must grade alike.
    """

    name: str
    spec: Mapping[str, Any]
    fn: Callable[[Sample, Item], Grade]

    def __call__(self, sample: Sample, item: Item) -> Grade:
        return self.fn(sample, item)


def make_sample(text: str, tool_calls: Sequence[ToolCall] = ()) -> Sample:
    """Build the ``sample`` graders see from an answer's text and the functions it called.

    ``output_json`` is the parsed answer when the whole answer is JSON (or one fenced
    code block holding JSON), else None — as in OpenAI's graders; ``output_tools`` the
    calls in OpenAI's shape.
    """
    ok, value, _ = parse_json_answer(text)
    return Sample(output_text=text, output_json=value if ok else None, output_tools=[c.openai() for c in tool_calls])


def parse_json_answer(text: str) -> tuple[bool, Any, str | None]:
    """Parse an answer as JSON; return (True, value, note) or (False, None, error message).

    Models often wrap JSON in a Markdown fence; that is accepted and the note says so,
    so a report shows that the answer was not bare JSON.
    """
    stripped = text.strip()
    fenced = _unfence(stripped)
    candidate = fenced if fenced is not None else stripped
    try:
        value = json.loads(candidate)
    except (json.JSONDecodeError, RecursionError) as exc:
        return False, None, f"not JSON: {exc}"
    return True, value, ("JSON was inside a fenced code block" if fenced is not None else None)


def _unfence(text: str) -> str | None:
    if not (text.startswith("```") and text.endswith("```") and len(text) >= 6):
        return None
    body = text[3:-3]
    first_newline = body.find("\n")
    if first_newline == -1:
        return None
    language = body[:first_newline].strip()
    if language and not language.isalnum():
        return None
    return body[first_newline + 1 :].strip()


class GraderConfigError(ValueError):
    """A grader was set up wrongly (bad schema, unimportable model): a user error.

    Raised when the grader is built, never while grading, so the message can name the
    file, step or argument to fix instead of failing every sample alike.
    """


def preview(text: str, limit: int = 80) -> str:
    """``repr`` of ``text`` cut to about ``limit`` characters, for one-line reasons.

    repr keeps a reason on one line (newlines show as ``\\n``) and shows where an answer
    starts and ends, which matters to checks that strip or compare whitespace.
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} chars)"


def one_line(message: str, limit: int = 200) -> str:
    """A library's message (jsonschema, pydantic) squeezed onto one line of ``limit`` chars."""
    flat = re.sub(r"\s+", " ", message).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def caller_dir() -> Path | None:
    """Folder of the first calling module outside this package.

    A relative schema path written in a test module means "next to this test", as it does
    for the ``llmeval_dataset`` marker, whatever directory pytest was started from.
    """
    frame = sys._getframe(1)
    package = str(Path(__file__).resolve().parent.parent)
    while frame is not None:
        filename = frame.f_globals.get("__file__")
        if filename and not str(Path(filename).resolve()).startswith(package):
            return Path(filename).resolve().parent
        frame = frame.f_back  # type: ignore[assignment]
    return None


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
