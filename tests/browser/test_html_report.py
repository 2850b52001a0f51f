"""The HTML report in a real browser: hostile data stays text, filters and search work, it draws, it scales."""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from chromium import Page

from pytest_llmeval._core.records import BaselineComparison, CaseChange, EvalRecord, RunReport
from pytest_llmeval._reports.html import html
from pytest_llmeval._reports.summary import build_report

HOSTILE = (
    '<img src=x onerror="window.__llmeval_pwned = 1">',
    "</script><script>window.__llmeval_pwned = 2</script>",
    "<!-- <script>window.__llmeval_pwned = 3</script>",
    '"><svg onload="window.__llmeval_pwned = 4">',
    "\u2028</script ><script>window.__llmeval_pwned = 5</script>",
)


def record(case_id: str, verdict: str = "pass", answers: tuple[str, ...] = ("fine",), **extra: Any) -> EvalRecord:
    outcome = {"pass": "pass", "fail": "fail", "inconclusive": "fail", "error": "error"}[verdict]
    samples = [
        {
            "index": i,
            "outcome": outcome,
            "answer": None if outcome == "error" else text,
            "error": "HTTP 500" if outcome == "error" else None,
            "grades": []
            if outcome == "error"
            else [{"grader": "string_check", "passed": outcome == "pass", "score": 1.0, "reason": f"saw {text}"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            "latency_s": 0.25,
            "cached": i % 2 == 1,
        }
        for i, text in enumerate(answers)
    ]
    passes = sum(s["outcome"] == "pass" for s in samples)
    errors = sum(s["outcome"] == "error" for s in samples)
    fields: dict[str, Any] = {
        "case_id": case_id,
        "nodeid": f"tests/test_x.py::{case_id}",
        "group": "features/x.feature",
        "model": "gpt-4.1-mini",
        "samples": len(samples),
        "passes": passes,
        "failures": len(samples) - passes - errors,
        "errors": errors,
        "pass_rate": None if errors == len(samples) else passes / (len(samples) - errors),
        "threshold": 1.0,
        "verdict": verdict,
        "reason": "HTTP 500" if verdict == "error" else None,
        "sample_records": samples,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"about {case_id}"}],
        **extra,
    }
    return EvalRecord.model_validate(fields)


def write(tmp_path: Path, report: RunReport) -> Path:
    path = tmp_path / "llmeval-report.html"
    path.write_text(html(report), encoding="utf-8")
    return path


def shown_cases(page: Page) -> list[str]:
    return list(page.evaluate("[...document.querySelectorAll('tr.case')].map(r => r.cells[1].textContent)"))


def expand_all(page: Page) -> None:
    """Open every shown case (its messages, row, samples and grades are drawn only then)."""
    page.evaluate("document.querySelectorAll('tr.case').forEach(row => row.click())")
    assert page.evaluate("document.querySelectorAll('tr.detail').length") == len(shown_cases(page))


def test_hostile_answers_case_ids_and_messages_stay_text(page: Page, tmp_path: Path) -> None:
    cases = [
        record(text, "fail", answers=(text, text), row={"q": text}, messages=[{"role": "user", "content": text}])
        for text in HOSTILE
    ]
    report = build_report(cases, "0.1.0")
    path = write(tmp_path, report)
    assert "</script><script>window" not in path.read_text(encoding="utf-8")
    page.load(path)
    assert page.evaluate("document.body.dataset.ready") == "true"
    page.click("button[data-filter='all']")
    expand_all(page)
    assert page.evaluate("window.__llmeval_pwned") is None
    assert page.evaluate("document.querySelectorAll('img, svg, main script').length") == 0
    answers = page.evaluate("[...document.querySelectorAll('pre.answer')].map(p => p.textContent)")
    assert sorted(set(answers)) == sorted(HOSTILE)
    assert sorted(shown_cases(page)) == sorted(HOSTILE)
    # The search box gets the hostile text as text, too.
    page.evaluate(
        f"document.getElementById('search').value = {json.dumps(HOSTILE[0])};"
        "document.getElementById('search').dispatchEvent(new Event('input'))"
    )
    time.sleep(0.3)
    assert shown_cases(page) == [HOSTILE[0]]
    assert page.evaluate("window.__llmeval_pwned") is None


