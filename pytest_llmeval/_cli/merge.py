"""Merge the JSON reports of a suite split across CI jobs into one, and gate the whole:

  python -m pytest_llmeval merge shard-*/llmeval-report.json --out llmeval-report.json \\
      [--baseline main.json] [--fail-on-regression] [--min-pass-rate 0.9] [--save-baseline B.json] [--html OUT]

Each job runs ``pytest --llmeval-shard I/N --llmeval-report json``; totals, comparisons, the
baseline comparison and the gates are computed again from all the cases. Exit 1 when a gate
fails (its line is printed), 2 on unreadable input. With ``GITHUB_STEP_SUMMARY`` set, the
whole run's summary is appended to it, as a pytest run does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "merge"
HELP = "merge sharded JSON reports (--llmeval-shard) into one; gates and baselines on the whole"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", type=Path, nargs="+", metavar="SHARD.json", help="the shards' JSON reports")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN.json", help="the merged JSON report")
    parser.add_argument("--baseline", type=Path, metavar="PATH", help="compare with this baseline file")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a case regressed")
    parser.add_argument("--min-pass-rate", metavar="P", help="exit 1 when fewer cases pass (per model), 0-1 or N%%")
    parser.add_argument("--save-baseline", type=Path, metavar="PATH", help="write the merged run as a baseline")
    parser.add_argument("--html", type=Path, metavar="OUT", help="also write the HTML page")
    parser.add_argument("--md", type=Path, metavar="OUT", help="also write the Markdown report")


def run(args: argparse.Namespace) -> int:
    from .._config.parse import parse_threshold
    from .._core.files import atomic_write_text
    from .._core.version import VERSION
    from .._reports.github import append_step_summary
    from .._reports.html import html
    from .._reports.load import ReportError, load_report
    from .._reports.markdown import markdown
    from .._reports.merge import merge
    from .._verdicts import baseline as baselines

    def fail(message: str) -> int:
        print(f"{NAME}: error: {message}", file=sys.stderr)
        return 2

    try:
        min_pass_rate = None if args.min_pass_rate is None else parse_threshold(args.min_pass_rate)
    except ValueError as exc:
        return fail(f"--min-pass-rate: {exc}")
    if args.fail_on_regression and args.baseline is None:
        return fail("--fail-on-regression needs --baseline PATH to compare with")
    try:
        shards = [(path, load_report(path)) for path in args.shards]
        baseline = None if args.baseline is None else (args.baseline, baselines.load(args.baseline, VERSION))
        merged = merge(shards, VERSION, baseline, args.alpha, min_pass_rate, args.fail_on_regression)
    except (ReportError, baselines.BaselineError) as exc:
        return fail(str(exc))
    outputs = [(args.out, merged.model_dump_json(indent=2)), (args.html, None), (args.md, None)]
    try:
        for path, text in outputs:
            if path is None:
                continue
            if text is None:
                text = html(merged) if path is args.html else markdown(merged)
            atomic_write_text(path, text + "\n")
            print(f"wrote {path}")
        if args.save_baseline is not None:
            if merged.partial:
                print(f"baseline not written: the run is partial ({merged.partial})")
            else:
                baselines.save(merged.cases, args.save_baseline, VERSION)
                print(f"baseline written: {args.save_baseline}")
        summary = append_step_summary(merged)
        if summary is not None:
            print(f"job summary appended: {summary}")
    except OSError as exc:
        return fail(f"cannot write {exc.filename or ''}: {exc.strerror or exc}")
    o = merged.overall
    rate = "n/a" if o.pass_rate is None else f"{o.pass_rate:.1%}"
    print(f"{len(shards)} shard(s), {o.cases} cases: {o.passed}/{o.decided} passed ({rate}), ${o.cost_usd:.4f}")
    for gate in merged.gates:
        print(gate)
    return 1 if merged.gates else 0
