from __future__ import annotations

from pytest_llmeval._bdd.phrases import STEPS, match_phrase, phrases
from pytest_llmeval._bdd.steps import _strict_compatible


def test_every_documented_phrase_has_a_handler() -> None:
    samples = {
        'the model "M"': 'the model "gpt-4.1-mini"',
        "the temperature is T": "the temperature is 0.2",
        'the JSON at "/pointer" equals VALUE': 'the JSON at "/a" equals 1',
        "the pass rate is at least P%": "the pass rate is at least 80%",
        'the answer is similar to "x" by METRIC at least T': 'the answer is similar to "x" by bleu at least 0.5',
        "the judge scores the answer at least N out of M for:": "the judge scores the answer at least 4 out of 5 for:",
    }
    for definition in STEPS:
        assert definition.shown, definition.pattern
        for shown in definition.shown:
            found = match_phrase(definition.kind, samples.get(shown, shown))
            assert found is not None and found[0] is definition, (definition.kind, shown)
    assert len(phrases()) == sum(len(d.shown) for d in STEPS)


def test_escaped_quotes_in_arguments() -> None:
    found = match_phrase("then", r'the answer equals "say \"hi\""')
    assert found is not None and found[1]["text"] == r"say \"hi\""


def test_strict_structured_output_only_for_closed_schemas() -> None:
    closed = {
        "type": "object",
        "additionalProperties": False,
        "required": ["a", "b"],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {}}},
        },
    }
    assert _strict_compatible(closed)
    assert not _strict_compatible({**closed, "required": ["a"]})
    assert not _strict_compatible({"type": "object", "properties": {"a": {}}, "required": ["a"]})
    nested_open = {**closed, "properties": {**closed["properties"], "b": {"type": "object"}}}
    assert not _strict_compatible(nested_open)
