"""Exported OpenAI eval definitions, run locally with the same graders (DESIGN §3).

OpenAI's hosted Evals are read-only since 2026-10-31 and shut down on 2026-11-30. An eval
exported from there — its ``testing_criteria`` and the run's ``data_source`` — runs here
with its items (JSONL), one test case per item::

    @pytest.mark.llmeval_openai_eval("evals/support.json", items="evals/support.jsonl")
    def test_support(openai_eval):
        openai_eval.check()

An item that comes with a pre-generated ``sample`` is graded as it is, without a model
call; any other item is answered by the model from the rendered ``input_messages``,
through the same engine and cache as ``llm.ask``. Feature files use the step
``Then the answer meets the testing criteria of "eval.json"``, and
``python -m pytest_llmeval convert-openai-eval`` writes them (see docs/openai-evals.md).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .._bdd.scenario import relative, resolve_model
from .._case.case import CaseSpec, error_record, fail, failure_text, grade_sample, make_record, sample_record
from .._case.dataset import row_hash
from .._case.placeholders import ANGLE
from .._core.records import EvalRecord
from .._core.request import Generation
from .._python.llm import LLM
from .._run.session import fails_test, grading_context, state_of
from ..graders._base import FunctionGrader, Grade, Grader, GraderConfigError, Item, Sample
from ..graders._custom import python_grader
from ..graders._judge import label_model, score_model
from ..graders._multi import multi
from ..graders._similarity import METRICS, text_similarity
from ..graders._string import string_check
from ..graders._templates import TEMPLATE, lookup, render

MARKER = "llmeval_openai_eval"
FIXTURE = "openai_eval"
SUPPORTED = ("string_check", "text_similarity", "score_model", "label_model", "python", "multi")
"""The ``testing_criteria`` types that run here."""

_NOT_SUPPORTED_HINTS = {
    "endpoint": "it grades by calling an HTTP endpoint from OpenAI's side; write a python criterion "
    "or register a grader (docs/graders-custom.md) instead",
}


class EvalDefinitionError(Exception):
    """An eval definition or items file that cannot be run; the message names file and fix."""


# ---- the definition ------------------------------------------------------------------------


class _Open(BaseModel):
    # Exports carry fields we do not use (id, created_at, metadata...): keep, do not refuse.
    model_config = ConfigDict(extra="allow")


class DataSourceConfig(_Open):
    """OpenAI's ``data_source_config``: what an item looks like."""

    type: str = "custom"
    item_schema: dict[str, Any] | None = None
    """JSON Schema of one item (as sent when the eval was created)."""
    include_sample_schema: bool = False
    """True when the eval expects a sample (a model answer) for each item."""
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    """As a retrieved eval shows it: ``{"properties": {"item": ..., "sample": ...}}``."""

    def item_json_schema(self) -> dict[str, Any] | None:
        if self.item_schema is not None:
            return self.item_schema
        properties = (self.schema_ or {}).get("properties")
        item = properties.get("item") if isinstance(properties, dict) else None
        return item if isinstance(item, dict) else None

    @property
    def expects_samples(self) -> bool:
        properties = (self.schema_ or {}).get("properties")
        return self.include_sample_schema or (isinstance(properties, dict) and "sample" in properties)


Content = str | dict[str, Any] | list[dict[str, Any]]


class Message(_Open):
    """One chat message of ``input_messages`` or of a model grader's ``input``."""

    role: Literal["system", "developer", "user", "assistant"]
    content: Content
    type: Literal["message"] = "message"


class InputMessages(_Open):
    """How the run builds the prompt of each item."""

    type: Literal["template", "item_reference"]
    template: list[Message] | None = None
    item_reference: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> InputMessages:
        if self.type == "template" and not self.template:
            raise ValueError("type 'template' needs a non-empty 'template' list of {role, content} messages")
        if self.type == "item_reference" and not self.item_reference:
            raise ValueError("type 'item_reference' needs 'item_reference', e.g. \"item.messages\"")
        return self


class RunDataSource(_Open):
    """The run's ``data_source``: a completions run generates answers; a jsonl run grades items."""

    type: Literal["completions", "jsonl"]
    model: str | None = None
    input_messages: InputMessages | None = None
    sampling_params: dict[str, Any] | None = None
    source: dict[str, Any] | None = None


class _Criterion(_Open):
    type: str
    name: str = ""


class StringCheck(_Criterion):
    type: Literal["string_check"]
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]


class TextSimilarity(_Criterion):
    type: Literal["text_similarity"]
    input: str
    reference: str
    evaluation_metric: str
    pass_threshold: float = Field(ge=0, le=1)


