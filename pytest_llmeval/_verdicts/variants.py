"""Prompt variants side by side: per-variant pass rates, and paired comparisons of every two variants.

::

    pytest --llmeval-prompt-variant current= --llmeval-prompt-variant terse=prompts/terse.md

Two variants are compared case by case, on each model, with the statistics of the
baseline gate (:mod:`.baseline`): each case's decided samples make a 2x2 table, tested
with a one-sided Fisher exact test in each direction (one sample on each side: a flip is
the change), and the p-values of both directions of every case are Holm-adjusted together,
because neither variant is the "old" one and either may turn out better. Over the suite,
an exact sign test on the paired pass-rate differences, two-sided for the same reason. A
variant is named better only when its test is significant at ``alpha``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from .._config.variants import PromptVariant
from .._core.ids import without_model, without_variant
from .._core.records import EvalRecord, VariantCaseDifference, VariantComparison, VariantSummary
from .compare import arm_totals
from .stats import fisher_less, holm, sign_test_two_sided


def case_key(record: EvalRecord) -> str:
    """group :: case id without its @variant and @model :: model — the same case under another prompt."""
    base = without_model(record.case_id, record.model)
    if record.variant is not None:
        base = without_variant(base, record.variant)
    return f"{record.group}::{base}::{record.model}"


def variant_summaries(records: Sequence[EvalRecord], variants: Sequence[PromptVariant]) -> list[VariantSummary]:
    """One summary per variant, in the order the variants were given."""
    by_variant: dict[str, list[EvalRecord]] = {v.name: [] for v in variants}
    for record in records:
        if record.variant is not None:
            by_variant.setdefault(record.variant, []).append(record)
    described = {v.name: v.describe() for v in variants}
    return [
        VariantSummary(variant=name, prompt=described.get(name, "?"), **arm_totals(rs))
        for name, rs in by_variant.items()
        if rs
    ]


def variant_comparisons(records: Sequence[EvalRecord], order: Sequence[str], alpha: float) -> list[VariantComparison]:
    """Every pair of variants (A given before B), over the cases both decided on the same model."""
    by_variant: dict[str, dict[str, EvalRecord]] = {name: {} for name in order}
    for record in records:
        if record.variant is not None and record.passes + record.failures > 0:
            by_variant.setdefault(record.variant, {})[case_key(record)] = record
    return [
        compare_pair(a, b, by_variant[a], by_variant[b], alpha)
        for a, b in itertools.combinations([v for v in by_variant if by_variant[v]], 2)
    ]


def compare_pair(
    a: str, b: str, a_records: dict[str, EvalRecord], b_records: dict[str, EvalRecord], alpha: float
) -> VariantComparison:
    shared = sorted(set(a_records) & set(b_records))
    lower = [_p_lower(b_records[k], a_records[k]) for k in shared]
    higher = [_p_lower(a_records[k], b_records[k]) for k in shared]
    adjusted = holm([*lower, *higher])
    lower_adj, higher_adj = adjusted[: len(shared)], adjusted[len(shared) :]
    differences = []
    found: list[VariantCaseDifference] = []
    for index, key in enumerate(shared):
        old, new = a_records[key], b_records[key]
        if old.pass_rate is not None and new.pass_rate is not None:
            differences.append(new.pass_rate - old.pass_rate)
        better, p_value = None, 1.0
        if higher_adj[index] < alpha:
            better, p_value = b, higher_adj[index]
        elif lower_adj[index] < alpha:
            better, p_value = a, lower_adj[index]
        if better is not None:
            found.append(
                VariantCaseDifference(
                    key=key,
                    case_id=key.split("::")[1] if key.count("::") >= 2 else new.case_id,
                    model=new.model,
                    a=_counts(old),
                    b=_counts(new),
                    better=better,
                    p_value=p_value,
                )
            )
    p_suite = sign_test_two_sided(differences)
    b_better = sum(d > 0 for d in differences)
    a_better = sum(d < 0 for d in differences)
    suite_better = None
    if p_suite < alpha and b_better != a_better:
        suite_better = b if b_better > a_better else a
    return VariantComparison(
        variant_a=a,
        variant_b=b,
        alpha=alpha,
        shared_cases=len(shared),
        mean_difference=sum(differences) / len(differences) if differences else None,
        b_better=b_better,
        a_better=a_better,
        p_value=p_suite,
        better=suite_better,
        differences=found,
    )


def _counts(record: EvalRecord) -> str:
    return f"{record.passes}/{record.passes + record.failures}"


def _p_lower(new: EvalRecord, old: EvalRecord) -> float:
    """P-value that ``new``'s pass rate is lower than ``old``'s, as the baseline decides "regressed"."""
    old_n, new_n = old.passes + old.failures, new.passes + new.failures
    if old_n == 0 or new_n == 0:
        return 1.0
    if old_n == 1 and new_n == 1:
        # One sample each (temperature 0): no test can be significant, so a flip is the signal.
        return 0.0 if old.passes == 1 and new.passes == 0 else 1.0
    return fisher_less(new.passes, new_n, old.passes, old_n)
