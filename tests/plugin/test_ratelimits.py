"""Rate limits learned from the server's headers, and a rate limit that never loses a case."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback import Fault, LoopbackServer
from project import Project


def many(project: Project, n: int) -> None:
    rows = "\n".join(f"      | c{i} | {i} |" for i in range(n))
    project.feature(
        f"""
        Feature: many
          Scenario Outline: s
            Given the model "m"
            When the user says "question <q>"
            Then the answer equals "ok"

            Examples:
              | id | q |
        {rows}
        """
    )


@pytest.fixture
def bucket_project(pytester: pytest.Pytester) -> Iterator[Project]:
    """A project against a server whose request budget is a bucket of 20, refilled 20 per second."""
    with LoopbackServer(bucket_requests=20, bucket_refill=20.0, max_seconds=120) as server:
        server.add_rule(None, "ok")
        yield Project(pytester, server)


def test_the_learned_limit_paces_the_run_and_loses_nothing(bucket_project: Project, mode: list[str]) -> None:
    many(bucket_project, 60)
    result = bucket_project.run("--llmeval-cache=off", "--llmeval-concurrency=16", "--llmeval-report=json", *mode)
    result.assert_outcomes(passed=60)  # no case lost, though no --llmeval-rpm was given
    stats = bucket_project.server.stats()
    assert stats["total_requests"] - stats["rate_limited"] == 60
    # Paced by the headers: few requests are refused (without them, about half were: 30 and more).
    # The bound leaves room for a loaded machine, where the refill lags behind the clock.
    assert stats["rate_limited"] <= 20, stats
    result.stdout.fnmatch_lines(["*requests: 60 planned*learned limits: 20 requests*"])


def test_a_rate_limit_never_uses_up_the_retries(project: Project, mode: list[str]) -> None:
    # Every one of 8 requests is refused three times with Retry-After, more than the retries allowed.
    project.server.add_rule(None, Fault.status(429, retry_after_ms=100), times=24)
    project.server.add_rule(None, "ok")
    many(project, 8)
    result = project.run("--llmeval-cache=off", "--llmeval-max-retries=0", "--llmeval-report=json", *mode)
    result.assert_outcomes(passed=8)
    assert project.server.total_requests == 32
    result.stdout.fnmatch_lines(["*| 0 retries | 24 rate-limited (waited *"])


def test_a_rate_limit_that_does_not_end_errors_after_the_timeout(project: Project) -> None:
    project.server.add_rule(None, Fault.status(429, retry_after_ms=200))
    many(project, 2)
    result = project.run("--llmeval-cache=off", "--llmeval-rate-limit-timeout=1", "--llmeval-report=json")
    result.assert_outcomes(failed=2)
    reason = project.cases()["s[c0]"]["reason"]
    assert (
        "HTTP 429" in reason and "still rate limited after waiting 1 s; --llmeval-rate-limit-timeout is 1 s" in reason
    )


def test_an_exhausted_quota_is_not_waited_for(project: Project) -> None:
    project.server.add_rule(None, Fault.status(429, code="insufficient_quota", retry_after=1))
    many(project, 1)
    result = project.run("--llmeval-cache=off", "--llmeval-max-retries=3", "--llmeval-report=json")
    result.assert_outcomes(failed=1)
    assert project.server.total_requests == 1  # waiting cannot bring a quota back
    assert "insufficient_quota" in project.cases()["s[c0]"]["reason"] or "quota" in project.cases()["s[c0]"]["reason"]


def test_one_429_does_not_pause_the_others(project: Project) -> None:
    # One request is told to wait 2 s; the other 11 are answered meanwhile, not after it.
    project.server.add_rule("^question 0$", Fault.status(429, retry_after=2), times=1)
    project.server.add_rule(None, "ok", latency=0.05)
    many(project, 12)
    project.run("--llmeval-cache=off", "--llmeval-concurrency=4").assert_outcomes(passed=12)
    arrivals = sorted(project.server.requests, key=lambda r: r.at)
    retried = [r for r in arrivals if r.body["messages"][-1]["content"] == "question 0"]
    assert len(retried) == 2
    others = [r for r in arrivals if r.body["messages"][-1]["content"] != "question 0"]
    assert all(r.at < retried[1].at for r in others)  # everybody else went before the waiting one came back
