"""The tool graders (:mod:`._tools`) as the source of OpenAI ``python`` graders.

OpenAI's python grader gets the same ``sample["output_tools"]`` ours do, so each source
repeats our check on it: a ``tool_call`` passes on a call of that name whose arguments are a
JSON object valid for the tool's ``parameters`` schema (``jsonschema``, which the grader
sandbox provides) and equal on every wanted key. The tools a case offered are fixed into the
source when exported, as the grader cannot see the case.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

JSON_EQUAL = """
def _equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
"""
"""JSON equality in exported source (1 is not True, 1 equals 1.0), as our graders compare;
shared by every exported grader that compares values. It holds no braces: templates that
include it are filled with ``str.format``."""

_CALLS = """
import json


def _calls(sample):
    found = []
    for call in sample.get("output_tools") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            found.append((str(function.get("name")), str(function.get("arguments") or "")))
    return found
"""

_TOOL_CALL = (
    """
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

NAME = json.loads({name!r})
WANTED = json.loads({wanted!r})
SCHEMA = json.loads({schema!r})
VALIDATOR = None if SCHEMA is None else validator_for(SCHEMA, default=Draft202012Validator)(SCHEMA)


"""
    + JSON_EQUAL
    + """

def _fits(raw):
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    if not isinstance(value, dict):
        return False
    if VALIDATOR is not None and next(iter(VALIDATOR.iter_errors(value)), None) is not None:
        return False
    return all(key in value and _equal(value[key], expected) for key, expected in (WANTED or {{}}).items())


def grade(sample, item):
    return 1.0 if any(name == NAME and _fits(raw) for name, raw in _calls(sample)) else 0.0
"""
)

_NOT_OFFERED = """
def grade(sample, item):
    return 0.0  # {name!r} is not one of the tools offered: no call of it passes
"""

_NO_TOOL_CALL = """

def grade(sample, item):
    return 0.0 if _calls(sample) else 1.0
"""

_SEQUENCE = """
NAMES = json.loads({names!r})


def grade(sample, item):
    position = 0
    for name, _ in _calls(sample):
        if position < len(NAMES) and name == NAMES[position]:
            position += 1
    return 1.0 if position == len(NAMES) else 0.0
"""


def _schema_of(tools: Sequence[Mapping[str, Any]], name: str) -> tuple[bool, Any]:
    """(found, the tool's parameters schema or ``{}``), as the grader reads the tools."""
    for tool in tools:
        function = tool.get("function")
        if isinstance(function, Mapping) and function.get("name") == name:
            parameters = function.get("parameters")
            return True, dict(parameters) if isinstance(parameters, Mapping) else {}
    return False, None


def tool_call_source(spec: Mapping[str, Any], tools: Sequence[Mapping[str, Any]] | None) -> str:
    """The source of a ``tool_call`` spec; ``tools`` are the case's when the spec names none."""
    name = str(spec["name"])
    offered = spec.get("tools", tools)
    schema = None
    if offered is not None:
        found, schema = _schema_of(offered, name)
        if not found:
            return _NOT_OFFERED.format(name=name)

    def text(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    return _CALLS + _TOOL_CALL.format(name=text(name), wanted=text(spec.get("arguments")), schema=text(schema))


def no_tool_call_source(spec: Mapping[str, Any]) -> str:
    return _CALLS + _NO_TOOL_CALL


def tool_sequence_source(spec: Mapping[str, Any]) -> str:
    return _CALLS + _SEQUENCE.format(names=json.dumps(list(spec["names"]), ensure_ascii=False))
