"""The step library: every Given/When/Then phrase the plugin provides (DESIGN §2).

Each handler only fills the scenario's :class:`~pytest_llmeval._case.spec.CaseSpec`;
nothing is sent to the model until the scenario's last step has run. A Then phrase names
the built-in grader type it adds and returns that grader's arguments. The phrases are
bound to pytest-bdd in :mod:`.library`.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from .._case.placeholders import ANGLE, PlaceholderError, fill_angle, fill_braces
from .._case.tools import ToolsError, check_name, check_tools, tool_choice
from .._config.parse import parse_threshold
from .phrases import phrase
from .phrases import q as _q
from .scenario import ScenarioCase


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
    """The file a step names; one named by a dataset value must lie inside the project.

    A row is data, often from outside (a golden set, an export): ``"<p>"`` with
    ``../../../../etc/passwd`` would send that file to the model and into the cache.
    """
    __tracebackhide__ = True
    path = case.spec.base_dir / _arg(case, raw)
    if ANGLE.search(_unescape(raw)) and not case.paths_anywhere and not _inside(path, case.root):
        case.fail(
            f"the {what} file {str(path)!r} comes from the row and lies outside the project ({case.root}); "
            "give --llmeval-allow-outside-paths to allow it"
        )
    if not path.is_file():
        case.fail(f"{what} file not found: {path}")
    return path


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def _read_text(case: ScenarioCase, path: Path, what: str) -> str:
    __tracebackhide__ = True
    problem = None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = f"the {what} file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
    except OSError as exc:
        problem = f"cannot read the {what} file {path}: {exc.strerror or exc}"
    case.fail(problem)


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


@phrase("given", f"the model {_q('model')}", 'the model "M"')
def _model(case: ScenarioCase, model: str) -> None:
    case.step_model = _arg(case, model)


@phrase("given", r"the system prompt:", "the system prompt:")
def _system_prompt(case: ScenarioCase, docstring: str) -> None:
    case.spec.system = _fill(case, docstring)
    case.spec.system_file = None


@phrase("given", f"the system prompt from {_q('path')}", 'the system prompt from "path"')
def _system_prompt_file(case: ScenarioCase, path: str) -> None:
    file = _path(case, path, "system prompt")
    text = _read_text(case, file, "system prompt")
    # Remembered for --llmeval-prompt-variant OLD.md=NEW.md, which swaps a prompt by its file's name.
    case.spec.system_file = str(file)
    problem = None
    try:
        case.spec.system = fill_braces(text, case.spec.row, case.where())
    except PlaceholderError as exc:
        problem = str(exc).removeprefix(case.where() + ": ")
    if problem is not None:
        case.fail(problem)


@phrase("given", r"the conversation:", "the conversation:")
def _conversation(case: ScenarioCase, datatable: list[list[str]]) -> None:
    for role, content in _table(case, datatable, ("role", "content")):
        role = role.strip().lower()
        if role not in ("system", "user", "assistant", "developer"):
            case.fail(f"unknown role {role!r}; use system, developer, user or assistant")
        case.spec.history.append({"role": role, "content": content})


@phrase("given", r"the temperature is (?P<value>\S+)", "the temperature is T")
def _temperature(case: ScenarioCase, value: str) -> None:
    try:
        temperature = float(_fill(case, value))
    except ValueError:
        case.fail(f"expected a number such as 0.2, got {value!r}")
    case.spec.params["temperature"] = temperature


@phrase("given", r"the parameters:", "the parameters:")
def _parameters(case: ScenarioCase, datatable: list[list[str]]) -> None:
    for name, value in _table(case, datatable, ("name", "value")):
        case.spec.params[name.strip()] = _cell_value(value.strip())


@phrase(
    "given", f"the response format is the JSON schema {_q('path')}", 'the response format is the JSON schema "path"'
)
def _response_format(case: ScenarioCase, path: str) -> None:
    file = _path(case, path, "JSON schema")
    text = _read_text(case, file, "JSON schema")
    try:
        schema = json.loads(text)
        strict = _strict_compatible(schema)
    except json.JSONDecodeError as exc:
        case.fail(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}")
    except RecursionError:
        case.fail(f"{file}: the schema is nested too deeply to be read")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", file.stem)[:64] or "schema"
    case.spec.response_format = {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }


@phrase("given", f"the target {_q('name')}", 'the target "name"')
def _target(case: ScenarioCase, name: str) -> None:
    case.spec.target = _arg(case, name)


@phrase("given", f"the image {_q('path')}", 'the image "path"')
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


@phrase("when", f"the user says {_q('text')}", 'the user says "text"')
def _user_says(case: ScenarioCase, text: str) -> None:
    case.spec.user = _arg(case, text)


@phrase("when", r"the user says:", "the user says:")
def _user_says_doc(case: ScenarioCase, docstring: str) -> None:
    case.spec.user = _fill(case, docstring)


# ---- Then ---------------------------------------------------------------------------------


@phrase("then", f"the answer equals {_q('text')}", 'the answer equals "x"', grader="string_check")
def _equals(case: ScenarioCase, text: str) -> dict[str, Any]:
    # The step strips outer whitespace (answers end with a newline); the grader alone is OpenAI-exact.
    return {"reference": _arg(case, text), "operation": "eq", "strip": True}


@phrase(
    "then",
    f"the answer (?P<neg>does not contain|contains) {_q('text')}(?P<any>| in any case)",
    'the answer contains "x"',
    'the answer contains "x" in any case',
    'the answer does not contain "x"',
    'the answer does not contain "x" in any case',
    grader="string_check",
)
def _contains(case: ScenarioCase, neg: str, text: str, any: str) -> dict[str, Any]:
    operation = "ilike" if any else "like"
    return {"reference": _arg(case, text), "operation": operation, "negate": neg == "does not contain"}


@phrase(
    "then", f"the answer matches the pattern {_q('pattern')}", 'the answer matches the pattern "re"', grader="regex"
)
def _pattern(case: ScenarioCase, pattern: str) -> tuple[Any, ...]:
    return (_arg(case, pattern),)


@phrase("then", r"the answer is one of:", "the answer is one of:", grader="one_of")
def _one_of(case: ScenarioCase, datatable: list[list[str]]) -> tuple[Any, ...]:
    options = [row[0] for row in datatable if row]
    return ([_fill(case, o) for o in options],)


@phrase("then", r"the answer is valid JSON", "the answer is valid JSON", grader="valid_json")
def _valid_json(case: ScenarioCase) -> tuple[Any, ...]:
    return ()


@phrase(
    "then",
    f"the answer matches the JSON schema {_q('path')}",
    'the answer matches the JSON schema "path"',
    grader="json_schema",
)
def _schema_file(case: ScenarioCase, path: str) -> tuple[Any, ...]:
    return (_path(case, path, "JSON schema"),)


@phrase("then", r"the answer matches the JSON schema:", "the answer matches the JSON schema:", grader="json_schema")
def _schema_doc(case: ScenarioCase, docstring: str) -> tuple[Any, ...]:
    try:
        schema = json.loads(_fill(case, docstring))
    except json.JSONDecodeError as exc:
        case.fail(f"the schema docstring is not valid JSON: {exc.msg} (line {exc.lineno} of the docstring)")
    except RecursionError:
        case.fail("the schema docstring is nested too deeply to be read")
    return (schema,)


@phrase(
    "then", f"the answer validates as {_q('model')}", 'the answer validates as "module:Model"', grader="pydantic_model"
)
def _pydantic(case: ScenarioCase, model: str) -> dict[str, Any]:
    return {"model": _arg(case, model), "base_dir": case.spec.base_dir}


@phrase(
    "then",
    f"the JSON at {_q('pointer')} equals (?P<value>.+)",
    'the JSON at "/pointer" equals VALUE',
    grader="json_pointer",
)
def _pointer(case: ScenarioCase, pointer: str, value: str) -> tuple[Any, ...]:
    text = _fill(case, value.strip())
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        case.fail(f'the value must be JSON (2, "text", true, null, [1, 2]); got {text!r}')
    return (_arg(case, pointer), expected)


@phrase(
    "then",
    f"the answer is similar to {_q('reference')} by (?P<metric>[a-z_0-9]+) at least (?P<threshold>\\S+)",
    'the answer is similar to "x" by METRIC at least T',
    grader="text_similarity",
)
def _similar(case: ScenarioCase, reference: str, metric: str, threshold: str) -> tuple[Any, ...]:
    try:
        value = float(_fill(case, threshold))
    except ValueError:
        case.fail(f"expected a threshold between 0 and 1, got {threshold!r}")
    return (_arg(case, reference), metric, value)


@phrase("then", f"the answer passes {_q('name')}", 'the answer passes "grader-name"')
def _passes(case: ScenarioCase, name: str) -> None:
    from ..graders import named
    from ..graders._base import GraderConfigError

    problem = None
    try:
        case.spec.graders.append(named(_arg(case, name)))
    except GraderConfigError as exc:
        problem = str(exc)
    if problem is not None:
        case.fail(problem)


@phrase(
    "then",
    r"the judge scores the answer at least (?P<minimum>\S+) out of (?P<maximum>\S+) for:",
    "the judge scores the answer at least N out of M for:",
    grader="score_model",
)
def _judge_score(case: ScenarioCase, minimum: str, maximum: str, docstring: str) -> dict[str, Any]:
    try:
        low_bar, top = float(_fill(case, minimum)), float(_fill(case, maximum))
    except ValueError:
        case.fail(f"expected numbers, as in 'at least 4 out of 5'; got {minimum!r} and {maximum!r}")
    # A Likert scale "out of 5" runs 1..5; "out of 1" (a fraction) runs 0..1.
    bottom = 1.0 if top >= 2 and top.is_integer() else 0.0
    return {"criteria": _fill(case, docstring), "range": (bottom, top), "pass_threshold": low_bar, "model": None}


@phrase(
    "then",
    f"the judge labels the answer as one of {_q('passing')} from {_q('labels')} for:",
    'the judge labels the answer as one of "a, b" from "a, b, c" for:',
    grader="label_model",
)
def _judge_label(case: ScenarioCase, passing: str, labels: str, docstring: str) -> dict[str, Any]:
    names = [label.strip() for label in _arg(case, labels).split(",") if label.strip()]
    good = [label.strip() for label in _arg(case, passing).split(",") if label.strip()]
    return {"criteria": _fill(case, docstring), "labels": names, "passing_labels": good}


@phrase("then", r"the pass rate is at least (?P<percent>[^%\s]+)%", "the pass rate is at least P%")
def _pass_rate(case: ScenarioCase, percent: str) -> None:
    try:
        case.spec.threshold = parse_threshold(_fill(case, percent) + "%")
    except ValueError as exc:
        case.fail(str(exc))


@phrase(
    "then",
    f"the answer meets the testing criteria of {_q('path')}",
    'the answer meets the testing criteria of "eval.json"',
)
def _testing_criteria(case: ScenarioCase, path: str) -> None:
    from .._openai_evals.criteria import criteria_of_file
    from .._openai_evals.definition import EvalDefinitionError

    file = _path(case, path, "eval definition")
    try:
        found = criteria_of_file(file)
    except EvalDefinitionError as exc:
        case.fail(str(exc))
    case.spec.graders.extend(found)


# ---- Tools (docs/tools.md): what the model is offered, and what it called --------------------


def _set_tools(case: ScenarioCase, value: Any, where: str) -> None:
    __tracebackhide__ = True
    problem = None
    try:
        case.spec.tools = check_tools(value)
        for name in case.spec.tool_results:
            check_name(name, case.spec.tools)
    except ToolsError as exc:
        problem = f"{where}: {exc}"
    if problem is not None:
        case.fail(problem)


def _known(case: ScenarioCase, name: str) -> str:
    """``name`` when it is one of the tools given so far; a step failure otherwise."""
    __tracebackhide__ = True
    if case.spec.tools is None:
        case.fail(f"no tools are given: add 'Given the tools from \"tools.json\"' before this step ({name!r})")
    problem = None
    try:
        check_name(name, case.spec.tools)
    except ToolsError as exc:
        problem = str(exc)
    if problem is not None:
        case.fail(problem)
    return name


def _json_docstring(case: ScenarioCase, docstring: str, what: str) -> Any:
    __tracebackhide__ = True
    try:
        return json.loads(_fill(case, docstring))
    except json.JSONDecodeError as exc:
        case.fail(f"the {what} docstring is not valid JSON: {exc.msg} (line {exc.lineno} of the docstring)")
    except RecursionError:
        case.fail(f"the {what} docstring is nested too deeply to be read")


# ---- Given: tools -------------------------------------------------------------------------


@phrase("given", f"the tools from {_q('path')}", 'the tools from "tools.json"')
def _tools_file(case: ScenarioCase, path: str) -> None:
    file = _path(case, path, "tools")
    text = _read_text(case, file, "tools")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        case.fail(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}")
    except RecursionError:
        case.fail(f"{file}: the tools are nested too deeply to be read")
    _set_tools(case, value, f"{file}:1")


@phrase("given", r"the tools:", "the tools:")
def _tools_doc(case: ScenarioCase, docstring: str) -> None:
    _set_tools(case, _json_docstring(case, docstring, "tools"), "the tools docstring")


@phrase("given", f"the tool choice is {_q('choice')}", 'the tool choice is "auto|required|none|NAME"')
def _tool_choice(case: ScenarioCase, choice: str) -> None:
    problem = None
    try:
        case.spec.tool_choice = tool_choice(_arg(case, choice), case.spec.tools)
    except ToolsError as exc:
        problem = str(exc)
    if problem is not None:
        case.fail(problem)


@phrase("given", f"the tool {_q('name')} returns {_q('text')}", 'the tool "NAME" returns "TEXT"')
def _tool_returns(case: ScenarioCase, name: str, text: str) -> None:
    case.spec.tool_results[_known(case, _arg(case, name))] = _arg(case, text)


@phrase("given", f"the tool {_q('name')} returns:", 'the tool "NAME" returns:')
def _tool_returns_doc(case: ScenarioCase, name: str, docstring: str) -> None:
    case.spec.tool_results[_known(case, _arg(case, name))] = _fill(case, docstring)


# ---- Then: tool calls ---------------------------------------------------------------------


@phrase("then", f"the model calls {_q('name')}", 'the model calls "NAME"', grader="tool_call")
def _calls(case: ScenarioCase, name: str) -> dict[str, Any]:
    return {"name": _known(case, _arg(case, name)), "tools": case.spec.tools}


@phrase(
    "then",
    f"the model calls {_q('name')} with arguments:",
    'the model calls "NAME" with arguments:',
    grader="tool_call",
)
def _calls_with(case: ScenarioCase, name: str, docstring: str) -> dict[str, Any]:
    tool = _known(case, _arg(case, name))
    arguments = _json_docstring(case, docstring, "arguments")
    if not isinstance(arguments, dict):
        case.fail(f'the arguments docstring must be a JSON object such as {{"city": "Paris"}}, got {arguments!r}')
    return {"name": tool, "arguments": arguments, "tools": case.spec.tools}


@phrase("then", r"the model calls no tool", "the model calls no tool", grader="no_tool_call")
def _calls_none(case: ScenarioCase) -> tuple[Any, ...]:
    return ()


_SEQUENCE = r'(?P<names>"(?:[^"\\]|\\.)*"(?: then "(?:[^"\\]|\\.)*")+)'


@phrase("then", f"the model calls {_SEQUENCE}", 'the model calls "A" then "B"', grader="tool_sequence")
def _calls_in_order(case: ScenarioCase, names: str) -> tuple[Any, ...]:
    quoted = names.split('" then "')
    return ([_known(case, _arg(case, raw.strip('"'))) for raw in quoted],)
