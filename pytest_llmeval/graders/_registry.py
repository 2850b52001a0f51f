"""The built-in graders by type name — OpenAI's names for the ones OpenAI has.

Steps, the OpenAI eval import and the fingerprint all name a grader by the ``type`` its
``spec`` carries; this table is the one place such a name is turned into a factory::

    registry.get("string_check").factory("30 days", "ilike")
    [t.name for t in registry.types() if t.openai]      # what an OpenAI eval may use

Custom graders (``@pytest_llmeval.grader``, entry points) are looked up by their own
name in the run's :class:`~pytest_llmeval.graders._custom.GraderRegistry` instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from ._base import Grader, GraderConfigError
from ._json import json_pointer, json_schema, valid_json
from ._judge import label_model, score_model
from ._multi import multi
from ._pydantic import pydantic_model
from ._python import python_grader
from ._similarity import text_similarity
from ._string import one_of, regex, string_check
from ._tools import no_tool_call, tool_call, tool_sequence


@dataclass(frozen=True)
class GraderType:
    """One kind of built-in grader."""

    name: str
    """The ``type`` in the grader's spec: OpenAI's name, or a local one that cannot clash with it."""
    factory: Callable[..., Grader]
    openai: bool = False
    """True when OpenAI has a grader object of this type (eval definitions, fine-tuning graders)."""


_TYPES = (
    GraderType("string_check", string_check, openai=True),
    GraderType("text_similarity", text_similarity, openai=True),
    GraderType("score_model", score_model, openai=True),
    GraderType("label_model", label_model, openai=True),
    GraderType("python", python_grader, openai=True),
    GraderType("multi", multi, openai=True),
    GraderType("regex", regex),
    GraderType("one_of", one_of),
    GraderType("valid_json", valid_json),
    GraderType("json_schema", json_schema),
    GraderType("json_pointer", json_pointer),
    GraderType("pydantic_model", pydantic_model),
    GraderType("tool_call", tool_call),
    GraderType("no_tool_call", no_tool_call),
    GraderType("tool_sequence", tool_sequence),
)
_BY_NAME = {t.name: t for t in _TYPES}


def types() -> tuple[GraderType, ...]:
    """Every built-in type, OpenAI's first."""
    return _TYPES


def get(name: str) -> GraderType:
    """The built-in type called ``name``; an unknown one is a GraderConfigError naming the closest."""
    found = _BY_NAME.get(name)
    if found is None:
        close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise GraderConfigError(f"no built-in grader type {name!r}; {hint}types: {', '.join(_BY_NAME)}")
    return found


def build(kind: str, /, *args: object, **kwargs: object) -> Grader:
    """A grader of the built-in type ``kind``."""
    return get(kind).factory(*args, **kwargs)
