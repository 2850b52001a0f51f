"""The engine and client against the loopback server: every fault ends as an error with a reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from loopback import Fault, LoopbackServer
from project import SECRET

from pytest_llmeval._config.options import CacheMode, Settings
from pytest_llmeval._core.request import ChatRequest, Job
from pytest_llmeval._engine.cache import ResponseCache
from pytest_llmeval._engine.client import MissingAPIKeyError, redact
from pytest_llmeval._engine.clock import SYSTEM, Clock
from pytest_llmeval._engine.engine import Engine
from pytest_llmeval._engine.pricing import PriceTable


class FakeClock(Clock):
    """Time that passes only when the engine sleeps: long waits take no real time."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def settings(server: LoopbackServer, tmp_path: Path, **changes: object) -> Settings:
    base = Settings(
        model_override=None,
        default_model=None,
        base_url=server.url,
        base_url_is_custom=True,
        samples=1,
        threshold=1.0,
        timeout=5.0,
        max_retries=0,
        cache_mode=CacheMode.OFF,
        cache_dir=tmp_path / "cache",
        reports=(),
        report_dir=tmp_path / "reports",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def engine_for(server: LoopbackServer, tmp_path: Path) -> Iterator[object]:
    made: list[Engine] = []

    def make(clock: Clock = SYSTEM, **changes: object) -> Engine:
        s = settings(server, tmp_path, **changes)
        engine = Engine(s, ResponseCache(s.cache_dir, s.cache_mode), PriceTable.load(None), clock=clock)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


def ask(text: str, sample: int = 0) -> ChatRequest:
    return ChatRequest(model="m", messages=({"role": "user", "content": text},), sample_index=sample)


def test_answer_usage_and_latency(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    server.add_rule("hello", "Hi there, how can I help?")
    (gen,) = engine_for().generate([ask("hello")])
    assert gen.text == "Hi there, how can I help?" and gen.error is None
    assert gen.usage.completion_tokens > 0 and gen.finish_reason == "stop" and not gen.cached


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.status(500), "HTTP 500: "),
        (Fault.status(429), "HTTP 429: "),
        (Fault.status(400, message="bad model"), "HTTP 400: bad model"),
        (Fault.drop(), "connection failed: "),
        (Fault.timeout(3), "request timed out"),
        (Fault.garbage(b"{not json"), "malformed response body (not JSON)"),
        (Fault.garbage(b"<html>oops</html>", content_type="text/html"), "malformed response: not a chat completion"),
        (Fault.garbage(b'{"object": "chat.completion"}'), "the server returned no choices"),
        (Fault.empty_choices(), "the server returned no choices"),
        (Fault.refusal("I can't help with that"), "the model refused: I can't help with that"),
    ],
)
def test_faults_become_errors_with_a_reason(server: LoopbackServer, engine_for, fault: object, reason: str) -> None:  # type: ignore[no-untyped-def]
    server.add_rule(None, fault)  # type: ignore[arg-type]
    (gen,) = engine_for(timeout=0.5, rate_limit_timeout=0.5).generate([ask("x")])
    assert gen.text is None
    assert gen.error is not None and gen.error.startswith(reason), gen.error


