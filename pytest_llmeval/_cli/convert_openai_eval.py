"""Write DIR/<name>.feature, its JSONL datasets, a copy of the definition (DIR/<name>.eval.json)
and DIR/test_<name>.py, which binds the feature with pytest-bdd. See docs/openai-evals.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "convert-openai-eval"
HELP = "turn an exported OpenAI eval into a feature file, datasets and a test module"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("definition", type=Path, help="the exported eval definition (JSON)")
    parser.add_argument(
        "--items", type=Path, help="the eval's items (JSONL); optional when the definition embeds file_content"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the files into")
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")


def run(args: argparse.Namespace) -> int:
    from .._openai_evals.convert import convert
    from .._openai_evals.definition import EvalDefinitionError
    from .output import one_line

    try:
        written = convert(args.definition, args.items, args.out, force=args.force)
    except EvalDefinitionError as exc:
        print(f"{NAME}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"run it with: pytest {args.out}")
    return 0
