"""The parameters a case reads from its pytest item: its dataset row, compared model and prompt variant.

Both front ends parametrize through the same fixture names, so the planner, the
model comparison and the reports find a row or a model the same way on any item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .dataset import DatasetError, DatasetRow, load_dataset
from .outcome import fail

ROW_FIXTURE = "_llmeval_row"
"""Parametrized with a :class:`DatasetRow` by the ``@dataset:`` tag or the ``llmeval_dataset`` marker."""
MODEL_FIXTURE = "_llmeval_model"
"""Parametrized with each ``--llmeval-model`` when several are compared."""
VARIANT_FIXTURE = "_llmeval_variant"
"""Parametrized with each ``--llmeval-prompt-variant``'s name when several are compared."""


def params_of(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return callspec.params if callspec is not None else {}


def dataset_row(params: dict[str, Any]) -> DatasetRow | None:
    row = params.get(ROW_FIXTURE)
    return row if isinstance(row, DatasetRow) else None


def compared_model(params: dict[str, Any]) -> str | None:
    model = params.get(MODEL_FIXTURE)
    return model if isinstance(model, str) else None


def compared_variant(params: dict[str, Any]) -> str | None:
    variant = params.get(VARIANT_FIXTURE)
    return variant if isinstance(variant, str) else None


def dataset_params(path: Path, where: str) -> list[Any]:
    """One ``pytest.param`` per dataset row, with the case id as the test id."""
    __tracebackhide__ = True
    problem = None
    try:
        rows = load_dataset(path)
    except DatasetError as exc:
        problem = str(exc)
    if problem is not None:
        fail(f"{where}: {problem}")
    return [pytest.param(row, id=row.case_id) for row in rows]
