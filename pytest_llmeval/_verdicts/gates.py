"""Suite gates: ``--llmeval-min-pass-rate`` per model and ``--llmeval-fail-on-regression``."""

from __future__ import annotations

from collections.abc import Sequence

from .._config.options import Settings
from .._core.records import BaselineComparison, ModelSummary


def gate_failures(
    settings: Settings, summaries: Sequence[ModelSummary], comparison: BaselineComparison | None
) -> list[str]:
    """One line per failed gate, saying which gate and by how much."""
    return gate_lines(settings.min_pass_rate, settings.fail_on_regression, summaries, comparison)


def gate_lines(
    min_pass_rate: float | None,
    fail_on_regression: bool,
    summaries: Sequence[ModelSummary],
    comparison: BaselineComparison | None,
) -> list[str]:
    """The gates from their two values: what a run and ``python -m pytest_llmeval merge`` apply alike."""
    lines = []
    if min_pass_rate is not None:
        for summary in summaries:
            if summary.pass_rate is not None and summary.pass_rate + 1e-12 < min_pass_rate:
                lines.append(
                    f"llmeval gate failed: {summary.model}: {summary.passed}/{summary.decided} cases passed "
                    f"({summary.pass_rate:.1%}), below --llmeval-min-pass-rate {min_pass_rate:.1%}"
                )
    if fail_on_regression and comparison is not None and comparison.shared_cases == 0 and comparison.count("new"):
        # A gate that compares nothing would pass whatever happened.
        lines.append(
            f"llmeval gate failed: the baseline {comparison.path} shares no case with this run "
            f"({comparison.count('new')} new): it was saved for other cases, models or files"
        )
    elif fail_on_regression and comparison is not None:
        regressed = comparison.count("regressed")
        if regressed or comparison.suite_p_value < comparison.alpha:
            lines.append(
                f"llmeval gate failed: {regressed} case(s) regressed against {comparison.path}; suite paired "
                f"p = {comparison.suite_p_value:.4f} (alpha {comparison.alpha})"
            )
    return lines
