"""Case ids when several models or prompt variants run side by side.

``refund[30d]@ft:gpt-4.1-mini:acme::x`` on one of several models, ``refund[30d]@terse``
under one of several prompt variants, ``refund[30d]@terse@gpt-4.1-mini`` on the grid of
both: the variant comes first and the model last, so stripping the model gives the id a
baseline keys by (one entry per variant), and stripping both gives the case itself.

The suffixes are built and read here only, so the front ends, the comparisons and the
baseline agree on which case is "the same case on another model" or "under another prompt".
"""

from __future__ import annotations


def with_model(case_id: str, model: str | None) -> str:
    """The id of a case that runs on one of several compared models."""
    return f"{case_id}@{model}" if model is not None else case_id


def without_model(case_id: str, model: str) -> str:
    """The case id without its ``@model`` suffix (unchanged when it has none)."""
    suffix = f"@{model}"
    return case_id.removesuffix(suffix) if case_id.endswith(suffix) else case_id


def with_variant(case_id: str, variant: str | None) -> str:
    """The id of a case that runs under one of several compared prompt variants (before any ``@model``)."""
    return f"{case_id}@{variant}" if variant is not None else case_id


def without_variant(case_id: str, variant: str) -> str:
    """The case id (already without its ``@model``) without its ``@variant`` suffix."""
    suffix = f"@{variant}"
    return case_id.removesuffix(suffix) if case_id.endswith(suffix) else case_id
