"""The step library: every Given/When/Then phrase the plugin provides (DESIGN §2).

Steps only describe the case (prompt, parameters, graders); nothing is sent to the model
until the scenario's last step has run, so a scenario is one case with all its graders
applied to each sample. Registered as a plugin, so every phrase is available in every
test module that binds feature files with ``pytest_bdd.scenarios``.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from pytest_bdd import parsers
from pytest_bdd.steps import step as bdd_step

from .. import graders
from .._case.placeholders import PlaceholderError, fill_angle, fill_braces
from .._config.options import parse_threshold
from ..graders._base import GraderConfigError
from .scenario import ScenarioCase, current_case

Q = r'"(?P<{}>(?:[^"\\]|\\.)*)"'  # a quoted argument with \" escapes

PHRASES: list[tuple[str, str]] = [
    ("given", 'the model "M"'),
    ("given", "the system prompt:"),
    ("given", 'the system prompt from "path"'),
    ("given", "the conversation:"),
    ("given", "the temperature is T"),
    ("given", "the parameters:"),
    ("given", 'the response format is the JSON schema "path"'),
    ("given", 'the target "name"'),
    ("given", 'the image "path"'),
    ("when", 'the user says "text"'),
    ("when", "the user says:"),
    ("then", 'the answer equals "x"'),
    ("then", 'the answer contains "x"'),
    ("then", 'the answer contains "x" in any case'),
    ("then", 'the answer does not contain "x"'),
    ("then", 'the answer does not contain "x" in any case'),
    ("then", 'the answer matches the pattern "re"'),
    ("then", "the answer is one of:"),
    ("then", "the answer is valid JSON"),
    ("then", 'the answer matches the JSON schema "path"'),
    ("then", "the answer matches the JSON schema:"),
    ("then", 'the answer validates as "module:Model"'),
    ("then", 'the JSON at "/pointer" equals VALUE'),
    ("then", 'the answer is similar to "x" by METRIC at least T'),
    ("then", 'the answer passes "grader-name"'),
    ("then", "the judge scores the answer at least N out of M for:"),
    ("then", 'the judge labels the answer as one of "a, b" from "a, b, c" for:'),
    ("then", "the pass rate is at least P%"),
    ("then", 'the answer meets the testing criteria of "eval.json"'),
]
"""How each phrase reads in docs and in 'closest phrase' hints."""


@dataclass(frozen=True)
class StepDef:
    """One phrase: its kind, its pattern, and the handler that adds it to a case."""

    kind: Literal["given", "when", "then"]
    pattern: re.Pattern[str]
    handler: Callable[..., None]
    takes: frozenset[str]
    """Which of ``docstring`` / ``datatable`` the handler takes from the step."""


STEPS: list[StepDef] = []
"""Every phrase, in the order declared; the planner matches steps against these."""


def _phrase(kind: Literal["given", "when", "then"], regex: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Declare ``handler(case, **args)`` for a phrase.

    The same handler serves when the scenario runs and when the planner reads the steps
    before the run, so a phrase cannot mean two things.
    """

    def register(handler: Callable[..., None]) -> Callable[..., None]:
        names = frozenset(inspect.signature(handler).parameters) - {"case"}
        STEPS.append(StepDef(kind, re.compile(regex), handler, names & {"docstring", "datatable"}))
        return handler

    return register


def match_phrase(kind: str, text: str) -> tuple[StepDef, dict[str, Any]] | None:
    """The phrase of the library that ``text`` is, with its arguments; None if it is none."""
    for definition in STEPS:
        if definition.kind == kind:
            found = definition.pattern.fullmatch(text)
            if found is not None:
                return definition, found.groupdict()
    return None


