"""What a model-graded grader needs while it grades: a way to ask the judge, and defaults.

Set by the plugin around each sample's grading; graders stay plain ``grader(sample, item)``
callables, so a judge can sit inside ``multi`` like any other grader.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._core.request import Generation, Request


class Asker(Protocol):
    def generate(
        self, requests: Sequence[Request], after: str | Sequence[str | None] | None = None
    ) -> list[Generation]: ...


@dataclass(frozen=True)
class GradingContext:
    engine: Asker
    """The run's engine: this run's answers, the cache, else the model."""
    judge_model: str | None
    """``@judge:`` / ``--llmeval-judge-model`` for judges that name no model."""
    parent_key: str | None = None
    """Cache key of the generation being graded (lets xdist find a judge planned elsewhere)."""
    embedding_model: str | None = None
    """``--llmeval-embedding-model`` for cosine similarity."""
    tools: Sequence[Mapping[str, Any]] | None = None
    """The tools the case offered: a tool grader checks a call's arguments against its schema."""


_CURRENT: contextvars.ContextVar[GradingContext | None] = contextvars.ContextVar("llmeval_grading", default=None)


def current() -> GradingContext | None:
    return _CURRENT.get()


@contextlib.contextmanager
def grading(context: GradingContext | None) -> Iterator[None]:
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        _CURRENT.reset(token)
