"""Feature files end to end: real pytest sessions (pytester) against the loopback server."""

from __future__ import annotations

import pytest
from project import Project

SUPPORT = """
    @samples:3 @threshold:0.6
    Feature: Support bot
      Background:
        Given the model "gpt-test"
        And the system prompt:
          \"\"\"
          You are a support bot.
          \"\"\"

      Scenario Outline: facts
        When the user says "<question>"
        Then the answer contains "<fact>" in any case

        Examples:
          | id       | question               | fact    |
          | refund   | How long for a refund? | 30 days |
          | shipping | How long is shipping?  | 3 days  |
"""


def test_help_lists_the_option_group(project: Project) -> None:
    result = project.pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*LLM evals (pytest-llmeval)*", "*--llmeval-cache=MODE*"])


def test_pass_and_fail_with_a_readable_message(project: Project, mode: list[str]) -> None:
    project.server.add_rule("refund", "You have 30 Days.")
    project.server.add_rule("shipping", "About a week.")
    project.feature(SUPPORT)
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*case 'facts?shipping?' on model 'gpt-test': pass rate 0/3 = 0% (95% CI 0%-56%), threshold 60% -> FAIL*",
            "*sample 0: FAIL*",
            "*answer: 'About a week.'*",
            "*string_check*'3 days'*",
        ]
    )
    result.stdout.fnmatch_lines(["*= llmeval =*", "features/eval.feature*1/2 50.0%*", "overall*"])
    cases = project.cases()
    assert cases["facts[refund]"]["verdict"] == "pass"
    assert cases["facts[shipping]"]["passes"] == 0
    assert cases["facts[shipping]"]["samples"] == 3
    # Three samples, two cases: six requests, each with the system prompt first.
    assert project.server.total_requests == 6
    body = project.server.requests[0].body
    assert body["model"] == "gpt-test"
    assert body["messages"][0] == {"role": "system", "content": "You are a support bot."}


@pytest.mark.parametrize(
    ("step", "answer", "passes"),
    [
        ('Then the answer equals "Paris"', "  Paris\n", True),
        ('Then the answer equals "Paris"', "Paris, France", False),
        ('Then the answer contains "Par"', "Paris", True),
        ('Then the answer contains "par"', "Paris", False),
        ('Then the answer contains "par" in any case', "Paris", True),
        ('Then the answer does not contain "Lyon"', "Paris", True),
        ('Then the answer does not contain "Paris"', "Paris", False),
        ('Then the answer matches the pattern "^P\\\\w+s$"', "Paris", True),
        ('Then the answer matches the pattern "^\\\\d+$"', "Paris", False),
        ('Then the answer matches the pattern "^ACME-\\d{5}$"', "ACME-40212", True),
        ('Then the answer equals "say \\"hi\\""', 'say "hi"', True),
        ("Then the answer is valid JSON", '{"a": 1}', True),
        ("Then the answer is valid JSON", "not json", False),
        ('Then the JSON at "/a/0" equals 1', '{"a": [1]}', True),
        ('Then the JSON at "/a/0" equals true', '{"a": [1]}', False),
        ('Then the JSON at "/name" equals "Ann"', '{"name": "Ann"}', True),
        ('Then the answer validates as "models:Order"', '{"sku": "A", "quantity": 2}', True),
        ('Then the answer validates as "models:Order"', '{"sku": "A"}', False),
        ('Then the answer matches the JSON schema "order.schema.json"', '{"sku": "A", "quantity": 2}', True),
        ('Then the answer matches the JSON schema "order.schema.json"', '{"sku": 1}', False),
        ('Then the answer matches the JSON schema "order.schema.json"', "no json here", False),
    ],
)
def test_then_steps(project: Project, step: str, answer: str, passes: bool) -> None:
    project.server.add_rule(None, answer)
    project.file(
        "features/models.py", "import pydantic\nclass Order(pydantic.BaseModel):\n    sku: str\n    quantity: int\n"
    )
    project.file(
        "features/order.schema.json",
        '{"type": "object", "required": ["sku", "quantity"], '
        '"properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}}}',
    )
    project.feature(
        f"""
        Feature: steps
          Scenario: one
            Given the model "m"
            When the user says "q"
            {step}
        """
    )
    result = project.run()
    result.assert_outcomes(passed=1) if passes else result.assert_outcomes(failed=1)


def test_docstring_schema_one_of_and_pass_rate(project: Project) -> None:
    project.server.add_rule("colour", "red", times=3)
    project.server.add_rule("colour", "purple")
    project.server.add_rule("json", '{"n": 3}')
    project.feature(
        """
        @samples:4
        Feature: more
          Scenario: one of
            Given the model "m"
            When the user says "a colour"
            Then the answer is one of:
              | red   |
              | green |
            And the pass rate is at least 75%

          Scenario: inline schema
            Given the model "m"
            When the user says "json"
            Then the answer matches the JSON schema:
              \"\"\"
              {"type": "object", "properties": {"n": {"type": "integer", "maximum": 5}}}
              \"\"\"
        """
    )
    project.run("--llmeval-report=json").assert_outcomes(passed=2)
    assert project.cases()["one of"]["passes"] == 3


