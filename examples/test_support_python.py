"""The same kind of evals as in features/, written in Python with the ``llm`` fixture.

``llm.ask(...)`` sends the question once per sample (answers come from the cache when
they are recorded) and ``.check(...)`` grades every sample; the test fails, with a table
of the samples, when the pass rate is below the marker's threshold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval import LLM, graders

FEATURES = Path(__file__).parent / "features"


def support_prompt(tier: str) -> str:
    """prompts/support.md with its ``{{ tier }}`` placeholder filled, as the feature files do."""
    return (FEATURES / "prompts" / "support.md").read_text(encoding="utf-8").replace("{{ tier }}", tier)


def at_most_words(limit: int) -> graders.FunctionGrader:
    """A custom grader: chat answers must fit the support widget without scrolling."""

    def grade(sample: graders.Sample, item: graders.Item) -> graders.Grade:
        words = len(sample["output_text"].split())
        return graders.Grade.check("at_most_words", words <= limit, f"answer has {words} words (limit {limit})")

    return graders.FunctionGrader(name="at_most_words", spec={"type": "at_most_words", "limit": limit}, fn=grade)


@pytest.mark.llmeval(samples=5, threshold=0.8)
def test_warranty_period(llm: LLM) -> None:
    """Asked 5 times; 4 of 5 answers must state the 2-year warranty."""
    answer = llm.ask(
        "My Acme kettle stopped heating after 14 months. Is it still covered by the warranty?",
        system=support_prompt("guest"),
        temperature=0.2,
    )
    answer.check(
        graders.regex(r"\b(2|two)[- ]year", flags=re.IGNORECASE),
        graders.string_check("acme.example/warranty", "like"),
        at_most_words(80),
        graders.named("only-acme-links"),  # registered in conftest.py
    )


@pytest.mark.llmeval(samples=3, judge_model="gpt-4.1-mini")
def test_damaged_item_follow_up_keeps_the_context(llm: LLM) -> None:
    """A second turn: the assistant remembers the order and applies the damaged-item policy.

    The judge question is a plain yes/no, so a smaller judge than pytest.ini's will do:
    ``judge_model=`` in the marker wins over llmeval_judge_model. Two of the three samples
    give the same answer, so the judge is asked twice, not three times.
    """
    history = [
        {"role": "user", "content": "My order ACME-40212 arrived with a cracked kettle lid."},
        {
            "role": "assistant",
            "content": "I'm sorry about that! I can send a free replacement or give you a full refund "
            "for order ACME-40212. Which would you prefer?",
        },
    ]
    answer = llm.ask(
        "A replacement, please. Do I have to send the broken kettle back?",
        system=support_prompt("plus"),
        history=history,
        temperature=0.2,
    )
    answer.check(
        graders.string_check("photo", "ilike"),
        graders.regex(r"(?i)\b(no need to|don't need to|do not need to|not need to) (send|return)"),
        graders.string_check("return label", "ilike", negate=True),
        graders.label_model(
            "The customer already chose a replacement for the cracked kettle of order ACME-40212. "
            "Does the reply go ahead with the replacement, without asking again whether they want "
            "a refund instead?",
            labels=["yes", "no"],
            passing_labels=["yes"],
        ),
    )


@pytest.mark.llmeval_dataset("features/golden/orders.jsonl")
def test_extraction_without_structured_outputs(llm: LLM, case: dict[str, Any]) -> None:
    """Each golden email, extracted from the prompt alone (no response_format), as older clients call it."""
    answer = llm.ask(case["email"], system=(FEATURES / "prompts" / "extract.md").read_text(encoding="utf-8"))
    answer.check(
        graders.valid_json(),
        graders.json_schema(FEATURES / "schemas" / "order.json"),
        graders.pydantic_model("support_models:Order", base_dir=FEATURES),
        graders.json_pointer("/order_id", case["order_id"]),
        graders.json_pointer("/items", [{"sku": case["sku"], "quantity": case["quantity"]}]),
        graders.json_pointer("/issue", case["issue"]),
        graders.json_pointer("/requested_action", case["requested_action"]),
    )


def test_only_acme_links_grader() -> None:
    """No model here either: the custom grader of conftest.py, tried on hand-made answers."""
    only_acme = graders.named("only-acme-links")
    passing = [
        "Track it at https://acme.example/orders.",
        "Claims go through https://help.acme.example/warranty",
        "No link at all.",
    ]
    failing = [
        "Track it on https://www.ups.com/track and https://acme.example/orders",
        "Sign in at https://acme.example.evil.test/login",
        "Pay at http://acme.example@pay.evil.test",
    ]
    for text in passing:
        assert only_acme(graders.make_sample(text), {}).passed, text
    for text in failing:
        assert not only_acme(graders.make_sample(text), {}).passed, text


def test_golden_rows_are_valid_tickets() -> None:
    """No model here: the golden answers themselves must satisfy the schema and the model."""
    check_schema = graders.json_schema(FEATURES / "schemas" / "order.json")
    check_model = graders.pydantic_model("support_models:Order", base_dir=FEATURES)
    for line in (FEATURES / "golden" / "orders.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ticket = {
            "order_id": row["order_id"],
            "items": [{"sku": row["sku"], "quantity": row["quantity"]}],
            "issue": row["issue"],
            "requested_action": row["requested_action"],
        }
        sample = graders.make_sample(json.dumps(ticket))
        for check in (check_schema, check_model):
            grade = check(sample, row)
            assert grade.passed, f"{row['id']}: {grade.reason}"
