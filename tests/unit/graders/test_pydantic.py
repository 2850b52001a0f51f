"""pydantic_model, and import_object which turns "module:Model" strings into classes."""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pydantic
import pytest

from pytest_llmeval.graders import Grade, Grader, GraderConfigError, make_sample, pydantic_model
from pytest_llmeval.graders._imports import import_object


class Line(pydantic.BaseModel):
    sku: str
    quantity: int = pydantic.Field(ge=1)


class Order(pydantic.BaseModel):
    order_id: str
    placed: datetime.date
    lines: list[Line]


class StrictCount(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    count: int


GOOD_ORDER = '{"order_id": "O-1", "placed": "2026-01-31", "lines": [{"sku": "A-1", "quantity": 2}]}'


def grade_text(grader: Grader, text: str) -> Grade:
    return grader(make_sample(text), {})


class TestPydanticModel:
    def test_pass(self) -> None:
        grade = grade_text(pydantic_model(Order), GOOD_ORDER)
        assert grade.passed
        assert grade.grader == "pydantic_model"
        assert grade.reason == f"answer validates as '{__name__}:Order'"

    def test_failure_lists_loc_and_message(self) -> None:
        grade = grade_text(pydantic_model(Line), '{"sku": "A-1", "quantity": 0}')
        assert not grade.passed
        assert grade.error is None
        assert grade.reason == (
            f"answer does not validate as '{__name__}:Line': "
            "quantity: Input should be greater than or equal to 1 (1 error)"
        )
        assert grade.details["errors"] == [
            {
                "loc": "quantity",
                "message": "Input should be greater than or equal to 1",
                "type": "greater_than_equal",
            }
        ]

    def test_nested_locations_and_first_three_errors(self) -> None:
        answer = json.dumps({"placed": "soon", "lines": [{"sku": 1, "quantity": 1}, {"quantity": "x"}]})
        grade = grade_text(pydantic_model(Order), answer)
        assert not grade.passed
        assert grade.details["error_count"] == 5
        assert grade.reason.endswith("(5 errors)")
        shown = grade.reason.split(": ", 1)[1]
        assert shown.count(";") == 2
        assert shown.startswith("order_id: Field required; placed: Input should be a valid date")
        locations = [error["loc"] for error in grade.details["errors"]]
        assert locations == ["order_id", "placed", "lines.0.sku", "lines.1.sku", "lines.1.quantity"]

    def test_json_mode_parses_dates_from_strings(self) -> None:
        assert grade_text(pydantic_model(Order), GOOD_ORDER).passed

    def test_strict_model_stays_strict(self) -> None:
        assert grade_text(pydantic_model(StrictCount), '{"count": 3}').passed
        assert not grade_text(pydantic_model(StrictCount), '{"count": "3"}').passed

    def test_fenced_answer_is_accepted(self) -> None:
        grade = grade_text(pydantic_model(Order), f"```json\n{GOOD_ORDER}\n```")
        assert grade.passed
        assert grade.details["note"] == "JSON was inside a fenced code block"

    def test_non_json_answer_is_a_failed_grade(self) -> None:
        grade = grade_text(pydantic_model(Order), "Your order O-1 was placed today.")
        assert not grade.passed
        assert grade.error is None
        assert grade.reason.startswith(
            f"expected JSON for '{__name__}:Order', got 'Your order O-1 was placed today.' (not JSON:"
        )

    def test_json_of_the_wrong_kind(self) -> None:
        grade = grade_text(pydantic_model(Line), "[1, 2]")
        assert not grade.passed
        assert "(root): Input should be an object" in grade.reason

    def test_details_keep_at_most_twenty_errors(self) -> None:
        class Many(pydantic.BaseModel):
            values: list[int]

        grade = grade_text(pydantic_model(Many), json.dumps({"values": ["x"] * 30}))
        assert grade.details["error_count"] == 30
        assert len(grade.details["errors"]) == 20

    def test_not_a_model_class(self) -> None:
        with pytest.raises(GraderConfigError, match="is not a pydantic model class"):
            pydantic_model(dict)  # type: ignore[arg-type]

    def test_spec_names_the_model_and_holds_its_schema(self) -> None:
        grader = pydantic_model(Line)
        assert grader.name == "pydantic_model"
        assert grader.spec["model"] == f"{__name__}:Line"
        assert grader.spec["schema"] == Line.model_json_schema()
        json.dumps(grader.spec)


@pytest.fixture
def write_module(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Write a module with a fresh name into tmp_path; sys.modules forgets it afterwards."""
    names: list[str] = []

    def write(source: str) -> str:
        name = f"llmeval_models_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


MODELS_SOURCE = """
from pydantic import BaseModel

class Order(BaseModel):
    sku: str
    quantity: int

    class Line(BaseModel):
        sku: str

NOT_A_MODEL = 42
"""


class TestModelByName:
    def test_module_model_from_base_dir(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module(MODELS_SOURCE)
        path_before = list(sys.path)
        grader = pydantic_model(f"{name}:Order", base_dir=tmp_path)
        assert sys.path == path_before
        assert grade_text(grader, '{"sku": "A", "quantity": 1}').passed
        grade = grade_text(grader, '{"sku": "A"}')
        assert grade.reason == f"answer does not validate as '{name}:Order': quantity: Field required (1 error)"
        assert grader.spec["model"] == f"{name}:Order"

    def test_not_found_without_base_dir_searches_the_calling_module_folder(
        self, write_module: Callable[[str], str]
    ) -> None:
        name = write_module(MODELS_SOURCE)  # written elsewhere, not next to this test module
        with pytest.raises(GraderConfigError) as info:
            pydantic_model(f"{name}:Order")
        here = Path(__file__).resolve().parent
        assert (
            str(info.value) == f"cannot import '{name}:Order': No module named '{name}' (searched sys.path and {here})"
        )

    def test_not_a_model(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module(MODELS_SOURCE)
        with pytest.raises(GraderConfigError, match=f"'{name}:NOT_A_MODEL' is not a pydantic model class .got int"):
            pydantic_model(f"{name}:NOT_A_MODEL", base_dir=tmp_path)


class TestImportObject:
    def test_dotted_attribute(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module(MODELS_SOURCE)
        line = import_object(f"{name}:Order.Line", tmp_path)
        assert line.__name__ == "Line"

    def test_installed_module_wins_over_base_dir(self, tmp_path: Path) -> None:
        (tmp_path / "json.py").write_text("loads = None\n", encoding="utf-8")
        assert import_object("json:loads", tmp_path) is json.loads

    def test_missing_module_says_what_was_searched(self, tmp_path: Path) -> None:
        with pytest.raises(GraderConfigError) as info:
            import_object("llmeval_absent_module:Order", tmp_path)
        assert str(info.value) == (
            "cannot import 'llmeval_absent_module:Order': No module named 'llmeval_absent_module' "
            f"(searched sys.path and {tmp_path})"
        )

    def test_missing_attribute(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module(MODELS_SOURCE)
        with pytest.raises(GraderConfigError) as info:
            import_object(f"{name}:Ordr", tmp_path)
        assert str(info.value) == f"cannot import '{name}:Ordr': module '{name}' has no attribute 'Ordr'"

    def test_missing_nested_attribute(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module(MODELS_SOURCE)
        with pytest.raises(GraderConfigError, match="'Order' has no attribute 'Lines'"):
            import_object(f"{name}:Order.Lines", tmp_path)

    @pytest.mark.parametrize("spec", ["models.Order", "models:", ":Order", "a:b:c", "models/x.py:Order", ".rel:X"])
    def test_malformed_spec(self, spec: str) -> None:
        with pytest.raises(GraderConfigError, match="expected 'module:Name'"):
            import_object(spec, None)

    def test_module_that_fails_to_import(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module("raise RuntimeError('no database configured')\n")
        with pytest.raises(GraderConfigError, match="RuntimeError: no database configured"):
            import_object(f"{name}:X", tmp_path)
        assert str(tmp_path) not in sys.path

    def test_module_with_a_missing_dependency(self, tmp_path: Path, write_module: Callable[[str], str]) -> None:
        name = write_module("import llmeval_absent_dependency\n")
        with pytest.raises(GraderConfigError) as info:
            import_object(f"{name}:X", tmp_path)
        assert "No module named 'llmeval_absent_dependency'" in str(info.value)
        assert f"raised while importing '{name}'" in str(info.value)

    def test_package_submodule_from_base_dir(self, tmp_path: Path) -> None:
        package = f"llmeval_pkg_{uuid.uuid4().hex}"
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
        (tmp_path / package / "models.py").write_text("VALUE = 7\n", encoding="utf-8")
        try:
            assert import_object(f"{package}.models:VALUE", tmp_path) == 7
        finally:
            sys.modules.pop(f"{package}.models", None)
            sys.modules.pop(package, None)
