"""What is sent to a model and what comes back, free of any SDK type.

Keeping these plain lets the cache, the planner and the reports work without importing
``openai`` (only :mod:`pytest_llmeval._engine.client` does). A request knows what can
change its answer (:meth:`ChatRequest.material`), which is all a cache key is made of.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .records import Usage, jsonable

KEY_FORMAT = 1
"""Version of the key material; bump it to make every cached answer a miss."""


@dataclass(frozen=True)
class ChatRequest:
    """One Chat Completions call: one sample of one case."""

    model: str
    """Model name as given (``ft:`` names are used verbatim)."""
    messages: tuple[Mapping[str, Any], ...]
    """Chat messages in the API's shape (system, earlier turns, the user message)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Sampling parameters (temperature, top_p, max_tokens, seed, ...)."""
    response_format: Mapping[str, Any] | None = None
    """Structured-output request, e.g. ``{"type": "json_schema", ...}``."""
    sample_index: int = 0
    """Which sample of the case this is: repeated samples are distinct cache entries."""

    endpoint: Literal["chat.completions"] = "chat.completions"

    def material(self, host: str) -> dict[str, Any]:
        """Everything that can change the answer, and nothing else (no headers, keys, org ids)."""
        return {
            "format": KEY_FORMAT,
            "endpoint": self.endpoint,
            "host": host,
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "response_format": dict(self.response_format) if self.response_format else None,
            "params": dict(sorted(self.params.items())),
            "sample": self.sample_index,
        }

    def describe(self) -> str:
        """A short human label for error messages: model, sample, last user message."""
        user = next((m for m in reversed(self.messages) if m.get("role") == "user"), None)
        content = user.get("content") if user else None
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "[image]")) for p in content if isinstance(p, Mapping))
        text = str(content or "")
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"model {self.model!r}, sample {self.sample_index}, user message {shown!r}"


@dataclass(frozen=True)
class EmbeddingRequest:
    """The embedding of one text (for cosine similarity); the answer is the vector as JSON text."""

    model: str
    text: str

    endpoint: Literal["embeddings"] = "embeddings"

    def material(self, host: str) -> dict[str, Any]:
        # The shape chat requests have, so keys recorded before this type existed still match.
        return {
            "format": KEY_FORMAT,
            "endpoint": self.endpoint,
            "host": host,
            "model": self.model,
            "messages": [],
            "response_format": None,
            "params": {"input": self.text},
            "sample": 0,
        }

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"embeddings model {self.model!r}, text {shown!r}"


@dataclass(frozen=True)
class TargetRequest:
    """One call of a user's target (an application) for one sample of a case.

    What the target is given is its cache key, with the function's ``module:qualname``:
    a changed function is a new key, and the function itself (``call``) is not compared.
    """

    target: str
    """The name the case uses (``Given the target "rag"``)."""
    case: Mapping[str, Any]
    """What the target is called with: input, messages, row, model, sample."""
    function: str
    """``module:qualname`` of the target function."""
    call: Callable[[Mapping[str, Any]], Any] = field(compare=False, hash=False, repr=False)

    endpoint: Literal["target"] = "target"

    @property
    def model(self) -> str:
        return f"target:{self.target}"

    def material(self, host: str) -> dict[str, Any]:
        # No host: a target runs here, whatever server the models are asked on.
        return {
            "format": KEY_FORMAT,
            "endpoint": self.endpoint,
            "target": self.target,
            "function": self.function,
            "case": jsonable(dict(self.case)),
        }

    def describe(self) -> str:
        text = str(self.case.get("input") or "")
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"target {self.target!r}, sample {self.case.get('sample', 0)}, input {shown!r}"


Request = ChatRequest | EmbeddingRequest | TargetRequest
"""Anything the engine answers."""


