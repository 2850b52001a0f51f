"""atomic_write_text: other processes see the old file or the new one, never a part or a temp file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_llmeval._core.files import atomic_write_text

UNENCODABLE = "half written \ud800"
"""A lone surrogate: UTF-8 cannot encode it, so the write fails midway, as a full disk would."""


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """A umask that would make new files private, to show the mode is set, not inherited."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def test_writes_the_text_and_creates_the_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "entry.json"
    atomic_write_text(path, '{"k": "é"}')
    assert path.read_text(encoding="utf-8") == '{"k": "é"}'
    assert os.listdir(path.parent) == ["entry.json"]


def test_the_file_is_readable_by_others(tmp_path: Path, strict_umask: None) -> None:
    path = tmp_path / "report.json"
    atomic_write_text(path, "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_replaced_file_gets_the_mode_too(tmp_path: Path, strict_umask: None) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o600)
    atomic_write_text(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "entry.json"
    atomic_write_text(path, "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, UNENCODABLE)
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["entry.json"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "entry.json"
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, UNENCODABLE)
    assert os.listdir(tmp_path) == []


def test_replaces_rather_than_overwrites(tmp_path: Path) -> None:
    # A reader that opened the old file keeps reading the old file whole: the new one is another inode
    # moved into place, not the old one truncated and rewritten under the reader.
    path = tmp_path / "entry.json"
    atomic_write_text(path, "old contents")
    before = path.stat().st_ino
    with path.open(encoding="utf-8") as reader:
        atomic_write_text(path, "new")
        assert reader.read() == "old contents"
    assert path.read_text(encoding="utf-8") == "new"
    assert path.stat().st_ino != before
    assert os.listdir(tmp_path) == ["entry.json"]
