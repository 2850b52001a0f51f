"""What defines one case, whichever front end wrote it: :class:`CaseSpec`.

The Gherkin steps fill it step by step, ``llm.ask`` and the declarative marker fill it at
once, an OpenAI eval item fills it from its definition; from here on a case means the
same thing everywhere (:mod:`.pipeline` runs it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._config.options import Settings
from .._config.parse import parse_sample_spec
from .._config.variants import PromptVariant
from .._core.request import ChatRequest, TargetRequest
from ..graders._base import Grader
from .placeholders import PlaceholderError, fill_braces
from .targets import origin

ROUND = 5
"""Samples per round of adaptive sampling."""

NO_MODEL = (
    "no model: add 'Given the model \"...\"', a @model:NAME tag, the llmeval marker's model=, "
    "--llmeval-model, or llmeval_model in the ini file"
)
NO_USER = "no user message: add a step 'When the user says \"...\"'"
NOTHING_GRADES = "nothing grades the answer: add a Then step (see docs/steps.md)"


class CaseSetupError(Exception):
    """A case cannot be run as written (no model, unreadable prompt file...)."""


@dataclass
class CaseSpec:
    """What defines one case, filled step by step (or by one ``llm.ask``)."""

    case_id: str
    nodeid: str
    group: str
    base_dir: Path
    """Folder that relative paths in this case are resolved from."""
    row: dict[str, Any] = field(default_factory=dict)
    """The Examples row and/or dataset row (the graders' ``item``)."""
    where: str | None = None
    """Where the case is written (``features/x.feature:3``): its setup errors start with it."""
    model: str | None = None
    samples: int = 1
    threshold: float = 1.0
    system: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    user: str | None = None
    images: list[str] = field(default_factory=list)
    """Data URLs of images attached to the user message."""
    params: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    target: str | None = None
    judge_model: str | None = None
    """The scenario's @judge: tag (or the marker's judge_model), for judges that name no model."""
    adaptive_max: int | None = None
    """``@samples:auto``: draw rounds of samples until the verdict is clear, at most this many."""
    side_by_side: str | None = None
    """The model this item runs on when several ``--llmeval-model`` are compared."""
    strict_stats: bool = False
    """--llmeval-stats=strict: a case whose interval straddles the threshold is inconclusive."""
    max_error_rate: float = 0.0
    """--llmeval-max-error-rate: the share of errored samples a case may have and still get a verdict."""
    min_decided: int = 1
    """--llmeval-min-decided: the decided samples a case with errored ones needs for a verdict."""
    graders: list[Grader] = field(default_factory=list)
    system_file: str | None = None
    """The file the system prompt was read from (``Given the system prompt from``): what
    ``--llmeval-prompt-variant OLD.md=NEW.md`` matches."""
    variant: PromptVariant | None = None
    """The prompt variant this item runs under (one of several, or the only one given)."""
    tools: list[dict[str, Any]] | None = None
    """The OpenAI ``tools`` array the model is offered (sent as the ``tools`` parameter)."""
    tool_choice: str | dict[str, Any] | None = None
    """``auto``, ``required``, ``none`` or one function (sent as ``tool_choice``)."""
    tool_results: dict[str, str] = field(default_factory=dict)
    """Canned results by tool name: a call of one is answered with it and the model asked again."""

    def sent_params(self) -> dict[str, Any]:
        """The sampling parameters with the tools and tool choice: what the request carries (and its key)."""
        params = dict(self.params)
        if self.tools is not None:
            params["tools"] = self.tools
        if self.tool_choice is not None:
            params["tool_choice"] = self.tool_choice
        return params

    def answers_tools(self, functions: Mapping[str, Any]) -> bool:
        """True when some call of an answer is answered (canned or by a function), so the model is asked again."""
        if self.tools is None:
            return False
        return bool(self.tool_results) or any(tool_name(t) in functions for t in self.tools)

    def system_prompt(self) -> str | None:
        """The system prompt sent: the case's own, or its prompt variant's with ``{{ name }}`` filled."""
        variant = self.variant
        if variant is None or not variant.applies_to(self.system_file):
            return self.system
        text = variant.swap(self.system, self.system_file) or ""
        try:
            return fill_braces(text, self.row, f"prompt variant {variant.name!r}")
        except PlaceholderError as exc:
            raise CaseSetupError(str(exc)) from None

    def messages(self) -> tuple[dict[str, Any], ...]:
        if self.user is None:
            raise CaseSetupError(NO_USER)
        messages: list[dict[str, Any]] = []
        system = self.system_prompt()
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.extend(self.history)
        if self.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": self.user}]
            parts.extend({"type": "image_url", "image_url": {"url": url}} for url in self.images)
            messages.append({"role": "user", "content": parts})
        else:
            messages.append({"role": "user", "content": self.user})
        return tuple(messages)

    def requests(self, start: int = 0, count: int | None = None) -> list[ChatRequest]:
        """One request per sample; the sample index keeps their cache entries apart."""
        if self.model is None:
            raise CaseSetupError(NO_MODEL)
        messages = self.messages()
        return [
            ChatRequest(
                model=self.model,
                messages=messages,
                params=self.sent_params(),
                response_format=self.response_format,
                sample_index=index,
            )
            for index in range(start, start + (self.samples if count is None else count))
        ]

    def target_requests(
        self, call: Callable[[Mapping[str, Any]], Any], start: int = 0, count: int | None = None
    ) -> list[TargetRequest]:
        """One call of the case's target per sample: what it is given, and which function it is."""
        assert self.target is not None
        messages = list(self.messages())
        return [
            TargetRequest(
                target=self.target,
                case={"input": self.user, "messages": messages, "row": self.row, "model": self.model, "sample": index},
                function=origin(call),
                call=call,
            )
            for index in range(start, start + (self.samples if count is None else count))
        ]

    def problem(self) -> str | None:
        """Why this case cannot run as written, before anything is sent (None: it can).

        An eval without a grader would pass whatever came back: an eval that cannot fail.
        """
        if self.user is None:
            return NO_USER
        if not self.graders:
            return NOTHING_GRADES
        if self.model is None and self.target is None:
            return NO_MODEL
        unknown = [name for name in self.tool_results if self.tools is None or name not in map(tool_name, self.tools)]
        if unknown:
            return f"a result is given for the tool {unknown[0]!r}, which is not in the tools"
        try:
            self.system_prompt()
        except CaseSetupError as exc:  # a variant's {{ name }} that this case's row lacks
            return str(exc)
        return None


def tool_name(tool: Mapping[str, Any]) -> str:
    function = tool.get("function")
    return str(function.get("name")) if isinstance(function, Mapping) else ""


def resolve_model(settings: Settings, *specific: str | None, side_by_side: str | None = None) -> str | None:
    """The compared model, else the CLI override, else the most specific of step/tag/marker, else the ini."""
    if side_by_side is not None:
        return side_by_side
    if settings.model_override:
        return settings.model_override
    return next((m for m in specific if m), settings.default_model)


def resolve_variant(settings: Settings, compared: str | None) -> PromptVariant | None:
    """The item's compared variant, else the only one given (it swaps without an id suffix), else None."""
    variants = settings.prompt_variants
    if compared is not None:
        return next((v for v in variants if v.name == compared), None)
    return variants[0] if len(variants) == 1 else None


def sample_plan(written: str | int | None, settings: Settings) -> tuple[int, int | None]:
    """(samples of the first round, the adaptive maximum or None) from a tag or marker value."""
    if written is None:
        return settings.samples, None
    fixed, maximum = parse_sample_spec(str(written))
    if fixed is not None:
        return fixed, None
    top = maximum or settings.max_samples
    return min(ROUND, top), top
