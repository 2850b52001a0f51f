"""The retry policy: after one attempt, whether to try again and after how long.

Retried: 408/409/429/5xx, timeouts and dropped connections (the client marks them), up
to ``--llmeval-max-retries``, waiting what the server's ``Retry-After`` says or an
exponential back-off with jitter. A wait longer than :data:`MAX_RETRY_WAIT` fails the
request instead of stalling the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .._core.request import Generation
from .client import Attempt

MAX_RETRY_WAIT = 600.0
"""A Retry-After longer than this fails the request instead of stalling the run."""


@dataclass(frozen=True)
class Next:
    """What follows an attempt: wait ``wait`` seconds and try again, or end with ``outcome``."""

    outcome: Generation
    wait: float | None = None

    @property
    def again(self) -> bool:
        return self.wait is not None


def after(attempt: Attempt, retries: int, max_retries: int) -> Next:
    """Decide after ``attempt``, the ``retries``-th retry of its request (0: the first try)."""
    generation = attempt.generation
    if not attempt.retryable:
        return Next(generation)
    if retries >= max_retries:
        suffix = f" (after {retries} retries)" if retries else ""
        return Next(Generation.failed(f"{generation.error}{suffix}", generation.latency))
    wait = attempt.retry_after if attempt.retry_after is not None else backoff(retries)
    if wait > MAX_RETRY_WAIT:
        return Next(
            Generation.failed(
                f"{generation.error} (the server asked to wait {wait:.0f} s, more than {MAX_RETRY_WAIT:.0f} s)",
                generation.latency,
            )
        )
    return Next(generation, wait)


def backoff(retries: int) -> float:
    """Exponential back-off with jitter when the server gave no Retry-After."""
    return min(0.5 * float(2**retries), 30.0) * (0.5 + random.random() / 2)
