"""Bad inputs: each one gets one clear error line that names the file and line, or the option, and no
traceback noise (no ``Traceback``, no ``INTERNALERROR``, no ``_pytest`` frames).

Inputs that stop a run before any test (option values, ini values, baseline, price and report
paths) each get a run of their own. Inputs that fail one test or one module (feature files,
steps, tags, datasets, schemas, pydantic paths, prompt files, OpenAI definitions, ``multi``
formulas, custom graders) share one bounded subprocess session with
``--continue-on-collection-errors``: each input is its own module, and its test reads its own
section of the output, so one input's noise cannot hide behind another's clean line. Cache
entries damaged by hand share a record session and a replay session.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackServer, Reply
from project import Project
from sessions import NOISE, jsonl, result_of, run_pytest, write
from sessions import shared as register

BOUND = 120.0

# ------------------------------------------------------------------------------ shared session


@dataclass(frozen=True)
class BadInput:
    """One bad input of the shared session: its files and the line it must produce."""

    name: str
    files: dict[str, str | bytes]
    line: str
    """An fnmatch pattern one line of the input's section must match."""
    outcome: str = "failed"
    """``failed`` (the test fails), ``error`` (its module fails to collect) or ``passed``."""
    pending: str | None = None
    other: tuple[str, ...] = field(default=())
    """Further patterns the section must match (``!pattern``: that no line may match)."""

    @property
    def module(self) -> str:
        return f"test_{self.name}"


SCENARIO = """
Feature: {name}
  {tags}
  Scenario: {name}
{background}    Given the model "m"
    When the user says "{say}"
    Then {then}
"""


def scenario(
    name: str,
    *,
    then: str = 'the answer contains "ok"',
    say: str = "hi",
    tags: str = "",
    given: str = "",
    files: dict[str, str | bytes] | None = None,
) -> dict[str, str | bytes]:
    """The files of a one-scenario feature bound by its own module (so one error stays in one module)."""
    background = "".join(f"    Given {g}\n" for g in given.split("\n") if g) if given else ""
    text = SCENARIO.format(name=name, tags=tags, background=background, say=say, then=then)
    return {
        f"features/{name}/{name}.feature": text.lstrip("\n"),
        f"test_{name}.py": f"from pytest_bdd import scenarios\nscenarios('features/{name}/{name}.feature')\n",
        **{f"features/{name}/{k}": v for k, v in (files or {}).items()},
    }


def raw_feature(name: str, text: str) -> dict[str, str | bytes]:
    return {
        f"features/{name}/{name}.feature": text.lstrip("\n"),
        f"test_{name}.py": f"from pytest_bdd import scenarios\nscenarios('features/{name}/{name}.feature')\n",
    }


def dataset(name: str, filename: str, content: str | bytes | None, say: str = "<q>") -> dict[str, str | bytes]:
    files = {} if content is None else {filename: content}
    return scenario(name, tags=f"@dataset:{filename}", say=say, files=files)


def python(name: str, source: str, extra: dict[str, str | bytes] | None = None) -> dict[str, str | bytes]:
    return {f"{name}_dir/test_{name}.py": source.lstrip("\n"), **(extra or {})}


def nested_schema(depth: int) -> str:
    """A schema nested ``depth`` objects deep (written as text: json.dumps would recurse that deep)."""
    return '{"type": "object", "properties": {"a": ' * depth + '{"type": "string"}' + "}}" * depth


NON_UTF8 = b"caf\xe9 \xff\xfe not UTF-8\n"

MULTI = """
import pytest
from pytest_llmeval import graders

@pytest.mark.llmeval(model="m")
def test_{name}(llm):
    g = graders.multi({{"a": graders.string_check("ok", "like")}}, {formula!r})
    llm.ask("hi").check(g)
"""

CUSTOM = """
import math, sys
import pytest
from pytest_llmeval import graders

@pytest.mark.llmeval(model="m")
def test_{name}(llm):
    def grade(sample, item):
        {body}
    llm.ask("hi").check(graders.python_grader(grade, name="{name}"))
"""

OPENAI_EVAL = """
import pytest

@pytest.mark.llmeval_openai_eval("eval.json", items="items.jsonl")
def test_{name}(openai_eval):
    openai_eval.check()
"""


def openai_eval(name: str, definition: dict[str, Any] | str) -> dict[str, str | bytes]:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return python(
        name,
        OPENAI_EVAL.format(name=name),
        {
            f"{name}_dir/eval.json": text,
            f"{name}_dir/items.jsonl": jsonl([{"item": {"id": "fr", "country": "France"}}]),
        },
    )


def multi_criterion(formula: str) -> dict[str, Any]:
    sub = {
        "type": "string_check",
        "name": "a",
        "input": "{{sample.output_text}}",
        "reference": "ok",
        "operation": "like",
    }
    return {"type": "multi", "name": "m", "graders": {"a": sub}, "calculate_output": formula, "pass_threshold": 1}


def criteria(*tests: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "e",
        "testing_criteria": list(tests),
        "data_source": {
            "type": "completions",
            "model": "m",
            "input_messages": {"type": "template", "template": [{"role": "user", "content": "{{item.country}}?"}]},
        },
    }


ORDER_MODEL = "from pydantic import BaseModel\n\nclass Order(BaseModel):\n    id: str\n\nNOT_A_MODEL = 3\n"

