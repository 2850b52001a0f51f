"""Reading a JSON report back (``--llmeval-report json``): what the ``report``, ``diff`` and ``merge`` commands take.

A file that is missing, not JSON, or not a report is one :class:`ReportError` whose message
names the file and the first thing wrong, so a command can print it on one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from .._core.records import RunReport


class ReportError(Exception):
    """A JSON report that cannot be read; the message names the file."""


def load_report(path: Path) -> RunReport:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (byte {exc.start}); is it a JSON report?") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); is the file cut short?") from None
    except RecursionError:
        raise ReportError(f"{path}: nested too deeply to be a JSON report") from None
    if not isinstance(data, dict) or "cases" not in data or "overall" not in data:
        raise ReportError(
            f"{path}: not a pytest-llmeval JSON report (no 'cases' and 'overall'); write one with --llmeval-report json"
        )
    try:
        return RunReport.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top"
        raise ReportError(f"{path}: damaged report at {where}: {first['msg']}") from None
