"""An eval definition's ``testing_criteria`` as graders: each criterion type by its registry name.

OpenAI's ``string_check`` and ``text_similarity`` compare a templated ``input`` with a
templated ``reference``; our factories compare the answer with a literal reference, so
both are rendered per sample (:func:`_templated`). Judges, python and multi criteria map
onto the factories of the same name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..graders import _registry
from ..graders._base import FunctionGrader, Grade, Grader, GraderConfigError, Item, Sample
from ..graders._templates import TEMPLATE, render
from .definition import (
    Criterion,
    EvalDefinition,
    EvalDefinitionError,
    LabelModel,
    Message,
    MultiCriterion,
    PythonCode,
    ScoreModel,
    StringCheck,
    TextSimilarity,
    json_path,
    message_text,
    parse_definition,
    read_text,
    validate_criterion,
)


def criteria_graders(definition: EvalDefinition) -> list[Grader]:
    """One grader per testing criterion, named by the criterion's ``name``."""
    return [
        _grader(definition.path, criterion, f"$.testing_criteria[{index}]")
        for index, criterion in enumerate(definition.criteria)
    ]


def criteria_of_file(path: Path) -> list[Grader]:
    """The graders of an eval definition file (memoized by content: a feature's rows share them)."""
    return list(_criteria_cached(str(path), read_text(path, "eval definition")))


@functools.lru_cache(maxsize=32)
def _criteria_cached(path: str, text: str) -> tuple[Grader, ...]:
    return tuple(criteria_graders(parse_definition(Path(path), text)))


def _grader(file: Path, criterion: Criterion, where: str) -> Grader:
    try:
        return _BUILDERS[criterion.type](file, criterion, where)
    except GraderConfigError as exc:
        raise EvalDefinitionError(f"{file}: {where} ({criterion.name!r}): {exc}") from None


Builder = Callable[[Path, Any, str], Grader]
_BUILDERS: dict[str, Builder] = {}
"""How each OpenAI criterion type becomes a grader, by the registry's type name."""


def _builds(kind: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        _registry.get(kind)  # a criterion type is a built-in grader type, or this fails at import
        _BUILDERS[kind] = builder
        return builder

    return register


@_builds("string_check")
def _string_check(file: Path, criterion: StringCheck, where: str) -> Grader:
    operation = criterion.operation
    return _templated(
        criterion.name,
        criterion.model_dump(mode="json"),
        criterion.input,
        criterion.reference,
        lambda reference: _function_grader("string_check", reference, operation),
    )


@_builds("text_similarity")
def _text_similarity(file: Path, criterion: TextSimilarity, where: str) -> Grader:
    metric = criterion.evaluation_metric
    # Inside multi a sub-grader's score is what counts; its own pass/fail then follows 1.0.
    threshold = criterion.pass_threshold if criterion.pass_threshold is not None else 1.0
    _registry.build("text_similarity", "reference", metric, threshold)  # a missing library or data fails now, once
    return _templated(
        criterion.name,
        criterion.model_dump(mode="json"),
        criterion.input,
        criterion.reference,
        functools.lru_cache(maxsize=256)(
            lambda reference: _function_grader("text_similarity", reference, metric, threshold)
        ),
    )


@_builds("score_model")
def _score_model(file: Path, criterion: ScoreModel, where: str) -> Grader:
    return _registry.build(
        "score_model",
        _judge_input(file, criterion.input, where),
        range=criterion.range if criterion.range is not None else (0, 1),
        pass_threshold=criterion.pass_threshold,
        model=criterion.model,
        name=criterion.name,
        sampling_params=_judge_sampling(criterion.sampling_params),
    )


@_builds("label_model")
def _label_model(file: Path, criterion: LabelModel, where: str) -> Grader:
    return _registry.build(
        "label_model",
        _judge_input(file, criterion.input, where),
        labels=criterion.labels,
        passing_labels=criterion.passing_labels,
        model=criterion.model,
        name=criterion.name,
    )


@_builds("python")
def _python(file: Path, criterion: PythonCode, where: str) -> Grader:
    threshold = criterion.pass_threshold if criterion.pass_threshold is not None else 1.0
    return _registry.build("python", criterion.source, pass_threshold=threshold, name=criterion.name)


@_builds("multi")
def _multi(file: Path, criterion: MultiCriterion, where: str) -> Grader:
    subs = criterion.graders
    # OpenAI's SDK types `graders` as one grader; its docs show a mapping of name -> grader.
    if isinstance(subs.get("type"), str):
        subs = {str(subs.get("name") or subs["type"]): subs}
    built: dict[str, Grader] = {}
    for key, raw in subs.items():
        sub_where = f"{where}.graders{json_path([key], '')}"
        sub = validate_criterion(file, raw, sub_where, in_multi=True)
        if not isinstance(raw, dict) or not raw.get("name"):
            sub.name = key
        built[key] = _grader(file, sub, sub_where)
    threshold = criterion.pass_threshold if criterion.pass_threshold is not None else 1.0
    return _registry.build("multi", built, criterion.calculate_output, pass_threshold=threshold, name=criterion.name)


def _function_grader(kind: str, *args: Any) -> FunctionGrader:
    grader = _registry.build(kind, *args)
    assert isinstance(grader, FunctionGrader)
    return grader


def _templated(
    name: str,
    spec: Mapping[str, Any],
    input_template: str,
    reference_template: str,
    build: Callable[[str], FunctionGrader],
) -> FunctionGrader:
    """string_check / text_similarity with OpenAI's templated ``input`` and ``reference``.

    Our factories grade ``sample["output_text"]`` against a literal reference; OpenAI's
    compare the rendered ``input`` with the rendered ``reference``. So both are rendered for
    each sample and item, and the factory grades a sample whose text is the rendered input.
    """
    fixed = None if TEMPLATE.search(reference_template) else build(reference_template)
    plain_input = re.fullmatch(r"\{\{\s*sample\.output_text\s*\}\}", input_template) is not None

    def grade(sample: Sample, item: Item) -> Grade:
        try:
            text = render(input_template, sample, item)
            inner = fixed if fixed is not None else build(render(reference_template, sample, item))
        except GraderConfigError as exc:  # a template naming what the item lacks, an empty reference
            return Grade.errored(name, str(exc))
        result = inner(Sample(output_text=text, output_json=None), item)
        reason = result.reason if plain_input else f"{input_template}: {result.reason}"
        return result.model_copy(
            update={"grader": name, "reason": reason, "details": {**result.details, "type": spec["type"]}}
        )

    return FunctionGrader(name=name, spec=spec, fn=grade)


def _judge_input(file: Path, messages: Sequence[Message], where: str) -> list[dict[str, Any]]:
    return [
        {"role": message.role, "content": message_text(message.content, file, f"{where}.input[{index}].content")}
        for index, message in enumerate(messages)
    ]


def _judge_sampling(params: Mapping[str, Any] | None) -> dict[str, Any]:
    found = {key: value for key, value in (params or {}).items() if value is not None}
    # The graders' field is spelled max_completions_tokens; Chat Completions takes max_completion_tokens.
    if "max_completions_tokens" in found:
        found.setdefault("max_completion_tokens", found.pop("max_completions_tokens"))
    return found