INPUTS: tuple[BadInput, ...] = (
    # ---- feature files and steps
    BadInput(
        "malformed_table",
        raw_feature(
            "malformed_table",
            'Feature: f\n  Scenario: s\n    Given the model "m"\n      | a | b |\n      | c |\n',
        ),
        "features/malformed_table/malformed_table.feature:5: malformed feature file:*",
        outcome="error",
    ),
    BadInput(
        "unterminated_docstring",
        raw_feature(
            "unterminated_docstring",
            'Feature: f\n  Scenario: s\n    Given the model "m"\n    When the user says:\n      """\n      hi\n',
        ),
        "features/unterminated_docstring/unterminated_docstring.feature:*: malformed feature file:*",
        outcome="error",
    ),
    BadInput(
        "unknown_step",
        scenario("unknown_step", then='the answer contians "ok"'),
        'features/unknown_step/unknown_step.feature:6: unknown step: Then the answer contians "ok"*',
    ),
    BadInput(
        "placeholder_without_a_value",
        scenario("placeholder_without_a_value", say="<email>"),
        'features/placeholder_without_a_value/*.feature:5: When the user says "<email>": no value for <email>*',
    ),
    BadInput(
        "temperature_not_a_number",
        scenario("temperature_not_a_number", given="the temperature is warm"),
        "features/temperature_not_a_number/*.feature:4: Given the temperature is warm: expected a number*",
    ),
    BadInput(
        "conversation_unknown_role",
        raw_feature(
            "conversation_unknown_role",
            'Feature: f\n  Scenario: conversation_unknown_role\n    Given the model "m"\n'
            "    And the conversation:\n      | robot | beep |\n"
            '    When the user says "hi"\n    Then the answer contains "ok"\n',
        ),
        "features/conversation_unknown_role/*.feature:4: And the conversation: unknown role 'robot'*",
    ),
    BadInput(
        "conversation_three_columns",
        raw_feature(
            "conversation_three_columns",
            'Feature: f\n  Scenario: conversation_three_columns\n    Given the model "m"\n'
            "    And the conversation:\n      | user | hi | extra |\n"
            '    When the user says "hi"\n    Then the answer contains "ok"\n',
        ),
        "features/conversation_three_columns/*.feature:4: And the conversation: expected 2 columns*got 3*",
    ),
    BadInput(
        "pointer_value_not_json",
        scenario("pointer_value_not_json", then='the JSON at "/a" equals hello'),
        'features/pointer_value_not_json/*.feature:6: Then the JSON at "/a" equals hello: the value must be JSON*',
    ),
    BadInput(
        "regex_that_does_not_compile",
        scenario("regex_that_does_not_compile", then='the answer matches the pattern "(["'),
        'features/regex_that_does_not_compile/*.feature:6: Then the answer matches the pattern "([": *',
    ),
    BadInput(
        "unknown_similarity_metric",
        scenario("unknown_similarity_metric", then='the answer is similar to "x" by wobble at least 0.5'),
        "features/unknown_similarity_metric/*.feature:6: *wobble*",
    ),
    BadInput(
        "judge_pass_mark_outside_its_range",
        raw_feature(
            "judge_pass_mark_outside_its_range",
            'Feature: f\n  Scenario: judge_pass_mark_outside_its_range\n    Given the model "m"\n'
            '    When the user says "hi"\n    Then the judge scores the answer at least 6 out of 5 for:\n'
            '      """\n      Is it polite?\n      """\n',
        ),
        "features/judge_pass_mark_outside_its_range/*.feature:5: Then the judge scores the answer at least 6 out of 5*",
    ),
    BadInput(
        "unknown_grader_name",
        scenario("unknown_grader_name", then='the answer passes "ordr-id"'),
        "features/unknown_grader_name/*.feature:6: Then the answer passes \"ordr-id\": no grader named 'ordr-id'*",
    ),
    BadInput(
        "no_user_message",
        raw_feature(
            "no_user_message",
            'Feature: f\n  Scenario: no_user_message\n    Given the model "m"\n    Then the answer contains "ok"\n',
        ),
        "features/no_user_message/no_user_message.feature:2: scenario 'no_user_message': no user message*",
    ),
    # ---- tags
    *(
        BadInput(
            f"tag_{label}",
            scenario(f"tag_{label}", tags=tag),
            f"features/tag_{label}/tag_{label}.feature:3: scenario 'tag_{label}': tag {tag}: {message}",
            outcome="error",
        )
        for label, tag, message in (
            ("samples_zero", "@samples:0", "expected a whole number >= 1, auto, or auto:MAX, got '0'*"),
            ("samples_word", "@samples:many", "expected a whole number >= 1*"),
            ("samples_auto_zero", "@samples:auto:0", "expected auto:MAX with a whole number MAX >= 1, got 'auto:0'"),
            ("threshold_above_one", "@threshold:1.5", "expected a threshold between 0 and 1*"),
            ("threshold_word", "@threshold:high", "expected a threshold between 0 and 1*"),
            ("model_empty", "@model:", "the tag needs a value*"),
            ("judge_empty", "@judge:", "the tag needs a value*"),
            ("dataset_empty", "@dataset:", "the tag needs a value*"),
            ("target_empty", "@target:", "the tag needs a value*"),
        )
    ),
    BadInput(
        "unknown_target",
        scenario("unknown_target", tags="@target:nowhere"),
        "case 'unknown_target' on model 'm': ERROR: features/unknown_target/unknown_target.feature:3: "
        "unknown target 'nowhere' (known: none registered)*",
    ),
    # ---- datasets
    BadInput(
        "dataset_missing",
        dataset("dataset_missing", "missing.jsonl", None),
        "features/dataset_missing/*.feature:3: @dataset:missing.jsonl: dataset file not found: *missing.jsonl",
        outcome="error",
    ),
    BadInput(
        "dataset_empty",
        dataset("dataset_empty", "rows.jsonl", "\n\n"),
        "features/dataset_empty/*.feature:3: @dataset:rows.jsonl: *rows.jsonl: the dataset has no rows",
        outcome="error",
    ),
    BadInput(
        "dataset_malformed_line",
        dataset("dataset_malformed_line", "rows.jsonl", '{"id": "a", "q": "x"}\n{"id": "b", "q": \n'),
        "features/dataset_malformed_line/*.feature:3: @dataset:rows.jsonl: *rows.jsonl:2: malformed JSON line*",
        outcome="error",
    ),
    BadInput(
        "dataset_row_not_an_object",
        dataset("dataset_row_not_an_object", "rows.jsonl", '{"id": "a", "q": "x"}\n[1, 2]\n'),
        "*@dataset:rows.jsonl: *rows.jsonl:2: each row must be a JSON object, got list",
        outcome="error",
    ),
    BadInput(
        "dataset_ragged_csv",
        dataset("dataset_ragged_csv", "rows.csv", "id,q\na,x\nb\n"),
        "*@dataset:rows.csv: *rows.csv:3: expected 2 columns (id, q), got 1",
        outcome="error",
    ),
    BadInput(
        "dataset_csv_header_repeats",
        dataset("dataset_csv_header_repeats", "rows.csv", "q,q\nx,y\n"),
        "*@dataset:rows.csv: *rows.csv:1: the CSV header needs unique, non-empty column names*",
        outcome="error",
    ),
    BadInput(
        "dataset_duplicate_ids",
        dataset("dataset_duplicate_ids", "rows.jsonl", '{"id": "a", "q": "x"}\n{"id": "a", "q": "y"}\n'),
        "*@dataset:rows.jsonl: *rows.jsonl:2: duplicate case id 'a' (first on line 1)",
        outcome="error",
    ),
    BadInput(
        "dataset_not_utf8",
        dataset("dataset_not_utf8", "rows.jsonl", b'{"id": "a", "q": "caf\xe9"}\n'),
        "*@dataset:rows.jsonl: *rows.jsonl: cannot read: 'utf-8' codec can't decode byte 0xe9*",
        outcome="error",
    ),
    BadInput(
        "dataset_json_not_a_list",
        dataset("dataset_json_not_a_list", "rows.json", '{"id": "a"}'),
        "*@dataset:rows.json: *rows.json: a .json dataset must be a list of objects, got dict",
        outcome="error",
    ),
    BadInput(
        "dataset_unknown_format",
        dataset("dataset_unknown_format", "rows.txt", "a\n"),
        "*@dataset:rows.txt: *rows.txt: unknown dataset format '.txt'; use .jsonl, .csv or .json",
        outcome="error",
    ),
    # ---- schemas
    BadInput(
        "schema_invalid",
        scenario(
            "schema_invalid",
            then='the answer matches the JSON schema "bad.json"',
            files={"bad.json": '{"type": "objekt"}'},
        ),
        'features/schema_invalid/*.feature:6: Then the answer matches the JSON schema "bad.json": *not a valid schema*',
    ),
    BadInput(
        "schema_missing",
        scenario("schema_missing", then='the answer matches the JSON schema "nope.json"'),
        'features/schema_missing/*.feature:6: Then the answer matches the JSON schema "nope.json": *nope.json*',
    ),
    BadInput(
        "schema_not_json",
        scenario(
            "schema_not_json",
            then='the answer matches the JSON schema "bad.json"',
            files={"bad.json": '{"type": "object",\n  oops}'},
        ),
        "features/schema_not_json/*.feature:6: *bad.json*line 2*",
    ),
    BadInput(
        "schema_unresolvable_ref",
        scenario(
            "schema_unresolvable_ref",
            then='the answer matches the JSON schema "ref.json"',
            say="json please",
            files={"ref.json": '{"type": "object", "properties": {"a": {"$ref": "missing.json#/x"}}}'},
        ),
        'features/schema_unresolvable_ref/*:6: Then the answer matches the JSON schema "ref.json": *missing.json*',
    ),
    BadInput(
        "schema_not_utf8",
        scenario("schema_not_utf8", then='the answer matches the JSON schema "bad.json"', files={"bad.json": NON_UTF8}),
        'features/schema_not_utf8/*.feature:6: Then the answer matches the JSON schema "bad.json": *bad.json*',
    ),
    BadInput(
        "schema_nested_3000_levels",
        scenario(
            "schema_nested_3000_levels",
            then='the answer matches the JSON schema "deep.json"',
            files={"deep.json": nested_schema(3000)},
        ),
        'features/schema_nested_3000_levels/*:6: Then the answer matches the JSON schema "deep.json": *deep.json*',
    ),
    BadInput(
        "response_format_not_utf8",
        scenario(
            "response_format_not_utf8",
            given='the response format is the JSON schema "bad.json"',
            files={"bad.json": NON_UTF8},
        ),
        'features/response_format_not_utf8/*:4: Given the response format is the JSON schema "bad.json": *UTF-8*',
    ),
    BadInput(
        "response_format_nested_3000_levels",
        scenario(
            "response_format_nested_3000_levels",
            given='the response format is the JSON schema "deep.json"',
            files={"deep.json": nested_schema(3000)},
        ),
        "features/response_format_nested_3000_levels/*.feature:4: Given the response format is the JSON schema*",
    ),
    # ---- pydantic paths
    BadInput(
        "pydantic_module_missing",
        scenario("pydantic_module_missing", then='the answer validates as "nowhere:Order"'),
        "features/pydantic_module_missing/*.feature:6: *cannot import 'nowhere:Order': No module named 'nowhere'*",
    ),
    BadInput(
        "pydantic_class_missing",
        scenario(
            "pydantic_class_missing",
            then='the answer validates as "orders_a:Missing"',
            files={"orders_a.py": ORDER_MODEL},
        ),
        'features/pydantic_class_missing/*.feature:6: Then the answer validates as "orders_a:Missing": *Missing*',
    ),
    BadInput(
        "pydantic_not_a_model",
        scenario(
            "pydantic_not_a_model",
            then='the answer validates as "orders_b:NOT_A_MODEL"',
            files={"orders_b.py": ORDER_MODEL},
        ),
        'features/pydantic_not_a_model/*.feature:6: Then the answer validates as "orders_b:NOT_A_MODEL": *',
    ),
    BadInput(
        "pydantic_path_without_colon",
        scenario("pydantic_path_without_colon", then='the answer validates as "Order"'),
        'features/pydantic_path_without_colon/*.feature:6: Then the answer validates as "Order": *module:*',
    ),
    # ---- prompt files
    BadInput(
        "system_prompt_missing",
        scenario("system_prompt_missing", given='the system prompt from "nope.md"'),
        "features/system_prompt_missing/*.feature:4: *system prompt file not found: *nope.md",
    ),
    BadInput(
        "system_prompt_placeholder_without_value",
        scenario(
            "system_prompt_placeholder_without_value",
            given='the system prompt from "p.md"',
            files={"p.md": "You serve {{ tier }} members.\n"},
        ),
        "features/system_prompt_placeholder_without_value/*.feature:4: *{{ tier }}*",
    ),
    BadInput(
        "system_prompt_not_utf8",
        scenario("system_prompt_not_utf8", given='the system prompt from "p.md"', files={"p.md": NON_UTF8}),
        'features/system_prompt_not_utf8/*.feature:4: Given the system prompt from "p.md": *p.md*UTF-8*',
    ),
    BadInput(
        "dataset_value_escapes_the_project",
        scenario(
            "dataset_value_escapes_the_project",
            tags="@dataset:rows.jsonl",
            given='the system prompt from "<p>"',
            files={"rows.jsonl": jsonl([{"id": "passwd", "p": "../../../../../../../../etc/passwd"}])},
        ),
        'features/dataset_value_escapes_the_project/*.feature:4: Given the system prompt from "<p>": *'
        "etc/passwd' comes from the row and lies outside the project*--llmeval-allow-outside-paths*",
    ),
    # ---- OpenAI eval definitions
    BadInput(
        "openai_eval_unsupported_grader",
        openai_eval("openai_eval_unsupported_grader", criteria({"type": "endpoint", "name": "remote"})),
        "*eval.json: $.testing_criteria[[]0] ('remote'): criterion type 'endpoint' is not supported here*",
        outcome="error",
    ),
    BadInput(
        "openai_eval_unknown_operation",
        openai_eval(
            "openai_eval_unknown_operation",
            criteria(
                {
                    "type": "string_check",
                    "name": "c",
                    "input": "{{sample.output_text}}",
                    "reference": "x",
                    "operation": "regex",
                }
            ),
        ),
        "*eval.json: $.testing_criteria[[]0].operation ('c'): Input should be 'eq', 'ne', 'like' or 'ilike'",
        outcome="error",
    ),
    BadInput(
        "openai_eval_not_json",
        openai_eval("openai_eval_not_json", '{"testing_criteria": [\n'),
        "*openai_eval_not_json_dir/eval.json:2:1: not valid JSON: Expecting value",
        outcome="error",
    ),
    BadInput(
        "openai_eval_python_grader_that_does_not_compile",
        openai_eval(
            "openai_eval_python_grader_that_does_not_compile",
            criteria({"type": "python", "name": "typo", "source": "def grade(sample, item):\n    return 1 +\n"}),
        ),
        "*eval.json: $.testing_criteria[[]0]*does not compile*",
        outcome="error",
    ),
    # ---- multi formulas (from an imported definition: set-up errors; in Python: errors at grading)
    *(
        BadInput(
            f"multi_{label}",
            openai_eval(f"multi_{label}", criteria(multi_criterion(formula))),
            f"*eval.json: $.testing_criteria[[]0] ('m'): multi: calculate_output{message}",
            outcome="error",
        )
        for label, formula, message in (
            ("import", "__import__('os').system('echo pwned')", " at column 12: *strings are not supported"),
            ("attribute", "a.__class__", " at column 2: unexpected character '.': attribute access is not supported"),
            ("unknown_name", "a + b", " at column 5: unknown name 'b'; sub-graders: a"),
            ("deep_nesting", "(" * 500 + "a" + ")" * 500, " at column 101: the formula is nested too deeply*"),
            ("unbalanced", "(a + 1", " at column 1: this '(' is never closed"),
            ("empty", "   ", " at column 1: the formula is empty"),
            ("too_long", "a+" * 6000 + "a", " is 12001 characters long; the limit is 10000"),
            ("lambda", "(lambda: 1)()", " at column 8: *lambdas and slices are not supported"),
            ("comparison", "a > 0.5", " at column 3: *comparisons are not supported"),
        )
    ),
    BadInput(
        "multi_bad_formula_in_python",
        python("multi_bad_formula_in_python", MULTI.format(name="multi_bad_formula_in_python", formula="a.__class__")),
        "*multi: calculate_output at column 2: unexpected character '.': attribute access is not supported",
        other=("!*pytest_llmeval/*",),
    ),
    BadInput(
        "multi_division_by_zero_at_grading",
        python(
            "multi_division_by_zero_at_grading",
            MULTI.format(name="multi_division_by_zero_at_grading", formula="1 / (a - 1)"),
        ),
        "*error*division by zero*",
    ),
    BadInput(
        "multi_overflow_at_grading",
        python("multi_overflow_at_grading", MULTI.format(name="multi_overflow_at_grading", formula="9 ^ 9 ^ 9 ^ 9")),
        "*error*multi*",
    ),
    # ---- custom graders
    *(
        BadInput(f"grader_{label}", python(f"grader_{label}", CUSTOM.format(name=f"grader_{label}", body=body)), line)
        for label, body, line in (
            ("raises", "raise ValueError('no good')", "*ValueError: no good (in grade, *test_grader_raises.py line *"),
            ("exits", "raise SystemExit(3)", "*grader_exits*SystemExit*"),
            ("returns_text", "return 'sorry'", "*returned str 'sorry', not a number*"),
            ("returns_none", "return None", "*returned NoneType*not a number*"),
            ("returns_nan", "return math.nan", "*grader_returns_nan: grade returned nan, not a finite number*"),
            ("returns_a_list", "return [1.0]", "*returned list*not a number*"),
        )
    ),
)
BY_NAME = {bad.name: bad for bad in INPUTS}


