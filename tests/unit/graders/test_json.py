"""valid_json, json_schema and json_pointer: grades, reasons, and errors at set-up."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.graders import (
    Grade,
    Grader,
    GraderConfigError,
    json_pointer,
    json_schema,
    make_sample,
    valid_json,
)

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
    "required": ["sku", "quantity"],
    "additionalProperties": False,
}


def grade_text(grader: Grader, text: str) -> Grade:
    return grader(make_sample(text), {})


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


class TestValidJson:
    @pytest.mark.parametrize("text", ['{"a": 1}', "[1, 2]", "3", '"text"', "null", '  {"a": 1}\n'])
    def test_any_json_value_passes(self, text: str) -> None:
        grade = grade_text(valid_json(), text)
        assert grade.passed
        assert grade.reason == "answer is valid JSON"

    def test_not_json_fails_with_the_parse_error(self) -> None:
        grade = grade_text(valid_json(), "Sure! {'a': 1}")
        assert not grade.passed
        assert grade.error is None
        assert grade.reason.startswith("expected valid JSON, got \"Sure! {'a': 1}\" (not JSON: Expecting value")

    def test_fenced_block_is_accepted_and_said(self) -> None:
        grade = grade_text(valid_json(), '```json\n{"a": 1}\n```')
        assert grade.passed
        assert grade.reason == "answer is valid JSON (JSON was inside a fenced code block)"
        assert grade.details["note"] == "JSON was inside a fenced code block"

    def test_text_around_a_fence_is_not_json(self) -> None:
        assert not grade_text(valid_json(), 'Here you go:\n```json\n{"a": 1}\n```').passed


class TestJsonSchemaGrading:
    def test_pass(self) -> None:
        grade = grade_text(json_schema(ORDER_SCHEMA), '{"sku": "A-1", "quantity": 3}')
        assert grade.passed
        assert grade.reason == "answer matches the inline schema"

    def test_failure_names_path_message_and_count(self) -> None:
        grade = grade_text(json_schema(ORDER_SCHEMA), '{"sku": "A-1", "quantity": "three"}')
        assert not grade.passed
        assert grade.error is None
        assert grade.reason == (
            "answer does not match the inline schema at $.quantity: 'three' is not of type 'integer' (1 error)"
        )
        assert grade.details["error_count"] == 1
        assert grade.details["errors"] == [
            {"path": "$.quantity", "message": "'three' is not of type 'integer'", "keyword": "type"}
        ]

    def test_several_errors_are_counted_and_kept(self) -> None:
        grade = grade_text(json_schema(ORDER_SCHEMA), '{"quantity": 0, "colour": "red"}')
        assert not grade.passed
        assert grade.reason.endswith("(first of 3 errors)")
        messages = [error["message"] for error in grade.details["errors"]]
        assert "'sku' is a required property" in messages
        assert "0 is less than the minimum of 1" in messages
        assert any("'colour' was unexpected" in message for message in messages)

    def test_details_keep_at_most_twenty_errors(self) -> None:
        schema = {"type": "array", "items": {"type": "string"}}
        grade = grade_text(json_schema(schema), json.dumps(list(range(30))))
        assert grade.details["error_count"] == 30
        assert len(grade.details["errors"]) == 20
        assert grade.reason.endswith("(first of 30 errors)")

    def test_nested_path_in_reason(self) -> None:
        schema = {"type": "object", "properties": {"items": {"type": "array", "items": ORDER_SCHEMA}}}
        grade = grade_text(json_schema(schema), '{"items": [{"sku": "A", "quantity": 1}, {"sku": 5, "quantity": 1}]}')
        assert "at $.items[1].sku: 5 is not of type 'string'" in grade.reason

    def test_non_json_answer_is_a_failed_grade(self) -> None:
        grade = grade_text(json_schema(ORDER_SCHEMA), "I cannot help with that.")
        assert not grade.passed
        assert grade.error is None
        assert grade.reason.startswith(
            "expected JSON matching the inline schema, got 'I cannot help with that.' (not JSON:"
        )

    def test_fenced_answer_is_validated_and_noted(self) -> None:
        grade = grade_text(json_schema(ORDER_SCHEMA), '```json\n{"sku": "A-1", "quantity": 3}\n```')
        assert grade.passed
        assert grade.details["note"] == "JSON was inside a fenced code block"

    def test_format_is_an_annotation(self) -> None:
        grader = json_schema({"type": "string", "format": "email"})
        assert grade_text(grader, '"not an email"').passed

    def test_boolean_schemas(self) -> None:
        assert grade_text(json_schema(True), "[1]").passed
        grade = grade_text(json_schema(False), "[1]")
        assert not grade.passed
        assert "False schema does not allow [1]" in grade.reason

    def test_long_messages_stay_on_one_short_line(self) -> None:
        schema = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
        answer = json.dumps({f"key{n}": "x" * 20 for n in range(50)})
        grade = grade_text(json_schema(schema), answer)
        assert not grade.passed
        assert "\n" not in grade.reason
        assert len(grade.reason) < 250

    def test_spec_is_json_and_holds_the_schema(self) -> None:
        grader = json_schema(ORDER_SCHEMA)
        assert grader.name == "json_schema"
        assert json.loads(json.dumps(grader.spec)) == {
            "type": "json_schema",
            "schema": ORDER_SCHEMA,
            "source": "the inline schema",
        }

    def test_later_changes_to_the_callers_dict_do_not_leak_in(self) -> None:
        schema = {"type": "integer"}
        grader = json_schema(schema)
        schema["type"] = "string"
        assert grade_text(grader, "3").passed


class TestJsonSchemaDrafts:
    def test_default_draft_is_2020_12(self) -> None:
        # prefixItems is a 2020-12 keyword; earlier drafts ignore it.
        grader = json_schema({"prefixItems": [{"type": "integer"}]})
        assert not grade_text(grader, '["a"]').passed

    def test_dollar_schema_selects_draft_07(self) -> None:
        schema = {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "items": [{"type": "integer"}, {"type": "string"}],
            "additionalItems": False,
        }
        grader = json_schema(schema)
        assert grade_text(grader, '[1, "a"]').passed
        assert not grade_text(grader, '["a", 1]').passed
        assert not grade_text(grader, '[1, "a", 2]').passed

    def test_draft_07_array_items_are_invalid_in_2020_12(self) -> None:
        with pytest.raises(GraderConfigError, match=r"at \$\.items: .*draft 2020-12 meta-schema"):
            json_schema({"items": [{"type": "integer"}]})

    def test_dollar_schema_must_be_a_string(self) -> None:
        with pytest.raises(GraderConfigError, match=r"\$schema must be a URI string"):
            json_schema({"$schema": ["x"]})


class TestJsonSchemaSources:
    def test_file_relative_to_base_dir(self, tmp_path: Path) -> None:
        write_json(tmp_path / "schemas" / "order.json", ORDER_SCHEMA)
        grader = json_schema("schemas/order.json", base_dir=tmp_path)
        assert grade_text(grader, '{"sku": "A-1", "quantity": 3}').passed
        grade = grade_text(grader, '{"sku": "A-1"}')
        assert grade.reason == (
            "answer does not match schema file 'schemas/order.json' at $: 'quantity' is a required property (1 error)"
        )
        assert grader.spec["source"] == "schema file 'schemas/order.json'"
        assert grader.spec["schema"] == ORDER_SCHEMA

    def test_path_object_and_absolute_path(self, tmp_path: Path) -> None:
        path = write_json(tmp_path / "order.json", ORDER_SCHEMA)
        assert grade_text(json_schema(path), '{"sku": "A", "quantity": 1}').passed
        assert grade_text(json_schema(str(path), base_dir=tmp_path / "elsewhere"), '{"sku": "A", "quantity": 1}').passed

    def test_relative_path_without_base_dir_is_next_to_the_calling_module(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # As for the llmeval_dataset marker: a path in a test module means "next to this test",
        # whatever directory pytest was started from.
        write_json(tmp_path / "order.json", ORDER_SCHEMA)
        (tmp_path / "callsite_mod.py").write_text(
            "from pytest_llmeval.graders import json_schema\nGRADER = json_schema('order.json')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.chdir(tmp_path.parent)
        import callsite_mod  # type: ignore[import-not-found]

        assert grade_text(callsite_mod.GRADER, '{"sku": "A", "quantity": 1}').passed

    def test_missing_file_names_it_and_where_it_looked(self, tmp_path: Path) -> None:
        with pytest.raises(GraderConfigError) as info:
            json_schema("schemas/missing.json", base_dir=tmp_path)
        message = str(info.value)
        assert "schema file 'schemas/missing.json' not found" in message
        assert str(tmp_path / "schemas" / "missing.json") in message
        assert f"relative paths are resolved from {tmp_path}" in message

    def test_folder_is_not_a_schema_file(self, tmp_path: Path) -> None:
        (tmp_path / "schemas").mkdir()
        with pytest.raises(GraderConfigError, match="'schemas' is a folder, not a JSON file"):
            json_schema("schemas", base_dir=tmp_path)

    def test_bad_json_file_gives_line_and_column(self, tmp_path: Path) -> None:
        (tmp_path / "order.json").write_text('{\n  "type": "object",\n  "required": ["sku",]\n}\n', encoding="utf-8")
        with pytest.raises(GraderConfigError) as info:
            json_schema("order.json", base_dir=tmp_path)
        assert "schema file 'order.json' is not valid JSON" in str(info.value)
        assert "line 3, column 22" in str(info.value)

    def test_invalid_schema_file_names_file_and_place(self, tmp_path: Path) -> None:
        write_json(tmp_path / "order.json", {"type": "object", "properties": {"quantity": {"type": "int"}}})
        with pytest.raises(GraderConfigError) as info:
            json_schema("order.json", base_dir=tmp_path)
        message = str(info.value)
        assert "schema file 'order.json' is not a valid schema at $.properties.quantity.type" in message
        assert "'int' is not valid under any of the given schemas" in message

    def test_file_must_hold_an_object_or_boolean(self, tmp_path: Path) -> None:
        write_json(tmp_path / "list.json", [1, 2])
        with pytest.raises(
            GraderConfigError, match=r"'list\.json' must hold a JSON object or a boolean, not a JSON array"
        ):
            json_schema("list.json", base_dir=tmp_path)

    def test_byte_order_mark_is_tolerated(self, tmp_path: Path) -> None:
        (tmp_path / "s.json").write_text('\ufeff{"type": "integer"}', encoding="utf-8")
        assert grade_text(json_schema("s.json", base_dir=tmp_path), "1").passed

    def test_ref_to_a_sibling_file(self, tmp_path: Path) -> None:
        write_json(tmp_path / "schemas" / "sku.json", {"type": "string", "pattern": "^[A-Z]-\\d+$"})
        write_json(
            tmp_path / "schemas" / "order.json",
            {"type": "object", "properties": {"sku": {"$ref": "sku.json"}}, "required": ["sku"]},
        )
        grader = json_schema("schemas/order.json", base_dir=tmp_path)
        assert grade_text(grader, '{"sku": "A-1"}').passed
        grade = grade_text(grader, '{"sku": "a1"}')
        assert not grade.passed
        assert "at $.sku: 'a1' does not match" in grade.reason

    def test_remote_ref_is_not_fetched_and_is_a_config_error(self) -> None:
        with pytest.raises(
            GraderConfigError, match=r"cannot resolve the \$ref 'https://example.invalid/.*' in the inline"
        ):
            json_schema({"$ref": "https://example.invalid/schemas/order.json"})

    def test_missing_local_ref_is_a_config_error_when_the_grader_is_made(self, tmp_path: Path) -> None:
        write_json(tmp_path / "order.json", {"$ref": "nowhere.json"})
        with pytest.raises(GraderConfigError, match=r"'nowhere.json' in schema file 'order.json'"):
            json_schema("order.json", base_dir=tmp_path)

    def test_a_ref_under_a_nested_id_is_left_to_validation(self, tmp_path: Path) -> None:
        schema = {"properties": {"a": {"$id": "https://x.invalid/a", "$ref": "b.json"}}}
        grade = grade_text(json_schema(schema), '{"a": 1}')
        assert grade.error is not None and "cannot resolve a $ref" in grade.reason

    def test_inline_json_text(self) -> None:
        grader = json_schema('{"type": "object", "required": ["a"]}')
        assert grade_text(grader, '{"a": 1}').passed
        assert not grade_text(grader, "{}").passed

    def test_inline_json_text_with_an_error_gives_the_line(self) -> None:
        with pytest.raises(GraderConfigError, match=r"the inline schema is not valid JSON: .* line 2, column 1"):
            json_schema('{"type": "object",\n}')

    def test_wrong_type_of_argument(self) -> None:
        with pytest.raises(GraderConfigError, match="schema must be a path"):
            json_schema(42)  # type: ignore[arg-type]


@pytest.fixture
def module_name(tmp_path: Path) -> Iterator[str]:
    """A fresh module name for a file in tmp_path, forgotten by sys.modules afterwards."""
    name = f"llmeval_schemas_{uuid.uuid4().hex}"
    yield name
    sys.modules.pop(name, None)


class TestJsonSchemaFromImport:
    def test_pydantic_model_from_base_dir(self, tmp_path: Path, module_name: str) -> None:
        (tmp_path / f"{module_name}.py").write_text(
            "from pydantic import BaseModel\n\nclass Order(BaseModel):\n    sku: str\n    quantity: int\n",
            encoding="utf-8",
        )
        path_before = list(sys.path)
        grader = json_schema(f"{module_name}:Order", base_dir=tmp_path)
        assert sys.path == path_before
        assert grade_text(grader, '{"sku": "A", "quantity": 1}').passed
        grade = grade_text(grader, '{"sku": "A"}')
        assert grade.reason.startswith(f"answer does not match the schema of '{module_name}:Order' at $:")
        assert grader.spec["schema"]["title"] == "Order"

    def test_dict_attribute(self, tmp_path: Path, module_name: str) -> None:
        (tmp_path / f"{module_name}.py").write_text("SCHEMA = {'type': 'integer'}\n", encoding="utf-8")
        grader = json_schema(f"{module_name}:SCHEMA", base_dir=tmp_path)
        assert grade_text(grader, "3").passed
        assert not grade_text(grader, '"3"').passed

    def test_object_that_is_not_a_schema(self, tmp_path: Path, module_name: str) -> None:
        (tmp_path / f"{module_name}.py").write_text("NAME = 'order'\n", encoding="utf-8")
        with pytest.raises(GraderConfigError, match="is a str; expected a pydantic model class or a dict"):
            json_schema(f"{module_name}:NAME", base_dir=tmp_path)

    def test_unimportable_module(self, tmp_path: Path) -> None:
        with pytest.raises(GraderConfigError, match="cannot import 'no_such_module_x:Order'"):
            json_schema("no_such_module_x:Order", base_dir=tmp_path)


RFC_6901_DOCUMENT = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


class TestJsonPointer:
    @pytest.mark.parametrize(
        ("pointer", "expected"),
        [
            ("", RFC_6901_DOCUMENT),
            ("/foo", ["bar", "baz"]),
            ("/foo/0", "bar"),
            ("/", 0),
            ("/a~1b", 1),
            ("/c%d", 2),
            ("/e^f", 3),
            ("/g|h", 4),
            ("/i\\j", 5),
            ('/k"l', 6),
            ("/ ", 7),
            ("/m~0n", 8),
        ],
    )
    def test_rfc_6901_examples(self, pointer: str, expected: Any) -> None:
        grade = grade_text(json_pointer(pointer, expected), json.dumps(RFC_6901_DOCUMENT))
        assert grade.passed, grade.reason

    def test_tilde_zero_one_is_a_literal_tilde_one(self) -> None:
        document = json.dumps({"~1": "tilde-one", "/": "slash"})
        assert grade_text(json_pointer("/~01", "tilde-one"), document).passed
        assert grade_text(json_pointer("/~1", "slash"), document).passed

    def test_pass_reason(self) -> None:
        grade = grade_text(json_pointer("/quantity", 3), '{"quantity": 3}')
        assert grade.reason == "JSON at '/quantity' equals 3"

    def test_wrong_value_shows_both_as_json(self) -> None:
        grade = grade_text(json_pointer("/ok", True), '{"ok": "true"}')
        assert not grade.passed
        assert grade.reason == "expected JSON at '/ok' == true, got \"true\""
        assert grade.details["actual"] == "true"

    def test_integer_equals_float(self) -> None:
        assert grade_text(json_pointer("/n", 1), '{"n": 1.0}').passed
        assert grade_text(json_pointer("/n", 1.0), '{"n": 1}').passed

    @pytest.mark.parametrize(
        ("expected", "answer"),
        [
            (True, '{"v": 1}'),
            (1, '{"v": true}'),
            (False, '{"v": 0}'),
            (0, '{"v": false}'),
            (0.0, '{"v": false}'),
        ],
    )
    def test_booleans_are_not_numbers(self, expected: Any, answer: str) -> None:
        grade = grade_text(json_pointer("/v", expected), answer)
        assert not grade.passed
        assert grade.reason.startswith(f"expected JSON at '/v' == {json.dumps(expected)}, got ")

    def test_booleans_are_not_numbers_inside_containers(self) -> None:
        assert not grade_text(json_pointer("/v", [1, 0]), '{"v": [true, false]}').passed
        assert not grade_text(json_pointer("/v", {"a": [1]}), '{"v": {"a": [true]}}').passed
        assert grade_text(json_pointer("/v", {"a": [1, True, None]}), '{"v": {"a": [1.0, true, null]}}').passed

    def test_containers_compare_by_length_and_keys(self) -> None:
        assert not grade_text(json_pointer("/v", [1]), '{"v": [1, 2]}').passed
        assert not grade_text(json_pointer("/v", {"a": 1}), '{"v": {"a": 1, "b": 2}}').passed

    def test_string_is_not_number_and_null_is_not_missing(self) -> None:
        assert not grade_text(json_pointer("/v", 1), '{"v": "1"}').passed
        assert grade_text(json_pointer("/v", None), '{"v": null}').passed

    def test_tuple_expected_is_an_array(self) -> None:
        assert grade_text(json_pointer("/v", (1, 2)), '{"v": [1, 2]}').passed

    def test_missing_member_says_which(self) -> None:
        grade = grade_text(json_pointer("/order/quantity", 3), '{"order": {"sku": "A"}}')
        assert not grade.passed
        assert grade.error is None
        assert grade.reason == "expected JSON at '/order/quantity' == 3, but '/order' has no member 'quantity'"

    def test_missing_at_the_root(self) -> None:
        grade = grade_text(json_pointer("/a", 1), "{}")
        assert grade.reason == "expected JSON at '/a' == 1, but the root has no member 'a'"

    def test_index_out_of_range(self) -> None:
        grade = grade_text(json_pointer("/items/2", "x"), '{"items": ["a", "b"]}')
        assert (
            grade.reason
            == "expected JSON at '/items/2' == \"x\", but '/items' is an array of 2 items, with no index '2'"
        )

    @pytest.mark.parametrize("token", ["-", "01", "a", "+1", "1.0"])
    def test_not_an_array_index(self, token: str) -> None:
        grade = grade_text(json_pointer(f"/{token}", "a"), '["a", "b"]')
        assert not grade.passed
        assert f"with no index {token!r}" in grade.reason

    def test_cannot_descend_into_a_scalar(self) -> None:
        grade = grade_text(json_pointer("/a/b", 1), '{"a": "text"}')
        assert grade.reason == (
            "expected JSON at '/a/b' == 1, but '/a' is \"text\" (string), not an object or array, so it has no 'b'"
        )

    def test_escaped_names_in_the_missing_message(self) -> None:
        grade = grade_text(json_pointer("/a~1b/c", 1), '{"a/b": {}}')
        assert "'/a~1b' has no member 'c'" in grade.reason

    def test_whole_document(self) -> None:
        assert grade_text(json_pointer("", [1, 2]), "[1, 2]").passed
        grade = grade_text(json_pointer("", [1, 2]), "[1, 3]")
        assert grade.reason == "expected the JSON answer == [1, 2], got [1, 3]"

    def test_non_json_answer_is_a_failed_grade(self) -> None:
        grade = grade_text(json_pointer("/quantity", 3), "three")
        assert not grade.passed
        assert grade.error is None
        assert grade.reason.startswith("expected JSON at '/quantity' == 3, got 'three' (not JSON:")

    def test_fenced_answer(self) -> None:
        grade = grade_text(json_pointer("/quantity", 3), '```json\n{"quantity": 3}\n```')
        assert grade.passed
        assert grade.details["note"] == "JSON was inside a fenced code block"

    @pytest.mark.parametrize(("pointer", "hint"), [("quantity", "'/quantity'"), ("#/quantity", "'/quantity'")])
    def test_pointer_must_start_with_a_slash(self, pointer: str, hint: str) -> None:
        with pytest.raises(GraderConfigError, match=f"must be empty or start with '/' .*did you mean {hint}"):
            json_pointer(pointer, 3)

    @pytest.mark.parametrize("pointer", ["/a~2", "/a~", "/~x/b"])
    def test_bad_escape(self, pointer: str) -> None:
        with pytest.raises(GraderConfigError, match="'~' not followed by 0 or 1"):
            json_pointer(pointer, 1)

    @pytest.mark.parametrize("expected", [{1, 2}, float("nan"), object()])
    def test_expected_must_be_json(self, expected: Any) -> None:
        with pytest.raises(GraderConfigError, match=r"expected value .* is not JSON"):
            json_pointer("/a", expected)

    def test_spec(self) -> None:
        grader = json_pointer("/items/0", {"sku": "A"})
        assert grader.name == "json_pointer"
        assert grader.spec == {"type": "json_pointer", "pointer": "/items/0", "expected": {"sku": "A"}}
