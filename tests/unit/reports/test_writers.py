"""Report files: one writer per ``--llmeval-report`` format, each written whole or not at all."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval._config.options import resolve
from pytest_llmeval._core.records import EvalRecord, RunReport
from pytest_llmeval._reports.markdown import markdown
from pytest_llmeval._reports.summary import build_report
from pytest_llmeval._reports.writers import WRITERS, write_reports


def record(case_id: str, **extra: Any) -> EvalRecord:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "nodeid": f"a.feature::{case_id}",
        "group": "a.feature",
        "model": "m",
        "samples": 2,
        "passes": 1,
        "failures": 1,
        "errors": 0,
        "pass_rate": 0.5,
        "threshold": 1.0,
        "verdict": "fail",
        "reason": None,
        "cost_usd": 0.001,
    }
    return EvalRecord(**{**fields, **extra})


@pytest.fixture
def report() -> RunReport:
    return build_report([record("a"), record("b", passes=2, failures=0, pass_rate=1.0, verdict="pass")], "1.2.3")


def test_the_formats_are_html_json_and_md() -> None:
    assert sorted(WRITERS) == ["html", "json", "md"]


def test_report_accepts_every_writer_and_names_them_on_a_typo(pytester: pytest.Pytester) -> None:
    # The option is declared from WRITERS: what it accepts and what its error lists are that table.
    accepted = resolve(pytester.parseconfig("--llmeval-report", " MD , json,md,HTML"), tuple(WRITERS))
    assert accepted.reports == tuple(sorted(WRITERS))
    with pytest.raises(pytest.UsageError, match=r"unknown report format 'xml'; use: html, json, md$"):
        resolve(pytester.parseconfig("--llmeval-report", "json,xml"), tuple(WRITERS))
    assert resolve(pytester.parseconfig(), tuple(WRITERS)).reports == ()


def test_write_reports_writes_each_format_named_by_its_key(report: RunReport, tmp_path: Path) -> None:
    directory = tmp_path / "new" / "llmeval-report"  # made when missing
    written = write_reports(report, ["md", "json"], directory)
    assert written == [directory / "llmeval-report.md", directory / "llmeval-report.json"]
    assert (directory / "llmeval-report.md").read_text(encoding="utf-8") == markdown(report) + "\n"
    assert sorted(p.name for p in directory.iterdir()) == ["llmeval-report.json", "llmeval-report.md"]  # no temp left
    # Readable by others (CI uploaders, a web server): mkstemp's 0600 is not kept.
    assert stat.S_IMODE(os.stat(directory / "llmeval-report.json").st_mode) == 0o644


def test_no_format_writes_nothing(report: RunReport, tmp_path: Path) -> None:
    assert write_reports(report, [], tmp_path / "out") == []
    assert not (tmp_path / "out").exists()


def test_the_json_report_validates_back_into_the_run_report(report: RunReport, tmp_path: Path) -> None:
    (path,) = write_reports(report, ["json"], tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert RunReport.model_validate_json(text) == report
    assert json.loads(text)["overall"]["pass_rate"] == 0.5


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    report: RunReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reader (a CI step, a second pytest) must never see half a report.
    old = tmp_path / "llmeval-report.json"
    old.write_text("old report\n", encoding="utf-8")

    def replace(src: str, dst: Path) -> None:
        assert Path(src).read_text(encoding="utf-8") == report.model_dump_json(indent=2) + "\n"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pytest_llmeval._core.files.os.replace", replace)
    with pytest.raises(OSError, match="No space left"):
        write_reports(report, ["json"], tmp_path)
    assert old.read_text(encoding="utf-8") == "old report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["llmeval-report.json"]
