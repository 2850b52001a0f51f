"""Per-run state, kept in ``config.stash`` (never module globals: pytester runs share modules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .._case.case import (
    ROUND,
    CaseSetupError,
    CaseSpec,
    error_record,
    fail,
    failure_text,
    grade_sample,
    make_record,
    sample_record,
    settled,
)
from .._case.target import call_target
from .._config.options import Settings, resolve
from .._core.records import EvalRecord, SampleRecord
from .._core.request import Generation
from .._engine.cache import CacheDirError, ResponseCache
from .._engine.client import MissingAPIKeyError
from .._engine.engine import Engine
from .._engine.pricing import PriceTable, PriceTableError
from .._engine.share import SharedRun
from ..graders._context import GradingContext
from ..graders._judge import JudgeGrader


@dataclass
class RunState:
    """Everything one pytest run shares: settings, cache, engine, and the records seen."""

    settings: Settings
    cache: ResponseCache
    engine: Engine


STATE_KEY = pytest.StashKey[RunState]()
RECORD_KEY = pytest.StashKey[EvalRecord]()
STOP_KEY = pytest.StashKey[str]()
STOP_REASON = "pytest-llmeval: no OpenAI API key (how to fix it is printed in the llmeval section)"


def stop_run(item: pytest.Item, message: str) -> NoReturn:
    """End the run after this test, with ``message`` printed once at the end.

    ``pytest.exit`` in an xdist worker is an internal error on the controller, so the
    message rides on the test report and the session is asked to stop, as ``-x`` does.
    """
    __tracebackhide__ = True
    item.stash[STOP_KEY] = message
    item.session.shouldstop = STOP_REASON
    fail("not run: no OpenAI API key (how to fix it: the llmeval section at the end)")


def configure(config: pytest.Config) -> RunState:
    settings = resolve(config)
    cache = ResponseCache(settings.cache_dir, settings.cache_mode)
    try:
        cache.check_writable()
    except CacheDirError as exc:
        raise pytest.UsageError(f"--llmeval-cache-dir / llmeval_cache_dir: {exc}") from None
    try:
        prices = PriceTable.load(settings.prices_path)
    except PriceTableError as exc:
        raise pytest.UsageError(f"--llmeval-prices / llmeval_prices: {exc}") from None
    state = RunState(settings=settings, cache=cache, engine=Engine(settings, cache, prices, _shared_run(config)))
    config.stash[STATE_KEY] = state
    return state


def fails_test(record: EvalRecord, settings: Settings) -> bool:
    """Whether a case's verdict fails its test (inconclusive only without --llmeval-allow-inconclusive)."""
    if record.verdict == "inconclusive":
        return not settings.allow_inconclusive
    return record.verdict != "pass"


def attach_record(item: pytest.Item, report: pytest.TestReport) -> None:
    """Put the case's record on the test report, with pytest's outcome and the verdict agreeing.

    Plain JSON data on the report, because xdist carries report attributes to the
    controller and ``item.stash`` would not cross. A test that passed with a case that did
    not (``llm.ask`` whose samples errored, no ``check``) fails with the case's table; a
    test that failed for another reason after its case passed is recorded as an error.
    """
    record = item.stash.get(RECORD_KEY, None)
    if record is not None:
        del item.stash[RECORD_KEY]  # the report holds it now; a big suite keeps no second copy
        if report.passed and fails_test(record, item.config.stash[STATE_KEY].settings):
            report.outcome = "failed"
            report.longrepr = failure_text(record)
        elif report.failed and record.verdict == "pass":
            first = str(report.longrepr).strip().splitlines()
            reason = f"the test failed after its case passed: {first[-1] if first else 'unknown'}"
            record = record.model_copy(update={"verdict": "error", "reason": reason})
        report.llmeval_record = record.model_dump(mode="json")  # type: ignore[attr-defined]
    stop = item.stash.get(STOP_KEY, None)
    if stop is not None:
        report.llmeval_stop = stop  # type: ignore[attr-defined]


def _shared_run(config: pytest.Config) -> SharedRun | None:
    """On an xdist worker, the run folder the controller made (see plugin.pytest_configure_node)."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or "llmeval_run_dir" not in workerinput:
        return None
    index = int(str(workerinput["workerid"]).removeprefix("gw") or 0)
    count = int(workerinput.get("workercount", 1))
    return SharedRun(Path(workerinput["llmeval_run_dir"]), index % count, count)


def state_of(config: pytest.Config) -> RunState:
    return config.stash[STATE_KEY]


Target = Callable[[Mapping[str, Any]], Any]


def run_case(
    item: pytest.Item, state: RunState, spec: CaseSpec, targets: Mapping[str, Target] | None = None
) -> EvalRecord:
    """Generate every sample of a case, grade it, and return its record."""
    missing_key = None
    try:
        samples = sample_rounds(state, spec, targets)
    except CaseSetupError as exc:
        return error_record(spec, str(exc))
    except MissingAPIKeyError as exc:
        missing_key = str(exc)
    if missing_key is not None:
        # One clear message for the whole run, instead of the same error on every case.
        stop_run(item, missing_key)
    return make_record(spec, samples, state.engine.prices)


def sample_rounds(
    state: RunState,
    spec: CaseSpec,
    targets: Mapping[str, Target] | None,
    first: Sequence[Generation] | None = None,
) -> list[SampleRecord]:
    """Draw and grade the case's samples; an adaptive case draws rounds until its verdict is clear.

    The first round is usually answered already (planned before the tests); later rounds
    go through the same engine, concurrently within the round.
    """
    records: list[SampleRecord] = []
    count = spec.samples
    generations = list(first) if first is not None else None
    while True:
        start = len(records)
        if generations is None:
            generations = _draw(state, spec, targets, start, count)
        # A judge needs its generation's cache key (to find it under xdist); others need none.
        judged = spec.target is None and any(isinstance(g, JudgeGrader) for g in spec.graders)
        keys = state.engine.keys_of(spec.requests(start, len(generations))) if judged else None
        for offset, generation in enumerate(generations):
            grades = []
            if generation.text is not None:
                context = grading_context(state, spec, keys[offset] if keys else None)
                grades = grade_sample(spec.graders, generation.text, spec.row, context)
            records.append(sample_record(start + offset, generation, grades))
        generations = None
        top = spec.adaptive_max
        if top is None or len(records) >= top or settled(records, spec.threshold):
            return records
        count = min(ROUND, top - len(records))


def _draw(
    state: RunState, spec: CaseSpec, targets: Mapping[str, Target] | None, start: int, count: int
) -> list[Generation]:
    if spec.target is not None:
        return _from_target(spec, targets or {}, start, count)
    return state.engine.generate(spec.requests(start, count))


def grading_context(state: RunState, spec: CaseSpec, parent_key: str | None) -> GradingContext:
    judge = spec.judge_model or state.settings.judge_model
    return GradingContext(
        engine=state.engine,
        judge_model=judge,
        parent_key=parent_key,
        embedding_model=state.settings.embedding_model,
    )


def _from_target(
    spec: CaseSpec, targets: Mapping[str, Target], start: int = 0, count: int | None = None
) -> list[Generation]:
    target = targets.get(spec.target or "")
    if target is None:
        known = ", ".join(sorted(targets)) or "none registered"
        raise CaseSetupError(
            f"unknown target {spec.target!r} (known: {known}); register it in the llmeval_targets fixture"
        )
    messages = list(spec.messages())
    return [
        call_target(
            target,
            {"input": spec.user, "messages": messages, "row": spec.row, "model": spec.model, "sample": index},
        )
        for index in range(start, start + (spec.samples if count is None else count))
    ]
