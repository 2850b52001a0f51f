"""Filling ``<name>`` (step text) and ``{{ name }}`` (prompt files) from a case's row.

A name with no value is an error that says where it stood, because a literal
``<email>`` sent to a model produces a plausible, wrong eval rather than a failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

ANGLE = re.compile(r"(?<!\\)<([A-Za-z_][\w.-]*)>")
"""``<name>``; written ``\\<name>`` it stays literal text (for prompts that mention tags)."""
_ANGLE_OR_ESCAPE = re.compile(r"\\<|(?<!\\)<([A-Za-z_][\w.-]*)>")
BRACES = re.compile(r"\{\{\s*(?:item\.)?([A-Za-z_][\w-]*)\s*\}\}")


class PlaceholderError(Exception):
    """A placeholder whose name is in neither the Examples row nor the dataset row."""


def as_text(value: Any) -> str:
    """How a row value reads inside text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def fill_angle(text: str, row: Mapping[str, Any], where: str) -> str:
    """Replace every ``<name>`` with the row's value; ``where`` names the step for errors."""
    # One pass: an escape is undone only where the author wrote it, never inside an inserted value.
    _check_names(ANGLE, "<{}>", text, row, where)
    return _ANGLE_OR_ESCAPE.sub(lambda m: "<" if m.group(1) is None else as_text(row[m.group(1)]), text)


def fill_braces(text: str, row: Mapping[str, Any], where: str) -> str:
    """Replace every ``{{ name }}`` (or ``{{ item.name }}``) with the row's value."""
    return _fill(BRACES, "{{{{ {} }}}}", text, row, where)


def _fill(pattern: re.Pattern[str], shape: str, text: str, row: Mapping[str, Any], where: str) -> str:
    _check_names(pattern, shape, text, row, where)
    return pattern.sub(lambda m: as_text(row[m.group(1)]), text)


def _check_names(pattern: re.Pattern[str], shape: str, text: str, row: Mapping[str, Any], where: str) -> None:
    missing = sorted({m.group(1) for m in pattern.finditer(text) if m.group(1) not in row})
    if missing:
        names = ", ".join(shape.format(name) for name in missing)
        known = ", ".join(sorted(row)) or "none"
        raise PlaceholderError(f"{where}: no value for {names} (the row has: {known})")
