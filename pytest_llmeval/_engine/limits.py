"""Rate limits the engine keeps: token buckets for RPM/TPM and an adaptive concurrency cap.

Buckets refill continuously and hold at most one second's worth, so requests are paced
evenly instead of bursting a minute's allowance at once — providers enforce "600 RPM"
over short windows too. All of it runs on the engine's one event loop: no locks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``rate_per_minute`` units per minute; a request takes its units before it is sent.

    A request larger than a second's worth may still go once the bucket is full (the level
    goes negative and later requests wait longer), so a big prompt is never stuck forever.
    """

    def __init__(self, rate_per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
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
            await asyncio.sleep(delay)
        self.take(units)


class AdaptiveLimit:
    """A concurrency cap that halves on a 429 and grows back by one per window of successes.

    The halving happens at most once per ``cooldown`` seconds: a burst of 429s from one
    overload is one signal, not twenty.
    """

    def __init__(self, maximum: int, cooldown: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
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
        now = self._clock()
        if now - self._last_cut >= self._cooldown:
            self.limit = max(1, self.limit // 2)
            self._last_cut = now
            self._successes = 0

    def succeeded(self) -> None:
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self.limit += 1
            self._successes = 0
            self._changed.set()