def test_tool_calls_of_a_sample_are_shown_and_hostile_ones_stay_text(page: Page, tmp_path: Path) -> None:
    hostile_args = json.dumps({"city": HOSTILE[1], "note": HOSTILE[3]})
    calls = [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}', "result": "rain, 12 C"},
        {
            "id": "call_2",
            "name": HOSTILE[0],
            "arguments": hostile_args,
            "round": 1,
            "result": "error: " + HOSTILE[4],
            "error": HOSTILE[4],
        },
        {"id": "call_3", "name": "book", "arguments": HOSTILE[2], "round": 2},
    ]
    tools = [{"type": "function", "function": {"name": HOSTILE[0], "description": HOSTILE[1]}}]
    case = record("weather", "fail", answers=("Take an umbrella.",), tools=tools)
    case.sample_records[0] = case.sample_records[0].model_validate(
        {**case.sample_records[0].model_dump(), "tool_calls": calls}
    )
    page.load(write(tmp_path, build_report([case, record("other")], "0.1.0")))
    page.click("button[data-filter='all']")
    expand_all(page)
    assert page.evaluate("window.__llmeval_pwned") is None
    assert page.evaluate("document.querySelectorAll('img, svg, main script').length") == 0
    shown = page.evaluate(
        "[...document.querySelectorAll('.tool-call')].map(c => [c.querySelector('.tool-name').textContent,"
        " c.querySelector('pre.tool-args').textContent,"
        " (c.querySelector('pre.tool-result') || {textContent: null}).textContent,"
        " (c.querySelector('.grade') || {textContent: ''}).textContent])"
    )
    assert shown == [
        ["get_weather", '{\n  "city": "Paris"\n}', "rain, 12 C", ""],
        [HOSTILE[0], json.dumps(json.loads(hostile_args), indent=2), None, "error: " + HOSTILE[4]],
        ["book", HOSTILE[2], None, ""],  # not JSON: shown as the model wrote it
    ]
    assert page.evaluate("[...document.querySelectorAll('.tool-calls')].map(c => c.firstChild.textContent)") == [
        "3 tool calls"
    ]
    offered = page.evaluate("document.querySelector('pre.tools').textContent")
    assert json.loads(offered) == tools
    # The search finds a case by a tool it called.
    page.evaluate(
        "document.getElementById('search').value = 'get_weather';"
        "document.getElementById('search').dispatchEvent(new Event('input'))"
    )
    time.sleep(0.3)
    assert shown_cases(page) == ["weather"]


def baseline_of(records: list[EvalRecord], regressed: str) -> BaselineComparison:
    changes = [
        CaseChange(
            key=f"{r.group}::{r.case_id}::{r.model}",
            case_id=r.case_id,
            model=r.model,
            change="regressed" if r.case_id == regressed else "unchanged",
            before="3/3",
            after=f"{r.passes}/{r.passes + r.failures}",
            p_value=0.01 if r.case_id == regressed else None,
        )
        for r in records
    ]
    return BaselineComparison(
        path="baselines/main.json",
        alpha=0.05,
        changes=changes,
        shared_cases=len(changes),
        mean_difference=-0.2,
        suite_p_value=0.03,
    )