def run_inputs(folder: Path) -> dict[str, Any]:
    for bad in INPUTS:
        for relative, content in bad.files.items():
            write(folder, relative, content)
    for relative, content in scenario("control", then='the answer contains "ok"').items():
        write(folder, relative, content)  # a good feature among the bad: it still runs, and passes
    with LoopbackServer(max_seconds=BOUND * 2) as server:
        server.add_rule("^json please$", Reply.json({"a": 1}))
        server.add_rule(None, Reply.text("ok"))
        session = run_pytest(
            folder,
            f"--llmeval-base-url={server.url}",
            "--llmeval-cache=off",
            "--llmeval-report=json",
            "--continue-on-collection-errors",
            "-rA",
            "-p",
            "no:randomly",
            timeout=BOUND,
            tmpdir=folder / "tmp",
        )
        requests = [r.body for r in server.requests]
    report_path = folder / "llmeval-report" / "llmeval-report.json"
    return {
        "ret": session.ret,
        "timed_out": session.timed_out,
        "output": session.output,
        "report": json.loads(report_path.read_text()) if report_path.exists() else None,
        "requests": requests,
    }


register("bad_inputs", "bad-inputs", run_inputs)


@pytest.fixture
def bad_inputs(shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, "bad_inputs")


HEADER = re.compile(r"^_{3,} (?P<title>.+?) _{3,}$|^={3,} (?P<banner>.+?) ={3,}$")


