"""Our graders as OpenAI grader objects: each export, read back through the OpenAI eval import,
scores the same samples exactly as the grader it came from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval import graders
from pytest_llmeval._core.request import ToolCall
from pytest_llmeval._openai_evals.criteria import criteria_graders
from pytest_llmeval._openai_evals.definition import parse_definition
from pytest_llmeval.graders._base import Grader, make_sample
from pytest_llmeval.graders._context import GradingContext, grading
from pytest_llmeval.graders._export import NotExportable, combined, exportable_types, openai_grader

ANSWERS = [
    "You have 30 days to ask for a refund.",
    "  30 DAYS  \n",
    "30 days",
    "No refunds, sorry.",
    '{"sku": "A-1", "quantity": 3, "gift": true}',
    '```json\n{"sku": "B-22", "quantity": 1.0, "gift": false}\n```',
    '{"sku": "A-1", "quantity": "three"}',
    '{"sku": 7, "quantity": 3, "gift": 1}',
    "[1, 2, 3]",
    "```\nnot json\n```",
    "refund",
    "",
    "Straße",
    "A-1 30 days",
    "see {{item.x}} in 30 days",
]

ORDER_SCHEMA = {
    "type": "object",
    "required": ["sku", "quantity"],
    "properties": {"sku": {"type": "string", "pattern": "^[A-Z]-[0-9]+$"}, "quantity": {"type": "integer"}},
}

SKU = re.compile(r"^[A-Z]-\d+$")
LIMIT = 40


def short_with_sku(sample: dict[str, Any], item: dict[str, Any]) -> float:
    """A user's python grader: its module's constant, pattern and helper go into the exported source."""
    text = sample["output_text"]
    return 0.5 * _has_sku(text) + 0.5 * (len(text) <= LIMIT)


def _has_sku(text: str) -> bool:
    return any(SKU.match(word.strip('",{}:')) for word in text.split())


GRADERS: dict[str, Grader] = {
    "eq": graders.string_check("30 days", "eq"),
    "ne": graders.string_check("30 days", "ne"),
    "like": graders.string_check("30 days", "like"),
    "ilike": graders.string_check("STRASSE", "ilike"),
    "ilike-days": graders.string_check("30 days", "ilike"),
    "negated": graders.string_check("refund", "like", negate=True),
    "stripped": graders.string_check("30 DAYS", "eq", strip=True),
    "template-in-reference": graders.string_check("{{item.x}}", "like"),
    "regex": graders.regex(r"\b30\s+days\b", flags=re.IGNORECASE),
    "one_of": graders.one_of(["30 days", "refund"]),
    "valid_json": graders.valid_json(),
    "json_schema": graders.json_schema(ORDER_SCHEMA),
    "json_pointer": graders.json_pointer("/quantity", 3),
    "json_pointer_bool": graders.json_pointer("/gift", True),
    "fuzzy": graders.text_similarity("You have 30 days to ask for a refund", "fuzzy_match", pass_threshold=0.7),
    "python_function": graders.python_grader(short_with_sku, pass_threshold=1.0),
    "python_source": graders.python_grader(
        "def grade(sample, item):\n    return min(1.0, len(sample['output_text']) / 20)\n", pass_threshold=0.5
    ),
    "multi": graders.multi(
        {"a": graders.string_check("30", "like"), "b": graders.regex("days")}, "0.5 * a + 0.5 * b", pass_threshold=0.9
    ),
}


def _round_trip(exported: dict[str, Any], tmp_path: Path) -> Grader:
    """The exported object as an OpenAI eval's testing criterion, built by our import."""
    text = json.dumps({"name": "rft", "testing_criteria": [exported]})
    (grader,) = criteria_graders(parse_definition(tmp_path / "rft.eval.json", text))
    return grader


@pytest.mark.parametrize("name", list(GRADERS))
def test_the_export_scores_every_sample_as_the_grader_does(name: str, tmp_path: Path) -> None:
    ours = GRADERS[name]
    back = _round_trip(openai_grader(ours), tmp_path)
    for answer in ANSWERS:
        sample = make_sample(answer)
        expected, got = ours(sample, {}), back(sample, {})
        assert (got.score, got.passed, got.error) == (expected.score, expected.passed, expected.error), answer


def test_the_samples_tell_the_graders_apart() -> None:
    # A check that passes or fails every answer alike would prove nothing about its export.
    for name, grader in GRADERS.items():
        outcomes = {grader(make_sample(answer), {}).passed for answer in ANSWERS}
        assert outcomes == {True, False}, name


def test_openai_types_stay_themselves_and_local_ones_become_python() -> None:
    assert openai_grader(GRADERS["like"]) == {
        "type": "string_check",
        "name": "string_check",
        "input": "{{sample.output_text}}",
        "reference": "30 days",
        "operation": "like",
    }
    assert openai_grader(GRADERS["fuzzy"])["type"] == "text_similarity"
    assert openai_grader(GRADERS["multi"])["type"] == "multi"
    for local in ("negated", "stripped", "regex", "one_of", "valid_json", "json_schema", "json_pointer"):
        exported = openai_grader(GRADERS[local])
        assert exported["type"] == "python" and "def grade(sample, item)" in exported["source"], local


