"""An exported OpenAI eval definition, read and checked: the file format, no pytest here.

OpenAI's hosted Evals are read-only since 2026-10-31 and shut down on 2026-11-30. An
exported eval — ``name``, ``data_source_config``, ``testing_criteria`` and the run's
``data_source`` — is read by :func:`load_definition`; every problem is an
:class:`EvalDefinitionError` naming the file and the JSON path to fix. Its criteria become
graders in :mod:`.criteria`, its items are read in :mod:`.items`, and the run's messages
for an item are built in :mod:`.messages`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..graders._metrics import METRICS
from ..graders._templates import TEMPLATE

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
    pass_threshold: float | None = Field(None, ge=0, le=1)
    """Required on its own; inside a multi grader OpenAI uses the score alone, so it may be left out."""


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
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in (StringCheck, TextSimilarity, ScoreModel, LabelModel, PythonCode, MultiCriterion)
}
"""Each OpenAI criterion type's model, by the type name its ``type`` field holds."""

SUPPORTED = tuple(_CRITERIA)
"""The ``testing_criteria`` types that run here (each is a built-in grader type of the same name)."""


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
    return parse_definition(file, read_text(file, "eval definition"))


def parse_definition(file: Path, text: str) -> EvalDefinition:
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
        validate_criterion(file, raw, f"$.testing_criteria[{index}]")
        for index, raw in enumerate(definition.testing_criteria)
    ]
    _check_data_source(file, definition, source_path)
    schema = definition.data_source_config.item_json_schema()
    if schema is not None:
        item_validator(file, schema)
    return definition


def _data_source_of(data: dict[str, Any]) -> tuple[Any, str]:
    """The run data source and its JSON path: ``data_source``, or ``run`` (itself or its data_source)."""
    if "data_source" in data:
        return data.pop("data_source"), "$.data_source"
    run = data.pop("run", None)
    if isinstance(run, dict) and isinstance(run.get("data_source"), dict):
        return run["data_source"], "$.run.data_source"
    return run, "$.run"


def validate_criterion(file: Path, raw: Any, where: str, *, in_multi: bool = False) -> Criterion:
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
    if isinstance(criterion, TextSimilarity) and criterion.pass_threshold is None and not in_multi:
        raise EvalDefinitionError(f"{file}: {where}.pass_threshold{label}: Field required")
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
        if field not in ("output_text", "output_json", "output_tools"):
            raise EvalDefinitionError(
                f"{file}: {where}: {match.group(0)} is not supported here; a sample has "
                "output_text, output_json and output_tools (not choices or output_audio)"
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


def item_validator(file: Path, schema: dict[str, Any]) -> Any:
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


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvalDefinitionError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDefinitionError(f"{path}: cannot read the {what}: {exc}") from None
