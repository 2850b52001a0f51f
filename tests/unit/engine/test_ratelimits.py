"""Reading x-ratelimit headers, and the bucket that mirrors the server's budget."""

from __future__ import annotations

import asyncio

import pytest

from pytest_llmeval._engine.clock import Clock
from pytest_llmeval._engine.ratelimits import Allowance, LearnedLimit, RateLimitHeaders, parse_duration


class FakeClock(Clock):
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1m30.5s", 90.5), ("1h0m0s", 3600.0), ("0.5", 0.5), ("0s", 0.0)],
)
def test_openai_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "s1", "1s garbage"])
def test_what_is_no_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_headers_for_requests_and_tokens() -> None:
    found = RateLimitHeaders.parse(
        {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "60s",
            "x-ratelimit-limit-tokens": "40000",
            "x-ratelimit-remaining-tokens": "39000",
            "x-ratelimit-reset-tokens": "1.5s",
        }
    )
    assert found is not None
    assert found.requests == Allowance(limit=600, remaining=0, reset=60.0)
    assert found.tokens == Allowance(limit=40000, remaining=39000, reset=1.5)
    assert found.exhausted


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-limit-requests": "600"},  # no remaining
        {"x-ratelimit-limit-requests": "lots", "x-ratelimit-remaining-requests": "3"},
        {"x-ratelimit-limit-requests": "0", "x-ratelimit-remaining-requests": "0"},
        {"x-ratelimit-limit-requests": "nan", "x-ratelimit-remaining-requests": "1"},
    ],
)
def test_missing_or_damaged_headers_say_nothing(headers: dict[str, str]) -> None:
    assert RateLimitHeaders.parse(headers) is None


def test_a_remaining_above_the_limit_is_clamped() -> None:
    found = RateLimitHeaders.parse({"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "50"})
    assert found is not None and found.requests is not None and found.requests.remaining == 10


def test_an_unknown_limit_lets_everything_through() -> None:
    limit = LearnedLimit(clock=FakeClock())
    assert limit.wait_time(1_000_000) == 0.0


def test_the_bucket_mirrors_the_server_and_refills_at_its_rate() -> None:
    clock = FakeClock()
    limit = LearnedLimit(clock=clock)
    # 600 a minute, refilled 10 per second: used 600, full again in 60 s.
    limit.observe(Allowance(limit=600, remaining=0, reset=60.0))
    assert limit.rate == pytest.approx(10.0)
    assert limit.wait_time(1) == pytest.approx(0.1)
    clock.t = 1.0
    assert limit.level == pytest.approx(0.0) and limit.wait_time(10) == pytest.approx(0.0)


def test_a_response_with_fewer_remaining_lowers_the_level_but_never_raises_it() -> None:
    limit = LearnedLimit(clock=FakeClock())
    limit.observe(Allowance(limit=100, remaining=100, reset=None))
    limit.take(30)
    limit.observe(Allowance(limit=100, remaining=90, reset=None))  # the server has not counted ours yet
    assert limit.level == pytest.approx(70.0)
    limit.observe(Allowance(limit=100, remaining=20, reset=None))  # others used it too
    assert limit.level == pytest.approx(20.0)


def test_each_xdist_worker_keeps_its_share() -> None:
    limit = LearnedLimit(workers=2, clock=FakeClock())
    limit.observe(Allowance(limit=600, remaining=600, reset=None))
    assert limit.capacity == 300 and limit.level == 300
    assert limit.rate == pytest.approx(600 / 60 / 2)


def test_acquire_waits_on_the_clock_only() -> None:
    clock = FakeClock()
    limit = LearnedLimit(clock=clock)
    limit.observe(Allowance(limit=60, remaining=0, reset=60.0))  # one a second
    asyncio.run(limit.acquire(1))
    assert sum(clock.slept) == pytest.approx(1.0)


def test_an_estimate_is_given_back_up_to_the_capacity() -> None:
    limit = LearnedLimit(clock=FakeClock())
    limit.observe(Allowance(limit=1000, remaining=1000, reset=None))
    limit.take(300)
    limit.give_back(500)
    assert limit.level == 1000
