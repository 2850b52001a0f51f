"""The two parameters a case reads from its item: the dataset row and the compared model."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmeval._case.dataset import DatasetRow
from pytest_llmeval._case.params import (
    MODEL_FIXTURE,
    ROW_FIXTURE,
    compared_model,
    dataset_params,
    dataset_row,
    params_of,
)


def test_an_item_without_parameters_has_none(pytester: pytest.Pytester) -> None:
    item = pytester.getitem("def test_x():\n    pass\n", "test_x")
    assert params_of(item) == {}


def test_an_items_parameters_by_name(pytester: pytest.Pytester) -> None:
    items = pytester.getitems(
        """
        import pytest

        @pytest.mark.parametrize("word", ["a", "b"])
        def test_x(word):
            pass
        """
    )
    assert [params_of(item) for item in items] == [{"word": "a"}, {"word": "b"}]


def test_a_row_is_read_only_when_it_is_a_dataset_row() -> None:
    row = DatasetRow(case_id="r1", row={"q": "x"}, line=1)
    assert dataset_row({ROW_FIXTURE: row}) is row
    assert dataset_row({}) is None
    assert dataset_row({ROW_FIXTURE: {"q": "x"}}) is None  # a user's own parameter of that name is not a row


def test_a_compared_model_is_a_string_parameter() -> None:
    assert compared_model({MODEL_FIXTURE: "ft:gpt-4.1-mini:acme::x"}) == "ft:gpt-4.1-mini:acme::x"
    assert compared_model({}) is None
    assert compared_model({MODEL_FIXTURE: None}) is None  # the fixture's default when nothing is compared


def test_dataset_params_are_one_param_per_row_with_the_case_id_as_test_id(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a", "q": 1}\n{"id": "b", "q": 2}\n', encoding="utf-8")
    params = dataset_params(path, "where")
    assert [p.id for p in params] == ["a", "b"]
    assert [p.values for p in params] == [
        (DatasetRow(case_id="a", row={"id": "a", "q": 1}, line=1),),
        (DatasetRow(case_id="b", row={"id": "b", "q": 2}, line=2),),
    ]


def test_a_bad_dataset_fails_naming_where_it_was_asked_for(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(pytest.fail.Exception) as excinfo:
        dataset_params(missing, "features/f.feature:3: @dataset:nope.jsonl")
    assert excinfo.value.msg == f"features/f.feature:3: @dataset:nope.jsonl: dataset file not found: {missing}"
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__