def test_filters_and_search_show_what_they_say(page: Page, tmp_path: Path) -> None:
    records = [
        record("refund", "pass"),
        record("shipping", "fail", answers=("no", "no")),
        record("tracking", "fail", answers=("nope",)),
        record("invoice", "error", answers=("x",)),
        record("tone", "inconclusive", answers=("meh", "meh")),
    ]
    base = build_report(records, "0.1.0")
    report = base.model_copy(update={"baseline": baseline_of(base.cases, regressed="tracking")})
    page.load(write(tmp_path, report))
    # A run with failures opens on them.
    assert page.evaluate("document.querySelector('button[aria-pressed=true]').dataset.filter") == "failed"
    assert sorted(shown_cases(page)) == ["shipping", "tracking"]
    expected = {
        "errored": ["invoice"],
        "inconclusive": ["tone"],
        "regressed": ["tracking"],
        "all": ["invoice", "refund", "shipping", "tone", "tracking"],
    }
    for name, cases in expected.items():
        page.click(f"button[data-filter='{name}']")
        assert sorted(shown_cases(page)) == cases, name
        assert page.evaluate("document.getElementById('count').textContent").startswith(f"showing {len(cases)} of")
    page.click("#search")
    page.send("Input.insertText", {"text": "NOPE"})  # typed, as a person would; answers are searched too
    time.sleep(0.3)
    assert shown_cases(page) == ["tracking"]
    page.click("tr.case")  # a click opens the case: its messages and every sample with its grades
    text = page.evaluate("document.querySelector('tr.detail').textContent")
    assert "about tracking" in text and "saw nope" in text and "Messages sent" in text
    assert "regressed" in page.evaluate("document.getElementById('baseline').textContent")


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """Decode a PNG far enough to trust it: chunks and CRCs, IHDR, the inflated image size, distinct rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width, height, channels = 8, b"", 0, 0, 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == height * stride
    rows = {raw[y * stride + 1 : (y + 1) * stride] for y in range(height)}
    return width, height, len(rows)


def test_screenshot_is_a_real_picture(page: Page, tmp_path: Path) -> None:
    records = [record(f"case {i}", "fail" if i % 3 else "pass", answers=("a", "b")) for i in range(30)]
    page.load(write(tmp_path, build_report(records, "0.1.0")))
    png = page.screenshot()
    (tmp_path / "report.png").write_bytes(png)
    width, height, distinct_rows = png_size_and_colours(png)
    assert (width, height) == (1280, 900)
    assert distinct_rows > 50  # text and tables, not a blank page


def test_ten_thousand_cases_render_quickly(page: Page, tmp_path: Path) -> None:
    # One validated record per verdict, copied with each case's own ids and answers (validating
    # 10,000 records would take longer than drawing them).
    templates = [record("t", v, answers=("a", "b", "c")) for v in ("pass", "pass", "pass", "fail", "error")]
    records = []
    for i in range(10_000):
        template = templates[i % 5]
        samples = [s.model_copy(update={"answer": f"answer {i} {s.index}"}) for s in template.sample_records]
        records.append(
            template.model_copy(
                update={
                    "case_id": f"case {i:05d}",
                    "nodeid": f"tests/test_x.py::case {i:05d}",
                    "group": f"features/f{i % 40}.feature",
                    "sample_records": samples if template.verdict != "error" else template.sample_records,
                }
            )
        )
    path = write(tmp_path, build_report(records, "0.1.0"))
    seconds = page.load(path, timeout=60)
    page.evaluate("document.body.offsetHeight")  # layout done too
    seconds = max(seconds, page.evaluate("performance.now()") / 1000)
    assert page.evaluate("document.querySelectorAll('#groups tbody tr').length") == 41
    assert page.evaluate("document.getElementById('count').textContent") == "showing 500 of 2000 matching (10000 cases)"
    page.click("button[data-filter='all']")
    assert len(shown_cases(page)) == 500
    print(f"10,000 cases: {path.stat().st_size / 1e6:.1f} MB, rendered in {seconds:.2f} s")
    # The issue asks for < 2 s; the bound leaves room for a shared, busy CI machine.
    assert seconds < 6, seconds


pytestmark = pytest.mark.filterwarnings("error")