def test_given_steps_shape_the_request(project: Project) -> None:
    project.server.add_rule(None, '{"ok": true}')
    project.file("features/prompts/support.md", "You help {{ customer }} with orders.\n")
    project.file("features/schemas/reply.json", '{"type": "object", "additionalProperties": false}')
    project.file("features/pixel.png", "")
    (project.path / "features/pixel.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    project.feature(
        """
        Feature: request
          Scenario Outline: all givens
            Given the model "ft:gpt-4.1-mini:acme:support:7p4l"
            And the system prompt from "prompts/support.md"
            And the conversation:
              | role      | content    |
              | user      | hi         |
              | assistant | hello      |
            And the temperature is 0.2
            And the parameters:
              | name       | value |
              | max_tokens | 64    |
              | seed       | 7     |
              | stop       | END   |
            And the response format is the JSON schema "schemas/reply.json"
            And the image "pixel.png"
            When the user says:
              \"\"\"
              Where is my order, <customer>?
              \"\"\"
            Then the answer is valid JSON

            Examples:
              | customer |
              | Ann      |
        """
    )
    project.run().assert_outcomes(passed=1)
    body = project.server.requests[0].body
    assert body["model"] == "ft:gpt-4.1-mini:acme:support:7p4l"
    assert body["messages"][0] == {"role": "system", "content": "You help Ann with orders.\n"}
    assert body["messages"][1:3] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    last = body["messages"][3]["content"]
    assert last[0] == {"type": "text", "text": "Where is my order, Ann?"}
    assert last[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64 and body["seed"] == 7 and body["stop"] == "END"
    assert body["response_format"]["json_schema"]["name"] == "reply"
    assert body["response_format"]["json_schema"]["strict"] is True


def test_model_precedence(project: Project) -> None:
    project.server.add_rule(None, "ok")
    project.feature(
        """
        @model:feature-model
        Feature: models
          @model:scenario-model
          Scenario: tag
            When the user says "a"
            Then the answer equals "ok"

          Scenario: step wins over tags
            Given the model "step-model"
            When the user says "b"
            Then the answer equals "ok"

          Scenario: feature tag
            When the user says "c"
            Then the answer equals "ok"
        """
    )
    project.run().assert_outcomes(passed=3)
    seen = {r.body["messages"][-1]["content"]: r.body["model"] for r in project.server.requests}
    assert seen == {"a": "scenario-model", "b": "step-model", "c": "feature-model"}
    project.server.reset(rules=False)
    project.run("--llmeval-model=cli-model", "--llmeval-cache=off").assert_outcomes(passed=3)
    assert {r.body["model"] for r in project.server.requests} == {"cli-model"}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_dataset_tag(project: Project, fmt: str, mode: list[str]) -> None:
    project.server.add_rule("A-1", '{"sku": "A-1", "quantity": 2}')
    project.server.add_rule("B-2", '{"sku": "B-2", "quantity": 5}')
    rows = {
        "jsonl": '{"id": "first", "email": "2 x A-1", "quantity": 2}\n\n{"email": "B-2 times 4", "quantity": 4}\n',
        "csv": "id,email,quantity\nfirst,2 x A-1,2\n,B-2 times 4,4\n",
        "json": '[{"id": "first", "email": "2 x A-1", "quantity": 2}, {"email": "B-2 times 4", "quantity": 4}]',
    }[fmt]
    project.file(f"features/golden/orders.{fmt}", rows)
    project.feature(
        f"""
        Feature: extraction
          @dataset:golden/orders.{fmt}
          Scenario: order extraction
            Given the model "m"
            When the user says "<email>"
            Then the answer is valid JSON
            And the JSON at "/quantity" equals <quantity>
        """
    )
    result = project.run("--llmeval-report=json", "-v", *mode)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines([r".*(test_order_extraction\[first\] PASSED|PASSED .*test_order_extraction\[first\])"])
    ids = sorted(project.cases())
    assert ids[0] == "order extraction[first]"
    assert ids[1].startswith("order extraction[row-")
    # Without an id, the case id is a hash of the row: it survives reordering the file.
    hashed = ids[1]
    lines = rows.splitlines()
    if fmt == "jsonl":
        project.file(f"features/golden/orders.{fmt}", lines[2] + "\n" + lines[0] + "\n")
        project.run("--llmeval-report=json").assert_outcomes(passed=1, failed=1)
        assert hashed in project.cases()


def test_tags_work_whichever_plugin_registers_first(project: Project) -> None:
    # pytest_bdd_apply_tag is a firstresult hook that pytest-bdd also answers.
    project.server.add_rule(None, "ok")
    project.feature(
        """
        @samples:2
        Feature: order
          Scenario: s
            Given the model "m"
            When the user says "hi"
            Then the answer equals "ok"
        """
    )
    result = project.run(
        "-p", "no:llmeval", "-p", "pytest_llmeval.plugin", "-W", "error::pytest.PytestUnknownMarkWarning"
    )
    result.assert_outcomes(passed=1)
    assert project.server.total_requests == 2
