"""The declarative Python form: ``@pytest.mark.llmeval(prompt=..., system=...)`` and the ``answer`` fixture.

::

    @pytest.mark.llmeval(model="gpt-4.1-mini", system="Extract the order as JSON.", prompt="{email}",
                         response_format={"type": "json_object"})
    @pytest.mark.llmeval_dataset("golden/orders.jsonl")
    def test_extracts_order(answer, case):
        answer.check(graders.json_pointer("/quantity", case["quantity"]))

A case written in the marker is known before its test runs, so it is planned like a
scenario: its requests are generated before the first test, concurrently with every
other planned request, and the fixture finds them answered. :func:`declared_case`
builds it, for the planner and for the fixture alike, so the planned request is
byte-for-byte the one the test asks for (``llm.ask`` in a test body is sent when called).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Formatter
from typing import Any

import pytest

from .._case.outcome import fail
from .._case.spec import CaseSpec
from .._case.tools import ToolsError, tool_fields
from .._config.options import Settings
from .._engine.client import MissingAPIKeyError
from .llm import LLM, Answer
from .marker import ANSWER_FIXTURE, base_spec, marked_case

MARK = "@pytest.mark.llmeval"
_FIELD_ROOT = re.compile(r"[.\[]")


class DeclarationError(Exception):
    """The marker's prompt, system or messages cannot make the case; the message names the test."""


def declared_case(item: pytest.Item, settings: Settings) -> CaseSpec | None:
    """The case the test's ``llmeval`` marker declares, or None when it declares no prompt or messages.

    The one builder of a declared case: the planner and the ``answer`` fixture both call
    it, so what is generated before the tests is exactly what the test reads. A case with
    a ``target=`` is built the same way and differs only in ``spec.target``.

    Raises :class:`DeclarationError` (a missing field, a callable that raised, ``messages=``
    with ``prompt=``), and fails the test as the ``llm`` fixture does for a bad marker value.
    """
    case = marked_case(item, settings)
    marker = item.get_closest_marker("llmeval")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    prompt, system, messages = options.get("prompt"), options.get("system"), options.get("messages")
    where = f"{item.nodeid}: {MARK}"
    if messages is not None and (prompt is not None or system is not None):
        given = " and ".join(f"{k}=" for k in ("prompt", "system") if options.get(k) is not None)
        raise DeclarationError(f"{where}: messages= is the whole message list, so {given} cannot be given with it")
    if prompt is None and messages is None:
        if system is not None:
            raise DeclarationError(f"{where}: system= needs prompt= (the user message), or give messages=")
        return None
    if messages is not None:
        system, history, user = split_messages(call(messages, case.row, f"{where} messages"), f"{where} messages")
    else:
        history = []
        user = render(prompt, case.row, f"{where} prompt")
        system = render(system, case.row, f"{where} system") if system is not None else None
    return base_spec(
        item,
        case,
        settings,
        adaptive_max=case.adaptive_max,
        system=system,
        history=history,
        user=user,
        params=dict(case.parameters),
        response_format=_response_format(options.get("response_format"), where),
        target=case.target,
        **_tools(options, Path(str(item.path)).parent, where),
    )


def _tools(options: Mapping[str, Any], base_dir: Path, where: str) -> dict[str, Any]:
    """``tools=`` (an array, or a JSON file next to the test), ``tool_choice=``, ``tool_results=``."""
    try:
        return tool_fields(options.get("tools"), options.get("tool_choice"), options.get("tool_results"), base_dir)
    except ToolsError as exc:
        raise DeclarationError(f"{where}: {exc}") from None


def planned_case(item: pytest.Item, settings: Settings) -> CaseSpec | None:
    """The declared case of a test that takes ``answer``, before it runs; None when it cannot be known.

    Nothing is planned for a marker that is wrong (the test reports it) or a case with
    no model (the test fails with ``no model``). A target's case is planned like any
    other: the run's planner turns it into target calls when the target is registered.
    """
    if ANSWER_FIXTURE not in getattr(item, "fixturenames", ()):
        return None
    try:
        spec = declared_case(item, settings)
    except (DeclarationError, pytest.fail.Exception):
        return None
    if spec is None or (spec.model is None and spec.target is None):
        return None
    return spec