class ScoreModel(_Criterion):
    type: Literal["score_model"]
    model: str
    input: list[Message] = Field(min_length=1)
    range: list[float] | None = Field(default=None, min_length=2, max_length=2)
    pass_threshold: float | None = None
    sampling_params: dict[str, Any] | None = None


class LabelModel(_Criterion):
    type: Literal["label_model"]
    model: str
    input: list[Message] = Field(min_length=1)
    labels: list[str]
    passing_labels: list[str]


class PythonCode(_Criterion):
    type: Literal["python"]
    source: str
    pass_threshold: float | None = None
    image_tag: str | None = None


class MultiCriterion(_Criterion):
    type: Literal["multi"]
    graders: dict[str, Any]
    calculate_output: str
    pass_threshold: float | None = None


Criterion = StringCheck | TextSimilarity | ScoreModel | LabelModel | PythonCode | MultiCriterion

_CRITERIA: dict[str, type[_Criterion]] = {
    "string_check": StringCheck,
    "text_similarity": TextSimilarity,
    "score_model": ScoreModel,
    "label_model": LabelModel,
    "python": PythonCode,
    "multi": MultiCriterion,
}


class EvalDefinition(_Open):
    """An exported OpenAI eval: ``name``, ``data_source_config``, ``testing_criteria``, and
    optionally the run's ``data_source`` (top-level ``data_source`` or ``run``)."""

    name: str = ""
    data_source_config: DataSourceConfig = Field(default_factory=DataSourceConfig)
    testing_criteria: list[dict[str, Any]] = Field(min_length=1)
    data_source: RunDataSource | None = None
    _path: Path = PrivateAttr(default=Path("eval.json"))
    _criteria: list[Criterion] = PrivateAttr(default_factory=list)

    @property
    def path(self) -> Path:
        """The file the definition was read from (errors name it)."""
        return self._path

    @property
    def criteria(self) -> list[Criterion]:
        """``testing_criteria``, each validated against the model of its type."""
        return list(self._criteria)

    @property
    def generates(self) -> bool:
        """Whether items without a sample can be answered by a model (a completions run)."""
        source = self.data_source
        return source is not None and source.type == "completions" and source.input_messages is not None

    @property
    def model(self) -> str | None:
        return self.data_source.model if self.data_source is not None else None

    def sampling_params(self) -> dict[str, Any]:
        """The run's sampling parameters as Chat Completions takes them (nulls dropped)."""
        params = self.data_source.sampling_params if self.data_source is not None else None
        return {key: value for key, value in (params or {}).items() if value is not None}


def load_definition(path: Path | str) -> EvalDefinition:
    """Read and check an exported eval definition; :class:`EvalDefinitionError` says what to fix."""
    file = Path(path)
    return _parse_definition(file, _read(file, "eval definition"))