def test_length_finish_keeps_the_truncated_answer(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    server.add_rule(None, Fault.length("The refund window is"))
    (gen,) = engine_for().generate([ask("x")])
    assert gen.text == "The refund window is" and gen.finish_reason == "length"


def test_retries_honour_retry_after(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    server.add_rule(None, Fault.status(429, retry_after_ms=50), times=2)
    server.add_rule(None, "finally")
    (gen,) = engine_for(max_retries=2).generate([ask("x")])
    assert gen.text == "finally"
    assert server.total_requests == 3


def test_samples_go_out_together(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    server.add_rule(None, "ok", latency=0.3)
    gens = engine_for().generate([ask("x", i) for i in range(8)])
    assert [g.text for g in gens] == ["ok"] * 8
    assert server.peak_in_flight == 8


def test_missing_key_for_openai_is_refused_before_sending(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for(base_url_is_custom=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY is not set"):
        engine.generate([ask("x")])
    assert server.total_requests == 0


def test_redact_removes_the_key_and_key_like_strings() -> None:
    assert redact(f"bad key {SECRET} here", SECRET) == "bad key [redacted] here"
    assert redact("Incorrect API key provided: sk-proj-****abcd.", None) == "Incorrect API key provided: [redacted]."


def test_retry_after_above_120_seconds_is_honoured(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    # The SDK alone gives up on Retry-After > 120 s; the engine waits it out (here through its
    # sleep seam, so the test does not wait 300 real seconds).
    server.add_rule(None, Fault.status(429, retry_after=300), times=1)
    server.add_rule(None, "after the wait")
    clock = FakeClock()
    engine = engine_for(clock=clock, max_retries=2)
    (gen,) = engine.generate([ask("x")])
    assert gen.text == "after the wait"
    assert clock.waits == [300.0]
    # A rate limit is waited out without using up a retry.
    assert engine.meter.rate_limited == 1 and engine.meter.retries == 0 and engine.meter.rate_waits == 1


def test_retry_after_beyond_the_cap_fails_with_the_reason(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    server.add_rule(None, Fault.status(429, retry_after=3600))
    engine = engine_for(clock=FakeClock(), max_retries=2)
    (gen,) = engine.generate([ask("x")])
    assert gen.error is not None and "asked to wait 3600 s, more than 600 s" in gen.error
    assert server.total_requests == 1


def test_dependent_job_starts_after_its_generation(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    # The shape judge calls will take: a job that needs another job's answer first.
    server.add_rule("generate", "draft", latency=0.3)
    server.add_rule("judge", "5")
    engine = engine_for()
    first = Job(key="a" * 64, material={}, request=ask("generate"))
    judge = Job(key="b" * 64, material={}, request=ask("judge"), after=first.key)
    engine.prefetch([judge, first])
    assert engine.results[first.key].text == "draft" and engine.results[judge.key].text == "5"
    at = {r.body["messages"][-1]["content"]: r.at for r in server.requests}
    assert at["judge"] >= at["generate"] + 0.25


def test_cache_hits_never_touch_the_network_or_the_limits(server: LoopbackServer, engine_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server.add_rule(None, "cached answer")
    engine = engine_for(cache_mode=CacheMode.RECORD)
    engine.generate([ask("x")])
    again = engine_for(cache_mode=CacheMode.RECORD, rpm=1.0)  # one request a minute: a miss would stall
    (gen,) = again.generate([ask("x")])
    assert gen.cached and gen.text == "cached answer"
    assert server.total_requests == 1
    assert again._limits is None


def completion(content: object, usage: object = None) -> bytes:
    body = {
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (completion(5), "malformed response: the message content is int, not text"),
        (completion(["a"]), "malformed response: the message content is list, not text"),
        (completion({"text": "a"}), "malformed response: the message content is dict, not text"),
        (completion(""), "empty answer (finish_reason=stop)"),
        (completion("   \n"), "empty answer (finish_reason=stop)"),
        (
            b'{"choices": [{"message": {"content": "bad \\ud800"}, "finish_reason": "stop"}]}',
            "malformed response: the answer is not valid Unicode (a lone surrogate)",
        ),
    ],
)
def test_what_comes_back_is_checked_before_it_counts(
    server: LoopbackServer,
    engine_for,
    body: bytes,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    server.add_rule(None, Fault.garbage(body))
    engine = engine_for(cache_mode=CacheMode.RECORD)
    (gen,) = engine.generate([ask("x")])
    assert gen.text is None and gen.error == reason
    assert not list((engine.cache.root).glob("*/*.json"))  # nothing of it is cached


def test_usage_that_is_no_number_is_zero_and_every_job_ends(server: LoopbackServer, engine_for) -> None:  # type: ignore[no-untyped-def]
    # Once, a "many" here killed the engine's workers and the run waited forever.
    server.add_rule(None, Fault.garbage(completion("ok", {"prompt_tokens": "many", "completion_tokens": -3})))
    engine = engine_for(concurrency=4)
    engine.prefetch([Job(key=f"{i:064x}", material={}, request=ask("x", i)) for i in range(6)])
    assert len(engine.results) == 6
    assert all(g.text == "ok" and g.usage.total_tokens == 0 for g in engine.results.values())
