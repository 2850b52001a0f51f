"""``python -m pytest_llmeval report | diff | merge``: re-render, compare, merge; damaged input is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.__main__ import main
from pytest_llmeval._core.records import EvalRecord, RunInfo, RunReport
from pytest_llmeval._core.version import VERSION
from pytest_llmeval._reports.summary import build_report


def record(case_id: str, passes: int, samples: int = 10, model: str = "m", **extra: Any) -> EvalRecord:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "nodeid": f"tests/test_features.py::test_{case_id}[{model}]",
        "group": "features/support.feature",
        "model": model,
        "samples": samples,
        "passes": passes,
        "failures": samples - passes,
        "errors": 0,
        "pass_rate": passes / samples,
        "threshold": 0.8,
        "verdict": "pass" if passes / samples >= 0.8 else "fail",
        "fingerprint": "abc",
        "cost_usd": 0.01,
        **extra,
    }
    return EvalRecord.model_validate(fields)


def write(path: Path, records: list[EvalRecord], **update: Any) -> Path:
    report = build_report(records, VERSION).model_copy(update=update)
    path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_renders_html_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "run.json", [record("refund", 10), record("shipping", 3)])
    code, out, _ = run(
        capsys, "report", str(source), "--html", str(tmp_path / "out" / "r.html"), "--md", str(tmp_path / "r.md")
    )
    assert code == 0 and out.splitlines() == [f"wrote {tmp_path / 'out' / 'r.html'}", f"wrote {tmp_path / 'r.md'}"]
    page = (tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    assert '<script type="application/json" id="llmeval-data">' in page and "shipping" in page
    assert "| `shipping` | m | fail | 3/10 |" in (tmp_path / "r.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ('{"cases": [', "{path}:1: not valid JSON (Expecting value); is the file cut short?"),
        (b"\xff\xfe{}", "{path}: not UTF-8 text (byte 0); is it a JSON report?"),
        ('{"entries": {}}', "{path}: not a pytest-llmeval JSON report (no 'cases' and 'overall')"),
        ("[1, 2]", "{path}: not a pytest-llmeval JSON report (no 'cases' and 'overall')"),
        ('{"cases": [{"case_id": 3}], "overall": {}}', "{path}: damaged report at plugin_version: Field required"),
    ],
)
@pytest.mark.parametrize("command", ["report", "diff", "merge"])
def test_damaged_input_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str, command: str
) -> None:
    bad = tmp_path / "bad.json"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content, encoding="utf-8")
    good = write(tmp_path / "good.json", [record("refund", 10)])
    argv = {
        "report": ["report", str(bad), "--html", str(tmp_path / "x.html")],
        "diff": ["diff", str(good), str(bad)],
        "merge": ["merge", str(good), str(bad), "--out", str(tmp_path / "all.json")],
    }[command]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"{command}: error: {message.format(path=bad)}")
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "all.json").exists()


def test_diff_finds_a_regression_with_the_gate_s_statistics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = write(tmp_path / "a.json", [record("refund", 20, 20), record("shipping", 18, 20), record("old", 5)])
    after = write(tmp_path / "b.json", [record("refund", 13, 20), record("shipping", 18, 20), record("brand new", 5)])
    code, out, _ = run(capsys, "diff", str(before), str(after))
    assert code == 0  # reported, not gated
    lines = out.splitlines()
    assert lines[0] == f"baseline {before}: 1 regressed, 0 improved, 1 unchanged, 1 new, 1 removed, 0 redefined"
    # 20/20 -> 13/20: one-sided Fisher p = 0.0041 before Holm, x2 for the two shared cases (as the gate says).
    assert "  regressed: refund on m: 20/20 -> 13/20 p = 0.0083" in lines
    assert "  new: brand new on m: - -> 5/10" in lines and "  removed: old on m: 5/10 -> -" in lines
    assert lines[-1].startswith(f"regression: 1 case(s) regressed against {before}; suite paired p = ")
    code, _, _ = run(capsys, "diff", str(before), str(after), "--fail-on-regression")
    assert code == 1
    code, out, _ = run(capsys, "diff", str(before), str(before), "--fail-on-regression")
    assert code == 0 and "0 regressed, 0 improved, 3 unchanged" in out


def test_merge_recomputes_totals_models_baseline_and_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = RunInfo(models=["m", "ft"], options={"shard": "1/2", "samples": "10"}, shards=["1/2"])
    one = write(tmp_path / "1.json", [record("refund", 10), record("refund", 4, model="ft")], run=info)
    two = write(
        tmp_path / "2.json",
        [record("shipping", 9), record("shipping", 2, model="ft")],
        run=info.model_copy(update={"shards": ["2/2"]}),
    )
    code, out, _ = run(
        capsys,
        "merge",
        str(one),
        str(two),
        "--out",
        str(tmp_path / "all.json"),
        "--save-baseline",
        str(tmp_path / "base.json"),
        "--html",
        str(tmp_path / "all.html"),
    )
    assert code == 0, out
    merged = RunReport.model_validate_json((tmp_path / "all.json").read_text())
    assert (merged.overall.cases, merged.overall.passed) == (4, 2)
    assert [m.model for m in merged.models] == ["m", "ft"] and merged.comparisons[0].shared_cases == 2
    assert merged.run is not None and merged.run.shards == ["1/2", "2/2"] and "shard" not in merged.run.options
    assert (tmp_path / "all.html").stat().st_size > 1000
    assert out.splitlines()[-1] == "2 shard(s), 4 cases: 2/4 passed (50.0%), $0.0400"
    # The gates apply to the whole: a pass-rate floor, and a regression against the saved baseline.
    worse = write(tmp_path / "3.json", [record("refund", 1), record("shipping", 9)])
    code, out, _ = run(
        capsys,
        "merge",
        str(worse),
        "--out",
        str(tmp_path / "w.json"),
        "--min-pass-rate",
        "90%",
        "--baseline",
        str(tmp_path / "base.json"),
        "--fail-on-regression",
    )
    assert code == 1
    gates = [line for line in out.splitlines() if line.startswith("llmeval gate failed")]
    assert gates[0] == "llmeval gate failed: m: 1/2 cases passed (50.0%), below --llmeval-min-pass-rate 90.0%"
    assert "1 case(s) regressed against" in gates[1]
    assert json.loads((tmp_path / "w.json").read_text())["gates"] == gates


def test_merge_refuses_a_test_in_two_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write(tmp_path / "1.json", [record("refund", 10)])
    two = write(tmp_path / "2.json", [record("refund", 10)])
    code, _, err = run(capsys, "merge", str(one), str(two), "--out", str(tmp_path / "all.json"))
    assert code == 2
    assert err == (
        f"merge: error: {two}: tests/test_features.py::test_refund[m] is also in {one}: "
        "merge the shards of one run (--llmeval-shard I/N), each once\n"
    )
