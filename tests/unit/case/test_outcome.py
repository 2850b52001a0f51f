"""Where a record meets pytest: which verdicts fail a test, and how the report and the record are made to agree."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from loopback import Fault
from project import Project

from pytest_llmeval._case.outcome import (
    RECORD_KEY,
    STOP_KEY,
    attach_record,
    conclude,
    fail,
    fails_test,
    keep,
    unicode_safe,
)
from pytest_llmeval._config.options import CacheMode, Settings
from pytest_llmeval._core.records import EvalRecord, SampleRecord, Verdict


def settings(**changes: object) -> Settings:
    base = Settings(
        model_override=None,
        default_model=None,
        base_url="http://127.0.0.1:9/v1",
        base_url_is_custom=True,
        samples=1,
        threshold=1.0,
        timeout=5.0,
        max_retries=0,
        cache_mode=CacheMode.OFF,
        cache_dir=Path("cache"),
        reports=(),
        report_dir=Path("reports"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def record(verdict: Verdict, **fields: object) -> EvalRecord:
    base: dict[str, object] = {
        "case_id": "c",
        "nodeid": "test_x.py::test_x",
        "group": "test_x.py",
        "model": "m",
        "samples": 1,
        "passes": 1 if verdict == "pass" else 0,
        "failures": 0 if verdict == "pass" else 1,
        "errors": 0,
        "pass_rate": 1.0 if verdict == "pass" else 0.0,
        "threshold": 1.0,
        "verdict": verdict,
        "sample_records": [SampleRecord(index=0, outcome="pass" if verdict == "pass" else "fail", answer="a")],
    }
    return EvalRecord(**{**base, **fields})  # type: ignore[arg-type]


def report_for(item: pytest.Item, outcome: str, longrepr: object = None) -> pytest.TestReport:
    return pytest.TestReport(item.nodeid, item.location, {}, outcome, longrepr, "call")  # type: ignore[arg-type]


@pytest.fixture
def item(pytester: pytest.Pytester) -> pytest.Item:
    """A real test item (its stash is what the plugin writes into)."""
    return pytester.getitem("def test_x():\n    pass\n", "test_x")


# ---- fails_test ---------------------------------------------------------------------------


@pytest.mark.parametrize(("verdict", "fails"), [("pass", False), ("fail", True), ("error", True)])
def test_only_a_pass_passes(verdict: Verdict, fails: bool) -> None:
    assert fails_test(record(verdict), settings()) is fails
    assert fails_test(record(verdict), settings(allow_inconclusive=True)) is fails  # the option is about one verdict


def test_inconclusive_fails_unless_allowed() -> None:
    assert fails_test(record("inconclusive"), settings()) is True
    assert fails_test(record("inconclusive"), settings(allow_inconclusive=True)) is False


# ---- fail and conclude --------------------------------------------------------------------


def test_fail_has_no_traceback_and_no_chained_exception() -> None:
    with pytest.raises(pytest.fail.Exception) as excinfo:
        try:
            raise ValueError("parse error")
        except ValueError:
            fail("the message")
    assert excinfo.value.msg == "the message" and excinfo.value.pytrace is False
    assert excinfo.value.__suppress_context__ and excinfo.value.__cause__ is None


def test_conclude_keeps_a_passing_record_and_returns_it(item: pytest.Item) -> None:
    passing = record("pass")
    assert conclude(item, passing, settings()) is passing
    assert item.stash[RECORD_KEY] is passing


def test_conclude_fails_with_the_table_and_still_keeps_the_record(item: pytest.Item) -> None:
    failing = record("fail")
    with pytest.raises(pytest.fail.Exception) as excinfo:
        conclude(item, failing, settings())
    assert "case 'c' on model 'm': pass rate 0/1" in str(excinfo.value.msg)
    assert item.stash[RECORD_KEY] is failing


def test_a_later_record_replaces_the_earlier_one(item: pytest.Item) -> None:
    keep(item, record("fail"))
    keep(item, record("pass", case_id="second"))
    assert item.stash[RECORD_KEY].case_id == "second"


# ---- attach_record ------------------------------------------------------------------------


def test_a_test_without_a_record_is_left_alone(item: pytest.Item) -> None:
    report = report_for(item, "passed")
    attach_record(item, report, settings())
    assert report.passed and not hasattr(report, "llmeval_record")


def test_the_record_moves_from_the_item_to_the_report_as_json(item: pytest.Item) -> None:
    keep(item, record("pass"))
    report = report_for(item, "passed")
    attach_record(item, report, settings())
    assert report.passed
    assert report.llmeval_record == record("pass").model_dump(mode="json")  # type: ignore[attr-defined]
    assert RECORD_KEY not in item.stash


def test_a_passing_test_with_a_failing_record_fails_with_the_table(item: pytest.Item) -> None:
    keep(item, record("error", reason="every sample errored: HTTP 500", passes=0, failures=0, pass_rate=None))
    report = report_for(item, "passed")
    attach_record(item, report, settings())
    assert report.failed
    assert str(report.longrepr).startswith("case 'c' on model 'm': ERROR: every sample errored: HTTP 500")
    assert report.llmeval_record["verdict"] == "error"  # type: ignore[attr-defined]


def test_an_allowed_inconclusive_record_leaves_a_passing_test_passing(item: pytest.Item) -> None:
    keep(item, record("inconclusive"))
    report = report_for(item, "passed")
    attach_record(item, report, settings(allow_inconclusive=True))
    assert report.passed and report.llmeval_record["verdict"] == "inconclusive"  # type: ignore[attr-defined]


def test_a_failing_test_with_a_passing_record_is_recorded_as_an_error(item: pytest.Item) -> None:
    keep(item, record("pass"))
    report = report_for(item, "failed", "Traceback...\n    assert x\nE   AssertionError: the length is wrong\n")
    attach_record(item, report, settings())
    assert report.failed
    data = report.llmeval_record  # type: ignore[attr-defined]
    assert data["verdict"] == "error"
    assert data["reason"] == "the test failed after its case passed: E   AssertionError: the length is wrong"
    assert data["passes"] == 1  # the counts stay what was measured


def test_a_failing_test_with_a_failing_record_keeps_its_verdict(item: pytest.Item) -> None:
    keep(item, record("fail"))
    report = report_for(item, "failed", "the table")
    attach_record(item, report, settings())
    assert report.llmeval_record["verdict"] == "fail" and report.longrepr == "the table"  # type: ignore[attr-defined]


def test_a_stop_message_rides_on_the_report(item: pytest.Item) -> None:
    item.stash[STOP_KEY] = "no key"
    report = report_for(item, "failed", "x")
    attach_record(item, report, settings())
    assert report.llmeval_stop == "no key" and not hasattr(report, "llmeval_record")  # type: ignore[attr-defined]


# ---- the same, in a real session ----------------------------------------------------------


def test_in_a_session_the_report_and_the_verdict_agree(project: Project) -> None:
    project.server.add_rule("down", Fault.status(500))
    project.server.add_rule("up", "yes")
    project.pytester.makepyfile(
        test_outcomes="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m")
        def test_asked_but_never_checked(llm):
            llm.ask("down")

        @pytest.mark.llmeval(model="m")
        def test_fails_after_the_case_passed(llm):
            llm.ask("up").check(graders.string_check(reference="yes", operation="eq"))
            assert 1 == 2, "something else broke"
        """
    )
    result = project.run("--llmeval-report=json", "--llmeval-max-retries=0")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*case 'test_asked_but_never_checked' on model 'm': ERROR: every sample errored*"])
    cases = project.cases()
    assert cases["test_asked_but_never_checked"]["verdict"] == "error"
    after = cases["test_fails_after_the_case_passed"]
    assert after["verdict"] == "error" and after["passes"] == 1
    # The last line of pytest's long report: where the test failed, and with what.
    assert after["reason"] == "the test failed after its case passed: test_outcomes.py:11: AssertionError"


def test_a_clean_record_comes_back_as_it_is() -> None:
    record = {"case": "é ✓ 😀", "samples": [{"text": "ok", "grades": [{"score": 1.0}]}], "n": None}
    assert unicode_safe(record) is record


def test_every_lone_surrogate_is_replaced_wherever_it_is() -> None:
    record = {"reason": "bad \ud800 here", "samples": [{"text": "x\udfff", "details": {"k\ud83d": ["\ud800"]}}], "n": 3}
    safe = unicode_safe(record)
    json.dumps(safe, ensure_ascii=False).encode("utf-8")  # now it crosses xdist and goes into files
    assert safe["reason"] == "bad \ufffd here" and safe["samples"][0]["text"] == "x\ufffd"
    assert safe["samples"][0]["details"] == {"k\ufffd": ["\ufffd"]} and safe["n"] == 3


def test_a_surrogate_pair_that_is_whole_stays_the_character() -> None:
    assert unicode_safe({"t": "😀"}) == {"t": "😀"}
