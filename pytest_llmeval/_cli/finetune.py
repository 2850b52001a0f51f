"""Fine-tuning data from a run, checked, and a suite's graders for reinforcement fine-tuning
(see docs/finetuning.md):

  export REPORT.json --format sft|dpo --out FILE   a JSON report's cases as training examples
  validate FILE [--format sft|dpo]                 check a JSONL file as OpenAI would; tokens and cost
  graders FEATURE_OR_TEST --out graders.json       the suite's graders as OpenAI grader objects
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "finetune"
HELP = "export fine-tuning data from a JSON report, validate a JSONL file, export graders for RFT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=type(parser))
    export = verbs.add_parser("export", help="a JSON report's cases as SFT or DPO JSONL")
    export.add_argument("report", type=Path, help="the JSON report (--llmeval-report=json)")
    export.add_argument("--format", choices=("sft", "dpo"), required=True, help="OpenAI chat SFT, or DPO pairs")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="the training file to write")
    export.add_argument("--validation-out", type=Path, metavar="FILE", help="also write a validation file")
    export.add_argument(
        "--validation-fraction", type=float, default=None, metavar="F", help="share of cases for validation (0.1)"
    )
    export.add_argument("--seed", type=int, default=0, help="seed of the validation split (default 0)")
    export.add_argument(
        "--only", choices=("passing", "failing", "all"), default="all", help="cases by verdict (default all)"
    )
    export.add_argument(
        "--reference-field", metavar="NAME", help="the row's column with a reference answer (default ideal, expected)"
    )
    validate = verbs.add_parser("validate", help="check a fine-tuning JSONL file; token counts and cost")
    validate.add_argument("file", type=Path, help="the JSONL file")
    validate.add_argument("--format", choices=("sft", "dpo"), help="default: from the first example")
    validate.add_argument(
        "--max-tokens", type=int, default=65536, metavar="N", help="an example's context limit (default 65536)"
    )
    validate.add_argument(
        "--model", default="gpt-4.1-mini", help="the base model: tokenizer and training price (default gpt-4.1-mini)"
    )
    validate.add_argument(
        "--training-price", type=float, metavar="USD", help="USD per 1M training tokens (default: the price table)"
    )
    graders = verbs.add_parser("graders", help="the suite's graders as OpenAI grader objects (for RFT)")
    graders.add_argument("target", help="a feature file, test module or folder, as pytest takes it")
    graders.add_argument("--out", type=Path, required=True, metavar="FILE", help="graders.json to write")
    graders.add_argument("--judge-model", help="the model of judges that name none (default: the ini's)")


def run(args: argparse.Namespace) -> int:
    from .._finetune.report import FinetuneError
    from .output import one_line

    verbs = {"export": _export, "validate": _validate, "graders": _graders}
    try:
        return verbs[args.verb](args)
    except FinetuneError as exc:
        print(f"{NAME} {args.verb}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace) -> int:
    from .._finetune import export
    from .._finetune.report import FinetuneError, load_report

    if args.validation_fraction is not None and args.validation_out is None:
        raise FinetuneError("--validation-fraction needs --validation-out FILE")
    fraction = 0.1 if args.validation_fraction is None else args.validation_fraction  # 0 is an error, not 0.1
    if not 0 < fraction < 1:  # said before the report is read: an argument error comes first
        raise FinetuneError(f"--validation-fraction must be between 0 and 1 (exclusive), got {fraction:g}")
    report = load_report(args.report)
    made = export.export(report, args.format, args.only, args.reference_field)
    if not made.examples:
        reasons = "; ".join(f"{count} case(s): {why}" for why, count in made.skipped.items()) or "no cases selected"
        raise FinetuneError(f"{args.report}: no {args.format.upper()} examples ({reasons})")
    train, held = made.examples, list[export.Example]()
    if args.validation_out is not None:
        train, held = export.split(made.examples, fraction, args.seed)
    kind = "SFT examples" if args.format == "sft" else "DPO pairs"
    print(f"wrote {export.write(train, args.out)} {kind} to {args.out}")
    if args.validation_out is not None:
        print(f"wrote {export.write(held, args.validation_out)} {kind} to {args.validation_out} (validation)")
    reference = f", {made.from_reference} of them from a reference answer" if made.from_reference else ""
    print(f"from {made.cases} case(s){reference}")
    for why, count in made.skipped.items():
        print(f"skipped {count} case(s): {why}")
    print(f"check it with: python -m pytest_llmeval finetune validate {args.out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .._engine.pricing import training_price
    from .._finetune.report import FinetuneError
    from .._finetune.tokens import for_model
    from .._finetune.validate import MIN_EXAMPLES, validate

    if args.max_tokens < 1:
        raise FinetuneError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    if args.training_price is not None and not 0 <= args.training_price < float("inf"):
        raise FinetuneError(f"--training-price must be a number of USD >= 0, got {args.training_price:g}")
    tokenizer = for_model(args.model)
    checked = validate(args.file, args.format, args.max_tokens, tokenizer)
    for problem in checked.problems:
        print(f"{args.file}:{problem.line}: {problem.message}")
    if checked.problems:
        print(f"{len(checked.problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    tokens = checked.tokens
    kind = "SFT examples" if checked.format == "sft" else "DPO pairs"
    print(f"{args.file}: {checked.examples} {kind}, no problems")
    print(
        f"tokens ({tokenizer.label}): {sum(tokens):,} in all; per example min {min(tokens):,}, "
        f"mean {sum(tokens) / len(tokens):,.0f}, max {max(tokens):,} (limit {args.max_tokens:,})"
    )
    if checked.images:
        print(f"images: {checked.images}, counted at OpenAI's gpt-4o image rule (an estimate)")
    price = args.training_price if args.training_price is not None else training_price(args.model)
    if price is None:
        print(f"training cost: no training price for {args.model}; give --training-price USD (per 1M tokens)")
    else:
        cost = sum(tokens) * price / 1_000_000
        estimate = "" if tokenizer.exact and not checked.images else " (from estimated tokens)"
        print(
            f"estimated training cost per epoch: ${cost:,.4f} at ${price:g} per 1M training tokens "
            f"({args.model}){estimate}; a job bills every epoch"
        )
    if checked.examples < MIN_EXAMPLES:
        print(
            f"note: OpenAI needs at least {MIN_EXAMPLES} examples for a fine-tuning job; "
            f"this file has {checked.examples}"
        )
    return 0


def _graders(args: argparse.Namespace) -> int:
    from .._finetune.report import FinetuneError
    from .._finetune.suite import suite_graders, write

    found = suite_graders(args.target, args.judge_model)
    if not found.cases:
        unknown = f" ({len(found.unknown)} test(s) grade in their body with llm.ask)" if found.unknown else ""
        raise FinetuneError(f"{args.target}: no eval cases whose graders are known before the run{unknown}")
    write(found, args.target, args.out)
    exported = sum(len(c.graders) for c in found.cases)
    refused = [(c, reason) for c in found.cases for reason in c.not_exportable]
    whole = sum(1 for c in found.cases if c.graders and not c.not_exportable)
    print(f"wrote {args.out}: {len(found.cases)} case(s), {exported} grader(s) as OpenAI grader objects")
    print(f"{whole} case(s) have one grader for the whole case ('grader'), ready for a fine-tuning job")
    for case, reason in refused:
        print(f"not exportable: {case.group}: {case.case_id}: {reason}")
    for nodeid in found.unknown:
        print(f"not known before the run: {nodeid}: its graders are given in the test body (llm.ask(...).check)")
    return 0
