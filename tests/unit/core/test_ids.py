"""The ``@model`` suffix of case ids: built and removed so the same case pairs up across models."""

from __future__ import annotations

import pytest

from pytest_llmeval._core.ids import with_model, without_model

MODELS = [
    "gpt-4.1-mini",
    "ft:gpt-4.1-mini:acme::x",  # a fine-tuned name: colons, an empty part
    "ft:gpt-4o:acme:run@2:abc",  # an '@' inside the model name
    "llama3@q4",
]
CASES = ["refund", "refund[30d]", "refund[a@b]", "cart[gpt-4.1-mini]", "case@old"]


def test_with_model_appends_the_suffix() -> None:
    assert with_model("refund[30d]", "ft:gpt-4.1-mini:acme::x") == "refund[30d]@ft:gpt-4.1-mini:acme::x"


def test_without_a_model_the_id_is_unchanged() -> None:
    assert with_model("refund[30d]", None) == "refund[30d]"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("case_id", CASES)
def test_without_model_undoes_with_model(case_id: str, model: str) -> None:
    assert without_model(with_model(case_id, model), model) == case_id


@pytest.mark.parametrize(
    ("case_id", "model"),
    [
        ("refund", "gpt-4o"),  # no suffix at all
        ("refund@gpt-4o-mini", "gpt-4o"),  # another model that starts like this one
        ("refund@ft:gpt-4o", "gpt-4o"),  # ...or ends like it, without the '@' right before
        ("gpt-4o@other", "gpt-4o"),  # the model at the front is not a suffix
        ("refund[gpt-4o]", "gpt-4o"),  # in the row id only
        ("refundgpt-4o", "gpt-4o"),  # the name without its '@'
    ],
)
def test_ids_that_merely_contain_the_model_are_unchanged(case_id: str, model: str) -> None:
    assert without_model(case_id, model) == case_id


def test_only_one_suffix_is_removed() -> None:
    assert without_model("refund@m@m", "m") == "refund@m"
