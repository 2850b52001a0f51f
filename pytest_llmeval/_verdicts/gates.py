"""Suite gates: ``--llmeval-min-pass-rate`` per model and ``--llmeval-fail-on-regression``."""

from __future__ import annotations

from collections.abc import Sequence

from .._config.options import Settings
from .._core.records import BaselineComparison, ModelSummary


def gate_failures(
    settings: Settings, summaries: Sequence[ModelSummary], comparison: BaselineComparison | None
) -> list[str]:
    """One line per failed gate, saying which gate and by how much."""
    lines = []
    if settings.min_pass_rate is not None:
        for summary in summaries:
            if summary.pass_rate is not None and summary.pass_rate + 1e-12 < settings.min_pass_rate:
                lines.append(
                    f"llmeval gate failed: {summary.model}: {summary.passed}/{summary.decided} cases passed "
                    f"({summary.pass_rate:.1%}), below --llmeval-min-pass-rate {settings.min_pass_rate:.1%}"
                )
    if settings.fail_on_regression and comparison is not None:
        regressed = comparison.count("regressed")
        if regressed or comparison.suite_p_value < comparison.alpha:
            lines.append(
                f"llmeval gate failed: {regressed} case(s) regressed against {comparison.path}; suite paired "
                f"p = {comparison.suite_p_value:.4f} (alpha {comparison.alpha})"
            )
    return lines
