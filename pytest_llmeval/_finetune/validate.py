"""Checking a fine-tuning JSONL file as OpenAI would, before it is uploaded and a job fails (or trains wrong).

::

    python -m pytest_llmeval finetune validate train.jsonl --format sft --max-tokens 65536

Every problem is one ``FILE:LINE: problem`` (the line is the example's, 1-based): lines
that are not JSON or not UTF-8, unknown keys and roles, no assistant turn to train on,
empty content, a ``weight`` other than 0 or 1, malformed tool calls, images that are
neither data URLs nor http(s) URLs, DPO sides missing, duplicate examples, and examples
over ``--max-tokens``. A clean file gets a summary instead: examples, token counts
(:mod:`.tokens`) and the estimated training cost per epoch.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .report import FinetuneError
from .tokens import Tokenizer, chat_tokens

Format = Literal["sft", "dpo"]
ROLES = ("system", "developer", "user", "assistant", "tool")
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id"}
SFT_KEYS = {"messages", "tools", "parallel_tool_calls"}
DPO_KEYS = {"input", "preferred_output", "non_preferred_output"}
DPO_INPUT_KEYS = {"messages", "tools", "parallel_tool_calls"}
MIN_EXAMPLES = 10
"""OpenAI refuses a fine-tuning job with fewer examples."""
_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg|webp|gif);base64,(.*)", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclass
class Checked:
    """The outcome of one file: its problems, or what a clean file holds."""

    format: Format
    problems: list[Problem] = field(default_factory=list)
    examples: int = 0
    tokens: list[int] = field(default_factory=list)
    """Tokens per example (both sides of a DPO pair: each is trained on with the input)."""
    images: int = 0


def validate(path: Path, fmt: Format | None, max_tokens: int, tokenizer: Tokenizer) -> Checked:
    """Every problem of the file at ``path``, or its counts; an unreadable file is a :class:`FinetuneError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FinetuneError(f"{path}: no such file") from None
    except OSError as exc:
        raise FinetuneError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()  # a final newline (or a few) is not an empty example
    checked = Checked(format=fmt or "sft")
    parsed: list[tuple[int, Any]] = []
    for number, raw in enumerate(lines, start=1):
        problem, value = _parse_line(raw)
        if problem is not None:
            checked.problems.append(Problem(number, problem))
        else:
            parsed.append((number, value))
    if fmt is None:
        checked.format = _detect(value for _, value in parsed)
    first_seen: dict[str, int] = {}
    for number, value in parsed:
        problems = _check(value, checked.format)
        checked.problems += [Problem(number, p) for p in problems]
        canonical = json.dumps(value, sort_keys=True, ensure_ascii=False)
        if canonical in first_seen:
            checked.problems.append(Problem(number, f"duplicate of line {first_seen[canonical]}"))
        else:
            first_seen[canonical] = number
        if problems:
            continue
        tokens, images = _tokens(value, checked.format, tokenizer)
        checked.examples += 1
        checked.tokens.append(tokens)
        checked.images += images
        if tokens > max_tokens:
            exact = "" if tokenizer.exact else " (estimated)"
            checked.problems.append(
                Problem(
                    number, f"{tokens:,} tokens{exact}, over --max-tokens {max_tokens:,}: OpenAI drops or refuses it"
                )
            )
    if not lines:
        checked.problems.append(Problem(1, "the file holds no examples"))
    checked.problems.sort(key=lambda p: p.line)
    return checked


def _parse_line(raw: bytes) -> tuple[str | None, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1} of the line)", None
    if not text.strip():
        return "empty line: every line of a JSONL file is one example", None
    try:
        return None, json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} (column {exc.colno})", None
    except RecursionError:
        return "not valid JSON: nested too deeply", None


def _detect(values: Any) -> Format:
    """The format of the first example that says: ``messages`` is SFT, ``input``/``preferred_output`` DPO."""
    for value in values:
        if isinstance(value, dict):
            if "messages" in value:
                return "sft"
            if "input" in value or "preferred_output" in value or "non_preferred_output" in value:
                return "dpo"
    return "sft"


def _check(value: Any, fmt: Format) -> list[str]:
    if not isinstance(value, dict):
        return [f"expected a JSON object (one example), got {_kind(value)}"]
    return _check_sft(value) if fmt == "sft" else _check_dpo(value)


def _unknown_keys(value: Mapping[str, Any], allowed: set[str], what: str) -> list[str]:
    unknown = sorted(set(value) - allowed)
    if not unknown:
        return []
    return [f"unknown key(s) {', '.join(map(repr, unknown))} in {what} (allowed: {', '.join(sorted(allowed))})"]


def _check_sft(value: dict[str, Any]) -> list[str]:
    if "messages" not in value and ("input" in value or "preferred_output" in value):
        return ["this is a DPO example; validate the file with --format dpo"]  # its keys are not the problem
    problems = _unknown_keys(value, SFT_KEYS, "an SFT example")
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, 'missing \'messages\': an SFT example is {"messages": [..., {"role": "assistant", ...}]}']
    problems += _check_messages(messages, "messages", weights=True)
    problems += _check_tools(value.get("tools"))
    problems += _check_called(messages, value.get("tools"), "messages")
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not assistants:
        problems.append("no assistant message: there is nothing to train on")
    elif all(m.get("weight") == 0 for m in assistants):
        problems.append("every assistant message has weight 0: there is nothing to train on")
    return problems


def _check_dpo(value: dict[str, Any]) -> list[str]:
    if "messages" in value and not set(value) & DPO_KEYS:
        return ["this is an SFT example; validate the file with --format sft"]
    problems = _unknown_keys(value, DPO_KEYS, "a DPO example")
    source = value.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("messages"), list) or not source["messages"]:
        problems.append("missing 'input': a DPO example's input is {\"messages\": [...]}")
    else:
        problems += _unknown_keys(source, DPO_INPUT_KEYS, "'input'")
        problems += _check_messages(source["messages"], "input.messages", weights=False)
        problems += _check_tools(source.get("tools"))
        last = source["messages"][-1]
        if isinstance(last, dict) and last.get("role") == "assistant":
            problems.append("input.messages ends with an assistant message: the outputs must answer the last turn")
    sides = []
    for side in ("preferred_output", "non_preferred_output"):
        output = value.get(side)
        if output is None or output == []:
            problems.append(f"DPO side missing: {side!r} (a list with one assistant message)")
            continue
        if not isinstance(output, list) or len(output) != 1:
            problems.append(f"{side!r} must be a list of exactly one assistant message, got {_kind(output)}")
            continue
        message = output[0]
        if isinstance(message, dict) and message.get("role") != "assistant":
            problems.append(f"{side}[0]: role {message.get('role')!r}; an output is the assistant's")
        problems += _check_messages(output, side, weights=False)
        sides.append(json.dumps(message, sort_keys=True))
    if len(sides) == 2 and sides[0] == sides[1]:
        problems.append("preferred_output and non_preferred_output are the same: nothing to learn from the pair")
    return problems


def _check_messages(messages: Sequence[Any], where: str, weights: bool) -> list[str]:
    problems: list[str] = []
    calls: set[str] = set()
    allowed = MESSAGE_KEYS if weights else MESSAGE_KEYS - {"weight"}
    for index, message in enumerate(messages):
        here = f"{where}[{index}]"
        if not isinstance(message, dict):
            problems.append(f"{here}: expected a message object, got {_kind(message)}")
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append(f"{here}: unknown role {role!r} (use {', '.join(ROLES)})")
            continue
        here = f"{here} ({role})"
        unknown = sorted(set(message) - allowed)
        if unknown:
            hint = " (weight is for SFT examples)" if "weight" in unknown and not weights else ""
            problems.append(f"{here}: unknown key(s) {', '.join(map(repr, unknown))}{hint}")
        if "weight" in message and weights:
            weight = message["weight"]
            if role != "assistant":
                problems.append(f"{here}: weight is only for assistant messages")
            elif isinstance(weight, bool) or weight not in (0, 1):
                problems.append(f"{here}: weight must be 0 or 1, got {weight!r}")
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            if role != "assistant":
                problems.append(f"{here}: tool_calls are only for assistant messages")
            else:
                found, bad = _check_tool_calls(tool_calls, here)
                calls |= found
                problems += bad
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                problems.append(f"{here}: a tool message needs the tool_call_id of the call it answers")
            elif call_id not in calls:
                problems.append(f"{here}: tool_call_id {call_id!r} answers no earlier tool call")
        problems += _check_content(message.get("content"), here, role, has_calls=bool(tool_calls))
    return problems


def _check_content(content: Any, here: str, role: str, has_calls: bool) -> list[str]:
    if content is None or content == "" or content == []:
        if role == "assistant" and has_calls:
            return []
        return [f"{here}: empty content"]
    if isinstance(content, str):
        return [f"{here}: empty content (only whitespace)"] if not content.strip() else []
    if not isinstance(content, list):
        return [f"{here}: content must be a string or a list of parts, got {_kind(content)}"]
    problems = []
    for index, part in enumerate(content):
        where = f"{here}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str) or not part["text"].strip():
                problems.append(f"{where}: empty text part")
        elif kind == "image_url":
            if role != "user":
                problems.append(f"{where}: images are only allowed in user messages")
            problems += _check_image(part.get("image_url"), where)
        else:
            problems.append(f"{where}: unknown content part {kind!r} (use text or image_url)")
    return problems


def _check_image(image: Any, where: str) -> list[str]:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        return [f'{where}: an image part is {{"type": "image_url", "image_url": {{"url": ...}}}}']
    problems = []
    if isinstance(image, dict) and image.get("detail", "auto") not in ("auto", "low", "high"):
        problems.append(f"{where}: detail must be auto, low or high, got {image.get('detail')!r}")
    if url.startswith(("https://", "http://")):
        return problems
    match = _DATA_URL.fullmatch(url)
    if match is None:
        shown = url[:40] + ("..." if len(url) > 40 else "")
        return [
            *problems,
            f"{where}: image URL {shown!r} is neither a data URL (data:image/png;base64,...) nor an http(s) URL",
        ]
    try:
        base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"{where}: the image's data URL is not valid base64")
    return problems


def _check_tool_calls(tool_calls: Any, here: str) -> tuple[set[str], list[str]]:
    if not isinstance(tool_calls, list) or not tool_calls:
        return set(), [f"{here}: tool_calls must be a non-empty list"]
    ids: set[str] = set()
    problems = []
    for index, call in enumerate(tool_calls):
        where = f"{here}.tool_calls[{index}]"
        if not isinstance(call, dict):
            problems.append(f"{where}: expected an object, got {_kind(call)}")
            continue
        if not isinstance(call.get("id"), str) or not call["id"]:
            problems.append(f"{where}: missing 'id'")
        else:
            ids.add(call["id"])
        if call.get("type") != "function":
            problems.append(f"{where}: type must be 'function', got {call.get('type')!r}")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            problems.append(f"{where}: missing function.name")
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            problems.append(f"{where}: function.arguments must be a JSON string, got {_kind(arguments)}")
            continue
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: function.arguments is not valid JSON ({exc.msg})")
            continue
        if not isinstance(parsed, dict):
            problems.append(f"{where}: function.arguments must be a JSON object, got {_kind(parsed)}")
    return ids, problems


def _check_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        return [f"tools must be a list, got {_kind(tools)}"]
    problems = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            problems.append(f'tools[{index}]: expected {{"type": "function", "function": {{"name": ...}}}}')
        elif not isinstance(function.get("name"), str) or not function["name"]:
            problems.append(f"tools[{index}]: missing function.name")
    return problems


def _check_called(messages: Sequence[Any], tools: Any, where: str) -> list[str]:
    """A call of a function the example does not offer: the model would learn to call what is not there."""
    if not isinstance(tools, list):
        return []
    offered = {t["function"].get("name") for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)}
    problems = []
    for index, message in enumerate(messages):
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for number, call in enumerate(calls if isinstance(calls, list) else []):
            function = call.get("function") if isinstance(call, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str) and name and name not in offered:
                problems.append(f"{where}[{index}].tool_calls[{number}]: calls {name!r}, which is not in tools")
    return problems


def _tokens(value: dict[str, Any], fmt: Format, tokenizer: Tokenizer) -> tuple[int, int]:
    if fmt == "sft":
        return chat_tokens(value["messages"], tokenizer)
    messages = value["input"]["messages"]
    preferred, p_images = chat_tokens([*messages, *value["preferred_output"]], tokenizer)
    rejected, _ = chat_tokens([*messages, *value["non_preferred_output"]], tokenizer)
    return preferred + rejected, p_images


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return type(value).__name__
