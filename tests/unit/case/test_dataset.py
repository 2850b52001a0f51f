from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmeval._case.dataset import DatasetError, load_dataset, row_hash


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_ids_lines_and_blank_lines(tmp_path: Path) -> None:
    rows = load_dataset(write(tmp_path, "d.jsonl", '{"id": "a", "x": 1}\n\n{"x": 2}\n'))
    assert [(r.case_id, r.line) for r in rows] == [("a", 1), (row_hash({"x": 2}), 3)]
    assert rows[1].row == {"x": 2}


def test_numeric_id_becomes_text(tmp_path: Path) -> None:
    (row,) = load_dataset(write(tmp_path, "d.jsonl", '{"id": 7}\n'))
    assert row.case_id == "7"


def test_csv_with_bom_and_quoted_newlines(tmp_path: Path) -> None:
    rows = load_dataset(write(tmp_path, "d.csv", '\ufeffid,text\na,"two\nlines"\nb,plain\n'))
    assert [r.case_id for r in rows] == ["a", "b"]
    assert rows[0].row == {"id": "a", "text": "two\nlines"}
    assert rows[1].line == 4


def test_json_list(tmp_path: Path) -> None:
    rows = load_dataset(write(tmp_path, "d.json", '[{"q": "a"}, {"q": "b", "id": "second"}]'))
    assert [r.line for r in rows] == [1, 2] and rows[1].case_id == "second"


def test_hash_ignores_key_order_and_position() -> None:
    assert row_hash({"a": 1, "b": 2}) == row_hash({"b": 2, "a": 1})
    assert row_hash({"a": 1}) != row_hash({"a": 2})


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("d.jsonl", '{"a": 1}\n{"a": \n', r"d\.jsonl:2: malformed JSON line"),
        ("d.jsonl", '"text"\n', r"d\.jsonl:1: each row must be a JSON object, got str"),
        ("d.jsonl", '{"id": "x"}\n{"id": "x"}\n', r"d\.jsonl:2: duplicate case id 'x' \(first on line 1\)"),
        ("d.jsonl", "\n\n", r"d\.jsonl: the dataset has no rows"),
        ("d.csv", "a,b\n1\n", r"d\.csv:2: expected 2 columns \(a, b\), got 1"),
        ("d.csv", "a,a\n1,2\n", r"d\.csv:1: the CSV header needs unique"),
        ("d.json", '{"a": 1}', r"d\.json: a \.json dataset must be a list of objects, got dict"),
        ("d.json", "[1,\n 2,", r"d\.json:2: malformed JSON"),
        ("d.txt", "x", r"unknown dataset format '\.txt'"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset(write(tmp_path, name, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset file not found: .*nope\.jsonl"):
        load_dataset(tmp_path / "nope.jsonl")
