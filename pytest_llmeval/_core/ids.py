"""Case ids when several models run side by side: ``refund[30d]@ft:gpt-4.1-mini:acme::x``.

The suffix is built and read here only, so the front ends, the model comparison and the
baseline agree on which case is "the same case on another model".
"""

from __future__ import annotations


def with_model(case_id: str, model: str | None) -> str:
    """The id of a case that runs on one of several compared models."""
    return f"{case_id}@{model}" if model is not None else case_id


def without_model(case_id: str, model: str) -> str:
    """The case id without its ``@model`` suffix (unchanged when it has none)."""
    suffix = f"@{model}"
    return case_id.removesuffix(suffix) if case_id.endswith(suffix) else case_id
