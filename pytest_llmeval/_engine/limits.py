"""Rate limits the engine keeps: token buckets for RPM/TPM and an adaptive concurrency cap.

Buckets refill continuously and hold at most one second's worth, so requests are paced
evenly instead of bursting a minute's allowance at once — providers enforce "600 RPM"
over short windows too. All of it runs on the engine's one event loop: no locks.
:class:`Limits` is one process's set; under xdist each worker holds its share of the run's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .._config.options import Settings
from .clock import SYSTEM, Clock
from .ratelimits import LearnedLimit, RateLimitHeaders


class TokenBucket:
    """``rate_per_minute`` units per minute; a request takes its units before it is sent.

    A request larger than a second's worth may still go once the bucket is full (the level
    goes negative and later requests wait longer), so a big prompt is never stuck forever.
    """

    def __init__(self, rate_per_minute: float, clock: Clock = SYSTEM) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._stamp = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self, units: float) -> float:
        """Seconds until ``units`` may be taken (0 when they may be taken now)."""
        self._refill()
        needed = min(units, self.capacity)
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate

    def take(self, units: float) -> None:
        self._refill()
        self.level -= units

    def give_back(self, units: float) -> None:
        """Correct an estimate after the fact (negative ``units`` charges more)."""
        self._refill()
        self.level = min(self.capacity, self.level + units)

    async def acquire(self, units: float) -> None:
        while (delay := self.wait_time(units)) > 0:
            await self._clock.sleep(delay)
        self.take(units)


class AdaptiveLimit:
    """A concurrency cap that gives a little on a 429 and grows back quickly.

    One 429 is seldom an overload (a rate limit says so in its headers, and the learned
    limits pace for it), so the cap is cut by a tenth, at most once per ``cooldown``
    seconds, and grows by an eighth of the maximum after every quarter-window of
    successes: a burst of 429s costs little, a real overload still brings it down.
    """

    def __init__(self, maximum: int, cooldown: float = 1.0, clock: Clock = SYSTEM) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self._cooldown = cooldown
        self._clock = clock
        self._last_cut = float("-inf")
        self._changed = asyncio.Event()

    async def acquire(self) -> None:
        while self.in_flight >= self.limit:
            self._changed.clear()
            await self._changed.wait()
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._changed.set()

    def rate_limited(self) -> None:
        now = self._clock.now()
        if now - self._last_cut >= self._cooldown:
            self.limit = max(1, int(self.limit * 0.9))
            self._last_cut = now
            self._successes = 0

    def succeeded(self) -> None:
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= max(1, self.limit // 4):
            self.limit = min(self.maximum, self.limit + max(1, self.maximum // 8))
            self._successes = 0
            self._changed.set()


@dataclass
class Limits:
    """The limits of one process; under xdist each worker gets its share of the run's."""

    concurrency: AdaptiveLimit
    rpm: TokenBucket | None
    tpm: TokenBucket | None
    learned_requests: LearnedLimit
    """The server's request budget as its x-ratelimit headers say (this worker's share)."""
    learned_tokens: LearnedLimit
    clock: Clock = SYSTEM
    paused_until: float = 0.0

    @classmethod
    def for_settings(cls, settings: Settings, workers: int = 1, index: int = 0, clock: Clock = SYSTEM) -> Limits:
        share = max(1, workers)
        # Split so the workers' caps add up to the run's (5 over 2 workers: 3 + 2, not 3 + 3).
        mine = settings.concurrency // share + (1 if index < settings.concurrency % share else 0)
        return cls(
            concurrency=AdaptiveLimit(max(1, mine), clock=clock),
            rpm=TokenBucket(settings.rpm / share, clock) if settings.rpm else None,
            tpm=TokenBucket(settings.tpm / share, clock) if settings.tpm else None,
            learned_requests=LearnedLimit(share, clock),
            learned_tokens=LearnedLimit(share, clock),
            clock=clock,
        )

    @property
    def counts_tokens(self) -> bool:
        """Whether a request's tokens must be estimated before it goes (a TPM limit, told or learned)."""
        return self.tpm is not None or self.learned_tokens.limit is not None

    async def admit(self, tokens: int) -> None:
        """Wait until every request and token limit, told or learned, lets one request of ``tokens`` go."""
        if self.rpm is not None:
            await self.rpm.acquire(1)
        if self.tpm is not None:
            await self.tpm.acquire(tokens)
        await self.learned_requests.acquire(1)
        if self.learned_tokens.limit is not None:
            await self.learned_tokens.acquire(tokens)

    def settle(self, estimate: int, used: int, headers: RateLimitHeaders | None) -> None:
        """After a response: correct the token estimate, then take what the server says it has left."""
        correction = estimate - used if used else 0
        if self.tpm is not None:
            self.tpm.give_back(correction)
        self.learned_tokens.give_back(correction)
        if headers is not None:
            if headers.requests is not None:
                self.learned_requests.observe(headers.requests)
            if headers.tokens is not None:
                self.learned_tokens.observe(headers.tokens)

    def pause_for(self, seconds: float) -> None:
        """After a 429 with Retry-After, no request starts before the server said."""
        self.paused_until = max(self.paused_until, self.clock.now() + seconds)

    async def pause(self) -> None:
        while (delay := self.paused_until - self.clock.now()) > 0:
            await self.clock.sleep(delay)
