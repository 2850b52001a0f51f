"""One report from the JSON reports of a suite split across CI jobs (``--llmeval-shard I/N``).

Totals, models side by side, prompt variants, the baseline comparison and the gates are all
computed again from the merged cases, never added up from the shards': a shard's
comparison with a baseline is Holm-adjusted over that shard only, and its pass rates are
of its cases only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._core.records import BaselineComparison, RunInfo, RunReport
from .._verdicts import baseline as baselines
from .._verdicts.compare import comparisons, model_summaries
from .._verdicts.gates import gate_lines
from .._verdicts.variants import variant_comparisons, variant_summaries
from .load import ReportError
from .summary import build_report


def merge(
    shards: Sequence[tuple[Path, RunReport]],
    version: str,
    baseline: tuple[Path, baselines.Baseline] | None = None,
    alpha: float = 0.05,
    min_pass_rate: float | None = None,
    fail_on_regression: bool = False,
) -> RunReport:
    """The whole run's report; a test in two shards is a :class:`ReportError` naming both files."""
    owner: dict[str, Path] = {}
    for path, report in shards:
        for case in report.cases:
            if case.nodeid in owner:
                raise ReportError(
                    f"{path}: {case.nodeid} is also in {owner[case.nodeid]}: "
                    "merge the shards of one run (--llmeval-shard I/N), each once"
                )
            owner[case.nodeid] = path
    records = [case for _, report in shards for case in report.cases]
    base = build_report(records, version)
    cases = base.cases
    infos = [report.run for _, report in shards if report.run is not None]
    order = list(dict.fromkeys(m for info in infos for m in info.models))
    summaries = model_summaries(cases)
    rank = {model: index for index, model in enumerate(order)}
    summaries.sort(key=lambda s: rank.get(s.model, len(rank)))
    several = len(summaries) > 1
    comparison: BaselineComparison | None = None
    if baseline is not None:
        comparison = baselines.compare(baseline[1], cases, baseline[0], alpha)
    partial = [f"{path.name}: {report.partial}" for path, report in shards if report.partial]
    return base.model_copy(
        update={
            "models": summaries if several else [],
            "comparisons": comparisons(cases, order) if several else [],
            "baseline": comparison,
            "gates": gate_lines(min_pass_rate, fail_on_regression, summaries, comparison),
            "partial": "; ".join(partial) or None,
            "run": _run(infos),
            **_variants(shards, alpha),
        }
    )


def _variants(shards: Sequence[tuple[Path, RunReport]], alpha: float) -> dict[str, object]:
    prompts = {v.variant: v.prompt for _, report in shards for v in report.variants}
    if len(prompts) < 2:
        return {}
    records = [case for _, report in shards for case in report.cases]
    summaries = [
        s.model_copy(update={"prompt": prompts.get(s.variant, s.prompt)}) for s in variant_summaries(records, [])
    ]
    return {"variants": summaries, "variant_comparisons": variant_comparisons(records, list(prompts), alpha)}


def _run(infos: Sequence[RunInfo]) -> RunInfo | None:
    if not infos:
        return None
    first = infos[0]
    starts = [i.started_at for i in infos if i.started_at]
    return RunInfo(
        models=list(dict.fromkeys(m for i in infos for m in i.models)),
        options={k: v for k, v in first.options.items() if k != "shard"},
        started_at=min(starts) if starts else None,
        duration_s=None,
        python=first.python,
        pytest=first.pytest,
        shards=[s for i in infos for s in (i.shards or [i.options.get("shard", "?")])],
    )