def sections(output: str) -> dict[str, list[str]]:
    """The output cut at pytest's section headers (``___ test_x ___``, ``___ ERROR collecting x ___``)."""
    found: dict[str, list[str]] = {}
    current: list[str] = found.setdefault("(head)", [])
    for line in output.splitlines():
        match = HEADER.match(line)
        if match:
            current = found.setdefault(match.group("title") or match.group("banner"), [])
        else:
            current.append(line)
    return found


def section_of(run: dict[str, Any], bad: BadInput) -> list[str]:
    every = sections(run["output"])
    mine = [lines for title, lines in every.items() if re.search(rf"\b{bad.module}\b", title)]
    assert mine, f"no section for {bad.module}; sections: {list(every)[:60]}"
    return [line for lines in mine for line in lines]


def summary_line(run: dict[str, Any], bad: BadInput) -> str | None:
    for line in run["output"].splitlines():
        if re.match(rf"(FAILED|ERROR|PASSED) \S*{bad.module}\b", line):
            return line
    return None


def pending(bad: BadInput) -> Any:
    marks = [pytest.mark.xfail(reason=bad.pending, strict=True)] if bad.pending else []
    return pytest.param(bad, id=bad.name, marks=marks)


def test_the_shared_session_ends_cleanly(bad_inputs: dict[str, Any]) -> None:
    assert not bad_inputs["timed_out"], "the session with every bad input did not end"
    assert bad_inputs["ret"] == 1, bad_inputs["output"][-3000:]
    assert "INTERNALERROR" not in bad_inputs["output"]
    assert "PASSED test_control.py::test_control" in bad_inputs["output"], "the good feature did not run and pass"


