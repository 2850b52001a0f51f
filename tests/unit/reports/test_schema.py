"""docs/report.schema.json is the JSON report's schema as the record models generate it."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_llmeval import RunReport

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "report.schema.json"


def test_the_published_schema_is_the_models_schema() -> None:
    # Regenerate with the command in docs/reports.md when a record model changes.
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == RunReport.model_json_schema()
