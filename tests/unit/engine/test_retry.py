"""The retry policy: what follows one attempt, decided from the attempt alone."""

from __future__ import annotations

import pytest

from pytest_llmeval._core.request import Generation
from pytest_llmeval._engine import retry
from pytest_llmeval._engine.client import Attempt
from pytest_llmeval._engine.retry import MAX_RETRY_WAIT, Next, Tries, after, backoff

FAILED = Generation.failed("HTTP 503: overloaded", latency=0.75)


def test_an_answer_is_the_outcome() -> None:
    answer = Generation(text="Paris")
    step = after(Attempt(answer), Tries(retries=0), max_retries=3)
    assert step == Next(answer)
    assert step.again is False


@pytest.mark.parametrize("retry_after", [None, 5.0])
def test_a_non_retryable_error_is_the_outcome_as_it_is(retry_after: float | None) -> None:
    refused = Generation.failed("HTTP 400: bad request", latency=0.1)
    step = after(Attempt(refused, retryable=False, retry_after=retry_after), Tries(retries=0), max_retries=3)
    assert step.outcome is refused
    assert step.wait is None


def test_exhausted_retries_say_how_many() -> None:
    step = after(Attempt(FAILED, retryable=True), Tries(retries=3), max_retries=3)
    assert step.again is False
    assert step.outcome.text is None
    assert step.outcome.error == "HTTP 503: overloaded (after 3 retries)"
    assert step.outcome.latency == 0.75


def test_without_retries_allowed_the_error_is_unchanged() -> None:
    step = after(Attempt(FAILED, retryable=True, retry_after=1.0), Tries(retries=0), max_retries=0)
    assert step.again is False
    assert step.outcome.error == "HTTP 503: overloaded"


@pytest.mark.parametrize("retries", [0, 1, 4])
def test_retry_after_is_honoured(retries: int) -> None:
    step = after(Attempt(FAILED, retryable=True, retry_after=7.5), Tries(retries=retries), max_retries=5)
    assert step.again is True
    assert step.wait == 7.5
    assert step.outcome is FAILED


def test_retry_after_zero_retries_at_once() -> None:
    step = after(Attempt(FAILED, retryable=True, retry_after=0.0), Tries(retries=0), max_retries=1)
    assert step.again is True
    assert step.wait == 0.0


def test_the_longest_wait_allowed_is_waited() -> None:
    step = after(Attempt(FAILED, retryable=True, retry_after=MAX_RETRY_WAIT), Tries(retries=0), max_retries=1)
    assert step.wait == MAX_RETRY_WAIT


def test_a_longer_wait_fails_saying_so() -> None:
    step = after(Attempt(FAILED, retryable=True, retry_after=MAX_RETRY_WAIT + 1), Tries(retries=0), max_retries=5)
    assert step.again is False
    assert step.outcome.text is None
    assert step.outcome.error == "HTTP 503: overloaded (the server asked to wait 601 s, more than 600 s)"


def test_without_retry_after_the_wait_is_a_backoff() -> None:
    waits = {after(Attempt(FAILED, retryable=True), Tries(retries=2), max_retries=5).wait for _ in range(50)}
    assert all(w is not None and 1.0 <= w < 2.0 for w in waits)
    assert len(waits) > 1  # jittered: requests that failed together do not retry together


@pytest.mark.parametrize(
    ("retries", "low", "high"),
    [(0, 0.25, 0.5), (1, 0.5, 1.0), (2, 1.0, 2.0), (5, 8.0, 16.0), (6, 15.0, 30.0), (20, 15.0, 30.0)],
)
def test_backoff_doubles_up_to_thirty_seconds_with_jitter(
    retries: int, low: float, high: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The jitter scales the step by [0.5, 1): check both ends, then real draws in between.
    monkeypatch.setattr(retry.random, "random", lambda: 0.0)
    assert backoff(retries) == low
    monkeypatch.setattr(retry.random, "random", lambda: 0.999)
    assert low < backoff(retries) < high
    monkeypatch.undo()
    assert all(low <= backoff(retries) < high for _ in range(100))


# ---- rate limits: waited out, not counted as retries ------------------------------------

LIMITED = Generation.failed("HTTP 429: Rate limit reached for requests", latency=0.1)


def test_a_rate_limit_waits_its_retry_after_without_using_a_retry() -> None:
    step = after(Attempt(LIMITED, retryable=True, retry_after=2.0, rate_limited=True), Tries(retries=0), max_retries=0)
    assert (step.wait, step.rate_limit) == (2.0, True)


def test_a_rate_limit_without_retry_after_backs_off_within_the_timeout() -> None:
    attempt = Attempt(LIMITED, retryable=True, rate_limited=True)
    waits = {after(attempt, Tries(rate_waits=9, waited=59.0), 0, rate_limit_timeout=60.0).wait for _ in range(20)}
    assert waits and all(w is not None and 0 < w <= 1.0 for w in waits)  # never past the 60 s in all


def test_a_rate_limit_errors_once_the_timeout_is_used_up() -> None:
    attempt = Attempt(LIMITED, retryable=True, retry_after=5.0, rate_limited=True)
    step = after(attempt, Tries(waited=58.0), 0, rate_limit_timeout=60.0)
    assert step.wait is None and step.outcome.error is not None
    assert "still rate limited after waiting 58 s; --llmeval-rate-limit-timeout is 60 s" in step.outcome.error


def test_a_retry_after_beyond_the_timeout_errors_at_once() -> None:
    attempt = Attempt(LIMITED, retryable=True, retry_after=3600.0, rate_limited=True)
    step = after(attempt, Tries(), 0, rate_limit_timeout=600.0)
    assert step.outcome.error is not None and "asked to wait 3600 s, more than 600 s" in step.outcome.error


def test_an_exhausted_quota_is_not_a_rate_limit() -> None:
    quota = Generation.failed("HTTP 429: You exceeded your current quota")
    step = after(Attempt(quota, retryable=False, rate_limited=False), Tries(), max_retries=3)
    assert step.wait is None and step.outcome is quota