@pytest.mark.parametrize("bad", [pending(bad) for bad in INPUTS])
def test_bad_input(bad_inputs: dict[str, Any], bad: BadInput) -> None:
    import fnmatch

    lines = section_of(bad_inputs, bad)
    text = "\n".join(lines)
    noise = [line for line in lines if any(marker in line for marker in NOISE)]
    assert noise == [], f"{bad.name}: traceback noise:\n{text[:3000]}"
    for pattern in (bad.line, *bad.other):
        if pattern.startswith("!"):
            found = [line for line in lines if fnmatch.fnmatch(line.strip(), pattern[1:])]
            assert found == [], f"{bad.name}: {pattern[1:]!r} must not be shown:\n{text[:3000]}"
        else:
            assert any(fnmatch.fnmatch(line.strip(), pattern) for line in lines), (
                f"{bad.name}: {pattern!r} not in:\n{text}"
            )
    line = summary_line(bad_inputs, bad)
    expected = {"failed": "FAILED", "error": "ERROR", "passed": "PASSED"}[bad.outcome]
    assert line is not None and line.startswith(expected), f"{bad.name}: {line!r}"


def test_no_bad_input_sent_a_request_it_should_not(bad_inputs: dict[str, Any]) -> None:
    """Set-up mistakes are found before anything is sent: only the grading-time inputs asked the model."""
    sent = {json.dumps(body) for body in bad_inputs["requests"]}
    assert not any("passwd" in body or "root:" in body for body in sent), "a file outside the project was sent"