class _LibraryParser(parsers.StepParser):
    """One pytest-bdd parser for all phrases of a kind.

    pytest-bdd looks a step up by scanning every fixture, so three step definitions instead
    of one per phrase keep that scan (run for every step of every scenario) short.
    """

    def __init__(self, kind: Literal["given", "when", "then"]) -> None:
        super().__init__(f"pytest-llmeval {kind} phrases")
        self.kind = kind

    def is_matching(self, name: str) -> bool:
        return _match_cached(self.kind, name) is not None

    def parse_arguments(self, name: str) -> dict[str, Any]:
        return {"llmeval_phrase": _match_cached(self.kind, name)}


@functools.lru_cache(maxsize=4096)
def _match_cached(kind: str, text: str) -> tuple[StepDef, dict[str, Any]] | None:
    return match_phrase(kind, text)


def _run_phrase(
    request: pytest.FixtureRequest,
    llmeval_phrase: tuple[StepDef, dict[str, Any]],
    docstring: str | None = None,
    datatable: list[list[str]] | None = None,
) -> None:
    __tracebackhide__ = True
    definition, parsed = llmeval_phrase
    case = current_case(request)
    args = dict(parsed)
    if "docstring" in definition.takes:
        if docstring is None:
            case.fail('this step needs a docstring (text between """ lines) below it')
        args["docstring"] = docstring
    if "datatable" in definition.takes:
        if datatable is None:
            case.fail("this step needs a table (| a | b | rows) below it")
        args["datatable"] = datatable
    definition.handler(case, **args)


def _q(*names: str) -> str:
    return Q.format(*names)


def _unescape(text: str) -> str:
    """Undo ``\\"`` and ``\\\\`` only, so a pattern such as ``"^A-\\d+$"`` keeps its backslashes."""
    return re.sub(r'\\(["\\])', r"\1", text)


def _arg(case: ScenarioCase, raw: str) -> str:
    """A quoted step argument: escapes undone, ``<name>`` filled from the row."""
    return _fill(case, _unescape(raw))


def _fill(case: ScenarioCase, text: str) -> str:
    __tracebackhide__ = True
    try:
        return fill_angle(text, case.spec.row, case.where())
    except PlaceholderError as exc:
        message = str(exc)
    case.fail(message.removeprefix(case.where() + ": "))


def _path(case: ScenarioCase, raw: str, what: str) -> Path:
    __tracebackhide__ = True
    path = case.spec.base_dir / _arg(case, raw)
    if not path.is_file():
        case.fail(f"{what} file not found: {path}")
    return path


def _table(case: ScenarioCase, datatable: list[list[str]], header: tuple[str, ...]) -> list[list[str]]:
    """Datatable rows filled from the row; a header row naming the columns is optional."""
    __tracebackhide__ = True
    rows = [[_fill(case, cell) for cell in row] for row in datatable]
    if rows and tuple(c.strip().lower() for c in rows[0]) == header:
        rows = rows[1:]
    for row in rows:
        if len(row) != len(header):
            case.fail(f"expected {len(header)} columns ({' | '.join(header)}), got {len(row)}: {row}")
    return rows


def _add_grader(case: ScenarioCase, build: Any, *args: Any, **kwargs: Any) -> None:
    __tracebackhide__ = True
    try:
        case.spec.graders.append(build(*args, **kwargs))
    except GraderConfigError as exc:
        case.fail(str(exc))


def _strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict structured outputs accept ``schema``: every object closed
    (``additionalProperties: false``) with all its properties required, all the way down.
    Strict mode is asked for only then; otherwise the API would refuse the request."""
    if isinstance(schema, list):
        return all(_strict_compatible(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    properties = schema.get("properties")
    if schema.get("type") == "object" or properties is not None:
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(properties or {}):
            return False
    children = [*(properties or {}).values(), schema.get("items"), *schema.get("anyOf", [])]
    children += list((schema.get("$defs") or {}).values())
    return all(_strict_compatible(c) for c in children if c is not None)


def _cell_value(text: str) -> Any:
    """A datatable value: JSON when it parses (0.2, 256, true), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---- Given --------------------------------------------------------------------------------


@_phrase("given", f"the model {_q('model')}")
def _model(case: ScenarioCase, model: str) -> None:
    case.step_model = _arg(case, model)


