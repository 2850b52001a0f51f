"""Rate limits learned from the server: OpenAI's ``x-ratelimit-*`` headers, read on every response.

Few users know their limits, so the engine does not wait to be told: each response says
how many requests and tokens the account may still use and when the budget is full
again, and :class:`LearnedLimit` keeps a bucket that mirrors the server's::

    x-ratelimit-limit-requests: 600        x-ratelimit-limit-tokens: 150000
    x-ratelimit-remaining-requests: 597    x-ratelimit-remaining-tokens: 149000
    x-ratelimit-reset-requests: 300ms      x-ratelimit-reset-tokens: 400ms

The refill rate is read from the same headers: ``(limit - remaining) / reset`` units per
second, else a limit per minute. Under pytest-xdist every worker sees the same account,
so each keeps 1/N of it: the server is the shared state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .clock import SYSTEM, Clock

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float | None:
    """``6m0s`` / ``1s`` / ``20ms`` / ``1m30.5s`` / ``0.5`` as seconds; None when it is none of them."""
    text = text.strip()
    try:
        return max(0.0, float(text))  # a bare number: seconds
    except ValueError:
        pass
    total, end = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != end:
            return None
        total += float(match["value"]) * _UNIT_SECONDS[match["unit"]]
        end = match.end()
    return total if end == len(text) and end else None


@dataclass(frozen=True)
class Allowance:
    """What one response says of one kind of limit (requests or tokens)."""

    limit: float
    remaining: float
    reset: float | None
    """Seconds until the budget is full again."""


@dataclass(frozen=True)
class RateLimitHeaders:
    """The ``x-ratelimit-*`` headers of one response, for requests and for tokens."""

    requests: Allowance | None = None
    tokens: Allowance | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateLimitHeaders | None:
        found = {kind: _budget(headers, kind) for kind in ("requests", "tokens")}
        if found["requests"] is None and found["tokens"] is None:
            return None
        return cls(requests=found["requests"], tokens=found["tokens"])

    @property
    def exhausted(self) -> bool:
        """True when the headers say a shared budget is used up (remaining 0)."""
        return any(b is not None and b.remaining < 1 for b in (self.requests, self.tokens))


def _budget(headers: Mapping[str, str], kind: str) -> Allowance | None:
    limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
    remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
    if limit is None or remaining is None or limit <= 0:
        return None
    reset_text = headers.get(f"x-ratelimit-reset-{kind}")
    reset = parse_duration(reset_text) if reset_text else None
    return Allowance(limit=limit, remaining=max(0.0, min(remaining, limit)), reset=reset)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


class LearnedLimit:
    """A bucket that mirrors the server's budget of one kind, this worker's share of it.

    Until a response has said anything, it lets everything through. Then it holds
    ``limit / workers`` units, refills at the rate the headers imply, and is brought down
    to the server's ``remaining / workers`` whenever a response reports fewer.
    """

    def __init__(self, workers: int = 1, clock: Clock = SYSTEM) -> None:
        self.workers = max(1, workers)
        self.limit: float | None = None
        """The server's whole limit, as last reported."""
        self.rate = 0.0
        """Units per second for this worker."""
        self.level = 0.0
        self._clock = clock
        self._stamp = clock.now()

    @property
    def capacity(self) -> float:
        return (self.limit or 0.0) / self.workers

    def _refill(self) -> None:
        now = self._clock.now()
        if self.limit is not None:
            self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def observe(self, budget: Allowance) -> None:
        """Take what a response says: the limit, the rate, and the remaining budget."""
        self._refill()
        first = self.limit is None
        used = budget.limit - budget.remaining
        if budget.reset is not None and budget.reset > 0 and used > 0:
            rate = used / budget.reset
        else:
            rate = budget.limit / 60.0  # OpenAI's limits are per minute
        self.limit = budget.limit
        self.rate = max(rate, budget.limit / 86400.0) / self.workers
        share = budget.remaining / self.workers
        self.level = share if first else min(self.level, share)

    def wait_time(self, units: float) -> float:
        """Seconds until ``units`` may be taken (0 when they may be taken now)."""
        if self.limit is None:
            return 0.0
        self._refill()
        needed = min(units, self.capacity)
        if self.level >= needed:
            return 0.0
        return (needed - self.level) / self.rate if self.rate > 0 else 1.0

    def take(self, units: float) -> None:
        if self.limit is not None:
            self._refill()
            self.level -= units

    def give_back(self, units: float) -> None:
        """Correct an estimate after the fact (negative ``units`` charges more)."""
        if self.limit is not None:
            self._refill()
            self.level = min(self.capacity, self.level + units)

    async def acquire(self, units: float) -> None:
        while (delay := self.wait_time(units)) > 0:
            await self._clock.sleep(min(delay, 1.0))  # re-checked: a response may lower the level
        self.take(units)
