"""Text graders: OpenAI's ``string_check`` plus the local extras ``regex`` and ``one_of``.

``string_check`` keeps OpenAI's names (eq, ne, like, ilike) so that eval definitions
brought from the hosted dashboard keep their meaning here::

    g = string_check(reference="30 days", operation="ilike")
    g({"output_text": "You have 30 Days.", "output_json": None}, {}).passed   # True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal, get_args

from ._base import FunctionGrader, Grade, GraderConfigError, Item, Sample, preview

Operation = Literal["eq", "ne", "like", "ilike"]
_OPERATIONS: tuple[str, ...] = get_args(Operation)


def string_check(reference: str, operation: Operation, *, negate: bool = False, strip: bool = False) -> FunctionGrader:
    """Compare the answer with ``reference`` exactly as OpenAI's ``string_check`` grader does.

    - ``eq`` / ``ne``: equal / not equal, character for character: an eval imported from
      OpenAI must get OpenAI's verdicts. ``strip=True`` (a local extra, used by the step
      ``the answer equals "x"``) strips outer whitespace of both sides first, because
      models end answers with a newline that nobody means as content.
    - ``like``: ``reference`` is a substring of the answer (case-sensitive, unstripped).
    - ``ilike``: the same ignoring case, with :meth:`str.casefold` so that ``"STRASSE"``
      is found in ``"Straße"``.

    ``negate=True`` (a local extra, not in OpenAI's grader) inverts the check: the step
    ``the answer does not contain "x"`` is ``string_check("x", "like", negate=True)``.
    """
    if not isinstance(strip, bool):
        raise GraderConfigError(f"string_check: strip must be True or False, got {strip!r}")
    if operation not in _OPERATIONS:
        raise GraderConfigError(f"string_check: unknown operation {operation!r}; use one of {', '.join(_OPERATIONS)}")
    if not isinstance(reference, str):
        raise GraderConfigError(
            f"string_check: reference must be a string, got {type(reference).__name__} {reference!r}"
        )
    test, verb, verbs = _TESTS[operation]
    suffix = " (any case)" if operation == "ilike" else ""
    expected = f"{'not ' if negate else ''}to {verb} {preview(reference)}{suffix}"
    met = f"{'does not ' + verb if negate else verbs} {preview(reference)}{suffix}"

    def grade(sample: Sample, item: Item) -> Grade:
        answer = sample["output_text"]
        if test(answer.strip() if strip else answer, reference.strip() if strip else reference) != negate:
            return Grade.check("string_check", True, f"answer {met}")
        return Grade.check("string_check", False, f"expected answer {expected}, got {preview(answer)}")

    spec: dict[str, object] = {"type": "string_check", "reference": reference, "operation": operation, "negate": negate}
    if strip:
        spec["strip"] = True  # only when set: a fingerprint of the OpenAI-exact check is unchanged
    return FunctionGrader(name="string_check", spec=spec, fn=grade)


# operation -> (test, verb after "to", verb after "answer")
_TESTS: dict[str, tuple[Callable[[str, str], bool], str, str]] = {
    "eq": (lambda answer, ref: answer == ref, "equal", "equals"),
    "ne": (lambda answer, ref: answer != ref, "differ from", "differs from"),
    "like": (lambda answer, ref: ref in answer, "contain", "contains"),
    "ilike": (lambda answer, ref: ref.casefold() in answer.casefold(), "contain", "contains"),
}


def regex(pattern: str, *, flags: int = 0) -> FunctionGrader:
    """Pass when ``pattern`` is found anywhere in the answer (:func:`re.search`).

    Search, not full match, mirrors ``like``: anchor with ``^``/``$`` (or ``\\A``/``\\Z``)
    to demand the whole answer. The pattern is compiled here so a typo fails once, at
    set-up, with the position :mod:`re` reports.
    """
    if not isinstance(pattern, str):
        raise GraderConfigError(f"regex: pattern must be a string, got {type(pattern).__name__} {pattern!r}")
    try:
        compiled = re.compile(pattern, flags)
    except (re.error, TypeError) as exc:
        raise GraderConfigError(f"regex: invalid pattern {pattern!r}: {exc}") from exc
    shown = f"/{pattern}/" if pattern.isprintable() else repr(pattern)

    def grade(sample: Sample, item: Item) -> Grade:
        answer = sample["output_text"]
        match = compiled.search(answer)
        if match is None:
            return Grade.check("regex", False, f"expected answer to match {shown}, got {preview(answer)}")
        return Grade.check(
            "regex",
            True,
            f"answer matches {shown} at {preview(match.group(0))}",
            match=match.group(0),
            span=list(match.span()),
        )

    return FunctionGrader(name="regex", spec={"type": "regex", "pattern": pattern, "flags": int(flags)}, fn=grade)


def one_of(options: Sequence[str]) -> FunctionGrader:
    """Pass when the answer, stripped, equals one of ``options`` (also stripped).

    For classification-style prompts whose answer is a label; stripping follows ``eq``.
    Case matters: use :func:`regex` with ``re.IGNORECASE`` when it should not.
    """
    if isinstance(options, str) or not all(isinstance(option, str) for option in options):
        raise GraderConfigError(f"one_of: options must be a list of strings, got {options!r}")
    choices = [option.strip() for option in options]
    if not choices:
        raise GraderConfigError("one_of: options is empty; give at least one accepted answer")
    allowed = set(choices)
    shown = ", ".join(preview(choice, 40) for choice in choices[:5])
    if len(choices) > 5:
        shown += f", … ({len(choices)} options)"

    def grade(sample: Sample, item: Item) -> Grade:
        answer = sample["output_text"].strip()
        if answer in allowed:
            return Grade.check("one_of", True, f"answer is {preview(answer)}, one of [{shown}]")
        return Grade.check("one_of", False, f"expected one of [{shown}], got {preview(answer)}")

    return FunctionGrader(name="one_of", spec={"type": "one_of", "options": choices}, fn=grade)
