"""Command-line tools of pytest-llmeval: ``python -m pytest_llmeval COMMAND``, one module per command.

::

    python -m pytest_llmeval convert-openai-eval support.json --items support.jsonl --out features/support
    python -m pytest_llmeval finetune export llmeval-report/llmeval-report.json --format dpo --out prefs.jsonl
    python -m pytest_llmeval report llmeval-report/llmeval-report.json --html run.html
    python -m pytest_llmeval diff main.json pr.json --fail-on-regression
    python -m pytest_llmeval merge shard-*/llmeval-report.json --out llmeval-report.json


A command module (in ``_cli/``) has ``NAME`` and ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``, and is listed in :data:`COMMANDS`: adding a command is one module
and one entry. Each command prints what it did; an error is one line on stderr and exit code 2 (a command
may define other codes, such as 1 for a regression found).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from ._cli import convert_openai_eval, diff, finetune, merge, report

COMMANDS: tuple[ModuleType, ...] = (convert_openai_eval, finetune, report, diff, merge)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m pytest_llmeval", description="Tools of pytest-llmeval.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.__doc__)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
