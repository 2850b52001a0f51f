"""Graders of what a model does: the functions it calls (``sample["output_tools"]``).

::

    from pytest_llmeval import graders
    graders.tool_call("get_weather")                               # called, with schema-valid arguments
    graders.tool_call("get_weather", arguments={"city": "Paris"})  # ... and these keys equal (others allowed)
    graders.no_tool_call()
    graders.tool_sequence(["search", "book"])                      # search, later book

A call's arguments are checked against the ``parameters`` schema of the tool the case
offered (the tools reach the grader through the grading context, or ``tools=``); a call
whose arguments are not JSON, or do not fit the schema, never passes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._base import FunctionGrader, Grade, GraderConfigError, Item, Sample, one_line, preview
from ._context import current


def _calls(sample: Sample) -> list[tuple[str, str]]:
    """(name, raw arguments) of every call in the sample, in order."""
    found = []
    for call in sample.get("output_tools") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            found.append((str(function.get("name")), str(function.get("arguments") or "")))
    return found


def _shown(calls: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name}({preview(raw, 60)[1:-1]})" for name, raw in calls) or "no tool call"


def _offered(explicit: Sequence[Mapping[str, Any]] | None) -> Sequence[Mapping[str, Any]] | None:
    if explicit is not None:
        return explicit
    context = current()
    return context.tools if context is not None else None


def _schema_of(tools: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    for tool in tools:
        function = tool.get("function")
        if isinstance(function, Mapping) and function.get("name") == name:
            parameters = function.get("parameters")
            return parameters if isinstance(parameters, Mapping) else {}
    return None


def _schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """The first way ``value`` breaks ``schema``, or None (draft 2020-12 unless ``$schema`` says)."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]

    try:
        kind: Any = validator_for(dict(schema), default=Draft202012Validator)
        kind.check_schema(dict(schema))
    except SchemaError as exc:
        raise GraderConfigError(f"the tool's parameters are not a valid JSON Schema: {one_line(exc.message)}") from None
    errors = sorted(kind(dict(schema)).iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    where = "/" + "/".join(str(p) for p in errors[0].absolute_path)
    return f"at {where}: {one_line(errors[0].message, 120)}"


def _equal(a: Any, b: Any) -> bool:
    """Equality by JSON's rules (a boolean is never a number), as ``json_pointer`` compares."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[key], b[key]) for key in a)
    return type(a) is type(b) and bool(a == b)


def tool_call(
    name: str, arguments: Mapping[str, Any] | None = None, *, tools: Sequence[Mapping[str, Any]] | None = None
) -> FunctionGrader:
    """Passes when some call has ``name`` and arguments that are a JSON object valid for the tool's schema,
    with every key of ``arguments`` (when given) equal; extra keys are allowed."""
    if not isinstance(name, str) or not name:
        raise GraderConfigError(f"tool_call: the tool name must be a non-empty string, got {name!r}")
    if arguments is not None and not isinstance(arguments, Mapping):
        raise GraderConfigError(f"tool_call: arguments must be a JSON object, got {type(arguments).__name__}")
    wanted = dict(arguments) if arguments is not None else None

    def grade(sample: Sample, item: Item) -> Grade:
        calls = _calls(sample)
        mine = [raw for called, raw in calls if called == name]
        offered = _offered(tools)
        schema = _schema_of(offered, name) if offered is not None else None
        if offered is not None and schema is None:
            return Grade.check("tool_call", False, f"{name!r} is not one of the tools offered", calls=calls)
        if not mine:
            return Grade.check("tool_call", False, f"expected a call of {name!r}, got {_shown(calls)}", calls=calls)
        problems = []
        for raw in mine:
            problem = _argument_problem(raw, schema, wanted)
            if problem is None:
                shown = f" with {json.dumps(wanted, ensure_ascii=False)}" if wanted else ""
                return Grade.check("tool_call", True, f"called {name!r}{shown}", arguments=raw)
            problems.append(problem)
        return Grade.check("tool_call", False, f"{name!r} was called, but {problems[0]}", calls=calls)

    spec: dict[str, Any] = {"type": "tool_call", "name": name}
    if wanted is not None:
        spec["arguments"] = wanted
    if tools is not None:
        spec["tools"] = list(tools)
    return FunctionGrader(name="tool_call", spec=spec, fn=grade)


def _argument_problem(raw: str, schema: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None) -> str | None:
    """Why a call's arguments do not pass, or None."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return f"its arguments are not JSON: {preview(raw, 60)}"
    if not isinstance(value, dict):
        return f"its arguments are not a JSON object: {preview(raw, 60)}"
    if schema is not None:
        problem = _schema_problem(schema, value)
        if problem is not None:
            return f"its arguments do not fit the tool's schema ({problem})"
    for key, expected in (wanted or {}).items():
        if key not in value:
            return f"its arguments have no {key!r} (got {preview(raw, 60)})"
        if not _equal(value[key], expected):
            got, want = json.dumps(value[key], ensure_ascii=False), json.dumps(expected, ensure_ascii=False)
            return f"its argument {key!r} is {got}, not {want}"
    return None


def no_tool_call() -> FunctionGrader:
    """Passes when the answer calls no function."""

    def grade(sample: Sample, item: Item) -> Grade:
        calls = _calls(sample)
        if calls:
            return Grade.check("no_tool_call", False, f"expected no tool call, got {_shown(calls)}", calls=calls)
        return Grade.check("no_tool_call", True, "no tool was called")

    return FunctionGrader(name="no_tool_call", spec={"type": "no_tool_call"}, fn=grade)


def tool_sequence(names: Sequence[str]) -> FunctionGrader:
    """Passes when the functions ``names`` are called in this order (other calls may come between)."""
    if isinstance(names, str) or not names or not all(isinstance(n, str) and n for n in names):
        raise GraderConfigError(f"tool_sequence: expected a list of tool names, got {names!r}")
    wanted = list(names)

    def grade(sample: Sample, item: Item) -> Grade:
        called = [name for name, _ in _calls(sample)]
        position = 0
        for name in called:
            if position < len(wanted) and name == wanted[position]:
                position += 1
        order = " then ".join(repr(n) for n in wanted)
        if position == len(wanted):
            return Grade.check("tool_sequence", True, f"called {order}", called=called)
        got = ", ".join(repr(n) for n in called) or "no tool call"
        reason = f"expected {order} in this order, got {got} (missing from {wanted[position]!r} on)"
        return Grade.check("tool_sequence", False, reason, called=called)

    return FunctionGrader(name="tool_sequence", spec={"type": "tool_sequence", "names": wanted}, fn=grade)
