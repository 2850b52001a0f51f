"""Exported OpenAI eval definitions: loading, criteria as graders, the marker, the step, the converter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_bdd.feature
from loopback import Fault, Reply
from project import Project

from pytest_llmeval._openai_evals.convert import convert
from pytest_llmeval._openai_evals.criteria import criteria_graders
from pytest_llmeval._openai_evals.definition import EvalDefinitionError, load_definition
from pytest_llmeval._openai_evals.items import embedded_items, load_items
from pytest_llmeval._openai_evals.messages import render_messages, split_messages
from pytest_llmeval.graders import JudgeGrader, make_sample
from pytest_llmeval.graders._base import Grade, Grader

ROOT = Path(__file__).resolve().parents[3]

SOURCE = """\
def grade(sample, item):
    return 1.0 if len(sample["output_text"]) < 80 else 0.0
"""

CAPITALS: dict[str, Any] = {
    "name": "Capitals",
    "data_source_config": {
        "type": "custom",
        "item_schema": {
            "type": "object",
            "properties": {"country": {"type": "string"}, "capital": {"type": "string"}},
            "required": ["country", "capital"],
        },
        "include_sample_schema": True,
    },
    "testing_criteria": [
        {
            "type": "string_check",
            "name": "names the capital",
            "input": "{{sample.output_text}}",
            "reference": "{{ item.capital }}",
            "operation": "ilike",
        },
        {
            "type": "score_model",
            "name": "helpful",
            "model": "judge-model",
            "input": [
                {"role": "system", "content": "Grade whether the answer helps."},
                {"role": "user", "content": "Question about {{item.country}}. Answer: {{sample.output_text}}"},
            ],
            "range": [1, 5],
            "pass_threshold": 4,
        },
        {"type": "python", "name": "short", "source": SOURCE, "pass_threshold": 1, "image_tag": None},
    ],
    "data_source": {
        "type": "completions",
        "model": "gpt-test",
        "input_messages": {
            "type": "template",
            "template": [
                {"role": "system", "content": "You answer geography questions."},
                {"role": "user", "content": "What is the capital of {{item.country}}?"},
            ],
        },
        "sampling_params": {"temperature": 0.2, "seed": 7, "max_completion_tokens": 50, "top_p": None},
    },
}

ITEMS = [
    {"item": {"id": "fr", "country": "France", "capital": "Paris"}},
    {"item": {"country": "Spain", "capital": "Madrid"}},
    {"item": {"id": "it", "country": "Italy", "capital": "Rome"}, "sample": {"output_text": "Rome, of course."}},
    {"item": {"id": "de", "country": "Germany", "capital": "Berlin"}, "sample": {"output_text": "Munich."}},
]


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, list):
        path.write_text("".join(json.dumps(line) + "\n" for line in data), encoding="utf-8")
    elif isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def definition_of(tmp_path: Path, data: dict[str, Any]) -> Path:
    return write(tmp_path / "eval.json", data)


def graders_of(tmp_path: Path, *criteria: dict[str, Any]) -> list[Grader]:
    return criteria_graders(load_definition(definition_of(tmp_path, {"name": "e", "testing_criteria": list(criteria)})))


def grade(grader: Grader, text: str, item: dict[str, Any]) -> Grade:
    return grader(make_sample(text), item)


# ---- loading and mapping ------------------------------------------------------------------


def test_definition_loads_with_its_run_data_source(tmp_path: Path) -> None:
    definition = load_definition(definition_of(tmp_path, CAPITALS))
    assert definition.name == "Capitals" and definition.generates and definition.model == "gpt-test"
    assert definition.sampling_params() == {"temperature": 0.2, "seed": 7, "max_completion_tokens": 50}
    assert [c.type for c in definition.criteria] == ["string_check", "score_model", "python"]
    graders = criteria_graders(definition)
    assert [g.name for g in graders] == ["names the capital", "helpful", "short"]
    messages = render_messages(definition, {"country": "France", "capital": "Paris"})
    assert messages == [
        {"role": "system", "content": "You answer geography questions."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert split_messages(messages) == ("You answer geography questions.", [], "What is the capital of France?")


def test_the_run_key_holds_the_data_source_too(tmp_path: Path) -> None:
    run = {"object": "eval.run", "data_source": CAPITALS["data_source"]}
    data = {k: v for k, v in CAPITALS.items() if k != "data_source"} | {"run": run}
    assert load_definition(definition_of(tmp_path, data)).model == "gpt-test"
    data["run"] = CAPITALS["data_source"]
    assert load_definition(definition_of(tmp_path, data)).generates


def test_string_check_compares_the_rendered_input_with_the_rendered_reference(tmp_path: Path) -> None:
    (contains, equal_json) = graders_of(
        tmp_path,
        {
            "type": "string_check",
            "name": "c",
            "input": "{{sample.output_text}}",
            "reference": "{{item.x}}",
            "operation": "like",
        },
        {
            "type": "string_check",
            "name": "j",
            "input": "{{sample.output_json.city}}",
            "reference": "{{item.city}}",
            "operation": "eq",
        },
    )
    passed = grade(contains, "It is 30 days.", {"x": "30 days"})
    assert passed.passed and passed.grader == "c" and passed.details["type"] == "string_check"
    assert not grade(contains, "It is 30 Days.", {"x": "30 days"}).passed  # like is case-sensitive
    assert grade(equal_json, '{"city": "Paris"}', {"city": "Paris"}).passed
    failed = grade(equal_json, '{"city": "Lyon"}', {"city": "Paris"})
    assert not failed.passed and failed.reason.startswith("{{sample.output_json.city}}: expected answer to equal")
    missing = grade(equal_json, '{"town": "Paris"}', {"city": "Paris"})
    assert missing.error is not None and "no 'city'" in missing.reason


@pytest.mark.parametrize(
    ("operation", "answer", "passed"),
    # OpenAI's eq compares exact strings: a trailing space is a different answer.
    [
        ("ne", "Lyon", True),
        ("ne", "Paris", False),
        ("ilike", "PARIS!", True),
        ("eq", "Paris ", False),
        ("eq", "Paris", True),
    ],
)
def test_string_check_operations(tmp_path: Path, operation: str, answer: str, passed: bool) -> None:
    (check,) = graders_of(
        tmp_path,
        {"type": "string_check", "input": "{{sample.output_text}}", "reference": "Paris", "operation": operation},
    )
    assert check.name == "string_check"  # a criterion without a name is named by its type
    assert grade(check, answer, {}).passed is passed


def test_text_similarity_with_a_templated_reference(tmp_path: Path) -> None:
    (similar,) = graders_of(
        tmp_path,
        {
            "type": "text_similarity",
            "name": "close",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "evaluation_metric": "fuzzy_match",
            "pass_threshold": 0.8,
        },
    )
    good = grade(similar, "The capital of France is Paris", {"answer": "The capital of France is Paris."})
    assert good.passed and good.grader == "close" and good.score > 0.9
    assert not grade(similar, "Lyon", {"answer": "The capital of France is Paris."}).passed
    assert grade(similar, "x", {"answer": ""}).error is not None  # an empty reference cannot be compared


def test_score_model_keeps_openai_defaults_and_templates(tmp_path: Path) -> None:
    (judge,) = graders_of(
        tmp_path,
        {
            "type": "score_model",
            "name": "grounded",
            "model": "judge-model",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Q: {{item.q}}"}]},
                {"role": "user", "content": "A: {{sample.output_text}}"},
            ],
            "sampling_params": {"temperature": 0, "max_completions_tokens": 30, "seed": None},
        },
    )
    assert isinstance(judge, JudgeGrader) and judge.name == "grounded" and judge.model == "judge-model"
    assert judge.score_range == (0.0, 1.0)  # OpenAI's default range
    assert dict(judge.sampling) == {"temperature": 0, "max_completion_tokens": 30}
    request = judge.judge_request(make_sample("Paris"), {"q": "capital?"}, None)
    contents = [m["content"] for m in request.messages]
    assert contents[1:3] == ["Q: capital?", "A: Paris"]
    assert len(contents) == 4  # no <candidate> message: the input templates the sample itself
    assert contents[-1] == "Give a score from 0 to 1, where 1 fully meets the criteria."


def test_label_model(tmp_path: Path) -> None:
    (judge,) = graders_of(
        tmp_path,
        {
            "type": "label_model",
            "name": "tone",
            "model": "judge-model",
            "input": [{"role": "user", "content": "Tone of: {{sample.output_text}}"}],
            "labels": ["friendly", "neutral", "rude"],
            "passing_labels": ["friendly", "neutral"],
        },
    )
    assert isinstance(judge, JudgeGrader) and judge.kind == "label_model"
    assert judge.labels == ("friendly", "neutral", "rude") and judge.passing_labels == ("friendly", "neutral")


def test_python_and_multi(tmp_path: Path) -> None:
    python, combined, single = graders_of(
        tmp_path,
        {"type": "python", "name": "short", "source": SOURCE},
        {
            "type": "multi",
            "name": "both",
            "calculate_output": "0.5 * exact + 0.5 * short",
            "pass_threshold": 0.5,
            "graders": {
                "exact": {
                    "type": "string_check",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.answer}}",
                    "operation": "eq",
                },
                "short": {"type": "python", "source": SOURCE},
            },
        },
        {
            "type": "multi",
            "name": "one",
            "calculate_output": "ok",
            "graders": {
                "type": "string_check",
                "name": "ok",
                "input": "{{sample.output_text}}",
                "reference": "x",
                "operation": "eq",
            },
        },
    )
    assert grade(python, "short", {}).passed and not grade(python, "x" * 100, {}).passed
    result = grade(combined, "Paris", {"answer": "Lyon"})
    assert result.passed and result.score == 0.5 and result.grader == "both"
    assert set(result.details["graders"]) == {"exact", "short"}
    assert grade(single, "x", {}).passed


# ---- errors in definitions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        (
            {"type": "endpoint", "name": "remote", "url": "https://x"},
            "$.testing_criteria[0] ('remote'): criterion type 'endpoint' is not supported here",
        ),
        ({"type": "wat"}, "criterion type 'wat' is not supported here; supported: string_check, text_similarity"),
        (
            {
                "type": "string_check",
                "name": "s",
                "input": "{{sample.output_text}}",
                "reference": "x",
                "operation": "contains",
            },
            "$.testing_criteria[0].operation ('s'): Input should be 'eq', 'ne', 'like'",
        ),
        (
            {"type": "string_check", "input": "{{sample.output_text}}", "operation": "eq"},
            "$.testing_criteria[0].reference: Field required",
        ),
        (
            {
                "type": "score_model",
                "name": "img",
                "model": "m",
                "input": [{"role": "user", "content": {"type": "input_image", "image_url": "https://x/y.png"}}],
            },
            "$.testing_criteria[0].input[0].content: content of type 'input_image' is not supported here",
        ),
        (
            {"type": "string_check", "input": "{{sample.choices}}", "reference": "x", "operation": "eq"},
            "{{sample.choices}} is not supported here",
        ),
        (
            {
                "type": "text_similarity",
                "input": "{{sample.output_text}}",
                "reference": "x",
                "evaluation_metric": "jaccard",
                "pass_threshold": 0.5,
            },
            "unknown metric 'jaccard'",
        ),
        (
            {"type": "python", "name": "broken", "source": "def grade(sample, item)\n    return 1"},
            "$.testing_criteria[0] ('broken'): python_grader 'broken': source does not compile",
        ),
        (
            {"type": "multi", "name": "m", "calculate_output": "a +", "graders": {"a": {"type": "endpoint"}}},
            "$.testing_criteria[0].graders.a: criterion type 'endpoint' is not supported",
        ),
    ],
)
def test_definition_errors_name_the_criterion(tmp_path: Path, criterion: dict[str, Any], message: str) -> None:
    path = definition_of(tmp_path, {"name": "e", "testing_criteria": [criterion]})
    with pytest.raises(EvalDefinitionError) as excinfo:
        criteria_graders(load_definition(path))
    assert str(excinfo.value).startswith(f"{path}: ")
    assert message in str(excinfo.value)


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "eval.json", '{\n  "name": "x",\n  "testing_criteria": [\n    {"type": }\n  ]\n}\n')
    with pytest.raises(EvalDefinitionError, match=r"eval\.json:4:14: not valid JSON: Expecting value"):
        load_definition(path)


@pytest.mark.parametrize(
    ("data_source", "message"),
    [
        ({"type": "responses", "model": "m"}, "$.data_source.type: 'responses' data sources are not supported"),
        ({"type": "completions", "model": "m"}, "$.data_source.input_messages: a completions data source needs"),
        (
            {
                "type": "completions",
                "input_messages": {
                    "type": "template",
                    "template": [{"role": "user", "content": "{{sample.output_text}}"}],
                },
            },
            "cannot be used here: input_messages produce",
        ),
        (
            {
                "type": "completions",
                "input_messages": {
                    "type": "template",
                    "template": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
                },
            },
            "the last message must be the user's",
        ),
        (
            {"type": "completions", "input_messages": {"type": "template"}},
            "$.data_source.input_messages: Value error, type 'template' needs a non-empty 'template'",
        ),
    ],
)
def test_data_source_errors(tmp_path: Path, data_source: dict[str, Any], message: str) -> None:
    data = {"name": "e", "testing_criteria": CAPITALS["testing_criteria"], "data_source": data_source}
    with pytest.raises(EvalDefinitionError) as excinfo:
        load_definition(definition_of(tmp_path, data))
    assert message in str(excinfo.value)


# ---- items --------------------------------------------------------------------------------


def test_items_keep_their_samples_and_ids(tmp_path: Path) -> None:
    definition = load_definition(definition_of(tmp_path, CAPITALS))
    lines = [*ITEMS, {"country": "Peru", "capital": "Lima"}]  # the last one a bare item
    rows = load_items(write(tmp_path / "items.jsonl", lines), definition)
    assert [r.case_id for r in rows][:1] + [r.case_id for r in rows][2:] == ["fr", "it", "de", rows[4].case_id]
    assert rows[1].case_id.startswith("row-") and rows[4].item == {"country": "Peru", "capital": "Lima"}
    assert rows[2].sample == {"output_text": "Rome, of course."} and rows[2].text == "Rome, of course."
    assert rows[0].sample is None and rows[0].text is None and rows[3].line == 4
    again = load_items(write(tmp_path / "reordered.jsonl", list(reversed(lines))), definition)
    assert {r.case_id for r in again} == {r.case_id for r in rows}  # ids do not depend on the order


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"item": {"country": "France", "capital": "Paris"}}\n{"item": {', "items.jsonl:2: not valid JSON"),
        (
            '{"item": {"country": "France"}}\n',
            "items.jsonl:1: the item does not match the eval's item_schema at $: 'capital' is a required property",
        ),
        (
            '{"item": {"id": 1, "country": "a", "capital": "b"}}\n{"id": 1, "country": "c", "capital": "d"}\n',
            "items.jsonl:2: duplicate item id '1' (first at",
        ),
        (
            '{"item": {"country": "a", "capital": "b"}, "sample": {"text": "x"}}\n',
            'items.jsonl:1: the sample has no "output_text"',
        ),
        ("\n\n", "the items file has no items"),
    ],
)
def test_item_errors_name_the_line(tmp_path: Path, lines: str, message: str) -> None:
    definition = load_definition(definition_of(tmp_path, CAPITALS))
    with pytest.raises(EvalDefinitionError) as excinfo:
        load_items(write(tmp_path / "items.jsonl", lines), definition)
    assert message in str(excinfo.value)


def test_an_item_without_a_sample_needs_a_way_to_get_one(tmp_path: Path) -> None:
    data = {**CAPITALS, "data_source": {"type": "jsonl"}}  # a run that generates nothing
    definition = load_definition(definition_of(tmp_path, data))
    with pytest.raises(EvalDefinitionError, match=r"items\.jsonl:1: the item has no sample and .* no completions"):
        load_items(write(tmp_path / "items.jsonl", ITEMS[:1]), definition)
    # An eval that expects no samples grades its items alone.
    data["data_source_config"] = {"type": "custom", "include_sample_schema": False}
    alone = load_definition(definition_of(tmp_path, data))
    assert load_items(tmp_path / "items.jsonl", alone)[0].text is None


def test_items_embedded_in_the_data_source(tmp_path: Path) -> None:
    source = {"type": "file_content", "content": ITEMS[2:]}
    data = {**CAPITALS, "data_source": {**CAPITALS["data_source"], "source": source}}
    rows = embedded_items(load_definition(definition_of(tmp_path, data)))
    assert [r.case_id for r in rows] == ["it", "de"]
    with pytest.raises(EvalDefinitionError, match="no items: give the items file"):
        embedded_items(load_definition(definition_of(tmp_path, CAPITALS)))


# ---- the marker against the loopback server -----------------------------------------------

MARKED = """
    import pytest

    @pytest.mark.llmeval_openai_eval("evals/capitals.json", items="evals/capitals.jsonl")
    def test_capitals(openai_eval):
        openai_eval.check()
