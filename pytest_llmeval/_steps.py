"""The step library: every Given/When/Then phrase the plugin provides (DESIGN §2).

Steps only describe the case (prompt, parameters, graders); nothing is sent to the model
until the scenario's last step has run, so a scenario is one case with all its graders
applied to each sample. Registered as a plugin, so every phrase is available in every
test module that binds feature files with ``pytest_bdd.scenarios``.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from . import graders
from ._bdd import ScenarioCase, current_case
from ._options import parse_threshold
from ._placeholders import PlaceholderError, fill_angle, fill_braces
from .graders._base import GraderConfigError

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
    ("then", "the pass rate is at least P%"),
]
"""How each phrase reads in docs and in 'closest phrase' hints."""


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
        case.aborted = str(exc)
        pytest.fail(str(exc), pytrace=False)


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


def _cell_value(text: str) -> Any:
    """A datatable value: JSON when it parses (0.2, 256, true), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---- Given --------------------------------------------------------------------------------


@given(parsers.re(f"the model {_q('model')}"))
def _model(request: pytest.FixtureRequest, model: str) -> None:
    case = current_case(request)
    case.step_model = _arg(case, model)


@given(parsers.re(r"the system prompt:"))
def _system_prompt(request: pytest.FixtureRequest, docstring: str) -> None:
    case = current_case(request)
    case.spec.system = _fill(case, docstring)


@given(parsers.re(f"the system prompt from {_q('path')}"))
def _system_prompt_file(request: pytest.FixtureRequest, path: str) -> None:
    case = current_case(request)
    text = _path(case, path, "system prompt").read_text(encoding="utf-8")
    try:
        case.spec.system = fill_braces(text, case.spec.row, case.where())
    except PlaceholderError as exc:
        case.fail(str(exc).removeprefix(case.where() + ": "))


@given(parsers.re(r"the conversation:"))
def _conversation(request: pytest.FixtureRequest, datatable: list[list[str]]) -> None:
    case = current_case(request)
    for role, content in _table(case, datatable, ("role", "content")):
        role = role.strip().lower()
        if role not in ("system", "user", "assistant", "developer"):
            case.fail(f"unknown role {role!r}; use system, developer, user or assistant")
        case.spec.history.append({"role": role, "content": content})


@given(parsers.re(r"the temperature is (?P<value>\S+)"))
def _temperature(request: pytest.FixtureRequest, value: str) -> None:
    case = current_case(request)
    try:
        temperature = float(_fill(case, value))
    except ValueError:
        case.fail(f"expected a number such as 0.2, got {value!r}")
    case.spec.params["temperature"] = temperature


@given(parsers.re(r"the parameters:"))
def _parameters(request: pytest.FixtureRequest, datatable: list[list[str]]) -> None:
    case = current_case(request)
    for name, value in _table(case, datatable, ("name", "value")):
        case.spec.params[name.strip()] = _cell_value(value.strip())


@given(parsers.re(f"the response format is the JSON schema {_q('path')}"))
def _response_format(request: pytest.FixtureRequest, path: str) -> None:
    case = current_case(request)
    file = _path(case, path, "JSON schema")
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        case.fail(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", file.stem)[:64] or "schema"
    # OpenAI's strict mode needs a closed schema; ask for it only when the schema is one.
    strict = isinstance(schema, dict) and schema.get("additionalProperties") is False
    case.spec.response_format = {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }


@given(parsers.re(f"the target {_q('name')}"))
def _target(request: pytest.FixtureRequest, name: str) -> None:
    case = current_case(request)
    case.spec.target = _arg(case, name)


@given(parsers.re(f"the image {_q('path')}"))
def _image(request: pytest.FixtureRequest, path: str) -> None:
    case = current_case(request)
    data = _path(case, path, "image").read_bytes()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    else:
        case.fail("the image must be a PNG or JPEG file")
    case.spec.images.append(f"data:{mime};base64,{base64.b64encode(data).decode()}")


# ---- When ---------------------------------------------------------------------------------


@when(parsers.re(f"the user says {_q('text')}"))
def _user_says(request: pytest.FixtureRequest, text: str) -> None:
    case = current_case(request)
    case.spec.user = _arg(case, text)


@when(parsers.re(r"the user says:"))
def _user_says_doc(request: pytest.FixtureRequest, docstring: str) -> None:
    case = current_case(request)
    case.spec.user = _fill(case, docstring)


# ---- Then ---------------------------------------------------------------------------------


@then(parsers.re(f"the answer equals {_q('text')}"))
def _equals(request: pytest.FixtureRequest, text: str) -> None:
    case = current_case(request)
    _add_grader(case, graders.string_check, _arg(case, text), "eq")


@then(parsers.re(f"the answer (?P<neg>does not contain|contains) {_q('text')}(?P<any>| in any case)"))
def _contains(request: pytest.FixtureRequest, neg: str, text: str, any: str) -> None:
    case = current_case(request)
    operation = "ilike" if any else "like"
    _add_grader(case, graders.string_check, _arg(case, text), operation, negate=neg == "does not contain")


@then(parsers.re(f"the answer matches the pattern {_q('pattern')}"))
def _pattern(request: pytest.FixtureRequest, pattern: str) -> None:
    case = current_case(request)
    _add_grader(case, graders.regex, _arg(case, pattern))


@then(parsers.re(r"the answer is one of:"))
def _one_of(request: pytest.FixtureRequest, datatable: list[list[str]]) -> None:
    case = current_case(request)
    options = [row[0] for row in datatable if row]
    _add_grader(case, graders.one_of, [_fill(case, o) for o in options])


@then(parsers.re(r"the answer is valid JSON"))
def _valid_json(request: pytest.FixtureRequest) -> None:
    case = current_case(request)
    _add_grader(case, graders.valid_json)


@then(parsers.re(f"the answer matches the JSON schema {_q('path')}"))
def _schema_file(request: pytest.FixtureRequest, path: str) -> None:
    case = current_case(request)
    _add_grader(case, graders.json_schema, _path(case, path, "JSON schema"))


@then(parsers.re(r"the answer matches the JSON schema:"))
def _schema_doc(request: pytest.FixtureRequest, docstring: str) -> None:
    case = current_case(request)
    try:
        schema = json.loads(_fill(case, docstring))
    except json.JSONDecodeError as exc:
        case.fail(f"the schema docstring is not valid JSON: {exc.msg} (line {exc.lineno} of the docstring)")
    _add_grader(case, graders.json_schema, schema)


@then(parsers.re(f"the answer validates as {_q('model')}"))
def _pydantic(request: pytest.FixtureRequest, model: str) -> None:
    case = current_case(request)
    _add_grader(case, graders.pydantic_model, _arg(case, model), base_dir=case.spec.base_dir)


@then(parsers.re(f"the JSON at {_q('pointer')} equals (?P<value>.+)"))
def _pointer(request: pytest.FixtureRequest, pointer: str, value: str) -> None:
    case = current_case(request)
    text = _fill(case, value.strip())
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        case.fail(f'the value must be JSON (2, "text", true, null, [1, 2]); got {text!r}')
    _add_grader(case, graders.json_pointer, _arg(case, pointer), expected)


@then(parsers.re(r"the pass rate is at least (?P<percent>[^%\s]+)%"))
def _pass_rate(request: pytest.FixtureRequest, percent: str) -> None:
    case = current_case(request)
    try:
        case.spec.threshold = parse_threshold(_fill(case, percent) + "%")
    except ValueError as exc:
        case.fail(str(exc))