# ------------------------------------------------------------------ inputs that stop the run

OK_FEATURE = """
    Feature: f
      Scenario: s
        Given the model "m"
        When the user says "hi"
        Then the answer contains "hi"
"""


def usage_error(project: Project, *args: str) -> str:
    """Run, expect a usage error before any test, and return the output (checked for noise)."""
    project.feature(OK_FEATURE)
    project.server.add_rule(None, "hi")
    result = project.run(*args)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output[-3000:]
    noise = [line for line in output.splitlines() if any(marker in line for marker in NOISE)]
    assert noise == [], output[-3000:]
    assert project.server.total_requests == 0
    return output


def has_line(output: str, pattern: str) -> None:
    import fnmatch

    assert any(fnmatch.fnmatch(line.strip(), pattern) for line in output.splitlines()), (
        f"{pattern!r} not in:\n{output[-3000:]}"
    )


OPTION_VALUES = (
    ("--llmeval-cache=sometimes", "*--llmeval-cache: unknown cache mode 'sometimes'; use one of: *"),
    ("--llmeval-samples=0", "*--llmeval-samples: expected a whole number >= 1*got '0'*"),
    ("--llmeval-samples=auto:x", "*--llmeval-samples: expected a whole number >= 1*"),
    ("--llmeval-threshold=1.5", "*--llmeval-threshold: expected a threshold between 0 and 1*"),
    ("--llmeval-threshold=high", "*--llmeval-threshold: expected a threshold between 0 and 1*"),
    ("--llmeval-timeout=-1", "*--llmeval-timeout: expected a number of seconds > 0*"),
    ("--llmeval-timeout=nan", "*--llmeval-timeout: expected a number of seconds > 0*"),
    ("--llmeval-max-retries=x", "*--llmeval-max-retries: expected a whole number >= 0*"),
    ("--llmeval-report=xml", "*--llmeval-report: unknown report format 'xml'; use: *"),
    ("--llmeval-base-url=localhost:8000", "*--llmeval-base-url: expected an http(s) URL*"),
    ("--llmeval-concurrency=0", "*--llmeval-concurrency: expected a whole number >= 1*"),
    ("--llmeval-target-concurrency=-2", "*--llmeval-target-concurrency: expected a whole number >= 1*"),
    ("--llmeval-rpm=-5", "*--llmeval-rpm: *"),
    ("--llmeval-tpm=lots", "*--llmeval-tpm: *"),
    ("--llmeval-max-cost=-1", "*--llmeval-max-cost: *"),
    ("--llmeval-max-cost=inf", "*--llmeval-max-cost: *"),
    ("--llmeval-stats=maybe", "*--llmeval-stats: unknown mode 'maybe'; use point or strict*"),
    ("--llmeval-max-error-rate=2", "*--llmeval-max-error-rate: expected a threshold between 0 and 1*"),
    ("--llmeval-min-decided=0", "*--llmeval-min-decided: expected a whole number >= 1*"),
    ("--llmeval-max-samples=0", "*--llmeval-max-samples: expected a whole number >= 1*"),
    ("--llmeval-alpha=2", "*--llmeval-alpha: *"),
    ("--llmeval-min-pass-rate=150%", "*--llmeval-min-pass-rate: expected a threshold between 0 and 1*"),
    ("--llmeval-rate-limit-timeout=0", "*--llmeval-rate-limit-timeout: expected a number of seconds > 0*"),
)


@pytest.mark.parametrize(
    ("option", "line"), OPTION_VALUES, ids=[o.split("=")[0][10:] + "=" + o.split("=")[1] for o, _ in OPTION_VALUES]
)
def test_bad_option_value(project: Project, option: str, line: str) -> None:
    has_line(usage_error(project, option), line)


def test_the_same_model_twice(project: Project) -> None:
    has_line(
        usage_error(project, "--llmeval-model=a", "--llmeval-model=a"),
        "*--llmeval-model: the same model is given twice*",
    )