"""


def script_server(project: Project) -> None:
    """Answers: right for France, wrong for Spain; the judge marks wrong capitals down."""

    def judge(body: dict[str, Any]) -> Reply:
        wrong = any(w in json.dumps(body["messages"]) for w in ("Barcelona", "Munich"))
        return Reply.json({"reasoning": "checked", "score": 2 if wrong else 5})

    project.server.add_rule("Give a score", judge)  # type: ignore[arg-type]
    project.server.add_rule("capital of France", "The capital of France is Paris.")
    project.server.add_rule("capital of Spain", "Barcelona.")


def verdicts(project: Project) -> dict[str, str]:
    """Verdict per item id (the part of the case id in brackets)."""
    return {c["case_id"].rsplit("[", 1)[1].rstrip("]"): c["verdict"] for c in project.report()["cases"]}


def spain(rows: dict[str, str]) -> str:
    return next(key for key in rows if key.startswith("row-"))


def test_pre_generated_samples_are_graded_without_a_request(project: Project, mode: list[str]) -> None:
    data = {k: v for k, v in CAPITALS.items() if k not in ("data_source", "testing_criteria")}
    data["testing_criteria"] = [CAPITALS["testing_criteria"][0], CAPITALS["testing_criteria"][2]]
    write(project.path / "evals" / "capitals.json", data)
    write(project.path / "evals" / "capitals.jsonl", ITEMS[2:])
    project.pytester.makepyfile(test_marked=MARKED)
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*failed: names the capital: expected answer to contain 'Berlin' (any case)*"])
    assert project.server.total_requests == 0
    assert verdicts(project) == {"it": "pass", "de": "fail"}
    case = project.cases()["test_capitals[de]"]
    assert case["samples"] == 1 and case["sample_records"][0]["answer"] == "Munich."


def test_items_graded_alone_when_the_eval_expects_no_samples(project: Project) -> None:
    criterion = {
        "type": "string_check",
        "name": "kept",
        "input": "{{item.output}}",
        "reference": "{{item.expected}}",
        "operation": "eq",
    }
    write(project.path / "evals" / "capitals.json", {"name": "logged", "testing_criteria": [criterion]})
    rows = [{"id": "a", "output": "yes", "expected": "yes"}, {"id": "b", "output": "no", "expected": "yes"}]
    write(project.path / "evals" / "capitals.jsonl", rows)
    project.pytester.makepyfile(test_marked=MARKED)
    result = project.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*failed: kept: {{item.output}}: expected answer to equal 'yes', got 'no'*"])
    assert project.server.total_requests == 0


def test_model_generated_items_with_a_judge(project: Project, mode: list[str]) -> None:
    script_server(project)
    write(project.path / "evals" / "capitals.json", CAPITALS)
    write(project.path / "evals" / "capitals.jsonl", ITEMS)
    project.pytester.makepyfile(test_marked=MARKED)
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*failed: helpful: judge judge-model: 2 < 4 - checked*"])
    rows = verdicts(project)
    assert rows == {"fr": "pass", spain(rows): "fail", "it": "pass", "de": "fail"}
    asked = [r.body for r in project.server.requests if r.body["model"] == "gpt-test"]
    assert len(asked) == 2  # only the two items without a sample
    france = next(b for b in asked if "France" in json.dumps(b))
    assert france["messages"] == [
        {"role": "system", "content": "You answer geography questions."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert (france["temperature"], france["seed"], france["max_completion_tokens"]) == (0.2, 7, 50)
    assert "top_p" not in france  # null in the export: not sent
    judged = [r.body for r in project.server.requests if r.body["model"] == "judge-model"]
    assert len(judged) == 4
    assert any(m["content"] == "Question about Italy. Answer: Rome, of course." for b in judged for m in b["messages"])


def test_the_option_model_wins_over_the_data_source(project: Project) -> None:
    script_server(project)
    write(project.path / "evals" / "capitals.json", CAPITALS)
    write(project.path / "evals" / "capitals.jsonl", ITEMS[:1])
    project.pytester.makepyfile(test_marked=MARKED)
    project.run("--llmeval-model=other-model").assert_outcomes(passed=1)
    assert {r.body["model"] for r in project.server.requests} == {"other-model", "judge-model"}


@pytest.mark.parametrize(
    ("definition", "items", "message"),
    [
        (
            {"name": "e", "testing_criteria": [{"type": "endpoint", "name": "remote"}]},
            ITEMS,
            "*test_marked.py::test_capitals: evals/capitals.json: $.testing_criteria?0? ('remote'): "
            "criterion type 'endpoint' is not supported here*",
        ),
        (
            CAPITALS,
            '{"item": {"country": "France", "capital": "Paris"}}\n{oops}\n',
            "*test_marked.py::test_capitals: evals/capitals.jsonl:2: not valid JSON: *",
        ),
    ],
)
def test_marker_errors_fail_collection_with_one_line(
    project: Project, definition: dict[str, Any], items: Any, message: str
) -> None:
    write(project.path / "evals" / "capitals.json", definition)
    write(project.path / "evals" / "capitals.jsonl", items)
    project.pytester.makepyfile(test_marked=MARKED)
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    assert project.server.total_requests == 0


def test_fixture_without_the_marker(project: Project) -> None:
    project.pytester.makepyfile(test_x="def test_x(openai_eval):\n    pass\n")
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the 'openai_eval' fixture needs @pytest.mark.llmeval_openai_eval*"])


def test_the_step_in_a_feature_file(project: Project) -> None:
    project.server.add_rule("capital of Chile", "Santiago.")
    project.server.add_rule("capital of Peru", "Cusco.")
    write(project.path / "features" / "capitals.eval.json", {"testing_criteria": CAPITALS["testing_criteria"][:1]})
    project.feature(
        """
        Feature: capitals
          Scenario Outline: by hand
            Given the model "m"
            When the user says "What is the capital of <country>?"
            Then the answer meets the testing criteria of "capitals.eval.json"

            Examples:
              | country | capital  |
              | Chile   | Santiago |
              | Peru    | Lima     |
        """,
        name="capitals",
    )
    result = project.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*failed: names the capital: expected answer to contain 'Lima'*"])
    project.file("features/capitals.eval.json", '{"name": "c", "testing_criteria": [{"type": "endpoint"}]}')
    result = project.run()
    result.stdout.fnmatch_lines(
        ["*capitals.feature:5: Then the answer meets the testing criteria of *: *criterion type 'endpoint'*"]
    )


# ---- the converter ------------------------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_converter_writes_feature_datasets_and_module(tmp_path: Path) -> None:
    definition = definition_of(tmp_path, CAPITALS)
    items = write(tmp_path / "items.jsonl", ITEMS)
    result = cli("convert-openai-eval", str(definition), "--items", str(items), "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    names = [
        "capitals.eval.json",
        "capitals.jsonl",
        "capitals.pregenerated.jsonl",
        "capitals.samples.jsonl",
        "capitals.feature",
        "test_capitals.py",
    ]
    assert result.stdout.splitlines()[:6] == [f"wrote {Path('out') / name}" for name in names]
    feature = (out / "capitals.feature").read_text()
    assert '    Given the model "gpt-test"\n    And the parameters:\n' in feature
    assert "      | temperature           | 0.2   |\n" in feature
    assert '    When the user says:\n      """\n      What is the capital of <country>?\n      """\n' in feature
    assert "  @dataset:capitals.pregenerated.jsonl @target:openai-eval:capitals @samples:1\n" in feature
    assert feature.count('Then the answer meets the testing criteria of "capitals.eval.json"') == 2
    generated = [json.loads(line) for line in (out / "capitals.jsonl").read_text().splitlines()]
    assert generated[0] == {"id": "fr", "country": "France", "capital": "Paris"}
    assert generated[1]["id"].startswith("row-")  # the id the marker gives it too
    assert (out / "capitals.eval.json").read_text() == definition.read_text()
    # A second run refuses to overwrite; errors are one line with exit code 2.
    again = cli("convert-openai-eval", str(definition), "--items", str(items), "--out", "out", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0
    assert "capitals.eval.json exists; pass --force to overwrite" in again.stderr
    missing = cli("convert-openai-eval", "nope.json", "--out", "out", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        2,
        "convert-openai-eval: error: eval definition not found: nope.json\n",
    )
    usage = cli("convert-openai-eval", cwd=tmp_path)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1


def test_conversion_keeps_messages_and_escapes(tmp_path: Path) -> None:
    template = [
        {"role": "system", "content": 'Reply in <lang>. Quote """as is""".\n\n  Indented.'},
        {"role": "user", "content": "Earlier | question"},
        {"role": "assistant", "content": "Earlier\nanswer \\ <b>"},
        {"role": "user", "content": [{"type": "input_text", "text": "Now {{ item.q }} and {{item.n}}?\n"}]},
    ]
    data = {
        **CAPITALS,
        "data_source": {"type": "completions", "input_messages": {"type": "template", "template": template}},
    }
    data["data_source_config"] = {"type": "custom"}
    items = write(tmp_path / "items.jsonl", [{"id": "a", "q": "why", "n": 3}])
    convert(definition_of(tmp_path, data), items, tmp_path / "out")
    pytest_bdd.feature.features.clear()
    from pytest_bdd.parser import FeatureParser

    feature = FeatureParser(str(tmp_path / "out"), "capitals.feature").parse()
    (scenario,) = feature.scenarios.values()
    steps = {step.name: step for step in scenario.steps}
    assert "Given the model" not in (tmp_path / "out" / "capitals.feature").read_text()  # none in the definition
    assert steps["the system prompt:"].docstring == 'Reply in \\<lang>. Quote """as is""".\n\n  Indented.'
    conversation = steps["the conversation:"].datatable
    assert conversation is not None
    assert conversation.raw()[1:] == [["user", "Earlier | question"], ["assistant", "Earlier\nanswer \\ \\<b>"]]
    assert steps["the user says:"].docstring == "Now <q> and <n>?\n"


def test_conversion_errors(tmp_path: Path) -> None:
    nested = {
        **CAPITALS,
        "data_source": {
            "type": "completions",
            "input_messages": {"type": "template", "template": [{"role": "user", "content": "{{item.a.b}}"}]},
        },
    }
    items = write(tmp_path / "items.jsonl", [{"id": "x", "country": "c", "capital": "d", "a": {"b": 1}}])
    with pytest.raises(EvalDefinitionError, match=r"\{\{item\.a\.b\}\} cannot become a feature-file placeholder"):
        convert(definition_of(tmp_path, nested), items, tmp_path / "out")
    referenced = {
        **CAPITALS,
        "data_source": {
            "type": "completions",
            "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
        },
    }
    with pytest.raises(EvalDefinitionError, match=r"an item_reference .* cannot become fixed steps"):
        convert(definition_of(tmp_path, referenced), items, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_item_reference_messages_with_the_marker(project: Project) -> None:
    project.server.add_rule("capital of France", "Paris.")
    data = {
        **CAPITALS,
        "testing_criteria": CAPITALS["testing_criteria"][:1],
        "data_source": {
            "type": "completions",
            "model": "m",
            "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
        },
    }
    write(project.path / "evals" / "capitals.json", data)
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    write(
        project.path / "evals" / "capitals.jsonl",
        [{"id": "f", "country": "F", "capital": "Paris", "messages": messages}],
    )
    project.pytester.makepyfile(test_marked=MARKED)
    project.run().assert_outcomes(passed=1)
    (body,) = [r.body for r in project.server.requests]
    assert body["messages"] == messages


# ---- the round trip: marker and converted feature give the same verdicts ------------------


def test_round_trip_marker_and_converted_feature_agree(project: Project, mode: list[str]) -> None:
    project.pytester.makeini("[pytest]\n")  # one rootdir (and cache) for both runs
    script_server(project)
    definition = write(project.path / "evals" / "capitals.json", CAPITALS)
    items = write(project.path / "evals" / "capitals.jsonl", ITEMS)
    project.pytester.makepyfile(test_marked=MARKED)
    project.run("--llmeval-report=json", "test_marked.py", *mode).assert_outcomes(passed=2, failed=2)
    direct = verdicts(project)
    assert direct == {"fr": "pass", spain(direct): "fail", "it": "pass", "de": "fail"}

    result = cli("convert-openai-eval", str(definition), "--items", str(items), "--out", "converted", cwd=project.path)
    assert result.returncode == 0, result.stderr
    # Replay only, with a server that fails everything: the converted scenarios must send
    # exactly the requests the marker sent (same messages, parameters and judge prompts).
    project.server.reset()
    project.server.add_rule(None, Fault.status(500))
    pytest_bdd.feature.features.clear()
    converted = project.run("--llmeval-report=json", "--llmeval-cache=replay", "converted", *mode)
    converted.assert_outcomes(passed=2, failed=2)
    assert project.server.total_requests == 0
    assert verdicts(project) == direct
    cases = project.report()["cases"]
    assert {c["case_id"] for c in cases if c["verdict"] == "pass"} == {
        "Capitals[fr]",
        "Capitals (pre-generated samples)[it]",
    }
