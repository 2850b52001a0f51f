"""The messages a completions run sends for one item: ``input_messages`` with ``{{item.x}}`` filled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ..graders._base import GraderConfigError, Item
from ..graders._templates import lookup, render
from .definition import EvalDefinition, Message, message_text


def render_messages(definition: EvalDefinition, item: Item) -> list[dict[str, Any]]:
    """The run's ``input_messages`` for ``item``: templates filled with ``{{item.x}}``.

    Raises :class:`~pytest_llmeval.graders.GraderConfigError` (a template naming a field the
    item lacks, an ``item_reference`` that is not a list of messages).
    """
    source = definition.data_source
    if source is None or source.input_messages is None:
        raise GraderConfigError(f"{definition.path}: no data_source with input_messages")
    spec = source.input_messages
    if spec.type == "item_reference":
        reference = spec.item_reference or ""
        found = lookup(reference.strip().strip("{}").strip(), None, item)
        if not isinstance(found, list) or not all(isinstance(m, dict) and "role" in m for m in found):
            raise GraderConfigError(f"item_reference {reference!r} is not a list of {{role, content}} messages")
        try:
            messages = [Message.model_validate(m) for m in found]
        except ValidationError as exc:
            raise GraderConfigError(f"item_reference {reference!r}: {exc.errors()[0]['msg']}") from None
    else:
        messages = spec.template or []
    return [
        {"role": m.role, "content": render(message_text(m.content, definition.path, "input_messages"), None, item)}
        for m in messages
    ]


def split_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]], str]:
    """(system, earlier turns, user message): how a case holds messages, in the same order.

    A leading system message is the system prompt, the last (a user's) is the user
    message, everything between is the conversation — as the feature-file steps write it.
    """
    if not messages or messages[-1].get("role") != "user":
        raise GraderConfigError("the last input message must be the user's (role 'user')")
    first = messages[0]
    system = str(first["content"]) if first.get("role") == "system" and len(messages) > 1 else None
    middle = messages[1 if system is not None else 0 : -1]
    return system, [dict(m) for m in middle], str(messages[-1]["content"])
