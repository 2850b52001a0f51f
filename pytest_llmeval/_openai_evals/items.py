"""An eval's items: JSONL of ``{"item": ...}``, ``{"item": ..., "sample": ...}`` or bare items.

Each item is one test case; an item with a pre-generated ``sample`` is graded as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._case.dataset import row_hash
from .._core.request import ToolCall
from .definition import EvalDefinition, EvalDefinitionError, item_validator, json_path, read_text


@dataclass(frozen=True)
class EvalItem:
    """One item of an eval: one test case."""

    case_id: str
    """The item's ``id`` field, else a stable hash of the item (as dataset rows)."""
    item: dict[str, Any]
    """OpenAI's ``item``: what ``{{item.x}}`` reads and graders get."""
    sample: dict[str, Any] | None
    """The pre-generated sample, when the line had one: graded as it is."""
    text: str | None
    """The sample's answer text (``output_text``), or None when there is no sample."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The pre-generated sample's ``output_tools``: what tool graders and ``{{sample.output_tools}}`` see."""
    line: int = 0
    """1-based line of the items file (or position in an embedded ``file_content``)."""
    where: str = ""
    """``items.jsonl:3``: how errors name this item."""


def load_items(path: Path | str, definition: EvalDefinition | None = None) -> list[EvalItem]:
    """Read an items file: JSONL of ``{"item": {...}}``, ``{"item": ..., "sample": ...}`` or bare items.

    With ``definition``, items are checked against its item schema, and an item that has
    no sample must be answerable (a completions data source) or the eval must not expect
    samples.
    """
    file = Path(path)
    text = read_text(file, "items file")
    entries: list[tuple[int, str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append((number, f"{file}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise EvalDefinitionError(f"{file}:{number}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not entries:
        raise EvalDefinitionError(f"{file}: the items file has no items")
    return _items(entries, definition)


def embedded_items(definition: EvalDefinition) -> list[EvalItem]:
    """The items of a data source whose ``source`` is ``file_content`` (no items file needed)."""
    source = definition.data_source.source if definition.data_source is not None else None
    content = source.get("content") if source is not None and source.get("type") == "file_content" else None
    if not isinstance(content, list) or not content:
        kind = source.get("type") if source is not None else None
        extra = f" (its data source reads {kind!r}: export that file as JSONL)" if kind else ""
        raise EvalDefinitionError(
            f'{definition.path}: no items: give the items file (items="items.jsonl" / --items){extra}'
        )
    where = f"{definition.path}: $.data_source.source.content"
    return _items([(i + 1, f"{where}[{i}]", entry) for i, entry in enumerate(content)], definition)


def _items(entries: list[tuple[int, str, Any]], definition: EvalDefinition | None) -> list[EvalItem]:
    schema = definition.data_source_config.item_json_schema() if definition is not None else None
    validator = item_validator(definition.path, schema) if definition is not None and schema is not None else None
    seen: dict[str, str] = {}
    rows = []
    for line, where, value in entries:
        item, sample = _split_line(where, value)
        if validator is not None:
            _validate_item(where, validator, item)
        case_id = str(item["id"]) if item.get("id") not in (None, "") else row_hash(item)
        if case_id in seen:
            raise EvalDefinitionError(f"{where}: duplicate item id {case_id!r} (first at {seen[case_id]})")
        seen[case_id] = where
        calls = _sample_tools(where, sample) if sample is not None else ()
        text = _sample_text(where, sample, bool(calls)) if sample is not None else None
        row = EvalItem(case_id=case_id, item=item, sample=sample, text=text, tool_calls=calls, line=line, where=where)
        if definition is not None:
            mode(definition, row)
        rows.append(row)
    return rows


def _split_line(where: str, value: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if not isinstance(value, dict):
        raise EvalDefinitionError(f"{where}: each line is a JSON object, got {type(value).__name__}")
    # A wrapper has only "item" (an object) and maybe "sample"; anything else is a bare item.
    if isinstance(value.get("item"), dict) and set(value) <= {"item", "sample"}:
        sample = value.get("sample")
        if sample is not None and not isinstance(sample, dict):
            raise EvalDefinitionError(f'{where}: "sample" must be an object such as {{"output_text": "..."}}')
        return dict(value["item"]), sample
    return dict(value), None


def _sample_tools(where: str, sample: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """A pre-generated sample's ``output_tools`` (OpenAI's shape) as calls; an error names the line."""
    tools = sample.get("output_tools")
    if tools is None:
        return ()
    shape = '[{"id": ..., "type": "function", "function": {"name": ..., "arguments": "{...}"}}]'
    if not isinstance(tools, list):
        raise EvalDefinitionError(f'{where}: the sample\'s "output_tools" must be a list such as {shape}')
    calls = []
    for index, call in enumerate(tools):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise EvalDefinitionError(f"{where}: output_tools[{index}] is not {shape[1:-1]}")
        arguments = function.get("arguments", "")
        try:
            calls.append(
                ToolCall.load(
                    {
                        "id": call.get("id") or f"call_{index}",
                        "name": function.get("name"),
                        # OpenAI writes the arguments as a JSON text; an object is taken as that JSON.
                        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                    }
                )
            )
        except TypeError:
            raise EvalDefinitionError(f"{where}: output_tools[{index}] needs a function name (a string)") from None
    return tuple(calls)


def _sample_text(where: str, sample: Mapping[str, Any], has_calls: bool = False) -> str:
    """The answer text of a pre-generated sample (``output_text``, else ``output_json`` or ``choices``).

    A sample that only called tools has no text, as a live answer of only calls: ``""``.
    """
    if isinstance(sample.get("output_text"), str):
        return str(sample["output_text"])
    if sample.get("output_json") is not None:
        return json.dumps(sample["output_json"], ensure_ascii=False)
    choices = sample.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        content = (choices[0].get("message") or {}).get("content")
        if isinstance(content, str):
            return content
    if has_calls:
        return ""
    raise EvalDefinitionError(f'{where}: the sample has no "output_text" (a string); add it')


def mode(definition: EvalDefinition, row: EvalItem) -> Literal["sample", "generate", "item"]:
    """How an item is graded: its own sample, a model's answer, or (an eval without samples) alone."""
    if row.text is not None:
        return "sample"
    if definition.generates:
        return "generate"
    if not definition.data_source_config.expects_samples:
        return "item"
    raise EvalDefinitionError(
        f"{row.where}: the item has no sample and {definition.path} has no completions data source "
        'to generate one: add a "sample": {"output_text": ...} to the line, or a "data_source" with '
        "model and input_messages to the definition"
    )


def _validate_item(where: str, validator: Any, item: dict[str, Any]) -> None:
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

    error = best_match(validator.iter_errors(item))
    if error is not None:
        at = json_path(list(error.absolute_path), "$")
        raise EvalDefinitionError(f"{where}: the item does not match the eval's item_schema at {at}: {error.message}")
