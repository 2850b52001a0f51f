"""OpenAI-style templates: ``{{item.x}}``, ``{{sample.output_text}}``, ``{{sample.output_json.x}}``.

The same syntax as OpenAI's graders and eval definitions, so a rubric or reference copied
from an exported eval means what it meant there::

    render("Expected {{item.answer}}, got {{sample.output_text}}", sample, {"answer": "42"})
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ._base import GraderConfigError, Item, Sample

TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w]*(?:\.[\w-]+)*)\s*\}\}")


class TemplateError(GraderConfigError):
    """A template names something the sample or item does not have."""


def render(template: str, sample: Sample | None, item: Item) -> str:
    """Fill every ``{{path}}``; strings as they are, anything else as JSON."""

    def value(match: re.Match[str]) -> str:
        found = lookup(match.group(1), sample, item)
        return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)

    return TEMPLATE.sub(value, template)


def lookup(path: str, sample: Sample | None, item: Item) -> Any:
    head, *rest = path.split(".")
    roots: dict[str, Any] = {"item": item}
    if sample is not None:
        roots["sample"] = sample
    if head not in roots:
        if head in item and head not in ("item", "sample"):
            current: Any = item[head]  # a bare {{name}} reads the item, as in our prompt files
        else:
            raise TemplateError(f"template {{{{{path}}}}}: use item.NAME or sample.output_text / sample.output_json")
    else:
        current = roots[head]
    for part in rest:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise TemplateError(f"template {{{{{path}}}}}: no {part!r} in {_describe(current)}")
    return current


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object with " + (", ".join(sorted(map(str, value))) or "no fields")
    return type(value).__name__
