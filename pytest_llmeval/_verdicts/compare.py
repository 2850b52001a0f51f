"""Models side by side: every case on each ``--llmeval-model``, per-model rates and paired differences.

The check a team runs before switching to a fine-tuned model::

    pytest --llmeval-model gpt-4.1-mini --llmeval-model ft:gpt-4.1-mini:acme:support:7p4lURel
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from .._core.ids import without_model
from .._core.records import EvalRecord, ModelComparison, ModelSummary
from .stats import sign_test_two_sided, wilson


def base_id(record: EvalRecord) -> str:
    """The case id without its ``@model`` suffix: how the same case is found on another model."""
    return without_model(record.case_id, record.model)


def arm_totals(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """What every side of a side-by-side reports: case and sample rates (decided cases only), tokens, cost.

    One definition for models and prompt variants, so their denominators cannot drift apart.
    """
    passed = sum(r.verdict == "pass" for r in records)
    decided = sum(r.verdict != "error" for r in records)
    sample_passes = sum(r.passes for r in records)
    sample_decided = sum(r.passes + r.failures for r in records)
    return {
        "cases": len(records),
        "passed": passed,
        "decided": decided,
        "pass_rate": passed / decided if decided else None,
        "interval": wilson(passed, decided) if decided else None,
        "sample_pass_rate": sample_passes / sample_decided if sample_decided else None,
        "tokens": sum(r.usage.total_tokens for r in records),
        "cost_usd": round(sum(r.cost_usd or 0.0 for r in records), 6),
    }


def model_summaries(records: Sequence[EvalRecord]) -> list[ModelSummary]:
    by_model: dict[str, list[EvalRecord]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    return [
        ModelSummary(model=model, latency_s=round(sum(r.latency_s for r in rs), 3), **arm_totals(rs))
        for model, rs in by_model.items()
    ]


def comparisons(records: Sequence[EvalRecord], order: Sequence[str] = ()) -> list[ModelComparison]:
    """Every pair of models, in the order they were given (``order``)."""
    # A case is its group and its id: two modules may each have a test_answer.
    rates: dict[str, dict[tuple[str, str], float]] = {model: {} for model in order}
    for record in records:
        if record.pass_rate is not None:
            rates.setdefault(record.model, {})[(record.group, base_id(record))] = record.pass_rate
    result = []
    for a, b in itertools.combinations([m for m in rates if rates[m]], 2):
        shared = sorted(set(rates[a]) & set(rates[b]))
        differences = [rates[b][case] - rates[a][case] for case in shared]
        result.append(
            ModelComparison(
                model_a=a,
                model_b=b,
                shared_cases=len(shared),
                mean_difference=sum(differences) / len(differences) if differences else None,
                b_better=sum(d > 0 for d in differences),
                a_better=sum(d < 0 for d in differences),
                p_value=sign_test_two_sided(differences),
            )
        )
    return result
