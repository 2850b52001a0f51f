"""Compare two runs' JSON reports case by case, with the statistics of the baseline gate:

  python -m pytest_llmeval diff main.json pr.json [--fail-on-regression] [--alpha 0.05]

A is the before (as a baseline), B the after: each shared case is regressed or improved by a
one-sided Fisher exact test, Holm-adjusted over the shared cases (pass -> fail with one sample
each), else unchanged; cases only in B are new, only in A removed; a changed fingerprint is
flagged redefined. The suite line is the paired sign test. With --fail-on-regression the exit
code is 1 when the gate would fail (a case regressed, or the suite got worse), else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "diff"
HELP = "compare two JSON reports case by case (the baseline gate's statistics); exit 1 on regression if asked"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("before", type=Path, metavar="A.json", help="the earlier run (the baseline)")
    parser.add_argument("after", type=Path, metavar="B.json", help="the later run")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when the gate would fail")


def run(args: argparse.Namespace) -> int:
    from .._core.version import VERSION
    from .._reports.load import ReportError, load_report
    from .._reports.terminal import comparison_lines
    from .._verdicts import baseline as baselines
    from .._verdicts.gates import gate_lines

    if not 0 < args.alpha < 1:
        print(f"{NAME}: error: --alpha: expected a number between 0 and 1, got {args.alpha}", file=sys.stderr)
        return 2
    try:
        before, after = load_report(args.before), load_report(args.after)
    except ReportError as exc:
        print(f"{NAME}: error: {exc}", file=sys.stderr)
        return 2
    comparison = baselines.compare(baselines.of_records(before.cases, VERSION), after.cases, args.before, args.alpha)
    shown = after.model_copy(update={"models": [], "comparisons": [], "baseline": comparison})
    for line in comparison_lines(shown)[1:]:  # the first is a blank separator
        print(line)
    gates = gate_lines(None, True, [], comparison)
    for gate in gates:
        print(gate.replace("llmeval gate failed", "regression"))
    return 1 if args.fail_on_regression and gates else 0
