"""finetune export: a report's cases as SFT examples and DPO pairs, the split, the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from finetune_data import SYSTEM, case, mixed_report, report

from pytest_llmeval._core.records import EvalRecord, SampleRecord, ToolCallRecord
from pytest_llmeval._finetune import export
from pytest_llmeval._finetune.report import FinetuneError
from pytest_llmeval._finetune.tokens import estimate
from pytest_llmeval._finetune.validate import validate


def _messages(made: export.Export) -> list[list[dict[str, object]]]:
    return [e.data["messages"] for e in made.examples]


def test_sft_has_one_example_per_distinct_passing_answer_and_the_reference_of_a_case_that_never_passed() -> None:
    made = export.export(report(mixed_report()), "sft")
    answers = [m[-1]["content"] for m in _messages(made)]
    assert answers == ["30 days.", "Within 30 days.", "2 years.", "A human will answer."]
    assert all(m[0] == SYSTEM and m[-1]["role"] == "assistant" for m in _messages(made))
    assert (made.cases, made.from_reference) == (3, 1)
    assert made.skipped == {"no passing sample, and no reference answer in the row (ideal or expected)": 1}


def test_sft_only_failing_takes_the_failed_cases_and_a_named_reference_field() -> None:
    cases = [
        case("a", [("fail", "no")], row={"gold": "yes", "ideal": "ignored"}),
        case("b", [("pass", "fine")]),
        case("c", [("fail", "no")], row={"gold": {"sku": "A-1"}}),
    ]
    made = export.export(report(cases), "sft", only="failing", reference_field="gold")
    assert [m[-1]["content"] for m in _messages(made)] == ["yes", '{"sku": "A-1"}']
    assert export.export(report(cases), "sft", only="passing").cases == 1


def test_sft_earlier_assistant_turns_get_weight_0_and_images_stay_content_parts() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        SYSTEM,
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": [{"type": "text", "text": "Is this broken?"}, image]},
    ]
    made = export.export(report([case("photo", [("pass", "Yes: the lid is cracked.")], messages=messages)]), "sft")
    (example,) = _messages(made)
    assert example[2] == {"role": "assistant", "content": "Hello! How can I help?", "weight": 0}
    assert example[3]["content"][1] == image
    assert example[4] == {"role": "assistant", "content": "Yes: the lid is cracked."}
    assert "weight" not in messages[2]  # the report's own messages are left alone


def test_dpo_pairs_every_answer_of_a_case_at_least_once() -> None:
    made = export.export(report(mixed_report()), "dpo")
    pairs = [
        (e.data["preferred_output"][0]["content"], e.data["non_preferred_output"][0]["content"]) for e in made.examples
    ]
    assert pairs == [
        ("2 years.", "1 year."),
        ("2 years.", "6 months."),
        ("A human will answer.", "Yes, PayPal."),
        ("A human will answer.", "Sure!"),
    ]
    assert made.examples[0].data["input"] == {"messages": [SYSTEM, {"role": "user", "content": "question of warranty"}]}
    assert made.skipped == {
        "no failing sample to pair with": 1,
        "no passing sample, and no reference answer in the row (ideal or expected)": 1,
    }


def test_the_same_example_from_two_models_is_written_once_and_skips_say_why() -> None:
    cases = [
        case("refund@gpt-4.1-mini", [("pass", "30 days.")], question="How long?"),
        case(
            "refund@ft:gpt-4.1-mini:acme::1",
            [("pass", "30 days.")],
            question="How long?",
            model="ft:gpt-4.1-mini:acme::1",
        ),
        case("broken", [("error", None)]),
        case("setup", [("fail", "x")]).model_copy(update={"messages": None}),
    ]
    made = export.export(report(cases), "sft")
    assert len(made.examples) == 1 and made.cases == 2
    assert made.examples[0].case == "features/support.feature::refund"
    assert set(made.skipped) == {"every sample errored", next(k for k in made.skipped if "no messages" in k)}


def test_case_group_drops_the_model_and_the_variant() -> None:
    record = case(
        "refund@concise@ft:gpt-4.1-mini:acme::1", [("pass", "x")], model="ft:gpt-4.1-mini:acme::1", variant="concise"
    )
    assert export.case_group(record) == "features/support.feature::refund"


def test_the_split_keeps_cases_whole_and_follows_the_seed() -> None:
    cases = [case(f"c{i}@{m}", [("pass", f"answer {i} {m}")], model=m) for i in range(10) for m in ("a", "b")]
    made = export.export(report(cases), "sft")
    train, held = export.split(made.examples, 0.2, seed=3)
    assert len(held) == 4 and len(train) == 16
    assert not {e.case for e in train} & {e.case for e in held}
    assert export.split(made.examples, 0.2, seed=3) == (train, held)
    assert {e.case for e in export.split(made.examples, 0.2, seed=4)[1]} != {e.case for e in held}


@pytest.mark.parametrize(
    ("fraction", "cases", "message"),
    [(0.0, 4, "between 0 and 1"), (1.0, 4, "between 0 and 1"), (0.1, 1, "at least 2 cases")],
)
def test_a_split_that_cannot_be_made_is_an_error(fraction: float, cases: int, message: str) -> None:
    made = export.export(report([case(f"c{i}", [("pass", f"a{i}")]) for i in range(cases)]), "sft")
    with pytest.raises(FinetuneError, match=message):
        export.split(made.examples, fraction, seed=0)


def test_write_is_one_json_object_per_line(tmp_path: Path) -> None:
    made = export.export(report(mixed_report()), "dpo")
    out = tmp_path / "prefs.jsonl"
    assert export.write(made.examples, out) == 4
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [e.data for e in made.examples]
    with pytest.raises(FinetuneError, match="cannot write"):
        export.write(made.examples, out / "nested.jsonl")  # a file where a folder should be


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _tool_case(samples: list[SampleRecord], *, outcome_row: dict[str, Any] | None = None) -> EvalRecord:
    record = case("weather", [(s.outcome, s.answer) for s in samples], row=outcome_row)
    return record.model_copy(update={"sample_records": samples, "tools": TOOLS})


def test_sft_keeps_the_tool_rounds_of_a_passing_answer_and_validate_accepts_them(tmp_path: Path) -> None:
    paris = ToolCallRecord(id="call_1", name="get_weather", arguments='{"city": "Paris"}', result="rain, 12 C")
    lyon = ToolCallRecord(id="call_2", name="get_weather", arguments='{"city": "Lyon"}', result="sun")
    retry = ToolCallRecord(id="call_3", name="get_weather", arguments='{"city": "Paris"}', round=1, result="rain")
    looped = SampleRecord(index=0, outcome="pass", answer="Take an umbrella.", tool_calls=[paris, lyon, retry])
    # An answer that only calls (no loop): the call itself is what is trained on.
    only_call = SampleRecord(index=1, outcome="pass", answer="", tool_calls=[paris.model_copy(update={"result": None})])
    failed = SampleRecord(index=2, outcome="fail", answer="No idea.", tool_calls=[paris])
    made = export.export(report([_tool_case([looped, only_call, failed])]), "sft")
    first, second = (e.data for e in made.examples)
    assert first["tools"] == TOOLS and second["tools"] == TOOLS
    assert first["messages"][2:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain, 12 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "sun"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_3", "content": "rain"},
        {"role": "assistant", "content": "Take an umbrella."},
    ]
    assert second["messages"][2:] == [first["messages"][2] | {"tool_calls": first["messages"][2]["tool_calls"][:1]}]
    path = tmp_path / "train.jsonl"
    export.write(made.examples, path)
    checked = validate(path, "sft", 1000, estimate())
    assert checked.problems == [] and checked.examples == 2


def test_sft_leaves_out_a_passing_sample_whose_calls_openai_would_reject() -> None:
    bad = ToolCallRecord(id="c", name="get_weather", arguments="{not json", result="x")
    dangling = ToolCallRecord(id="d", name="get_weather", arguments="{}", result="x")
    made = export.export(
        report(
            [
                _tool_case(
                    [
                        SampleRecord(index=0, outcome="pass", answer="Rain.", tool_calls=[bad]),
                        # Answered, but no text after the result: nothing for the assistant to learn.
                        SampleRecord(index=1, outcome="pass", answer="", tool_calls=[dangling]),
                    ]
                )
            ]
        ),
        "sft",
    )
    assert made.examples == []


def test_sft_without_tool_calls_has_no_tools_array() -> None:
    made = export.export(report([_tool_case([SampleRecord(index=0, outcome="pass", answer="Sunny.")])]), "sft")
    (example,) = made.examples
    assert "tools" not in example.data and example.data["messages"][-1] == {"role": "assistant", "content": "Sunny."}