def make_answer(llm: LLM) -> Answer:
    """The ``answer`` fixture: the declared case, drawn (planned answers are already in the engine)."""
    __tracebackhide__ = True
    problem = None
    try:
        spec = declared_case(llm.item, llm.runtime.settings)
    except DeclarationError as exc:
        problem = str(exc)
    if problem is not None:
        fail(problem)
    if spec is None:
        fail(f"{llm.item.nodeid}: the '{ANSWER_FIXTURE}' fixture needs {MARK}(prompt=\"...\") or messages=...")
    try:
        return Answer(llm, spec, llm.draw(spec), where="the 'answer' fixture")
    except (pytest.fail.Exception, MissingAPIKeyError):
        # At set-up a failure would lose the case's record and a missing key would not stop
        # the run: the test body meets them again, as it would from llm.ask.
        return Answer.drawn_on_first_use(llm, spec, lambda: llm.draw(spec))


def render(value: object, row: Mapping[str, Any], where: str) -> str:
    """A prompt or system message: a string with ``{field}`` placeholders, or a callable ``(case) -> str``."""
    if callable(value):
        text = call(value, row, where)
        if not isinstance(text, str):
            raise DeclarationError(f"{where}: the callable returned {type(text).__name__}; expected str")
        return text
    if not isinstance(value, str):
        raise DeclarationError(
            f"{where}: expected a string with {{field}} placeholders or a callable (case) -> str, "
            f"got {type(value).__name__}"
        )
    return fill(value, row, where)


def fill(template: str, row: Mapping[str, Any], where: str) -> str:
    """``template.format_map(row)``; a field the row lacks is named, with the fields it has."""
    try:
        names = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
        missing = next((root for n in names if (root := _FIELD_ROOT.split(n, 1)[0]) not in row), None)
        if missing is None:
            return template.format_map(row)
    except KeyError as exc:  # a field named inside a format spec: {x:{width}}
        missing = str(exc.args[0])
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        shown = f"{where}: cannot fill the placeholders: {exc} (write {{{{ and }}}} for a literal brace)"
        raise DeclarationError(shown) from None
    raise _no_field(missing, row, where)


def _no_field(name: str, row: Mapping[str, Any], where: str) -> DeclarationError:
    if name == "" or name.isdigit():
        return DeclarationError(
            f"{where}: a placeholder must name a field of the row, like {{question}}, not {{{name}}}"
        )
    has = f"the row has: {', '.join(row)}" if row else "the test has no dataset row"
    return DeclarationError(f"{where}: no field {name!r} in the row ({has})")


def call(function: object, row: Mapping[str, Any], where: str) -> object:
    """``function(case)`` with the row as a dict, as the ``case`` fixture gives it; its exception in one line."""
    if not callable(function):
        raise DeclarationError(f"{where}: expected a callable (case) -> ..., got {type(function).__name__}")
    try:
        result: object = function(dict(row))
    except Exception as exc:
        raise DeclarationError(f"{where}: the callable raised {type(exc).__name__}: {exc}") from None
    return result


def split_messages(found: object, where: str) -> tuple[str | None, list[dict[str, Any]], str]:
    """(system, earlier turns, user message) of a whole message list, which the case sends back as given.

    The last message must be the user's, as plain text: the case holds it as its user
    message. A leading plain system message becomes the case's system prompt; every other
    message is kept whole.
    """
    if not isinstance(found, Sequence) or isinstance(found, str | bytes) or not found:
        raise DeclarationError(f"{where}: expected a non-empty list of {{role, content}} messages, got {found!r:.100}")
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(found):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str) or "content" not in message:
            raise DeclarationError(f"{where}: message {index} is not a {{role, content}} dict: {message!r:.100}")
        messages.append(dict(message))
    last = messages[-1]
    if not _plain(last, "user"):
        raise DeclarationError(
            f"{where}: the last message must be the user's, {{'role': 'user', 'content': '...'}}; got {last!r:.100}"
        )
    system = None
    if len(messages) > 1 and _plain(messages[0], "system"):
        system = str(messages.pop(0)["content"])
    return system, messages[:-1], str(last["content"])


def _plain(message: Mapping[str, Any], role: str) -> bool:
    return set(message) == {"role", "content"} and message["role"] == role and isinstance(message["content"], str)


def _response_format(value: object, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DeclarationError(
            f"{where}: response_format= expects a dict such as {{'type': 'json_object'}}, got {value!r:.100}"
        )
    return dict(value)
