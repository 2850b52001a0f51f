"""The run's plan: every distinct request once, skipped tests left out, one judge job per judge per answer.

The items are real (collected by pytester, so skip marks are evaluated as pytest does);
the planner is a plain function, as the plugin's front ends hand theirs in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from project import Project

from pytest_llmeval._case.spec import CaseSpec
from pytest_llmeval._config.options import Settings
from pytest_llmeval._core.request import ChatRequest, Generation
from pytest_llmeval._engine.cache import cache_key, key_material
from pytest_llmeval._run.plan import plan
from pytest_llmeval._run.state import state_of
from pytest_llmeval.graders import score_model, string_check
from pytest_llmeval.graders._judge import JudgeGrader

Planner = Callable[[pytest.Item, Settings], CaseSpec | None]


def collect(pytester: pytest.Pytester, source: str) -> tuple[list[pytest.Item], Settings]:
    found = pytester.getitems(textwrap.dedent(source))
    return found, state_of(found[0].config).settings


def spec(user: str = "hi", **fields: Any) -> CaseSpec:
    base: dict[str, Any] = {
        "case_id": "c",
        "nodeid": "n",
        "group": "g",
        "base_dir": Path("."),
        "model": "m",
        "user": user,
        "graders": [string_check("x", "eq")],
    }
    return CaseSpec(**{**base, **fields})


def by_name(cases: dict[str, CaseSpec | None], asked: list[str] | None = None) -> Planner:
    """A planner that knows the cases of some tests by name (and notes whom it was asked about)."""

    def planner(item: pytest.Item, settings: Settings) -> CaseSpec | None:
        if asked is not None:
            asked.append(item.name)
        return cases.get(item.name)

    return planner


THREE = """
    def test_a():
        pass

    def test_b():
        pass

    def test_c():
        pass
    """


def test_one_job_per_distinct_request_in_item_order(pytester: pytest.Pytester) -> None:
    items, settings = collect(pytester, THREE)
    cases = {"test_a": spec("first", samples=2), "test_b": spec("first", samples=2), "test_c": spec("second")}
    jobs = plan(items, settings, [by_name(cases)])
    expected = [*cases["test_a"].requests(), *cases["test_c"].requests()]
    assert [job.request for job in jobs] == expected
    for job in jobs:
        assert job.request is not None and job.after is None and job.derive is None
        assert job.material == key_material(job.request, settings.base_url)
        assert job.key == cache_key(job.material)


def test_a_request_differing_only_in_parameters_is_its_own_job(pytester: pytest.Pytester) -> None:
    items, settings = collect(pytester, THREE)
    cases = {"test_a": spec(), "test_b": spec(params={"temperature": 0}), "test_c": spec(model="other")}
    assert len(plan(items, settings, [by_name(cases)])) == 3


def test_items_no_planner_knows_send_nothing(pytester: pytest.Pytester) -> None:
    items, settings = collect(pytester, THREE)
    assert plan(items, settings, [by_name({})]) == []
    assert plan(items, settings, []) == []


def test_the_first_planner_that_knows_an_item_wins(pytester: pytest.Pytester) -> None:
    items, settings = collect(pytester, THREE)
    first = by_name({"test_a": spec("from the first")})
    second = by_name({"test_a": spec("from the second"), "test_b": spec("only the second")})
    users = [job.request.messages[-1]["content"] for job in plan(items, settings, [first, second])]  # type: ignore[union-attr]
    assert users == ["from the first", "only the second"]


def test_skipped_items_are_neither_planned_nor_asked_about(pytester: pytest.Pytester) -> None:
    items, settings = collect(
        pytester,
        """
        import sys
        import pytest

        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass

        @pytest.mark.skipif(sys.version_info > (3,), reason="always")
        def test_skipif_true():
            pass

        @pytest.mark.skipif("False", reason="never")
        def test_skipif_false():
            pass

        @pytest.mark.xfail(reason="it still runs")
        def test_xfail():
            pass
        """,
    )
    asked: list[str] = []
    cases = {item.name: spec(item.name) for item in items}
    jobs = plan(items, settings, [by_name(cases, asked)])
    assert asked == ["test_skipif_false", "test_xfail"]
    assert [job.request.messages[-1]["content"] for job in jobs] == asked  # type: ignore[union-attr]


def test_a_skip_condition_that_errors_is_planned_not_raised(pytester: pytest.Pytester) -> None:
    items, settings = collect(
        pytester,
        """
        import pytest

        @pytest.mark.skipif("no_such_name", reason="a typo")
        def test_a():
            pass
        """,
    )
    assert len(plan(items, settings, [by_name({"test_a": spec()})])) == 1


def test_a_skip_condition_that_errors_does_not_crash_the_session(project: Project) -> None:
    project.file(
        "test_typo.py",
        """
        import pytest

        @pytest.mark.skipif("no_such_name", reason="a typo")
        def test_bad():
            pass

        def test_ok():
            pass
        """,
    )
    result = project.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, errors=1)


# ---- judges -------------------------------------------------------------------------------


def test_one_derived_job_per_judge_per_generation(pytester: pytest.Pytester) -> None:
    items, settings = collect(pytester, "def test_a():\n    pass\n")
    polite, brief = score_model("Polite?", model="j"), score_model("Brief?", model="j", name="brief")
    case = spec(samples=2, graders=[polite, string_check("x", "eq"), brief])
    jobs = plan(items, settings, [by_name({"test_a": case})])
    generations = [job for job in jobs if job.derive is None]
    judges = [job for job in jobs if job.derive is not None]
    assert len(generations) == 2 and len(judges) == 4
    assert sorted(job.after for job in judges) == sorted([g.key for g in generations] * 2)  # type: ignore[type-var]
    assert len({job.key for job in judges}) == 4
    assert all(job.request is None and job.material == {} for job in judges)


def test_the_same_judge_on_the_same_generation_is_planned_once(pytester: pytest.Pytester) -> None:
    items, settings = collect(pytester, THREE)
    judge = score_model("Polite?", model="j")
    cases = {name: spec(graders=[judge]) for name in ("test_a", "test_b")}
    jobs = plan(items, settings, [by_name(cases)])
    assert [job.derive is not None for job in jobs] == [False, True]


def derive_of(pytester: pytest.Pytester, judge: JudgeGrader, **fields: Any) -> Callable[[Generation], Any]:
    items, settings = collect(pytester, "def test_a():\n    pass\n")
    (_, derived) = plan(items, settings, [by_name({"test_a": spec(graders=[judge], **fields)})])
    assert derived.derive is not None
    return derived.derive


def test_a_derived_job_builds_the_judge_request_from_the_answer(pytester: pytest.Pytester) -> None:
    judge = score_model("Does {{item.topic}} come up?", model="j")
    derive = derive_of(pytester, judge, row={"topic": "refunds"})
    request = derive(Generation(text="We refund within 30 days."))
    assert isinstance(request, ChatRequest) and request.model == "j"
    expected = judge.judge_request(
        {"output_text": "We refund within 30 days.", "output_json": None}, {"topic": "refunds"}, None
    )
    assert request == expected


def test_a_derived_job_uses_the_cases_judge_model(pytester: pytest.Pytester) -> None:
    derive = derive_of(pytester, score_model("Polite?"), judge_model="tagged")
    request = derive(Generation(text="hello"))
    assert isinstance(request, ChatRequest) and request.model == "tagged"


def test_no_judge_request_for_an_errored_answer_or_without_a_judge_model(pytester: pytest.Pytester) -> None:
    assert derive_of(pytester, score_model("Polite?", model="j"))(Generation.failed("HTTP 500")) is None
    # No model anywhere: a configuration error the test itself reports, not a crash of the plan.
    assert derive_of(pytester, score_model("Polite?"))(Generation(text="hello")) is None
