"""The report files, one writer per format: adding a format is one entry here.

``--llmeval-report`` accepts exactly the names of this table; each writer turns the
run's :class:`~pytest_llmeval._core.records.RunReport` into the text of
``llmeval-report/llmeval-report.<name>``, written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .._core.files import atomic_write_text
from .._core.records import RunReport
from .html import html
from .markdown import markdown


def _json(report: RunReport) -> str:
    return report.model_dump_json(indent=2)


WRITERS: Mapping[str, Callable[[RunReport], str]] = {
    "html": html,
    "json": _json,
    "md": markdown,
}


def write_reports(report: RunReport, formats: Sequence[str], directory: Path) -> list[Path]:
    """Write each requested format atomically; return the paths written."""
    written = []
    for fmt in formats:
        path = directory / f"llmeval-report.{fmt}"
        atomic_write_text(path, WRITERS[fmt](report) + "\n")
        written.append(path)
    return written
