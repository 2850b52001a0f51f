"""``python -m pytest_llmeval finetune export|validate|graders``: a real run's report out as training
data, every rejection of validate with its FILE:LINE, damaged input as one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from finetune_data import mixed_report, write_report
from project import Project

from pytest_llmeval.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
USER = {"role": "user", "content": "How long do I have for a refund?"}
ANSWER = {"role": "assistant", "content": "30 days."}
OTHER = {"role": "assistant", "content": "14 days."}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["finetune", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval", "finetune", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ---- export ------------------------------------------------------------------------------------

FEATURE = """
    @samples:4 @threshold:0.5
    Feature: support
      Scenario Outline: policy
        Given the model "gpt-4.1-mini"
        And the system prompt:
          \"\"\"
          You are Acme's support bot.
          \"\"\"
        When the user says "<question>"
        Then the answer contains "<fact>"

        Examples:
          | id       | question            | fact    | ideal                         |
          | refund   | Refund window?      | 30 days | You have 30 days.             |
          | warranty | Warranty of a pan?  | 2 years | Every pan has a 2-year warranty. |
"""


def test_a_real_runs_report_exports_as_sft_and_dpo(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.server.add_rule("Refund", "You have 30 days.", times=3)
    project.server.add_rule("Refund", "You have 14 days.")
    project.server.add_rule("Warranty", "One year.")
    project.feature(FEATURE)
    result = project.run("--llmeval-report=json", "--llmeval-cache=off")
    result.assert_outcomes(passed=1, failed=1)
    report = project.path / "llmeval-report" / "llmeval-report.json"

    code, out, _ = _run(capsys, "export", str(report), "--format", "sft", "--out", str(tmp_path / "sft.jsonl"))
    assert code == 0 and "wrote 2 SFT examples" in out and "1 of them from a reference answer" in out
    sft = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    system = {"role": "system", "content": "You are Acme's support bot."}
    assert sft == [
        {
            "messages": [
                system,
                {"role": "user", "content": "Refund window?"},
                {"role": "assistant", "content": "You have 30 days."},
            ]
        },
        {
            "messages": [
                system,
                {"role": "user", "content": "Warranty of a pan?"},
                {"role": "assistant", "content": "Every pan has a 2-year warranty."},
            ]
        },
    ]

    out_file = tmp_path / "prefs.jsonl"
    code, out, _ = _run(capsys, "export", str(report), "--format", "dpo", "--only", "failing", "--out", str(out_file))
    assert code == 0 and "wrote 1 DPO pairs" in out
    (pair,) = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert pair["preferred_output"] == [{"role": "assistant", "content": "Every pan has a 2-year warranty."}]
    assert pair["non_preferred_output"] == [{"role": "assistant", "content": "One year."}]
    # What export writes, validate accepts.
    code, out, _ = _run(capsys, "validate", str(out_file), "--model", "gpt-4.1-mini")
    assert code == 0 and "1 DPO pairs, no problems" in out and "estimated training cost per epoch: $" in out


def test_export_with_a_validation_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = write_report(tmp_path / "run.json", mixed_report())
    train, held = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    args = ["export", str(report), "--format", "sft", "--out", str(train), "--validation-out", str(held)]
    code, out, _ = _run(capsys, *args, "--validation-fraction", "0.34", "--seed", "7")
    assert code == 0, out
    lines = train.read_text().splitlines() + held.read_text().splitlines()
    assert len(lines) == 4 and held.read_text() and train.read_text()
    assert "(validation)" in out and "skipped 1 case(s)" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file (write one with --llmeval-report=json)"),
        ('{"cases": [', ":1: not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ('{"results": []}', "not a pytest-llmeval JSON report (no 'cases')"),
        ('{"cases": [{"case_id": 3}]}', "damaged report at $.plugin_version"),
    ],
    ids=["missing", "cut-short", "binary", "other-json", "damaged"],
)
def test_a_report_that_cannot_be_read_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "run.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, out, err = _run(capsys, "export", str(path), "--format", "sft", "--out", str(tmp_path / "x.jsonl"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("finetune export: error: ") and message in err
    assert not (tmp_path / "x.jsonl").exists()


def test_export_refuses_what_it_cannot_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = write_report(tmp_path / "run.json", mixed_report()[3:])
    code, _, err = _run(capsys, "export", str(report), "--format", "dpo", "--out", str(tmp_path / "x.jsonl"))
    assert code == 2 and "no DPO examples (1 case(s): no passing sample, and no reference answer" in err
    code, _, err = _run(capsys, "export", str(report), "--format", "sft", "--out", "x", "--validation-fraction", "0.2")
    assert code == 2 and "--validation-fraction needs --validation-out FILE" in err
    code, _, err = _run(
        capsys,
        "export",
        str(report),
        "--format",
        "sft",
        "--out",
        "x",
        "--validation-out",
        "y",
        "--validation-fraction",
        "0",
    )
    assert code == 2 and "--validation-fraction must be between 0 and 1 (exclusive), got 0" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "export", str(report), "--format", "rlhf", "--out", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'rlhf'" in capsys.readouterr().err


# ---- validate ----------------------------------------------------------------------------------

# Each line of this file is wrong in one way OpenAI rejects or mis-trains on.
REJECTED: list[tuple[Any, str]] = [
    ("{not json", "not valid JSON"),
    ({"messages": [USER, ANSWER], "extra": 1}, "unknown key(s) 'extra' in an SFT example"),
    ({"messages": [{"role": "robot", "content": "hi"}, ANSWER]}, "unknown role 'robot'"),
    ({"messages": [USER]}, "no assistant message: there is nothing to train on"),
    ({"messages": [{"role": "user", "content": ""}, ANSWER]}, "messages[0] (user): empty content"),
    ({"messages": [USER, {**ANSWER, "weight": 2}]}, "weight must be 0 or 1, got 2"),
    (
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": {"id": 1}}}
                    ],
                },
            ]
        },
        "function.arguments must be a JSON string",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "/tmp/cat.png"}}]},
                ANSWER,
            ]
        },
        "is neither a data URL (data:image/png;base64,...) nor an http(s) URL",
    ),
    ({"input": {"messages": [USER]}, "preferred_output": [ANSWER]}, "this is a DPO example"),
    ({"messages": [USER, ANSWER]}, ""),  # clean: the original of the duplicate below
    ({"messages": [USER, ANSWER]}, "duplicate of line 10"),
    ({"messages": [{"role": "user", "content": "word " * 400}, ANSWER]}, "tokens, over --max-tokens 300"),
]


def test_every_rejection_is_one_file_line_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e, _ in REJECTED))
    code, out, err = _run(capsys, "validate", str(path), "--format", "sft", "--max-tokens", "300")
    assert code == 1
    lines = out.splitlines()
    expected = [(n, why) for n, (_, why) in enumerate(REJECTED, start=1) if why]
    assert len(lines) == len(expected), out
    for line, (number, why) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{number}: ") and why in line, (line, why)
    assert err == f"{len(expected)} problem(s) in {path}\n"


def test_every_dpo_rejection_has_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows: list[tuple[Any, str]] = [
        ({"input": {"messages": [USER]}, "preferred_output": [ANSWER], "non_preferred_output": [OTHER]}, ""),
        ({"input": {"messages": [USER]}, "preferred_output": [ANSWER]}, "DPO side missing: 'non_preferred_output'"),
        ({"input": {"messages": [USER]}, "non_preferred_output": [OTHER]}, "DPO side missing: 'preferred_output'"),
        ({"preferred_output": [ANSWER], "non_preferred_output": [OTHER]}, "missing 'input'"),
        ({"messages": [USER, ANSWER]}, "this is an SFT example"),
    ]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e, _ in rows))
    code, out, _ = _run(capsys, "validate", str(path))  # the format from the first example
    assert code == 1
    assert [line.split(": ", 1)[0] for line in out.splitlines()] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    for line, (_, why) in zip(out.splitlines(), rows[1:], strict=True):
        assert why in line


def test_a_clean_file_gets_the_summary_with_tokens_and_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        "".join(json.dumps({"messages": [USER, {**ANSWER, "content": f"{n} days."}]}) + "\n" for n in range(12))
    )
    code, out, _ = _run(capsys, "validate", str(path), "--model", "gpt-4.1-mini", "--training-price", "2")
    assert code == 0
    assert f"{path}: 12 SFT examples, no problems" in out
    tokens = int(out.split("tokens (")[1].split("): ")[1].split(" in all")[0].replace(",", ""))
    assert f"estimated training cost per epoch: ${tokens * 2 / 1_000_000:,.4f} at $2 per 1M training tokens" in out
    assert "note: OpenAI needs at least" not in out
    code, out, _ = _run(capsys, "validate", str(path), "--model", "my-local-model")
    assert code == 0 and "no training price for my-local-model; give --training-price" in out


def test_validate_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "validate", str(tmp_path / "none.jsonl"))
    assert (code, out) == (2, "") and err == f"finetune validate: error: {tmp_path / 'none.jsonl'}: no such file\n"
    code, _, err = _run(capsys, "validate", str(tmp_path / "none.jsonl"), "--max-tokens", "0")
    assert code == 2 and "--max-tokens must be at least 1, got 0" in err
    code, _, err = _run(capsys, "validate", str(tmp_path / "none.jsonl"), "--training-price", "nan")
    assert code == 2 and "--training-price must be a number of USD >= 0, got nan" in err


# ---- graders -----------------------------------------------------------------------------------


def test_graders_exports_a_feature_files_cases(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "support.feature").write_text(
        textwrap.dedent(
            """
            Feature: support
              Scenario: refund
                Given the model "gpt-4.1-mini"
                When the user says "Refund window?"
                Then the answer contains "30 days" in any case
                And the answer matches the pattern "\\bdays\\b"

              Scenario: typed
                Given the model "gpt-4.1-mini"
                When the user says "Order?"
                Then the answer validates as "pydantic:BaseModel"
            """
        )
    )
    (tmp_path / "test_support.py").write_text("from pytest_bdd import scenarios\nscenarios('features')\n")
    (tmp_path / "test_plain.py").write_text("def test_llm(llm):\n    pass\n")
    result = _cli(tmp_path, "graders", "features/support.feature", "--out", "graders.json")
    assert result.returncode == 0, result.stderr
    assert "wrote graders.json: 2 case(s), 2 grader(s)" in result.stdout
    assert "not exportable: features/support.feature: typed: pydantic_model" in result.stdout
    data = json.loads((tmp_path / "graders.json").read_text())
    refund, typed = data["cases"]
    assert refund["case_id"] == "refund" and refund["grader"]["type"] == "multi"
    assert [g["type"] for g in refund["graders"]] == ["string_check", "python"]
    assert typed["grader"] is None and typed["not_exportable"]
    assert data["not_known_before_the_run"] == []  # test_plain.py is not in the feature file

    result = _cli(tmp_path, "graders", ".", "--out", "all.json")
    assert result.returncode == 0 and "not known before the run: test_plain.py::test_llm" in result.stdout


def test_graders_exports_the_tool_graders_with_the_cases_tools(tmp_path: Path) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    (tmp_path / "tools.json").write_text(json.dumps(tools))
    (tmp_path / "weather.feature").write_text(
        textwrap.dedent(
            """
            Feature: weather
              Scenario: umbrella
                Given the model "gpt-4.1-mini"
                And the tools from "tools.json"
                When the user says "Umbrella in Paris?"
                Then the model calls "get_weather" with arguments:
                  \"\"\"
                  {"city": "Paris"}
                  \"\"\"
                And the model calls "get_weather" then "get_weather"
            """
        )
    )
    (tmp_path / "test_weather.py").write_text("from pytest_bdd import scenarios\nscenarios('weather.feature')\n")
    result = _cli(tmp_path, "graders", "weather.feature", "--out", "graders.json")
    assert result.returncode == 0, result.stderr
    (case,) = json.loads((tmp_path / "graders.json").read_text())["cases"]
    assert case["not_exportable"] == [] and [g["type"] for g in case["graders"]] == ["python", "python"]
    namespace: dict[str, Any] = {}
    exec(case["graders"][0]["source"], namespace)  # the source a python grader runs at OpenAI

    def sample(arguments: str) -> dict[str, Any]:
        call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
        return {"output_text": "", "output_json": None, "output_tools": [call]}

    assert namespace["grade"](sample('{"city": "Paris"}'), {}) == 1.0
    assert namespace["grade"](sample('{"city": "Lyon"}'), {}) == 0.0
    assert namespace["grade"](sample('{"city": "Paris", "extra": 1}'), {}) == 1.0
    assert namespace["SCHEMA"] == tools[0]["function"]["parameters"]  # the case's tools, fixed in


def test_graders_errors(tmp_path: Path) -> None:
    result = _cli(tmp_path, "graders", "nowhere.feature", "--out", "g.json")
    assert (
        result.returncode == 2 and result.stderr == "finetune graders: error: nowhere.feature: no such file or folder\n"
    )
    (tmp_path / "lonely.feature").write_text('Feature: x\n  Scenario: y\n    When the user says "hi"\n')
    result = _cli(tmp_path, "graders", "lonely.feature", "--out", "g.json")
    assert result.returncode == 2 and "no collected test binds this feature file" in result.stderr
    assert not (tmp_path / "g.json").exists()


# ---- the worked example ------------------------------------------------------------------------

LOOP = [
    "finetune",
    "--llmeval-model=gpt-4.1-mini",
    "--llmeval-model=ft:gpt-4.1-mini:acme:house-style:7p4lURel",
    "--llmeval-prompt-variant=current=",
    "--llmeval-prompt-variant=strict=finetune/prompts/house_style_strict.md",
]


def test_the_examples_fine_tuning_loop_runs_offline_and_exports_its_failures(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    examples = ROOT / "examples"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--llmeval-report-dir={tmp_path}", *LOOP],
        cwd=examples,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:]  # the base model fails on purpose
    report = json.loads((tmp_path / "llmeval-report.json").read_text())
    assert report["overall"]["errored"] == 0 and report["overall"]["cache_hits"] == report["overall"]["samples"] == 48
    models = {m["model"]: (m["passed"], m["cases"]) for m in report["models"]}
    assert models == {"gpt-4.1-mini": (3, 8), "ft:gpt-4.1-mini:acme:house-style:7p4lURel": (8, 8)}
    assert {v["variant"]: v["passed"] for v in report["variants"]} == {"current": 5, "strict": 6}

    prefs = tmp_path / "prefs.jsonl"
    exported = _cli(
        examples,
        "export",
        str(tmp_path / "llmeval-report.json"),
        "--format",
        "dpo",
        "--only",
        "failing",
        "--out",
        str(prefs),
    )
    assert exported.returncode == 0 and "wrote 8 DPO pairs" in exported.stdout, exported.stderr
    checked = _cli(examples, "validate", str(prefs), "--format", "dpo")
    assert checked.returncode == 0 and "8 DPO pairs, no problems" in checked.stdout, checked.stdout
    for line in prefs.read_text().splitlines():
        pair = json.loads(line)
        assert pair["preferred_output"][0]["content"].endswith("\n— Acme Support")
        assert not pair["non_preferred_output"][0]["content"].endswith("\n— Acme Support") or "2-year" in line
