from __future__ import annotations

import asyncio

from pytest_llmeval._engine.clock import Clock as SystemClock
from pytest_llmeval._engine.limits import AdaptiveLimit, TokenBucket


class Clock(SystemClock):
    """A clock the test sets by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def test_bucket_paces_at_the_rate_with_one_second_of_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(600, clock)  # 10 per second
    for _ in range(10):
        assert bucket.wait_time(1) == 0
        bucket.take(1)
    assert bucket.wait_time(1) == 0.1
    clock.t = 0.5
    assert bucket.wait_time(5) == 0


def test_bucket_lets_a_request_bigger_than_a_second_through_and_owes_it() -> None:
    clock = Clock()
    bucket = TokenBucket(60, clock)  # 1 per second
    assert bucket.wait_time(30) == 0  # full bucket: may go
    bucket.take(30)
    assert bucket.wait_time(1) == 30.0  # ...and the debt is paid back at the rate


def test_bucket_corrections() -> None:
    clock = Clock()
    bucket = TokenBucket(6000, clock)  # 100 per second
    bucket.take(100)
    bucket.give_back(40)  # estimated 100, used 60
    assert bucket.level == 40
    bucket.give_back(-50)  # estimated too little
    assert bucket.level == -10


def test_adaptive_limit_gives_a_tenth_once_per_cooldown_and_recovers_quickly() -> None:
    clock = Clock()
    limit = AdaptiveLimit(64, cooldown=1.0, clock=clock)
    limit.rate_limited()
    limit.rate_limited()  # same burst: one cut
    assert limit.limit == 57
    clock.t = 2.0
    limit.rate_limited()
    assert limit.limit == 51
    for _ in range(51 // 4):  # a quarter-window of successes gives back an eighth of the maximum
        limit.succeeded()
    assert limit.limit == 59
    for _ in range(30):
        limit.succeeded()
    assert limit.limit == 64


def test_adaptive_limit_never_drops_below_one() -> None:
    clock = Clock()
    limit = AdaptiveLimit(2, cooldown=1.0, clock=clock)
    for second in range(5):
        clock.t = float(second * 2)
        limit.rate_limited()
    assert limit.limit == 1


def test_adaptive_limit_caps_in_flight() -> None:
    async def scenario() -> int:
        limit = AdaptiveLimit(3)
        peak = 0

        async def task() -> None:
            nonlocal peak
            await limit.acquire()
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0.01)
            limit.release()

        await asyncio.gather(*(task() for _ in range(20)))
        return peak

    assert asyncio.run(scenario()) == 3
