"""Reading the JSON report (``--llmeval-report=json``) that an export starts from."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from .._core.records import RunReport


class FinetuneError(Exception):
    """A file a fine-tuning command cannot use, or arguments it cannot follow; one line, exit code 2."""


def load_report(path: Path) -> RunReport:
    """The report at ``path``; anything that is not a pytest-llmeval JSON report is a :class:`FinetuneError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FinetuneError(f"{path}: no such file (write one with --llmeval-report=json)") from None
    except UnicodeDecodeError as exc:
        raise FinetuneError(f"{path}: not UTF-8 text (byte {exc.start}): not a JSON report") from None
    except OSError as exc:
        raise FinetuneError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FinetuneError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}): is the report cut short?") from None
    except RecursionError:
        raise FinetuneError(f"{path}: nested too deeply to be a JSON report") from None
    if not isinstance(data, dict) or "cases" not in data:
        raise FinetuneError(
            f"{path}: not a pytest-llmeval JSON report (no 'cases'); write one with --llmeval-report=json"
        )
    try:
        return RunReport.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise FinetuneError(f"{path}: damaged report at ${where}: {first['msg']}{more}") from None
