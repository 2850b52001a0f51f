"""Models side by side: every case on each ``--llmeval-model``, per-model rates and paired differences.

The check a team runs before switching to a fine-tuned model::

    pytest --llmeval-model gpt-4.1-mini --llmeval-model ft:gpt-4.1-mini:acme:support:7p4lURel
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from .._bdd.scenario import MODEL_FIXTURE, scenario_template
from .._core.records import EvalRecord, ModelComparison, ModelSummary
from .._run.session import state_of
from .stats import sign_test_two_sided, wilson


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """With several models, parametrize every eval test over them (ids are the model names)."""
    models = state_of(metafunc.config).settings.models
    if len(models) < 2 or not _is_eval(metafunc):
        return
    if MODEL_FIXTURE not in metafunc.fixturenames:
        # The closure list is the items' fixture list too: the parameter reaches every item.
        metafunc.fixturenames.append(MODEL_FIXTURE)
    metafunc.parametrize(MODEL_FIXTURE, list(models), ids=list(models))


def _is_eval(metafunc: pytest.Metafunc) -> bool:
    if "llm" in metafunc.fixturenames:
        return True
    template = scenario_template(metafunc.function)
    if template is None:
        return False
    from .._bdd.steps import match_phrase

    return any(match_phrase(step.type, step.name) is not None for step in template.steps)


def base_id(record: EvalRecord) -> str:
    """The case id without its ``@model`` suffix: how the same case is found on another model."""
    suffix = f"@{record.model}"
    return record.case_id.removesuffix(suffix) if record.case_id.endswith(suffix) else record.case_id


def model_summaries(records: Sequence[EvalRecord]) -> list[ModelSummary]:
    by_model: dict[str, list[EvalRecord]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    summaries = []
    for model, rs in by_model.items():
        passed = sum(r.verdict == "pass" for r in rs)
        decided = sum(r.verdict != "error" for r in rs)
        sample_passes = sum(r.passes for r in rs)
        sample_decided = sum(r.passes + r.failures for r in rs)
        summaries.append(
            ModelSummary(
                model=model,
                cases=len(rs),
                passed=passed,
                decided=decided,
                pass_rate=passed / decided if decided else None,
                interval=wilson(passed, decided) if decided else None,
                sample_pass_rate=sample_passes / sample_decided if sample_decided else None,
                tokens=sum(r.usage.total_tokens for r in rs),
                cost_usd=round(sum(r.cost_usd or 0.0 for r in rs), 6),
                latency_s=round(sum(r.latency_s for r in rs), 3),
            )
        )
    return summaries


def comparisons(records: Sequence[EvalRecord], order: Sequence[str] = ()) -> list[ModelComparison]:
    """Every pair of models, in the order they were given (``order``)."""
    rates: dict[str, dict[str, float]] = {model: {} for model in order}
    for record in records:
        if record.pass_rate is not None:
            rates.setdefault(record.model, {})[base_id(record)] = record.pass_rate
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