@dataclass(frozen=True)
class ToolCall:
    """One function call a model made (``message.tool_calls[i]``), and what it was answered.

    The raw argument text is kept as the model wrote it: a model that writes invalid JSON
    must fail a tool grader, not be repaired on the way.
    """

    id: str
    """The call's id; the ``tool`` message answering it carries it as ``tool_call_id``."""
    name: str
    """The function's name."""
    raw_arguments: str
    """The arguments as the model wrote them (a JSON text, when the model behaves)."""
    round: int = 0
    """Which request of the sample made the call: 0 for the first, 1 after one round of tool results."""
    result: str | None = None
    """What the plugin answered the call with (a canned result or a tool function's return); None if unanswered."""
    error: str | None = None
    """Why a registered tool function failed on this call (its message was sent to the model instead)."""

    @property
    def arguments(self) -> Any:
        """The arguments parsed as JSON; None when they are not JSON."""
        try:
            return json.loads(self.raw_arguments)
        except (json.JSONDecodeError, RecursionError, TypeError):
            return None

    def openai(self) -> dict[str, Any]:
        """The call in the API's shape, as an assistant message and OpenAI's ``sample.output_tools`` hold it."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.raw_arguments}}

    def dump(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.raw_arguments}
        if self.round:
            data["round"] = self.round
        if self.result is not None:
            data["result"] = self.result
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> ToolCall:
        values = (data["id"], data["name"], data["arguments"])
        if not all(isinstance(v, str) for v in values):
            raise TypeError("a tool call's id, name and arguments must be strings")
        result, error = data.get("result"), data.get("error")
        return cls(
            id=data["id"],
            name=data["name"],
            raw_arguments=data["arguments"],
            round=int(data.get("round") or 0),
            result=str(result) if result is not None else None,
            error=str(error) if error is not None else None,
        )


@dataclass(frozen=True)
class Generation:
    """The outcome of one request: an answer, or an error with its reason."""

    text: str | None
    """The answer's text; None when the request errored."""
    error: str | None = None
    """Why there is no answer (rate limit exhausted, timeout, refusal, replay miss...)."""
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    """Seconds the request took on the network (as recorded, for cached answers)."""
    cached: bool = False
    """True when the answer came from the response cache."""
    finish_reason: str | None = None
    response_model: str | None = None
    """The model name the server reported (resolves aliases to snapshots)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The functions the model called. An answer that only calls tools has ``text == ""``; after
    a tool loop, every call of every round, each with the result it was answered with."""
    stopped: str | None = None
    """Why a tool loop ended without a final answer (round limit, a tool nobody answers): the
    sample fails with this reason. Never set on one request's answer, so never cached."""

    @property
    def answered(self) -> bool:
        """True when there is something to grade: a text, or tool calls (with ``text == ""``)."""
        return self.error is None and self.text is not None

    @classmethod
    def failed(cls, reason: str, latency: float = 0.0) -> Generation:
        return cls(text=None, error=reason, latency=latency)

    def dump(self) -> dict[str, Any]:
        """Plain data: the ``response`` of a cache entry, and what one xdist worker hands another.

        One codec for both, so an answer reads back the same wherever it was stored; an
        ``error`` is only written when set (errors are shared between workers, never cached).
        """
        data: dict[str, Any] = {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "model": self.response_model,
            "latency": round(self.latency, 4),
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
        }
        if self.tool_calls:
            data["tool_calls"] = [call.dump() for call in self.tool_calls]
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def load(cls, data: Mapping[str, Any], *, cached: bool = False) -> Generation:
        """The inverse of :meth:`dump`; raises ``TypeError``/``ValueError``/``KeyError`` on damage."""
        usage = data.get("usage") or {}
        error = data.get("error")
        text = data["text"]
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, not a string")
        calls = data.get("tool_calls") or []
        if not isinstance(calls, list):
            raise TypeError("tool_calls is not a list")
        return cls(
            tool_calls=tuple(ToolCall.load(c) for c in calls),
            text=text,
            error=str(error) if error is not None else None,
            usage=Usage.of(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            latency=float(data.get("latency") or 0.0),
            cached=cached,
            finish_reason=data.get("finish_reason"),
            response_model=data.get("model"),
        )


@dataclass(frozen=True)
class Job:
    """One request the engine is to answer before the tests run.

    A *derived* job (a judge grading a generation) has ``after``, the key of the job whose
    answer it needs, and ``derive``, which builds its request from that answer; its
    ``key`` is a placeholder until then, and its result is kept under the real key.
    """

    key: str
    material: dict[str, Any]
    request: Request | None
    after: str | None = None
    derive: Callable[[Generation], Request | None] | None = None

    @property
    def root(self) -> str:
        """The key of the first generation of this job's chain: a judge's or a tool round's
        placeholder starts with it (``KEY>...``), so under xdist the whole chain has one owner."""
        return (self.after or self.key).split(">", 1)[0]
