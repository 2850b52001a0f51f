"""Where a case's record meets pytest: the test's outcome follows the verdict.

Every front end ends a case here: :func:`conclude` keeps the record on the item and fails
the test when the verdict fails it; the makereport wrapper then moves the record onto the
test report (:func:`attach_record`), which is how it reaches the controller under xdist.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pytest

from .._config.options import Settings
from .._core.records import EvalRecord
from .failure import failure_text

RECORD_KEY = pytest.StashKey[EvalRecord]()
STOP_KEY = pytest.StashKey[str]()
STOP_REASON = "pytest-llmeval: no OpenAI API key (how to fix it is printed in the llmeval section)"


def unicode_safe(value: Any) -> Any:
    """``value`` (JSON data) with every lone surrogate replaced by U+FFFD.

    A record crosses xdist (execnet encodes UTF-8) and becomes JSON files: one lone
    surrogate in an error message or a grader's details would stop both. Nearly every
    record has none, and one encode of the whole record finds that out at C speed (walking
    it in Python took a third of the plugin's own time per test).
    """
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError):  # TypeError, ValueError: not JSON after all
        return _replace_surrogates(value)
    return value


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def fail(message: str) -> NoReturn:
    """Fail the current test with ``message`` alone: no traceback, no chained exception.

    ``from None`` matters: called while handling a parse error, ``pytest.fail`` would
    otherwise print the raw error first ("During handling of the above exception...").
    """
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None


def fails_test(record: EvalRecord, settings: Settings) -> bool:
    """Whether a case's verdict fails its test (inconclusive only without --llmeval-allow-inconclusive)."""
    if record.verdict == "inconclusive":
        return not settings.allow_inconclusive
    return record.verdict != "pass"


def keep(item: pytest.Item, record: EvalRecord) -> None:
    """Remember the test's record (a later one of the same test replaces it)."""
    item.stash[RECORD_KEY] = record


def conclude(item: pytest.Item, record: EvalRecord, settings: Settings) -> EvalRecord:
    """Keep the record; fail the test with the case's table unless its verdict passes."""
    __tracebackhide__ = True
    keep(item, record)
    if fails_test(record, settings):
        fail(failure_text(record))
    return record


def stop_run(item: pytest.Item, message: str) -> NoReturn:
    """End the run after this test, with ``message`` printed once at the end.

    ``pytest.exit`` in an xdist worker is an internal error on the controller, so the
    message rides on the test report and the session is asked to stop, as ``-x`` does.
    """
    __tracebackhide__ = True
    item.stash[STOP_KEY] = message
    item.session.shouldstop = STOP_REASON
    fail("not run: no OpenAI API key (how to fix it: the llmeval section at the end)")


def attach_record(item: pytest.Item, report: pytest.TestReport, settings: Settings) -> None:
    """Put the case's record on the test report, with pytest's outcome and the verdict agreeing.

    Plain JSON data on the report, because xdist carries report attributes to the
    controller and ``item.stash`` would not cross. A test that passed with a case that did
    not (``llm.ask`` whose samples errored, no ``check``) fails with the case's table; a
    test that failed for another reason after its case passed is recorded as an error.
    """
    record = item.stash.get(RECORD_KEY, None)
    if record is not None:
        del item.stash[RECORD_KEY]  # the report holds it now; a big suite keeps no second copy
        if report.passed and fails_test(record, settings):
            report.outcome = "failed"
            report.longrepr = failure_text(record)
        elif report.failed and record.verdict == "pass":
            first = str(report.longrepr).strip().splitlines()
            reason = f"the test failed after its case passed: {first[-1] if first else 'unknown'}"
            record = record.model_copy(update={"verdict": "error", "reason": reason})
        report.llmeval_record = unicode_safe(record.model_dump(mode="json"))  # type: ignore[attr-defined]
    stop = item.stash.get(STOP_KEY, None)
    if stop is not None:
        report.llmeval_stop = stop  # type: ignore[attr-defined]