@pytest.mark.parametrize(
    ("ini", "line"),
    [
        ("llmeval_samples = none", "*ini option llmeval_samples in *tox.ini: expected a whole number >= 1*"),
        ("llmeval_allow_inconclusive = perhaps", "*ini option llmeval_allow_inconclusive in *tox.ini: *perhaps*"),
        ("llmeval_cache = sometimes", "*ini option llmeval_cache in *tox.ini: unknown cache mode 'sometimes'*"),
    ],
    ids=["samples", "flag", "cache"],
)
def test_bad_ini_value(project: Project, ini: str, line: str) -> None:
    project.pytester.makeini(f"[pytest]\n{ini}\n")
    has_line(usage_error(project), line)


# ---- baselines

GOOD_ENTRY = {
    "case_id": "s",
    "group": "features/eval.feature",
    "model": "m",
    "passes": 1,
    "failures": 0,
    "errors": 0,
    "samples": 1,
    "pass_rate": 1.0,
    "fingerprint": "abc",
}


def baseline_text(**changes: Any) -> str:
    entry = {**GOOD_ENTRY, **changes}
    return json.dumps(
        {
            "format": 1,
            "plugin_version": "0.1.0",
            "created_at": "2026-11-01T00:00:00Z",
            "entries": {"features/eval.feature :: s :: m": entry},
        }
    )


BASELINES: dict[str, tuple[str | bytes | None, str]] = {
    "missing": (None, "*--llmeval-baseline: *missing.json*"),
    "damaged": ('{"format": 1, "entries": {oops', "*--llmeval-baseline: *base.json*"),
    "truncated": (baseline_text()[:60], "*--llmeval-baseline: *base.json*"),
    "foreign": ('{"cases": [], "overall": {}}', "*--llmeval-baseline: *base.json*"),
    "a_list": ("[1, 2, 3]", "*--llmeval-baseline: *base.json*"),
    "negative_count": (baseline_text(passes=-5, samples=-4), "*--llmeval-baseline: *base.json*passes*"),
    "huge_count": (baseline_text(passes=10**12, samples=10**12), "*--llmeval-baseline: *base.json*passes*"),
    "nan_rate": (baseline_text().replace('"pass_rate": 1.0', '"pass_rate": NaN'), "*--llmeval-baseline: *base.json*"),
    "counts_do_not_add_up": (baseline_text(samples=7), "*--llmeval-baseline: *base.json*samples*"),
    "not_utf8": (NON_UTF8, "*--llmeval-baseline: *base.json*UTF-8*"),
}


@pytest.mark.parametrize("kind", list(BASELINES))
def test_bad_baseline_file(project: Project, kind: str) -> None:
    content, line = BASELINES[kind]
    name = "missing.json" if content is None else "base.json"
    if isinstance(content, bytes):
        (project.path / name).write_bytes(content)
    elif content is not None:
        (project.path / name).write_text(content)
    has_line(usage_error(project, f"--llmeval-baseline={project.path / name}"), line)


def test_a_valid_hand_written_baseline_is_accepted(project: Project) -> None:
    """The control for the bad baselines above: the same file, undamaged, is read."""
    project.feature(OK_FEATURE)
    project.server.add_rule(None, "hi")
    (project.path / "base.json").write_text(baseline_text())
    result = project.run(f"--llmeval-baseline={project.path / 'base.json'}")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]


# ---- price tables

PRICES: dict[str, tuple[str | bytes, str]] = {
    "nan": (
        '{"m": {"input": NaN}}',
        "*--llmeval-prices / llmeval_prices: *prices.json: entry 'm' must be {*got {'input': nan}",
    ),
    "infinity": ('{"m": {"input": 1, "output": Infinity}}', "*prices.json: entry 'm' must be {*'output': inf}"),
    "negative": ('{"m": {"input": -1}}', "*prices.json: entry 'm' must be {*got {'input': -1}"),
    "not_a_number": ('{"m": {"input": "cheap"}}', "*prices.json: entry 'm' must be {*got {'input': 'cheap'}"),
    "no_input": ('{"m": {"output": 1}}', "*prices.json: entry 'm' must be {*got {'output': 1}"),
    "not_json": ('{"m": {"input": 1}', "*prices.json:1: not valid JSON: *"),
    "not_utf8": (NON_UTF8, "*prices.json: the price file is not UTF-8 text (byte 3)"),
}


@pytest.mark.parametrize("kind", list(PRICES))
def test_bad_price_file(project: Project, kind: str) -> None:
    content, line = PRICES[kind]
    path = project.path / "prices.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    has_line(usage_error(project, f"--llmeval-prices={path}"), line)


def test_missing_price_file(project: Project) -> None:
    has_line(
        usage_error(project, f"--llmeval-prices={project.path / 'nope.json'}"),
        "*--llmeval-prices / llmeval_prices: cannot read the price file *nope.json: No such file or directory",
    )


# ---- where reports and baselines go


def test_report_dir_that_is_a_file(project: Project) -> None:
    blocker = project.file("blocker", "a file\n")
    output = usage_error(project, "--llmeval-report=json", f"--llmeval-report-dir={blocker}")
    has_line(output, "*--llmeval-report-dir*blocker*")
    assert blocker.read_text() == "a file\n"


