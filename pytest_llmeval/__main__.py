"""Command-line tools of pytest-llmeval: ``python -m pytest_llmeval COMMAND``.

::

    python -m pytest_llmeval convert-openai-eval support.json --items support.jsonl --out features/support

Each command prints what it did; an error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m pytest_llmeval", description="Tools of pytest-llmeval.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    convert = commands.add_parser(
        "convert-openai-eval",
        help="turn an exported OpenAI eval into a feature file, datasets and a test module",
        description=(
            "Write DIR/<name>.feature, its JSONL datasets, a copy of the definition (DIR/<name>.eval.json) "
            "and DIR/test_<name>.py, which binds the feature with pytest-bdd. See docs/openai-evals.md."
        ),
    )
    convert.add_argument("definition", type=Path, help="the exported eval definition (JSON)")
    convert.add_argument(
        "--items", type=Path, help="the eval's items (JSONL); optional when the definition embeds file_content"
    )
    convert.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the files into")
    convert.add_argument("--force", action="store_true", help="overwrite files that exist")
    args = parser.parse_args(argv)

    from ._openai_evals.convert import convert as convert_eval
    from ._openai_evals.definition import EvalDefinitionError

    try:
        written = convert_eval(args.definition, args.items, args.out, force=args.force)
    except EvalDefinitionError as exc:
        # One line: a python criterion's syntax error adds the source line and a caret below.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"convert-openai-eval: error: {first}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"run it with: pytest {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
