"""The case pipeline as a unit: a scripted engine stands in for the network (the engine has its own tests).

What is checked here is the pipeline's own logic: which requests it draws and when, how
adaptive rounds stop, what gets graded, and what a judge is told about its generation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval._case.pipeline import Runtime, draw, evaluate, grade, grade_sample, sample_rounds
from pytest_llmeval._case.spec import NO_MODEL, CaseSetupError, CaseSpec
from pytest_llmeval._config.options import CacheMode, Settings
from pytest_llmeval._core.records import Grade
from pytest_llmeval._core.request import ChatRequest, Generation, Request, TargetRequest
from pytest_llmeval._engine.pricing import PriceTable
from pytest_llmeval._engine.targets import TargetRunner
from pytest_llmeval.graders import score_model, string_check
from pytest_llmeval.graders._base import Item, Sample
from pytest_llmeval.graders._context import GradingContext, current

JUDGE_MODEL_REPLY = json.dumps({"reasoning": "fine", "score": 5})


@dataclass
class ScriptedEngine:
    """The ``Generator`` protocol: answers from ``answer``, and a log of every call."""

    answer: Callable[[ChatRequest], Generation] = lambda request: Generation(text="yes")
    prices: PriceTable = field(default_factory=lambda: PriceTable.load(None))
    calls: list[tuple[list[Request], str | None]] = field(default_factory=list)
    keyed: list[list[Request]] = field(default_factory=list)

    def generate(self, requests: Sequence[Request], after: str | None = None) -> list[Generation]:
        self.calls.append((list(requests), after))
        answers = []
        for request in requests:
            if isinstance(request, TargetRequest):  # the engine's own runner: targets are called as in a run
                answers.append(asyncio.run(TargetRunner(4, 5.0).call(request)))
                continue
            assert isinstance(request, ChatRequest)
            judged = request.response_format is not None and "json_schema" in request.response_format
            answers.append(Generation(text=JUDGE_MODEL_REPLY) if judged else self.answer(request))
        return answers

    def keys_of(self, requests: Sequence[Request]) -> list[str | None]:
        self.keyed.append(list(requests))
        return [
            f"key-{r.sample_index}"
            if isinstance(r, ChatRequest)
            else f"target-key-{r.case['sample']}"
            if isinstance(r, TargetRequest)
            else None
            for r in requests
        ]

    def drawn(self) -> list[list[int]]:
        """Sample indexes of each generation call (judge calls left out)."""
        return [
            [r.sample_index for r in requests if isinstance(r, ChatRequest)]
            for requests, after in self.calls
            if after is None and not any(isinstance(r, ChatRequest) and r.response_format for r in requests)
        ]


@dataclass
class Spy:
    """A grader that records what it saw, including the grading context it ran in."""

    name: str = "spy"
    result: bool = True
    seen: list[str] = field(default_factory=list)
    contexts: list[GradingContext | None] = field(default_factory=list)

    def __call__(self, sample: Sample, item: Item) -> Grade:
        self.seen.append(sample["output_text"])
        self.contexts.append(current())
        return Grade.check(self.name, self.result, "spied")


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


def spec(**fields: Any) -> CaseSpec:
    base: dict[str, Any] = {
        "case_id": "c",
        "nodeid": "t::c",
        "group": "g",
        "base_dir": Path("."),
        "model": "m",
        "user": "hi",
        "graders": [string_check("yes", "eq")],
    }
    return CaseSpec(**{**base, **fields})


def runtime(engine: ScriptedEngine, targets: Mapping[str, Any] | None = None, **changes: object) -> Runtime:
    if targets is None:
        return Runtime(engine=engine, settings=settings(**changes))
    return Runtime(engine=engine, settings=settings(**changes), targets=lambda: targets)


def alternating(request: ChatRequest) -> Generation:
    """Pass, fail, pass, fail...: a pass rate near 50 % that never settles against 0.5 quickly."""
    return Generation(text="yes" if request.sample_index % 2 == 0 else "no")


# ---- evaluate and draw --------------------------------------------------------------------


def test_evaluate_draws_every_sample_once_and_records_the_verdict() -> None:
    engine = ScriptedEngine()
    record = evaluate(spec(samples=3), runtime(engine))
    assert engine.drawn() == [[0, 1, 2]]
    assert (record.samples, record.passes, record.verdict) == (3, 3, "pass")
    assert [s.answer for s in record.sample_records] == ["yes", "yes", "yes"]


def test_a_setup_error_is_an_error_record_and_nothing_is_sent() -> None:
    engine = ScriptedEngine()
    record = evaluate(spec(model=None), runtime(engine))
    assert record.verdict == "error" and record.reason == NO_MODEL and record.samples == 0
    assert engine.calls == []


def test_draw_start_and_count() -> None:
    engine = ScriptedEngine()
    draw(spec(samples=5), runtime(engine), start=5, count=2)
    assert engine.drawn() == [[5, 6]]


def test_targets_are_not_asked_for_when_the_case_has_no_target() -> None:
    def no_targets() -> Mapping[str, Any]:
        raise AssertionError("the llmeval_targets fixture must not be looked up")

    engine = ScriptedEngine()
    record = evaluate(spec(), Runtime(engine=engine, settings=settings(), targets=no_targets))
    assert record.verdict == "pass"


# ---- targets ------------------------------------------------------------------------------


def test_a_target_is_called_through_the_engine_once_per_sample() -> None:
    cases: list[Mapping[str, Any]] = []

    def app(case: Mapping[str, Any]) -> str:
        cases.append(case)
        return "yes"

    engine = ScriptedEngine()
    case = spec(target="app", model=None, samples=2, system="sys", row={"k": 1})
    record = evaluate(case, runtime(engine, {"app": app}))
    assert record.verdict == "pass" and record.samples == 2
    # One engine call with a target request per sample: planned answers are found there.
    ((requests, _),) = engine.calls
    assert [(r.target, r.case["sample"]) for r in requests if isinstance(r, TargetRequest)] == [("app", 0), ("app", 1)]
    assert engine.keyed == []
    assert [c["sample"] for c in cases] == [0, 1]
    assert cases[0]["input"] == "hi" and cases[0]["row"] == {"k": 1} and cases[0]["model"] is None
    assert cases[0]["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]


def test_a_dict_from_a_target_is_graded_as_its_json_text() -> None:
    spy = Spy()
    evaluate(spec(target="app", graders=[spy]), runtime(ScriptedEngine(), {"app": lambda case: {"a": "é"}}))
    assert spy.seen == ['{"a": "é"}']


def test_a_later_round_of_a_target_continues_the_sample_indexes() -> None:
    indexes: list[int] = []

    def app(case: Mapping[str, Any]) -> str:
        indexes.append(case["sample"])
        return "yes"

    draw(spec(target="app", samples=5), runtime(ScriptedEngine(), {"app": app}), start=5, count=3)
    assert indexes == [5, 6, 7]


def test_an_unknown_target_lists_the_known_ones_sorted() -> None:
    targets = {"zeta": lambda case: "x", "alpha": lambda case: "x"}
    with pytest.raises(CaseSetupError) as excinfo:
        draw(spec(target="rag"), runtime(ScriptedEngine(), targets))
    assert str(excinfo.value) == (
        "unknown target 'rag' (known: alpha, zeta); register it with @pytest_llmeval.target(\"rag\") "
        "or in the llmeval_targets fixture"
    )


def test_an_unknown_target_with_none_registered_is_an_error_record() -> None:
    record = evaluate(spec(target="rag"), runtime(ScriptedEngine(), {}))
    assert record.verdict == "error"
    assert record.reason == (
        "unknown target 'rag' (known: none registered); register it with @pytest_llmeval.target(\"rag\") "
        "or in the llmeval_targets fixture"
    )


def test_a_raising_target_errors_its_samples_without_grading_them() -> None:
    spy = Spy()
    record = evaluate(spec(target="app", graders=[spy]), runtime(ScriptedEngine(), {"app": lambda case: 1 / 0}))
    assert spy.seen == []
    assert record.verdict == "error"
    assert record.reason == "every sample errored: target raised ZeroDivisionError: division by zero"


# ---- adaptive rounds ----------------------------------------------------------------------


def test_a_fixed_case_draws_one_round_even_when_unsettled() -> None:
    engine = ScriptedEngine(answer=alternating)
    records = sample_rounds(spec(samples=4, threshold=0.5), runtime(engine))
    assert len(records) == 4 and engine.drawn() == [[0, 1, 2, 3]]


def test_an_adaptive_case_stops_after_the_first_round_once_settled() -> None:
    engine = ScriptedEngine()
    records = sample_rounds(spec(samples=5, adaptive_max=30, threshold=0.5), runtime(engine))
    assert len(records) == 5 and engine.drawn() == [[0, 1, 2, 3, 4]]


def test_a_clear_failure_settles_too() -> None:
    engine = ScriptedEngine(answer=lambda request: Generation(text="no"))
    records = sample_rounds(spec(samples=5, adaptive_max=30, threshold=0.5), runtime(engine))
    assert len(records) == 5


def test_an_unsettled_case_draws_rounds_up_to_its_maximum() -> None:
    engine = ScriptedEngine(answer=alternating)
    records = sample_rounds(spec(samples=5, adaptive_max=12, threshold=0.5), runtime(engine))
    assert engine.drawn() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]  # the last round is cut to the maximum
    assert [r.index for r in records] == list(range(12))


def test_rounds_stop_as_soon_as_the_verdict_is_clear() -> None:
    # One failure in the first round, then passes: settled above 0.5 only after round two.
    engine = ScriptedEngine(answer=lambda request: Generation(text="no" if request.sample_index == 0 else "yes"))
    records = sample_rounds(spec(samples=5, adaptive_max=30, threshold=0.5), runtime(engine))
    assert len(engine.drawn()) == 2 and len(records) == 10


def test_errored_samples_do_not_settle_a_case() -> None:
    engine = ScriptedEngine(answer=lambda request: Generation.failed("HTTP 500"))
    records = sample_rounds(spec(samples=5, adaptive_max=10, threshold=0.5), runtime(engine))
    assert len(records) == 10 and {r.outcome for r in records} == {"error"}


def test_a_first_round_already_answered_is_not_drawn_again() -> None:
    engine = ScriptedEngine(answer=alternating)
    first = [Generation(text=text) for text in ("yes", "no", "yes", "no", "yes")]
    records = sample_rounds(spec(samples=5, adaptive_max=7, threshold=0.5), runtime(engine), first=first)
    assert engine.drawn() == [[5, 6]]
    assert [r.answer for r in records[:5]] == ["yes", "no", "yes", "no", "yes"]


def test_a_given_first_round_of_a_fixed_case_sends_nothing() -> None:
    engine = ScriptedEngine()
    records = sample_rounds(spec(samples=2), runtime(engine), first=[Generation(text="yes"), Generation(text="no")])
    assert engine.calls == [] and [r.outcome for r in records] == ["pass", "fail"]


# ---- grading ------------------------------------------------------------------------------


def test_errored_generations_are_not_graded() -> None:
    spy = Spy()
    generations = [Generation(text="a"), Generation.failed("timeout"), Generation(text="c")]
    records = grade(spec(graders=[spy]), runtime(ScriptedEngine()), generations)
    assert spy.seen == ["a", "c"]
    assert [r.outcome for r in records] == ["pass", "error", "pass"]
    assert records[1].grades == [] and records[1].error == "timeout"


def test_grade_numbers_samples_from_start() -> None:
    records = grade(spec(), runtime(ScriptedEngine()), [Generation(text="yes")] * 2, start=3)
    assert [r.index for r in records] == [3, 4]


def test_a_raising_grader_is_an_error_grade_and_the_others_still_run() -> None:
    class Broken:
        name = "broken"

        def __call__(self, sample: Sample, item: Item) -> Grade:
            raise RuntimeError("no")

    after = Spy()
    grades = grade_sample([Broken(), after], "text", {})
    assert grades[0].grader == "broken" and grades[0].error == "grader raised RuntimeError: no"
    assert grades[1].passed and after.seen == ["text"]


def test_a_nameless_grader_that_raises_is_named_by_its_type() -> None:
    def bare(sample: Sample, item: Item) -> Grade:
        raise ValueError("bad")

    (only,) = grade_sample([bare], "text", {})  # type: ignore[list-item]
    assert only.grader == "function" and not only.passed


def test_graders_see_the_row_as_item() -> None:
    seen: list[Mapping[str, Any]] = []

    class Items:
        name = "items"

        def __call__(self, sample: Sample, item: Item) -> Grade:
            seen.append(item)
            return Grade.check(self.name, True, "ok")

    grade(spec(graders=[Items()], row={"answer": 42}), runtime(ScriptedEngine()), [Generation(text="x")])
    assert seen == [{"answer": 42}]


def test_the_grading_context_is_set_only_while_grading() -> None:
    spy = Spy()
    grade(spec(graders=[spy]), runtime(ScriptedEngine(), embedding_model="emb"), [Generation(text="x")])
    (context,) = spy.contexts
    assert context is not None and context.embedding_model == "emb" and context.parent_key is None
    assert current() is None


# ---- judges and their parent key ----------------------------------------------------------


def judge_case(**fields: Any) -> tuple[CaseSpec, Spy]:
    spy = Spy()
    return spec(graders=[score_model("Is it right?", model="judge"), spy], **fields), spy


def test_a_judge_is_told_the_key_of_the_generation_it_grades() -> None:
    engine = ScriptedEngine()
    case, spy = judge_case(samples=2)
    records = grade(case, runtime(engine), [Generation(text="a"), Generation(text="b")], start=4)
    assert [[r.sample_index for r in requests] for requests in engine.keyed] == [[4, 5]]  # the case's own requests
    assert [after for requests, after in engine.calls] == ["key-4", "key-5"]
    assert [c.parent_key for c in spy.contexts if c is not None] == ["key-4", "key-5"]
    assert all(r.outcome == "pass" for r in records)


def test_an_errored_generation_asks_no_judge() -> None:
    engine = ScriptedEngine()
    case, _ = judge_case(samples=2)
    grade(case, runtime(engine), [Generation.failed("boom"), Generation(text="b")])
    assert [after for requests, after in engine.calls] == ["key-1"]


def test_no_parent_key_when_the_answer_was_not_sent_by_the_engine() -> None:
    engine = ScriptedEngine()
    case, spy = judge_case(user=None)  # a pre-generated sample: nothing was sent for it
    grade(case, runtime(engine), [Generation(text="a")])
    assert engine.keyed == []
    assert [after for requests, after in engine.calls] == [None]  # the judge is still asked
    assert spy.contexts[0] is not None and spy.contexts[0].parent_key is None


def test_no_keys_are_computed_without_a_judge() -> None:
    engine = ScriptedEngine()
    spy = Spy()
    grade(spec(graders=[spy]), runtime(engine), [Generation(text="a")])
    assert engine.keyed == [] and spy.contexts[0] is not None and spy.contexts[0].parent_key is None


def test_the_cases_judge_model_wins_over_the_option() -> None:
    engine = ScriptedEngine()
    case = spec(graders=[score_model("Is it right?")], judge_model="tagged")
    grade(case, runtime(engine, judge_model="option"), [Generation(text="a")])
    ((judge_request,), _) = engine.calls[0]
    assert isinstance(judge_request, ChatRequest) and judge_request.model == "tagged"


def test_the_option_judge_model_when_the_case_names_none() -> None:
    engine = ScriptedEngine()
    grade(spec(graders=[score_model("Is it right?")]), runtime(engine, judge_model="option"), [Generation(text="a")])
    ((judge_request,), _) = engine.calls[0]
    assert isinstance(judge_request, ChatRequest) and judge_request.model == "option"