def test_report_dir_below_a_file(project: Project) -> None:
    blocker = project.file("blocker", "a file\n")
    has_line(
        usage_error(project, "--llmeval-report=md", f"--llmeval-report-dir={blocker / 'reports'}"),
        "*--llmeval-report-dir*blocker*",
    )


def test_save_baseline_below_a_file(project: Project) -> None:
    blocker = project.file("blocker", "a file\n")
    has_line(
        usage_error(project, f"--llmeval-save-baseline={blocker / 'base.json'}"), "*--llmeval-save-baseline*blocker*"
    )


def test_cache_dir_below_a_file(project: Project) -> None:
    blocker = project.file("blocker", "a file\n")
    has_line(usage_error(project, f"--llmeval-cache-dir={blocker / 'c'}"), "*--llmeval-cache-dir*blocker*")


# ------------------------------------------------------------ cache entries damaged by hand

DAMAGE: dict[str, Callable[[dict[str, Any]], str | bytes]] = {
    "text_null": lambda e: json.dumps({**e, "response": {**e["response"], "text": None}}),
    "text_empty": lambda e: json.dumps({**e, "response": {**e["response"], "text": ""}}),
    "text_whitespace": lambda e: json.dumps({**e, "response": {**e["response"], "text": "  \n"}}),
    "text_a_number": lambda e: json.dumps({**e, "response": {**e["response"], "text": 42}}),
    "text_a_list": lambda e: json.dumps({**e, "response": {**e["response"], "text": ["ok"]}}),
    "no_response": lambda e: json.dumps({k: v for k, v in e.items() if k != "response"}),
    "truncated": lambda e: json.dumps(e)[:40],
    "empty_file": lambda e: "",
    "not_utf8": lambda e: json.dumps(e).encode().replace(b'"ok"', b'"ok\xff"', 1),
}

CACHE_FEATURE = """
    Feature: cache
      @dataset:rows.jsonl
      Scenario: cache
        Given the model "m"
        When the user says "<q>"
        Then the answer does not contain "nope"
"""


def run_damaged_cache(folder: Path) -> dict[str, Any]:
    write(folder, "test_bdd_scenarios.py", "from pytest_bdd import scenarios\nscenarios('features')\n")
    write(folder, "features/cache.feature", CACHE_FEATURE)
    write(folder, "features/rows.jsonl", jsonl({"id": kind, "q": f"damage {kind}"} for kind in DAMAGE))
    with LoopbackServer(max_seconds=BOUND * 2) as server:
        server.add_rule(None, Reply.text("ok"))
        args = (f"--llmeval-base-url={server.url}", "--llmeval-report=json", "-p", "no:randomly")
        first = run_pytest(folder, *args, timeout=BOUND, tmpdir=folder / "tmp")
        assert first.ret == 0, first.output[-3000:]
        entries: dict[str, str] = {}
        for path in (folder / ".llmeval-cache").rglob("*.json"):
            entry = json.loads(path.read_text())
            kind = entry["request"]["messages"][-1]["content"].removeprefix("damage ")
            damaged = DAMAGE[kind](entry)
            path.write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
            entries[kind] = str(path)
        replay = run_pytest(folder, *args, "--llmeval-cache=replay", timeout=BOUND, tmpdir=folder / "tmp")
        replay_report = json.loads((folder / "llmeval-report" / "llmeval-report.json").read_text())
        before = server.total_requests
        record = run_pytest(folder, *args, "--llmeval-cache=record", timeout=BOUND, tmpdir=folder / "tmp")
        record_report = json.loads((folder / "llmeval-report" / "llmeval-report.json").read_text())
        resent = server.total_requests - before
    shutil.rmtree(folder / "tmp", ignore_errors=True)
    return {
        "entries": entries,
        "replay": {"ret": replay.ret, "output": replay.output, "report": replay_report},
        "record": {"ret": record.ret, "output": record.output, "report": record_report, "resent": resent},
    }


register("damaged_cache", "damaged-cache", run_damaged_cache)


@pytest.fixture
def damaged_cache(shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, "damaged_cache")


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_cache_entry_damaged_by_hand_is_a_miss(damaged_cache: dict[str, Any], kind: str) -> None:
    """Replayed, a damaged entry is a miss (an error), never a pass, and the damaged file is named once."""
    replay = damaged_cache["replay"]
    cases = {c["case_id"]: c for c in replay["report"]["cases"]}
    case = cases[f"cache[{kind}]"]
    assert case["verdict"] == "error", f"{kind}: a damaged entry replayed as {case['verdict']}"
    assert "replay miss" in (case["reason"] or "")
    path = damaged_cache["entries"][kind]
    named = [line for line in replay["output"].splitlines() if "damaged cache entry ignored" in line and path in line]
    assert len(named) == 1, f"{kind}: {path} not named once among the damaged entries:\n{replay['output'][-3000:]}"
    assert not [line for line in replay["output"].splitlines() if any(marker in line for marker in NOISE)]


def test_damaged_cache_entries_are_fetched_again_and_rewritten_whole(damaged_cache: dict[str, Any]) -> None:
    record = damaged_cache["record"]
    assert record["ret"] == 0, record["output"][-3000:]
    assert record["resent"] == len(DAMAGE)
    for path in damaged_cache["entries"].values():
        entry = json.loads(Path(path).read_text(encoding="utf-8"))
        assert entry["response"]["text"] == "ok"