@_phrase("given", r"the system prompt:")
def _system_prompt(case: ScenarioCase, docstring: str) -> None:
    case.spec.system = _fill(case, docstring)


@_phrase("given", f"the system prompt from {_q('path')}")
def _system_prompt_file(case: ScenarioCase, path: str) -> None:
    text = _path(case, path, "system prompt").read_text(encoding="utf-8")
    problem = None
    try:
        case.spec.system = fill_braces(text, case.spec.row, case.where())
    except PlaceholderError as exc:
        problem = str(exc).removeprefix(case.where() + ": ")
    if problem is not None:
        case.fail(problem)


@_phrase("given", r"the conversation:")
def _conversation(case: ScenarioCase, datatable: list[list[str]]) -> None:
    for role, content in _table(case, datatable, ("role", "content")):
        role = role.strip().lower()
        if role not in ("system", "user", "assistant", "developer"):
            case.fail(f"unknown role {role!r}; use system, developer, user or assistant")
        case.spec.history.append({"role": role, "content": content})


@_phrase("given", r"the temperature is (?P<value>\S+)")
def _temperature(case: ScenarioCase, value: str) -> None:
    try:
        temperature = float(_fill(case, value))
    except ValueError:
        case.fail(f"expected a number such as 0.2, got {value!r}")
    case.spec.params["temperature"] = temperature


@_phrase("given", r"the parameters:")
def _parameters(case: ScenarioCase, datatable: list[list[str]]) -> None:
    for name, value in _table(case, datatable, ("name", "value")):
        case.spec.params[name.strip()] = _cell_value(value.strip())


