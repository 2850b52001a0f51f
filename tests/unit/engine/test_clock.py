"""The clock seam and Limits: xdist shares of the run's limits, and every wait on the engine's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval._config.options import CacheMode, Settings
from pytest_llmeval._engine.clock import SYSTEM, Clock
from pytest_llmeval._engine.limits import AdaptiveLimit, Limits, TokenBucket
from pytest_llmeval._engine.ratelimits import LearnedLimit


class FakeClock(Clock):
    """Time that moves only when something sleeps on it (and then by exactly the wait)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


SETTINGS = Settings(
    model_override=None,
    default_model=None,
    base_url="http://127.0.0.1:1/v1",
    base_url_is_custom=True,
    samples=1,
    threshold=1.0,
    timeout=5.0,
    max_retries=0,
    cache_mode=CacheMode.OFF,
    cache_dir=Path("unused-cache"),
    reports=(),
    report_dir=Path("unused-reports"),
)


def run(waiting: Coroutine[Any, Any, None]) -> None:
    """Run on a fresh loop; a wait slept for real instead of on the fake clock fails, not hangs."""

    async def guarded() -> None:
        await asyncio.wait_for(waiting, 2.0)

    asyncio.run(guarded())


def limits_on(clock: Clock) -> Limits:
    return Limits(
        concurrency=AdaptiveLimit(4, clock=clock),
        rpm=None,
        tpm=None,
        learned_requests=LearnedLimit(1, clock),
        learned_tokens=LearnedLimit(1, clock),
        clock=clock,
    )


def test_the_system_clock_is_monotonic_and_sleeps() -> None:
    readings = [SYSTEM.now() for _ in range(100)]
    assert readings == sorted(readings)
    asyncio.run(SYSTEM.sleep(0))  # an ordinary coroutine on whatever loop runs it
    assert SYSTEM.now() >= readings[-1]


def test_a_long_pause_is_slept_on_the_clock() -> None:
    # A 300 s Retry-After: with asyncio.sleep this test would take five minutes.
    clock = FakeClock()
    limits = limits_on(clock)
    limits.pause_for(300)
    assert limits.paused_until == 1300.0
    run(limits.pause())
    assert clock.waits == [300.0]
    assert clock.t == 1300.0


def test_no_pause_no_sleep() -> None:
    clock = FakeClock()
    run(limits_on(clock).pause())
    assert clock.waits == []


def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    clock = FakeClock()
    limits = limits_on(clock)
    limits.pause_for(300)
    limits.pause_for(10)
    assert limits.paused_until == 1300.0
    limits.pause_for(400)
    assert limits.paused_until == 1400.0


def test_a_pause_already_over_is_not_waited() -> None:
    clock = FakeClock()
    limits = limits_on(clock)
    limits.pause_for(30)
    clock.t += 31
    run(limits.pause())
    assert clock.waits == []


def test_requests_waiting_on_one_pause_all_resume_after_it() -> None:
    clock = FakeClock()
    limits = limits_on(clock)
    limits.pause_for(120)
    resumed: list[float] = []

    async def request() -> None:
        await limits.pause()
        resumed.append(clock.now())

    async def main() -> None:
        await asyncio.gather(*(request() for _ in range(5)))

    run(main())
    assert len(resumed) == 5
    assert all(t >= 1120.0 for t in resumed)


def test_for_settings_hands_its_clock_to_every_limit() -> None:
    clock = FakeClock()
    limits = Limits.for_settings(replace(SETTINGS, rpm=60.0, tpm=600.0), clock=clock)
    assert limits.clock is clock
    assert limits.rpm is not None and limits.tpm is not None

    async def main() -> None:
        assert limits.rpm is not None
        await limits.rpm.acquire(1)  # a full bucket: no wait
        await limits.rpm.acquire(1)  # one per second: a second's wait, on the fake clock

    run(main())
    assert clock.waits == [1.0]


def test_a_bucket_waits_its_debt_on_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock)  # one unit per second

    async def main() -> None:
        await bucket.acquire(1)
        await bucket.acquire(600)  # may go once the bucket is full again, then owes ten minutes
        await bucket.acquire(1)

    run(main())
    assert sum(clock.waits) == 1.0 + 600.0
    assert clock.t == 1601.0


# ---- Limits.for_settings: one worker's share of the run's limits ------------------------------


def shares(workers: int, **changes: object) -> list[Limits]:
    settings = replace(SETTINGS, **changes)  # type: ignore[arg-type]
    return [Limits.for_settings(settings, workers=workers, index=i) for i in range(workers)]


@pytest.mark.parametrize(("concurrency", "workers"), [(32, 1), (5, 2), (32, 3), (7, 7), (10, 4), (100, 6)])
def test_concurrency_shares_add_up_to_the_run_s(concurrency: int, workers: int) -> None:
    caps = [limits.concurrency.maximum for limits in shares(workers, concurrency=concurrency)]
    assert sum(caps) == concurrency
    assert max(caps) - min(caps) <= 1  # as even as whole numbers allow
    assert all(limits.concurrency.limit == limits.concurrency.maximum for limits in shares(workers))


def test_five_over_two_workers_is_three_and_two() -> None:
    assert [limits.concurrency.maximum for limits in shares(2, concurrency=5)] == [3, 2]


def test_every_worker_may_send_at_least_one_request() -> None:
    # Fewer slots than workers: each still gets one (the run's cap is then exceeded, by design).
    assert [limits.concurrency.maximum for limits in shares(4, concurrency=2)] == [1, 1, 1, 1]


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_rate_shares_add_up_to_the_run_s(workers: int) -> None:
    parts = shares(workers, rpm=600.0, tpm=90_000.0)
    assert sum(p.rpm.rate for p in parts if p.rpm is not None) * 60 == pytest.approx(600.0)
    assert sum(p.tpm.rate for p in parts if p.tpm is not None) * 60 == pytest.approx(90_000.0)
    assert all(p.rpm is not None and p.tpm is not None for p in parts)


def test_no_rate_limits_no_buckets() -> None:
    limits = Limits.for_settings(SETTINGS, workers=3, index=1)
    assert limits.rpm is None and limits.tpm is None


@pytest.mark.parametrize("workers", [0, -1])
def test_no_worker_count_is_one_worker(workers: int) -> None:
    limits = Limits.for_settings(replace(SETTINGS, concurrency=8, rpm=120.0), workers=workers)
    assert limits.concurrency.maximum == 8
    assert limits.rpm is not None and limits.rpm.rate * 60 == 120.0
