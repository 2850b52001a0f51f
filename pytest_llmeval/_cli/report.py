"""Render a JSON report (``--llmeval-report json``) again as HTML and/or Markdown, e.g. from a CI artifact:

python -m pytest_llmeval report llmeval-report/llmeval-report.json --html run.html --md run.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "report"
HELP = "render a JSON report as HTML (--html) and/or Markdown (--md)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, metavar="RUN.json", help="the JSON report of a run")
    parser.add_argument("--html", type=Path, metavar="OUT", help="write the HTML page here")
    parser.add_argument("--md", type=Path, metavar="OUT", help="write the Markdown report here")


def run(args: argparse.Namespace) -> int:
    from .._core.files import atomic_write_text
    from .._reports.html import html
    from .._reports.load import ReportError, load_report
    from .._reports.markdown import markdown

    if args.html is None and args.md is None:
        print(f"{NAME}: error: say what to write: --html OUT and/or --md OUT", file=sys.stderr)
        return 2
    try:
        report = load_report(args.source)
    except ReportError as exc:
        print(f"{NAME}: error: {exc}", file=sys.stderr)
        return 2
    for path, render in ((args.html, html), (args.md, markdown)):
        if path is not None:
            try:
                atomic_write_text(path, render(report) + "\n")
            except OSError as exc:
                print(f"{NAME}: error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
                return 2
            print(f"wrote {path}")
    return 0