@_phrase("given", f"the response format is the JSON schema {_q('path')}")
def _response_format(case: ScenarioCase, path: str) -> None:
    file = _path(case, path, "JSON schema")
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        case.fail(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", file.stem)[:64] or "schema"
    strict = _strict_compatible(schema)
    case.spec.response_format = {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }


@_phrase("given", f"the target {_q('name')}")
def _target(case: ScenarioCase, name: str) -> None:
    case.spec.target = _arg(case, name)


@_phrase("given", f"the image {_q('path')}")
def _image(case: ScenarioCase, path: str) -> None:
    data = _path(case, path, "image").read_bytes()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    else:
        case.fail("the image must be a PNG or JPEG file")
    case.spec.images.append(f"data:{mime};base64,{base64.b64encode(data).decode()}")


# ---- When ---------------------------------------------------------------------------------


@_phrase("when", f"the user says {_q('text')}")
def _user_says(case: ScenarioCase, text: str) -> None:
    case.spec.user = _arg(case, text)


@_phrase("when", r"the user says:")
def _user_says_doc(case: ScenarioCase, docstring: str) -> None:
    case.spec.user = _fill(case, docstring)


# ---- Then ---------------------------------------------------------------------------------


@_phrase("then", f"the answer equals {_q('text')}")
def _equals(case: ScenarioCase, text: str) -> None:
    _add_grader(case, graders.string_check, _arg(case, text), "eq")


@_phrase("then", f"the answer (?P<neg>does not contain|contains) {_q('text')}(?P<any>| in any case)")
def _contains(case: ScenarioCase, neg: str, text: str, any: str) -> None:
    operation = "ilike" if any else "like"
    _add_grader(case, graders.string_check, _arg(case, text), operation, negate=neg == "does not contain")


@_phrase("then", f"the answer matches the pattern {_q('pattern')}")
def _pattern(case: ScenarioCase, pattern: str) -> None:
    _add_grader(case, graders.regex, _arg(case, pattern))


@_phrase("then", r"the answer is one of:")
def _one_of(case: ScenarioCase, datatable: list[list[str]]) -> None:
    options = [row[0] for row in datatable if row]
    _add_grader(case, graders.one_of, [_fill(case, o) for o in options])


@_phrase("then", r"the answer is valid JSON")
def _valid_json(case: ScenarioCase) -> None:
    _add_grader(case, graders.valid_json)


@_phrase("then", f"the answer matches the JSON schema {_q('path')}")
def _schema_file(case: ScenarioCase, path: str) -> None:
    _add_grader(case, graders.json_schema, _path(case, path, "JSON schema"))


@_phrase("then", r"the answer matches the JSON schema:")
def _schema_doc(case: ScenarioCase, docstring: str) -> None:
    try:
        schema = json.loads(_fill(case, docstring))
    except json.JSONDecodeError as exc:
        case.fail(f"the schema docstring is not valid JSON: {exc.msg} (line {exc.lineno} of the docstring)")
    _add_grader(case, graders.json_schema, schema)


@_phrase("then", f"the answer validates as {_q('model')}")
def _pydantic(case: ScenarioCase, model: str) -> None:
    _add_grader(case, graders.pydantic_model, _arg(case, model), base_dir=case.spec.base_dir)


@_phrase("then", f"the JSON at {_q('pointer')} equals (?P<value>.+)")
def _pointer(case: ScenarioCase, pointer: str, value: str) -> None:
    text = _fill(case, value.strip())
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        case.fail(f'the value must be JSON (2, "text", true, null, [1, 2]); got {text!r}')
    _add_grader(case, graders.json_pointer, _arg(case, pointer), expected)


@_phrase("then", f"the answer is similar to {_q('reference')} by (?P<metric>[a-z_0-9]+) at least (?P<threshold>\\S+)")
def _similar(case: ScenarioCase, reference: str, metric: str, threshold: str) -> None:
    try:
        value = float(_fill(case, threshold))
    except ValueError:
        case.fail(f"expected a threshold between 0 and 1, got {threshold!r}")
    _add_grader(case, graders.text_similarity, _arg(case, reference), metric, value)


@_phrase("then", f"the answer passes {_q('name')}")
def _passes(case: ScenarioCase, name: str) -> None:
    _add_grader(case, graders.named, _arg(case, name))


@_phrase("then", r"the judge scores the answer at least (?P<minimum>\S+) out of (?P<maximum>\S+) for:")
def _judge_score(case: ScenarioCase, minimum: str, maximum: str, docstring: str) -> None:
    try:
        low_bar, top = float(_fill(case, minimum)), float(_fill(case, maximum))
    except ValueError:
        case.fail(f"expected numbers, as in 'at least 4 out of 5'; got {minimum!r} and {maximum!r}")
    # A Likert scale "out of 5" runs 1..5; "out of 1" (a fraction) runs 0..1.
    bottom = 1.0 if top >= 2 and top.is_integer() else 0.0
    _add_grader(
        case, graders.score_model, _fill(case, docstring), range=(bottom, top), pass_threshold=low_bar, model=None
    )


@_phrase("then", f"the judge labels the answer as one of {_q('passing')} from {_q('labels')} for:")
def _judge_label(case: ScenarioCase, passing: str, labels: str, docstring: str) -> None:
    names = [label.strip() for label in _arg(case, labels).split(",") if label.strip()]
    good = [label.strip() for label in _arg(case, passing).split(",") if label.strip()]
    _add_grader(case, graders.label_model, _fill(case, docstring), labels=names, passing_labels=good)


@_phrase("then", r"the pass rate is at least (?P<percent>[^%\s]+)%")
def _pass_rate(case: ScenarioCase, percent: str) -> None:
    try:
        case.spec.threshold = parse_threshold(_fill(case, percent) + "%")
    except ValueError as exc:
        case.fail(str(exc))


@_phrase("then", f"the answer meets the testing criteria of {_q('path')}")
def _testing_criteria(case: ScenarioCase, path: str) -> None:
    from .._openai_evals.evals import EvalDefinitionError, criteria_of_file

    file = _path(case, path, "eval definition")
    try:
        found = criteria_of_file(file)
    except EvalDefinitionError as exc:
        case.fail(str(exc))
    case.spec.graders.extend(found)


for _kind in ("given", "when", "then"):
    bdd_step(_LibraryParser(_kind), _kind)(_run_phrase)
