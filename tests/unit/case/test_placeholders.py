from __future__ import annotations

import pytest

from pytest_llmeval._case.placeholders import PlaceholderError, fill_angle, fill_braces


def test_angle_fills_text_and_json_values() -> None:
    row = {"name": "Ann", "qty": 2, "ok": True, "tags": ["a"]}
    assert fill_angle("<name> ordered <qty> (<ok>) <tags>", row, "x") == 'Ann ordered 2 (true) ["a"]'


def test_angle_leaves_non_placeholders_alone() -> None:
    assert fill_angle("a < b and c > d, <3", {}, "x") == "a < b and c > d, <3"


def test_missing_names_are_listed_with_where() -> None:
    with pytest.raises(PlaceholderError) as info:
        fill_angle("<email> <sku> <email>", {"id": 1}, "f.feature:4: When the user says")
    assert str(info.value) == "f.feature:4: When the user says: no value for <email>, <sku> (the row has: id)"


def test_braces_accept_item_prefix_and_spaces() -> None:
    assert fill_braces("Hi {{ name }}, {{item.name}}!", {"name": "Bo"}, "x") == "Hi Bo, Bo!"


def test_braces_missing() -> None:
    with pytest.raises(PlaceholderError, match=r"no value for \{\{ tier \}\}"):
        fill_braces("{{ tier }}", {}, "prompt.md")


def test_backslash_keeps_angle_brackets_literal() -> None:
    assert fill_angle(r"make \<b>this</b> bold for <name>", {"name": "Ann"}, "x") == "make <b>this</b> bold for Ann"
