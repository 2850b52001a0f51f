"""CaseSpec: the messages and requests a case sends, why it cannot run, and which model and samples it gets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_llmeval._case.spec import (
    NO_MODEL,
    NO_USER,
    NOTHING_GRADES,
    ROUND,
    CaseSetupError,
    CaseSpec,
    resolve_model,
    sample_plan,
)
from pytest_llmeval._config.options import CacheMode, Settings
from pytest_llmeval.graders import string_check


def settings(**changes: object) -> Settings:
    """Settings as the options would resolve them, with only what a test changes."""
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


def spec(**fields: object) -> CaseSpec:
    base: dict[str, object] = {"case_id": "c", "nodeid": "t::c", "group": "g", "base_dir": Path("."), "user": "hi"}
    return CaseSpec(**{**base, **fields})  # type: ignore[arg-type]


# ---- messages -----------------------------------------------------------------------------


def test_the_user_message_alone() -> None:
    assert spec().messages() == ({"role": "user", "content": "hi"},)


def test_system_then_history_then_user() -> None:
    history = [{"role": "user", "content": "before"}, {"role": "assistant", "content": "ok"}]
    messages = spec(system="be brief", history=history).messages()
    assert messages == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "before"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "hi"},
    )


def test_an_empty_system_prompt_is_still_sent() -> None:
    # Only None means "no system message": an empty string is what the author wrote.
    assert spec(system="").messages()[0] == {"role": "system", "content": ""}


def test_images_make_the_user_message_content_parts_text_first() -> None:
    urls = ["data:image/png;base64,AAAA", "data:image/jpeg;base64,BBBB"]
    (message,) = spec(images=urls).messages()
    assert message == {
        "role": "user",
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": urls[0]}},
            {"type": "image_url", "image_url": {"url": urls[1]}},
        ],
    }


def test_messages_without_a_user_message_is_a_setup_error() -> None:
    with pytest.raises(CaseSetupError) as excinfo:
        spec(user=None, system="s").messages()
    assert str(excinfo.value) == NO_USER


# ---- requests -----------------------------------------------------------------------------


def test_one_request_per_sample_with_the_same_messages_and_params() -> None:
    case = spec(model="m", samples=3, params={"temperature": 0.2}, response_format={"type": "json_object"})
    requests = case.requests()
    assert [r.sample_index for r in requests] == [0, 1, 2]
    assert {r.model for r in requests} == {"m"}
    assert all(r.messages == case.messages() for r in requests)
    assert all(r.params == {"temperature": 0.2} and r.response_format == {"type": "json_object"} for r in requests)


def test_start_and_count_pick_later_samples() -> None:
    requests = spec(model="m", samples=5).requests(start=5, count=3)
    assert [r.sample_index for r in requests] == [5, 6, 7]
    # Without a count, ``samples`` requests from ``start`` (a later round of the same size).
    assert [r.sample_index for r in spec(model="m", samples=2).requests(start=4)] == [4, 5]


def test_zero_count_is_no_requests() -> None:
    assert spec(model="m", samples=3).requests(start=3, count=0) == []


def test_requests_copy_the_params() -> None:
    # A request is a cache key: changing the case afterwards must not change a request already made.
    case = spec(model="m", params={"seed": 1})
    (request,) = case.requests()
    case.params["seed"] = 2
    assert request.params == {"seed": 1}


def test_samples_differ_only_in_their_index() -> None:
    first, second = spec(model="m", samples=2).requests()
    assert first != second and replace(second, sample_index=0) == first


def test_requests_without_a_model_is_a_setup_error() -> None:
    with pytest.raises(CaseSetupError) as excinfo:
        spec().requests()
    assert str(excinfo.value) == NO_MODEL


# ---- problem ------------------------------------------------------------------------------


def test_a_complete_case_has_no_problem() -> None:
    assert spec(model="m", graders=[string_check("x", "eq")]).problem() is None


def test_no_user_message_comes_first() -> None:
    # With nothing set at all, the first thing to fix is the user message.
    assert spec(user=None).problem() == NO_USER


def test_nothing_grades_before_no_model() -> None:
    assert spec().problem() == NOTHING_GRADES


def test_no_model_and_no_target() -> None:
    assert spec(graders=[string_check("x", "eq")]).problem() == NO_MODEL


def test_a_target_needs_no_model() -> None:
    assert spec(target="rag", graders=[string_check("x", "eq")]).problem() is None


# ---- resolve_model ------------------------------------------------------------------------


def test_side_by_side_beats_everything() -> None:
    run = settings(model_override="cli", default_model="ini")
    assert resolve_model(run, "step", "tag", side_by_side="compared") == "compared"


def test_the_cli_override_beats_every_specific_model() -> None:
    assert resolve_model(settings(model_override="cli", default_model="ini"), "step", "tag") == "cli"


def test_the_first_specific_model_that_is_set_wins() -> None:
    run = settings(default_model="ini")
    assert resolve_model(run, "step", "tag") == "step"
    assert resolve_model(run, None, "tag") == "tag"
    assert resolve_model(run, "", "tag") == "tag"  # an empty name is not a model


def test_the_ini_default_is_the_last_resort() -> None:
    assert resolve_model(settings(default_model="ini"), None, None) == "ini"
    assert resolve_model(settings()) is None


# ---- sample_plan --------------------------------------------------------------------------


def test_nothing_written_uses_the_default_samples_without_adapting() -> None:
    assert sample_plan(None, settings(samples=4)) == (4, None)


@pytest.mark.parametrize("written", [3, "3", " 3 "])
def test_a_fixed_count(written: str | int) -> None:
    assert sample_plan(written, settings(samples=7)) == (3, None)


def test_auto_draws_a_round_then_adapts_up_to_max_samples() -> None:
    assert sample_plan("auto", settings(max_samples=30)) == (ROUND, 30)
    assert sample_plan("AUTO", settings(max_samples=12)) == (ROUND, 12)


def test_auto_with_a_maximum() -> None:
    assert sample_plan("auto:12", settings(max_samples=30)) == (ROUND, 12)


def test_a_maximum_below_one_round_draws_only_that_many() -> None:
    assert sample_plan("auto:3", settings()) == (3, 3)
    assert sample_plan("auto", settings(max_samples=2)) == (2, 2)


@pytest.mark.parametrize("written", ["0", "many", "auto:0", "auto:x", "-1"])
def test_bad_values_raise_value_error(written: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        sample_plan(written, settings())
