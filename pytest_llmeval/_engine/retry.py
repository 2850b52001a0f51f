"""The retry policy: after one attempt, whether to try again and after how long.

Two budgets, because two kinds of failure:

- **A rate limit** (a 429 that is not an exhausted quota) never loses a case: the request
  waits what the server's ``Retry-After`` says (else a back-off) and tries again, without
  using up ``--llmeval-max-retries``, until it has waited ``--llmeval-rate-limit-timeout``
  seconds in all; only then does it error, saying so.
- **Anything else retryable** (408/409/5xx, timeouts, dropped connections) is tried again
  up to ``--llmeval-max-retries`` times, waiting ``Retry-After`` or an exponential
  back-off with jitter. A wait longer than :data:`MAX_RETRY_WAIT` fails the request
  instead of stalling the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .._core.request import Generation
from .client import Attempt

MAX_RETRY_WAIT = 600.0
"""A Retry-After longer than this fails the request instead of stalling the run."""


@dataclass
class Tries:
    """What one request has been through so far."""

    retries: int = 0
    """Retries after errors that are not rate limits."""
    rate_waits: int = 0
    waited: float = 0.0
    """Seconds waited on rate limits in all."""


@dataclass(frozen=True)
class Next:
    """What follows an attempt: wait ``wait`` seconds and try again, or end with ``outcome``."""

    outcome: Generation
    wait: float | None = None
    rate_limit: bool = False
    """The wait is a rate limit's (it does not use up a retry)."""

    @property
    def again(self) -> bool:
        return self.wait is not None


def after(attempt: Attempt, tries: Tries, max_retries: int, rate_limit_timeout: float = MAX_RETRY_WAIT) -> Next:
    """Decide after ``attempt`` of a request that has been through ``tries``."""
    generation = attempt.generation
    if not attempt.retryable:
        return Next(generation)
    if attempt.rate_limited:
        return _rate_limited(attempt, tries, rate_limit_timeout)
    if tries.retries >= max_retries:
        suffix = f" (after {tries.retries} retries)" if tries.retries else ""
        return Next(Generation.failed(f"{generation.error}{suffix}", generation.latency))
    wait = attempt.retry_after if attempt.retry_after is not None else backoff(tries.retries)
    if wait > MAX_RETRY_WAIT:
        return Next(
            Generation.failed(
                f"{generation.error} (the server asked to wait {wait:.0f} s, more than {MAX_RETRY_WAIT:.0f} s)",
                generation.latency,
            )
        )
    return Next(generation, wait)


def _rate_limited(attempt: Attempt, tries: Tries, timeout: float) -> Next:
    generation, asked = attempt.generation, attempt.retry_after
    left = timeout - tries.waited
    if asked is not None and asked > timeout:
        reason = f"the server asked to wait {asked:.0f} s, more than {timeout:.0f} s of --llmeval-rate-limit-timeout"
    elif (asked is not None and asked > left) or left <= 0:
        reason = f"still rate limited after waiting {tries.waited:.0f} s"
        reason += f"; --llmeval-rate-limit-timeout is {timeout:.0f} s"
    else:
        # No Retry-After: back off as for other errors, but never past the timeout.
        return Next(generation, asked if asked is not None else min(backoff(tries.rate_waits), left), rate_limit=True)
    return Next(Generation.failed(f"{generation.error} ({reason})", generation.latency))


def backoff(retries: int) -> float:
    """Exponential back-off with jitter when the server gave no Retry-After."""
    return min(0.5 * float(2**retries), 30.0) * (0.5 + random.random() / 2)