def _parse_definition(file: Path, text: str) -> EvalDefinition:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvalDefinitionError(f"{file}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise EvalDefinitionError(f"{file}: an eval definition is a JSON object, got {type(data).__name__}")
    source, source_path = _data_source_of(data)
    try:
        definition = EvalDefinition.model_validate(data)
    except ValidationError as exc:
        raise EvalDefinitionError(_validation_message(file, exc, "$")) from None
    if source is not None:
        if not isinstance(source, dict):
            raise EvalDefinitionError(f"{file}: {source_path}: a data source is a JSON object")
        if source.get("type") == "responses":
            raise EvalDefinitionError(
                f"{file}: {source_path}.type: 'responses' data sources are not supported: answers are "
                "generated here through Chat Completions; make it a 'completions' data source "
                "(same input_messages, model and sampling_params)"
            )
        try:
            definition.data_source = RunDataSource.model_validate(source)
        except ValidationError as exc:
            raise EvalDefinitionError(_validation_message(file, exc, source_path)) from None
    definition.name = definition.name or file.name.removesuffix(".json").removesuffix(".eval")
    definition._path = file
    definition._criteria = [
        _criterion(file, raw, f"$.testing_criteria[{index}]") for index, raw in enumerate(definition.testing_criteria)
    ]
    _check_data_source(file, definition, source_path)
    schema = definition.data_source_config.item_json_schema()
    if schema is not None:
        _item_validator(file, schema)
    return definition


def _data_source_of(data: dict[str, Any]) -> tuple[Any, str]:
    """The run data source and its JSON path: ``data_source``, or ``run`` (itself or its data_source)."""
    if "data_source" in data:
        return data.pop("data_source"), "$.data_source"
    run = data.pop("run", None)
    if isinstance(run, dict) and isinstance(run.get("data_source"), dict):
        return run["data_source"], "$.run.data_source"
    return run, "$.run"


def _criterion(file: Path, raw: Any, where: str) -> Criterion:
    if not isinstance(raw, dict):
        raise EvalDefinitionError(f"{file}: {where}: a testing criterion is a JSON object, got {type(raw).__name__}")
    kind = raw.get("type")
    label = f" ({raw['name']!r})" if isinstance(raw.get("name"), str) and raw["name"] else ""
    model = _CRITERIA.get(kind) if isinstance(kind, str) else None
    if model is None:
        hint = _NOT_SUPPORTED_HINTS.get(kind) if isinstance(kind, str) else None
        raise EvalDefinitionError(
            f"{file}: {where}{label}: criterion type {kind!r} is not supported here"
            + (f" ({hint})" if hint else "")
            + f"; supported: {', '.join(SUPPORTED)} (see docs/openai-evals.md)"
        )
    try:
        criterion: Criterion = model.model_validate(raw)  # type: ignore[assignment]
    except ValidationError as exc:
        raise EvalDefinitionError(_validation_message(file, exc, where, label)) from None
    criterion.name = criterion.name or criterion.type
    if isinstance(criterion, StringCheck | TextSimilarity):
        _check_templates(file, f"{where}.input", criterion.input, sample=True)
        _check_templates(file, f"{where}.reference", criterion.reference, sample=True)
    if isinstance(criterion, TextSimilarity) and criterion.evaluation_metric not in METRICS:
        raise EvalDefinitionError(
            f"{file}: {where}.evaluation_metric{label}: unknown metric {criterion.evaluation_metric!r}; "
            f"use one of {', '.join(METRICS)}"
        )
    if isinstance(criterion, ScoreModel | LabelModel):
        for index, message in enumerate(criterion.input):
            text = message_text(message.content, file, f"{where}.input[{index}].content")
            _check_templates(file, f"{where}.input[{index}].content", text, sample=True)
    return criterion


def _check_data_source(file: Path, definition: EvalDefinition, where: str) -> None:
    source = definition.data_source
    if source is None or source.input_messages is None:
        if source is not None and source.type == "completions":
            raise EvalDefinitionError(
                f"{file}: {where}.input_messages: a completions data source needs input_messages "
                '({"type": "template", "template": [{"role": "user", "content": "{{item.question}}"}]})'
            )
        return
    messages = source.input_messages.template or []
    for index, message in enumerate(messages):
        path = f"{where}.input_messages.template[{index}].content"
        _check_templates(file, path, message_text(message.content, file, path), sample=False)
    if messages and messages[-1].role != "user":
        raise EvalDefinitionError(
            f"{file}: {where}.input_messages.template[{len(messages) - 1}].role: the last message must be "
            f"the user's (role 'user'), got {messages[-1].role!r}: the model answers that message"
        )


def message_text(content: Content, file: Path, where: str) -> str:
    """The text of a message's content: a string, an ``input_text``/``output_text`` part, or
    a list of them (joined by newlines). Images and audio are not supported."""
    parts = content if isinstance(content, list) else [content]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            raise EvalDefinitionError(
                f"{file}: {where}: content of type {kind!r} is not supported here; only text "
                "(a string, input_text or output_text) — images and audio are not"
            )
    return "\n".join(texts)


def _check_templates(file: Path, where: str, text: str, *, sample: bool) -> None:
    for match in TEMPLATE.finditer(text):
        head, _, rest = match.group(1).partition(".")
        if head != "sample":
            continue
        if not sample:
            raise EvalDefinitionError(
                f"{file}: {where}: {match.group(0)} cannot be used here: input_messages produce the sample; "
                "use {{item.NAME}}"
            )
        field = rest.partition(".")[0]
        if field not in ("output_text", "output_json"):
            raise EvalDefinitionError(
                f"{file}: {where}: {match.group(0)} is not supported here; a sample has "
                "output_text and output_json (not output_tools, choices or output_audio)"
            )


def _validation_message(file: Path, exc: ValidationError, prefix: str, label: str = "") -> str:
    errors = exc.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    path = json_path(first["loc"], prefix)
    return f"{file}: {path}{label}: {first['msg']}{more}"


def json_path(loc: Sequence[int | str], prefix: str = "$") -> str:
    """``("testing_criteria", 2, "operation")`` as ``$.testing_criteria[2].operation``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_]\w*", part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


# ---- criteria -> graders -------------------------------------------------------------------


def criteria_graders(definition: EvalDefinition) -> list[Grader]:
    """One grader per testing criterion, named by the criterion's ``name``."""
    return [
        _grader(definition.path, criterion, f"$.testing_criteria[{index}]")
        for index, criterion in enumerate(definition.criteria)
    ]


def criteria_of_file(path: Path) -> list[Grader]:
    """The graders of an eval definition file (memoized by content: a feature's rows share them)."""
    return list(_criteria_cached(str(path), _read(path, "eval definition")))


@functools.lru_cache(maxsize=32)
def _criteria_cached(path: str, text: str) -> tuple[Grader, ...]:
    return tuple(criteria_graders(_parse_definition(Path(path), text)))


def _grader(file: Path, criterion: Criterion, where: str) -> Grader:
    try:
        return _build(file, criterion, where)
    except GraderConfigError as exc:
        raise EvalDefinitionError(f"{file}: {where} ({criterion.name!r}): {exc}") from None


def _build(file: Path, criterion: Criterion, where: str) -> Grader:
    name = criterion.name
    if isinstance(criterion, StringCheck):
        operation = criterion.operation
        return _templated(
            name,
            criterion.model_dump(mode="json"),
            criterion.input,
            criterion.reference,
            lambda reference: string_check(reference, operation),
        )
    if isinstance(criterion, TextSimilarity):
        metric, threshold = criterion.evaluation_metric, criterion.pass_threshold
        text_similarity("reference", metric, threshold)  # a missing library or data fails now, once
        return _templated(
            name,
            criterion.model_dump(mode="json"),
            criterion.input,
            criterion.reference,
            functools.lru_cache(maxsize=256)(lambda reference: text_similarity(reference, metric, threshold)),
        )
    if isinstance(criterion, ScoreModel):
        return score_model(
            _judge_input(file, criterion.input, where),
            range=criterion.range if criterion.range is not None else (0, 1),
            pass_threshold=criterion.pass_threshold,
            model=criterion.model,
            name=name,
            sampling_params=_judge_sampling(criterion.sampling_params),
        )
    if isinstance(criterion, LabelModel):
        return label_model(
            _judge_input(file, criterion.input, where),
            labels=criterion.labels,
            passing_labels=criterion.passing_labels,
            model=criterion.model,
            name=name,
        )
    if isinstance(criterion, PythonCode):
        threshold = criterion.pass_threshold if criterion.pass_threshold is not None else 1.0
        return python_grader(criterion.source, pass_threshold=threshold, name=name)
    subs = criterion.graders
    # OpenAI's SDK types `graders` as one grader; its docs show a mapping of name -> grader.
    if isinstance(subs.get("type"), str):
        subs = {str(subs.get("name") or subs["type"]): subs}
    built: dict[str, Grader] = {}
    for key, raw in subs.items():
        sub_where = f"{where}.graders{json_path([key], '')}"
        sub = _criterion(file, raw, sub_where)
        if not isinstance(raw, dict) or not raw.get("name"):
            sub.name = key
        built[key] = _grader(file, sub, sub_where)
    threshold = criterion.pass_threshold if criterion.pass_threshold is not None else 1.0
    return multi(built, criterion.calculate_output, pass_threshold=threshold, name=name)


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
        return replace(result, grader=name, reason=reason, details={**result.details, "type": spec["type"]})

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


# ---- items ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalItem:
    """One item of an eval: one test case."""

    case_id: str
    """The item's ``id`` field, else a stable hash of the item (as dataset rows)."""
    item: dict[str, Any]
    """OpenAI's ``item``: what ``{{item.x}}`` reads and graders get."""
    sample: dict[str, Any] | None
    """The pre-generated sample, when the line had one: graded as it is."""
    text: str | None
    """The sample's answer text (``output_text``), or None when there is no sample."""
    line: int
    """1-based line of the items file (or position in an embedded ``file_content``)."""
    where: str
    """``items.jsonl:3``: how errors name this item."""


def load_items(path: Path | str, definition: EvalDefinition | None = None) -> list[EvalItem]:
    """Read an items file: JSONL of ``{"item": {...}}``, ``{"item": ..., "sample": ...}`` or bare items.

    With ``definition``, items are checked against its item schema, and an item that has
    no sample must be answerable (a completions data source) or the eval must not expect
    samples.
    """
    file = Path(path)
    text = _read(file, "items file")
    entries: list[tuple[int, str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append((number, f"{file}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise EvalDefinitionError(f"{file}:{number}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not entries:
        raise EvalDefinitionError(f"{file}: the items file has no items")
    return _items(entries, definition)


def embedded_items(definition: EvalDefinition) -> list[EvalItem]:
    """The items of a data source whose ``source`` is ``file_content`` (no items file needed)."""
    source = definition.data_source.source if definition.data_source is not None else None
    content = source.get("content") if source is not None and source.get("type") == "file_content" else None
    if not isinstance(content, list) or not content:
        kind = source.get("type") if source is not None else None
        extra = f" (its data source reads {kind!r}: export that file as JSONL)" if kind else ""
        raise EvalDefinitionError(
            f'{definition.path}: no items: give the items file (items="items.jsonl" / --items){extra}'
        )
    where = f"{definition.path}: $.data_source.source.content"
    return _items([(i + 1, f"{where}[{i}]", entry) for i, entry in enumerate(content)], definition)


def _items(entries: list[tuple[int, str, Any]], definition: EvalDefinition | None) -> list[EvalItem]:
    schema = definition.data_source_config.item_json_schema() if definition is not None else None
    validator = _item_validator(definition.path, schema) if definition is not None and schema is not None else None
    seen: dict[str, str] = {}
    rows = []
    for line, where, value in entries:
        item, sample = _split_line(where, value)
        if validator is not None:
            _validate_item(where, validator, item)
        case_id = str(item["id"]) if item.get("id") not in (None, "") else row_hash(item)
        if case_id in seen:
            raise EvalDefinitionError(f"{where}: duplicate item id {case_id!r} (first at {seen[case_id]})")
        seen[case_id] = where
        text = _sample_text(where, sample) if sample is not None else None
        row = EvalItem(case_id=case_id, item=item, sample=sample, text=text, line=line, where=where)
        if definition is not None:
            _mode(definition, row)
        rows.append(row)
    return rows


def _split_line(where: str, value: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if not isinstance(value, dict):
        raise EvalDefinitionError(f"{where}: each line is a JSON object, got {type(value).__name__}")
    # A wrapper has only "item" (an object) and maybe "sample"; anything else is a bare item.
    if isinstance(value.get("item"), dict) and set(value) <= {"item", "sample"}:
        sample = value.get("sample")
        if sample is not None and not isinstance(sample, dict):
            raise EvalDefinitionError(f'{where}: "sample" must be an object such as {{"output_text": "..."}}')
        return dict(value["item"]), sample
    return dict(value), None


def _sample_text(where: str, sample: Mapping[str, Any]) -> str:
    """The answer text of a pre-generated sample (``output_text``, else ``output_json`` or ``choices``)."""
    if isinstance(sample.get("output_text"), str):
        return str(sample["output_text"])
    if sample.get("output_json") is not None:
        return json.dumps(sample["output_json"], ensure_ascii=False)
    choices = sample.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        content = (choices[0].get("message") or {}).get("content")
        if isinstance(content, str):
            return content
    raise EvalDefinitionError(f'{where}: the sample has no "output_text" (a string); add it')


def _mode(definition: EvalDefinition, row: EvalItem) -> Literal["sample", "generate", "item"]:
    """How an item is graded: its own sample, a model's answer, or (an eval without samples) alone."""
    if row.text is not None:
        return "sample"
    if definition.generates:
        return "generate"
    if not definition.data_source_config.expects_samples:
        return "item"
    raise EvalDefinitionError(
        f"{row.where}: the item has no sample and {definition.path} has no completions data source "
        'to generate one: add a "sample": {"output_text": ...} to the line, or a "data_source" with '
        "model and input_messages to the definition"
    )


def _item_validator(file: Path, schema: dict[str, Any]) -> Any:
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise EvalDefinitionError(
            f"{file}: $.data_source_config item schema is not a valid JSON Schema: {exc.message}"
        ) from None
    return cls(schema)


def _validate_item(where: str, validator: Any, item: dict[str, Any]) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(item))
    if error is not None:
        at = json_path(list(error.absolute_path), "$")
        raise EvalDefinitionError(f"{where}: the item does not match the eval's item_schema at {at}: {error.message}")


# ---- the request an item sends -------------------------------------------------------------


def render_messages(definition: EvalDefinition, item: Item) -> list[dict[str, Any]]:
    """The run's ``input_messages`` for ``item``: templates filled with ``{{item.x}}``.

    Raises :class:`~pytest_llmeval.graders.GraderConfigError` (a template naming a field the
    item lacks, an ``item_reference`` that is not a list of messages).
    """
    source = definition.data_source
    if source is None or source.input_messages is None:
        raise GraderConfigError(f"{definition.path}: no data_source with input_messages")
    spec = source.input_messages
    if spec.type == "item_reference":
        reference = spec.item_reference or ""
        found = lookup(reference.strip().strip("{}").strip(), None, item)
        if not isinstance(found, list) or not all(isinstance(m, dict) and "role" in m for m in found):
            raise GraderConfigError(f"item_reference {reference!r} is not a list of {{role, content}} messages")
        try:
            messages = [Message.model_validate(m) for m in found]
        except ValidationError as exc:
            raise GraderConfigError(f"item_reference {reference!r}: {exc.errors()[0]['msg']}") from None
    else:
        messages = spec.template or []
    return [
        {"role": m.role, "content": render(message_text(m.content, definition.path, "input_messages"), None, item)}
        for m in messages
    ]


def split_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]], str]:
    """(system, earlier turns, user message): how a case holds messages, in the same order.

    A leading system message is the system prompt, the last (a user's) is the user
    message, everything between is the conversation — as the feature-file steps write it.
    """
    if not messages or messages[-1].get("role") != "user":
        raise GraderConfigError("the last input message must be the user's (role 'user')")
    first = messages[0]
    system = str(first["content"]) if first.get("role") == "system" and len(messages) > 1 else None
    middle = messages[1 if system is not None else 0 : -1]
    return system, [dict(m) for m in middle], str(messages[-1]["content"])


# ---- the marker and the openai_eval fixture ------------------------------------------------


@dataclass(frozen=True)
class EvalParam:
    """What one parametrized test gets: the definition, its graders, and one item."""

    definition: EvalDefinition
    graders: tuple[Grader, ...]
    row: EvalItem


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests marked ``llmeval_openai_eval``: one test per item (paths relative to the module)."""
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    nodeid = metafunc.definition.nodeid
    if len(marker.args) != 1 or not isinstance(marker.args[0], str | Path) or set(marker.kwargs) - {"items"}:
        fail(f'{nodeid}: use @pytest.mark.{MARKER}("eval.json", items="items.jsonl")')
    if FIXTURE not in metafunc.fixturenames:
        fail(f"{nodeid}: @pytest.mark.{MARKER} needs the test to take the '{FIXTURE}' fixture")
    base = _shown(Path(str(metafunc.definition.path)).parent)
    items = marker.kwargs.get("items")
    problem = None
    try:
        definition = load_definition(base / marker.args[0])
        graders = tuple(criteria_graders(definition))
        rows = load_items(base / items, definition) if items is not None else embedded_items(definition)
    except EvalDefinitionError as exc:
        problem = f"{nodeid}: {exc}"
    if problem is not None:
        fail(problem)
    params = [pytest.param(EvalParam(definition, graders, row), id=row.case_id) for row in rows]
    metafunc.parametrize(FIXTURE, params, indirect=True)


def make_eval(request: pytest.FixtureRequest, llm: LLM) -> OpenAIEval:
    """The ``openai_eval`` fixture's value for the current item (``llm``: the test's ``llm`` fixture)."""
    param = getattr(request, "param", None)
    if not isinstance(param, EvalParam):
        fail(f"{request.node.nodeid}: the '{FIXTURE}' fixture needs @pytest.mark.{MARKER}(\"eval.json\", items=...)")
    return OpenAIEval(request, llm, param)


class OpenAIEval:
    """One item of an exported OpenAI eval; ``check()`` answers (or takes the sample) and grades it."""

    def __init__(self, request: pytest.FixtureRequest, llm: LLM, param: EvalParam) -> None:
        self._request = request
        self._llm = llm
        self.definition = param.definition
        self.graders = list(param.graders)
        """One grader per testing criterion."""
        self.row = param.row
        self.item: dict[str, Any] = dict(param.row.item)
        """OpenAI's ``item``."""
        self.sample = param.row.sample
        """The pre-generated sample, or None when the model answers."""
        llm.row = self.item  # graders' item, and the row ask() puts in the case

    @property
    def case_id(self) -> str:
        return self._llm.case_id

    def check(self, *extra: Grader) -> EvalRecord:
        """Grade with every testing criterion (and ``extra``); fail the test unless the case passes."""
        __tracebackhide__ = True
        graders = [*self.graders, *extra]
        if _mode(self.definition, self.row) != "generate":
            return self._grade_as_is(graders)
        problem = None
        try:
            system, history, user = split_messages(render_messages(self.definition, self.item))
        except (GraderConfigError, EvalDefinitionError) as exc:
            problem = f"{self._request.node.nodeid}: {self.row.where}: {exc}"
        if problem is not None:
            self._llm.record(error_record(self._spec([], self._llm.model), problem))
            fail(problem)
        params = self.definition.sampling_params()
        response_format = params.pop("response_format", None)
        answer = self._llm.ask(
            user, system=system, history=history, model=self.definition.model, response_format=response_format, **params
        )
        return answer.check(*graders)

    def _grade_as_is(self, graders: list[Grader]) -> EvalRecord:
        """A pre-generated sample (or an eval that grades items alone): no model call."""
        __tracebackhide__ = True
        llm = self._llm
        # The model the run would have asked: where the samples came from, as far as we know.
        model = resolve_model(llm.settings, self.definition.model, llm.model, side_by_side=llm.side_by_side)
        spec = self._spec(graders, model)
        spec.judge_model = llm.judge_model
        generation = Generation(text=self.row.text or "")
        context = grading_context(state_of(self._request.config), spec, None)
        grades = grade_sample(graders, generation.text or "", self.item, context)
        record = make_record(spec, [sample_record(0, generation, grades)], llm.prices)
        llm.record(record)
        if fails_test(record, llm.settings):
            fail(failure_text(record))
        return record

    def _spec(self, graders: list[Grader], model: str | None) -> CaseSpec:
        node = self._request.node
        path = Path(str(node.path))
        return CaseSpec(
            case_id=self.case_id,
            nodeid=node.nodeid,
            group=relative(path, self._request.config.rootpath),
            base_dir=path.parent,
            row=self.item,
            model=model,
            samples=1,
            threshold=self._llm.threshold,
            strict_stats=self._llm.settings.strict_stats,
            side_by_side=self._llm.side_by_side,
            graders=graders,
        )


# ---- convert to a feature file -------------------------------------------------------------


def convert(definition_path: Path, items_path: Path | None, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write a feature file, its datasets, the definition and a test module; return the paths.

    Items answered by the model go to ``<name>.jsonl`` and one scenario; items graded as
    they are (a pre-generated sample) to ``<name>.pregenerated.jsonl``, with their samples
    in ``<name>.samples.jsonl``, and a second scenario whose target answers with them.
    """
    definition = load_definition(definition_path)
    criteria_graders(definition)  # a criterion that cannot run fails now, not at the first test
    rows = load_items(items_path, definition) if items_path is not None else embedded_items(definition)
    stem = _slug(definition.name)
    generated = [row for row in rows if _mode(definition, row) == "generate"]
    as_is = [row for row in rows if _mode(definition, row) != "generate"]
    out = Path(out_dir)
    files: dict[Path, str] = {out / f"{stem}.eval.json": _read(definition_path, "eval definition")}
    if generated:
        files[out / f"{stem}.jsonl"] = _jsonl(_with_id(row) for row in generated)
    if as_is:
        files[out / f"{stem}.pregenerated.jsonl"] = _jsonl(_with_id(row) for row in as_is)
        files[out / f"{stem}.samples.jsonl"] = _jsonl(
            {"id": row.case_id, "sample": {**(row.sample or {}), "output_text": row.text or ""}} for row in as_is
        )
    files[out / f"{stem}.feature"] = _feature(definition, stem, bool(generated), bool(as_is))
    files[out / f"test_{stem}.py"] = _test_module(definition.name, stem, bool(as_is))
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise EvalDefinitionError(f"{existing[0]} exists; pass --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EvalDefinitionError(f"cannot write to {out}: {exc}") from None
    return list(files)


def target_name(stem: str) -> str:
    """The target that answers a converted eval's pre-generated items with their samples."""
    return f"openai-eval:{stem}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "eval"


def _with_id(row: EvalItem) -> dict[str, Any]:
    return row.item if row.item.get("id") not in (None, "") else {"id": row.case_id, **row.item}


def _jsonl(rows: Any) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _feature(definition: EvalDefinition, stem: str, generated: bool, as_is: bool) -> str:
    name = " ".join(definition.name.split())
    criteria = f'the answer meets the testing criteria of "{stem}.eval.json"'
    lines = [
        f"# Converted from the OpenAI eval {name!r} by `python -m pytest_llmeval convert-openai-eval`.",
        f"# The testing criteria stay in {stem}.eval.json; the last step of each scenario applies them all.",
        f"Feature: {name}",
    ]
    if generated:
        lines += ["", f"  @dataset:{stem}.jsonl", f"  Scenario: {name}"]
        lines += _steps([*_generation_steps(definition), ("then", criteria, None)])
    if as_is:
        lines += ["", f"  @dataset:{stem}.pregenerated.jsonl @target:{target_name(stem)} @samples:1"]
        lines += [f"  Scenario: {name} (pre-generated samples)"]
        model: list[Step] = [("given", f"the model {_quote(definition.model)}", None)] if definition.model else []
        when: Step = ("when", 'the user says "pre-generated sample of item <id>"', None)
        lines += _steps([*model, when, ("then", criteria, None)])
    return "\n".join(lines) + "\n"


Step = tuple[str, str, list[str] | None]  # kind, text, lines of a docstring or table below it


def _generation_steps(definition: EvalDefinition) -> list[Step]:
    source = definition.data_source
    assert source is not None and source.input_messages is not None
    if source.input_messages.type != "template":
        raise EvalDefinitionError(
            f"{definition.path}: $.data_source.input_messages: an item_reference (each item's own "
            "conversation) cannot become fixed steps; run this eval with @pytest.mark.llmeval_openai_eval"
        )
    where = "$.data_source.input_messages.template"
    messages = [
        {"role": m.role, "content": _placeholders(definition, message_text(m.content, definition.path, where), where)}
        for m in source.input_messages.template or []
    ]
    system, history, user = split_messages(messages)
    steps: list[Step] = []
    if source.model:
        steps.append(("given", f"the model {_quote(source.model)}", None))
    params = definition.sampling_params()
    if params:
        rows = [["name", "value"]] + [[key, json.dumps(value, ensure_ascii=False)] for key, value in params.items()]
        steps.append(("given", "the parameters:", _table([[c, _escape_angle(v)] for c, v in rows])))
    if system is not None:
        steps.append(("given", "the system prompt:", _docstring(system)))
    if history:
        rows = [["role", "content"]] + [[str(m["role"]), str(m["content"])] for m in history]
        steps.append(("given", "the conversation:", _table(rows)))
    steps.append(("when", "the user says:", _docstring(user)))
    return steps


def _placeholders(definition: EvalDefinition, text: str, where: str) -> str:
    """``{{item.x}}`` as the step library's ``<x>``; a literal ``<x>`` escaped as ``\\<x>``."""

    def placeholder(match: re.Match[str]) -> str:
        parts = match.group(1).split(".")
        name = parts[1:] if parts[0] == "item" else parts
        if len(name) != 1 or not re.fullmatch(r"[A-Za-z_][\w-]*", name[0]):
            raise EvalDefinitionError(
                f"{definition.path}: {where}: {match.group(0)} cannot become a feature-file placeholder "
                "(only {{item.NAME}} can); run this eval with @pytest.mark.llmeval_openai_eval"
            )
        return f"<{name[0]}>"

    return TEMPLATE.sub(placeholder, _escape_angle(text))


def _escape_angle(text: str) -> str:
    return ANGLE.sub(lambda match: "\\" + match.group(0), text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _docstring(text: str) -> list[str]:
    fence = next((f for f in ('"""', "```") if f not in text), None)
    if fence is None:
        raise EvalDefinitionError('a message holds both """ and ``` and cannot become a Gherkin docstring')
    return [fence, *text.split("\n"), fence]


def _table(rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")

    cells = [[cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    # Gherkin strips cells, so padding only lines the columns up.
    return ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]


def _steps(steps: list[Step]) -> list[str]:
    lines = []
    previous = None
    for kind, text, below in steps:
        keyword = "And" if kind == previous else kind.capitalize()
        previous = kind
        lines.append(f"    {keyword} {text}")
        lines += [f"      {line}" if line else "" for line in below or []]
    return lines


def _test_module(name: str, stem: str, as_is: bool) -> str:
    head = f'''"""Generated by `python -m pytest_llmeval convert-openai-eval` from the OpenAI eval {name!r}.

The scenarios are in {stem}.feature; the testing criteria in {stem}.eval.json.
"""

'''
    if not as_is:
        return head + f'from pytest_bdd import scenarios\n\nscenarios("{stem}.feature")\n'
    return (
        head
        + f'''import json
from pathlib import Path

import pytest
from pytest_bdd import scenarios

scenarios("{stem}.feature")

_SAMPLES = {{
    row["id"]: row["sample"]["output_text"]
    for row in map(json.loads, (Path(__file__).parent / "{stem}.samples.jsonl").read_text("utf-8").splitlines())
}}


@pytest.fixture
def llmeval_targets(llmeval_targets):
    """Answers the pre-generated items with their samples from {stem}.samples.jsonl (no model call)."""
    return {{**llmeval_targets, "{target_name(stem)}": lambda case: _SAMPLES[str(case["row"]["id"])]}}
'''
    )


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when inside it: shorter in error messages."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvalDefinitionError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDefinitionError(f"{path}: cannot read the {what}: {exc}") from None