def test_a_function_grader_is_exported_with_what_it_uses_of_its_module() -> None:
    source = openai_grader(GRADERS["python_function"])["source"]
    assert "LIMIT = 40" in source and "SKU = re.compile(" in source and "def _has_sku" in source
    namespace: dict[str, Any] = {}
    exec(compile(source, "<exported>", "exec"), namespace)  # runs alone: nothing of this module is needed
    assert namespace["grade"]({"output_text": "A-12 ok"}, {}) == 1.0


def test_the_combined_grader_passes_a_sample_when_every_check_does(tmp_path: Path) -> None:
    checks = {k: GRADERS[k] for k in ("like", "python_function", "fuzzy", "regex")}
    whole = _round_trip(combined({k: openai_grader(g) for k, g in checks.items()}, "case"), tmp_path)
    verdicts = set()
    for answer in [*ANSWERS, "A-1 30 days", "You have 30 days to ask for a refund A-1"]:
        sample = make_sample(answer)
        every = all(g(sample, {}).passed for g in checks.values())
        verdicts.add(every)
        assert whole(sample, {}).passed is every, answer
    assert verdicts == {True, False}


def test_a_judge_is_exported_with_its_model_and_the_answer_quoted(tmp_path: Path) -> None:
    judge = graders.score_model("Polite and short.", model=None, range=(1, 5), pass_threshold=4)
    exported = openai_grader(judge, judge_model="gpt-4.1")
    assert exported["type"] == "score_model" and exported["model"] == "gpt-4.1"
    assert exported["range"] == [1, 5] and exported["pass_threshold"] == 4
    assert any("{{sample.output_text}}" in m["content"] for m in exported["input"])
    _round_trip(exported, tmp_path)  # OpenAI's format, as our import reads it
    with pytest.raises(NotExportable, match="no judge model"):
        openai_grader(graders.label_model("Tone?", labels=["calm", "curt"], passing_labels=["calm"]))


def test_what_cannot_be_exported_says_why(tmp_path: Path) -> None:
    schema = tmp_path / "order.json"
    schema.write_text(json.dumps({"$ref": "other.json"}))
    (tmp_path / "other.json").write_text(json.dumps({"type": "object"}))
    with pytest.raises(NotExportable, match="refers to other files"):
        openai_grader(graders.json_schema(schema))
    with pytest.raises(NotExportable, match="pydantic_model"):
        openai_grader(graders.pydantic_model("pydantic:BaseModel"))
    offset = 3
    with pytest.raises(NotExportable, match="inside a function"):
        openai_grader(graders.python_grader(lambda sample, item: offset))
    with pytest.raises(NotExportable, match="without a spec"):
        openai_grader(object())
    assert "pydantic_model" not in exportable_types() and "regex" in exportable_types()


# ---- tool graders: python graders on sample["output_tools"] ---------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "book"}},
]

CALLS: list[list[tuple[str, str]]] = [
    [],
    [("get_weather", '{"city": "Paris"}')],
    [("get_weather", '{"city": "Paris", "days": 3}')],
    [("get_weather", '{"city": "Paris", "days": "3"}')],  # does not fit the schema
    [("get_weather", '{"city": "Paris", "days": true}')],
    [("get_weather", '{"city": "Paris", "days": 3.0}')],
    [("get_weather", '{"town": "Paris"}')],
    [("get_weather", "{not json")],
    [("get_weather", '["Paris"]')],
    [("book", "{}"), ("get_weather", '{"city": "Lyon"}')],
    [("get_weather", '{"city": "Lyon"}'), ("book", '{"at": 1}')],
    [("book", "{}")],
    [("get_weather", "{bad"), ("get_weather", '{"city": "Paris", "days": 3}')],
]

TOOL_GRADERS: dict[str, tuple[Grader, list[dict[str, Any]] | None]] = {
    "called": (graders.tool_call("get_weather"), TOOLS),
    "called, no tools known": (graders.tool_call("get_weather"), None),
    "with arguments": (graders.tool_call("get_weather", arguments={"city": "Paris", "days": 3}), TOOLS),
    "tools given to the grader": (graders.tool_call("get_weather", arguments={"city": "Lyon"}, tools=TOOLS), None),
    "no parameters schema": (graders.tool_call("book"), TOOLS),
    "not offered": (graders.tool_call("cancel"), TOOLS),
    "no_tool_call": (graders.no_tool_call(), None),
    "sequence": (graders.tool_sequence(["get_weather", "book"]), None),
}


def tool_sample(calls: list[tuple[str, str]]) -> Any:
    return make_sample("", [ToolCall(id=f"c{i}", name=n, raw_arguments=a) for i, (n, a) in enumerate(calls)])


@pytest.mark.parametrize("name", list(TOOL_GRADERS))
def test_the_export_of_a_tool_grader_scores_every_sample_as_the_grader_does(name: str, tmp_path: Path) -> None:
    ours, tools = TOOL_GRADERS[name]
    exported = openai_grader(ours, tools=tools)
    assert exported["type"] == "python"
    back = _round_trip(exported, tmp_path)
    outcomes = set()
    for calls in CALLS:
        sample = tool_sample(calls)
        with grading(GradingContext(engine=None, judge_model=None, tools=tools)):  # type: ignore[arg-type]
            expected = ours(sample, {})
        got = back(sample, {})  # no context: the export carries what it needs
        assert (got.score, got.passed, got.error) == (expected.score, expected.passed, expected.error), calls
        outcomes.add(expected.passed)
    assert outcomes == ({False} if name == "not offered" else {True, False})
