"""What is sent to a model and what comes back, free of any SDK type.

Keeping these plain lets the cache, the planner and the reports work without importing
``openai`` (only :mod:`pytest_llmeval._client` does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


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
    endpoint: Literal["chat.completions", "embeddings"] = "chat.completions"
    """``embeddings`` requests (for cosine similarity) carry their text in ``params["input"]``."""

    @classmethod
    def embedding(cls, model: str, text: str) -> ChatRequest:
        """A request for the embedding of ``text`` (the answer is the vector as JSON text)."""
        return cls(model=model, messages=(), params={"input": text}, endpoint="embeddings")

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
class Job:
    """One request the engine is to answer before the tests run.

    A *derived* job (a judge grading a generation) has ``after``, the key of the job whose
    answer it needs, and ``derive``, which builds its request from that answer; its
    ``key`` is a placeholder until then, and its result is kept under the real key.
    """

    key: str
    material: dict[str, Any]
    request: ChatRequest | None
    after: str | None = None
    derive: Callable[[Generation], ChatRequest | None] | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts as the server reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


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

    @classmethod
    def failed(cls, reason: str, latency: float = 0.0) -> Generation:
        return cls(text=None, error=reason, latency=latency)

    def to_json(self) -> dict[str, Any]:
        """Plain data, to hand this outcome to another xdist worker."""
        return {
            "text": self.text,
            "error": self.error,
            "usage": [self.usage.prompt_tokens, self.usage.completion_tokens],
            "latency": self.latency,
            "finish_reason": self.finish_reason,
            "response_model": self.response_model,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, cached: bool = False) -> Generation:
        prompt, completion = data.get("usage") or (0, 0)
        return cls(
            text=data.get("text"),
            error=data.get("error"),
            usage=Usage(int(prompt), int(completion)),
            latency=float(data.get("latency") or 0.0),
            cached=cached,
            finish_reason=data.get("finish_reason"),
            response_model=data.get("response_model"),
        )
