"""The built-in grader types by name: steps, the OpenAI import and fingerprints all go through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from pytest_llmeval.graders import _registry, string_check
from pytest_llmeval.graders._base import Grader, GraderConfigError, make_sample


class Order(pydantic.BaseModel):
    sku: str


ARGUMENTS: dict[str, Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "string_check": lambda: (("30 days", "ilike"), {}),
    "text_similarity": lambda: (("Paris", "fuzzy_match", 0.8), {}),
    "score_model": lambda: (("Is it helpful?",), {}),
    "label_model": lambda: (("Which tone?",), {"labels": ["kind", "rude"], "passing_labels": ["kind"]}),
    "python": lambda: (("def grade(sample, item):\n    return 1.0\n",), {}),
    "multi": lambda: (({"s": string_check("a", "eq")}, "s"), {}),
    "regex": lambda: ((r"\d+",), {}),
    "one_of": lambda: ((["yes", "no"],), {}),
    "valid_json": lambda: ((), {}),
    "json_schema": lambda: (({"type": "object"},), {}),
    "json_pointer": lambda: (("/sku", "A-1"), {}),
    "pydantic_model": lambda: ((Order,), {}),
    "tool_call": lambda: (("get_weather",), {"arguments": {"city": "Paris"}}),
    "no_tool_call": lambda: ((), {}),
    "tool_sequence": lambda: ((["search", "book"],), {}),
}
"""Minimal arguments per built-in type; a type added to the registry must be added here."""

OPENAI = ("string_check", "text_similarity", "score_model", "label_model", "python", "multi")
"""The types OpenAI has grader objects for (eval testing_criteria, fine-tuning graders)."""


def test_every_type_has_arguments_here() -> None:
    assert sorted(t.name for t in _registry.types()) == sorted(ARGUMENTS)


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_each_type_builds_a_grader_whose_spec_names_it(name: str) -> None:
    # The spec's type is how a fingerprint and a report name the grader: it must round-trip.
    args, kwargs = ARGUMENTS[name]()
    grader = _registry.build(name, *args, **kwargs)
    assert isinstance(grader, Grader)
    assert grader.spec["type"] == name  # type: ignore[attr-defined]
    assert _registry.get(name).name == name
    assert _registry.get(name).factory(*args, **kwargs).spec == grader.spec  # type: ignore[attr-defined]


def test_the_openai_types_are_exactly_openais_grader_objects() -> None:
    openai = [t.name for t in _registry.types() if t.openai]
    assert sorted(openai) == sorted(OPENAI)


def test_openai_types_come_first() -> None:
    flags = [t.openai for t in _registry.types()]
    assert flags == sorted(flags, reverse=True)


def test_a_built_grader_grades() -> None:
    grade = _registry.build("string_check", "30 days", "ilike")(make_sample("You have 30 Days."), {})
    assert grade.passed and grade.grader == "string_check"


@pytest.mark.parametrize(("typo", "closest"), [("string_chek", "string_check"), ("json_shema", "json_schema")])
def test_an_unknown_type_names_the_closest_and_lists_all(typo: str, closest: str) -> None:
    with pytest.raises(GraderConfigError) as info:
        _registry.get(typo)
    message = str(info.value)
    assert message.startswith(f"no built-in grader type {typo!r}; did you mean {closest!r}? types: ")
    assert message.split("types: ")[1].split(", ") == [t.name for t in _registry.types()]


def test_an_unknown_type_with_nothing_close_has_no_guess() -> None:
    with pytest.raises(GraderConfigError, match=r"^no built-in grader type 'zzz'; types: string_check, "):
        _registry.build("zzz")
