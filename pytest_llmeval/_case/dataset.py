"""Dataset files: one test case per row, from JSONL, CSV or a JSON list.

A row's ``id`` field names the case; without one the case id is a stable hash of the
row, so reordering a file never renames its cases (a baseline keeps matching)::

    rows = load_dataset(Path("golden/orders.jsonl"))
    rows[0].case_id, rows[0].row, rows[0].line
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DatasetError(Exception):
    """A dataset file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class DatasetRow:
    """One row of a dataset, ready to become one test item."""

    case_id: str
    """The row's ``id`` field, else ``row-`` and a hash of its content."""
    row: dict[str, Any]
    """The row's fields, as parsed (CSV values are strings)."""
    line: int
    """1-based line where the row starts (JSON lists: the element's position, 1-based)."""


def load_dataset(path: Path) -> list[DatasetRow]:
    """Read a dataset; raise :class:`DatasetError` naming file and line on any problem."""
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    suffix = path.suffix.lower()
    loaders = {".jsonl": _load_jsonl, ".ndjson": _load_jsonl, ".csv": _load_csv, ".json": _load_json_list}
    loader = loaders.get(suffix)
    if loader is None:
        raise DatasetError(f"{path}: unknown dataset format {suffix or '(no suffix)'!r}; use .jsonl, .csv or .json")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    rows = loader(path, text)
    if not rows:
        raise DatasetError(f"{path}: the dataset has no rows")
    return _with_ids(path, rows)


def _load_jsonl(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: malformed JSON line: {exc.msg} (column {exc.colno})") from None
        rows.append((number, _as_row(path, number, value)))
    return rows


def _load_csv(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    # A StringIO, not splitlines(): quoted fields may hold newlines.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    if len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise DatasetError(f"{path}:1: the CSV header needs unique, non-empty column names, got {header}")
    rows = []
    for values in reader:
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise DatasetError(
                f"{path}:{number}: expected {len(header)} columns ({', '.join(header)}), got {len(values)}"
            )
        rows.append((number, dict(zip(header, values, strict=True))))
    return rows


def _load_json_list(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, list):
        raise DatasetError(f"{path}: a .json dataset must be a list of objects, got {type(value).__name__}")
    return [(index, _as_row(path, index, item)) for index, item in enumerate(value, start=1)]


def _as_row(path: Path, line: int, value: Any) -> dict[str, Any]:
    """A row; an OpenAI eval item line, ``{"item": {...}}`` (with or without a "sample"), is unwrapped."""
    if not isinstance(value, dict):
        raise DatasetError(f"{path}:{line}: each row must be a JSON object, got {type(value).__name__}")
    if isinstance(value.get("item"), dict) and set(value) <= {"item", "sample"}:
        return dict(value["item"])
    return value


def _with_ids(path: Path, rows: list[tuple[int, dict[str, Any]]]) -> list[DatasetRow]:
    seen: dict[str, int] = {}
    result = []
    for line, row in rows:
        case_id = str(row["id"]) if row.get("id") not in (None, "") else row_hash(row)
        if case_id in seen:
            raise DatasetError(f"{path}:{line}: duplicate case id {case_id!r} (first on line {seen[case_id]})")
        seen[case_id] = line
        result.append(DatasetRow(case_id=case_id, row=row, line=line))
    return result


def row_hash(row: dict[str, Any]) -> str:
    """A short id that depends only on the row's content, not its position."""
    canonical = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "row-" + hashlib.sha256(canonical.encode()).hexdigest()[:10]
