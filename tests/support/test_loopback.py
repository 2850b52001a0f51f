"""Tests for the loopback server, driven through the real ``openai`` SDK wherever possible.

The point of the loopback server is that the SDK's own behaviour (error classes, retry handling,
timeouts) is what the plugin will see, so these tests pin down that behaviour for each fault as
well as checking the server itself.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # importable as ``loopback`` whether or not tests/ becomes a package
    sys.path.insert(0, str(_HERE))

from loopback import (  # noqa: E402
    CHAT_PATH,
    EMBEDDINGS_PATH,
    Fault,
    LoopbackServer,
    Reply,
    body_share,
    embed_text,
    estimate_tokens,
    format_reset,
    reply_from_spec,
    request_tokens,
)

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(max_seconds=60) as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer) -> Iterator[openai.OpenAI]:
    sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    yield sdk
    sdk.close()


def ask(client: openai.OpenAI, content: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="loopback-chat", messages=[{"role": "user", "content": content}], **kwargs
    )


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------------------ happy path


def test_plain_answer_is_a_valid_completion(server: LoopbackServer, client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}],
    )
    assert answer.object == "chat.completion"
    assert answer.model == "gpt-test"
    assert answer.id.startswith("chatcmpl-")
    assert answer.system_fingerprint
    choice = answer.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there"
    assert choice.message.refusal is None
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == estimate_tokens("be brief\nhello there")
    assert answer.usage.completion_tokens == estimate_tokens("echo: hello there")
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens

    (recorded,) = server.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["authorization"] == "Bearer test"
    assert recorded.body["messages"][-1]["content"] == "hello there"
    assert server.total_requests == 1
    assert server.in_flight == 0


def test_rules_apply_in_order_and_times_falls_through(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(r"capital of \w+", "Paris")
    server.add_rule(None, "first two", times=2)
    server.add_rule(None, Reply.text("the rest"))

    replies = [ask(client, q).choices[0].message.content for q in ("a", "capital of France?", "b", "c", "d")]

    # The capital question matched rule 1, so it did not use up rule 2's budget.
    assert replies == ["first two", "Paris", "first two", "the rest", "the rest"]


def test_callable_and_pattern_matches_and_content_parts(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(lambda body: body.get("temperature") == 0, "deterministic")
    server.add_rule(re.compile(r"(?i)PARTS"), "parts matched")
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "then parts"}]

    assert ask(client, "x", temperature=0).choices[0].message.content == "deterministic"
    assert ask(client, parts).choices[0].message.content == "parts matched"
    assert ask(client, [{"type": "text", "text": "plain"}]).choices[0].message.content == "echo: plain"


def test_only_the_last_user_message_is_matched(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule("old question", "wrong")
    messages: Any = [
        {"role": "user", "content": "old question"},
        {"role": "assistant", "content": "old answer"},
        {"role": "user", "content": "new question"},
    ]
    answer = client.chat.completions.create(model="m", messages=messages)
    assert answer.choices[0].message.content == "echo: new question"


def test_default_reply_and_reply_callables() -> None:
    with LoopbackServer(default_reply=Reply.text("fallback"), max_seconds=30) as server:
        server.add_rule("dyn", lambda body: f"model was {body['model']}")
        sdk = openai.OpenAI(base_url=server.url, api_key="k", max_retries=0)
        assert ask(sdk, "anything").choices[0].message.content == "fallback"
        assert ask(sdk, "dyn").choices[0].message.content == "model was loopback-chat"
        sdk.close()


def test_n_returns_n_choices(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule("same", "yes")
    server.add_rule("varied", Reply.choices(["a", "b"]))

    same = ask(client, "same", n=3)
    assert [c.index for c in same.choices] == [0, 1, 2]
    assert {c.message.content for c in same.choices} == {"yes"}
    assert same.usage is not None and same.usage.completion_tokens == 3 * estimate_tokens("yes")

    varied = ask(client, "varied", n=3)
    assert [c.message.content for c in varied.choices] == ["a", "b", "a"]


def test_json_reply_is_parseable_text(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Reply.json({"score": 4, "reason": "ok"}))
    content = ask(client, "grade this").choices[0].message.content
    assert json.loads(content) == {"score": 4, "reason": "ok"}


def test_streaming_is_rejected_with_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        ask(client, "hi", stream=True)


def test_models_list(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == {"loopback-chat", "loopback-embed"}


def test_keep_alive_reuses_one_connection_and_honours_connection_close(server: LoopbackServer) -> None:
    body = json.dumps({"model": "m", "messages": USER})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        first = conn.getresponse()
        assert first.status == 200 and first.getheader("Content-Length")
        first.read()
        sock = conn.sock
        conn.request("POST", "/v1/chat/completions", body, {"Connection": "close"})
        assert conn.sock is sock  # http.client only reconnects when the server closed the socket
        second = conn.getresponse()
        second.read()
        assert second.getheader("Connection") == "close"
        assert conn.sock is None
    finally:
        conn.close()
    first_request, second_request = server.requests
    assert first_request.client_port == second_request.client_port != 0


def test_sdk_reuses_its_connection(server: LoopbackServer, client: openai.OpenAI) -> None:
    for _ in range(3):
        ask(client, "hi")
    assert len({r.client_port for r in server.requests}) == 1


# ---------------------------------------------------------------------------------------------- faults


def test_429_with_retry_after_is_a_rate_limit_error(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(429, retry_after=2))
    with pytest.raises(openai.RateLimitError) as info:
        ask(client, "hi")
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.body == {
        "message": "loopback fault: HTTP 429",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }


def test_429_without_retry_after_has_no_header(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(429))
    with pytest.raises(openai.RateLimitError) as info:
        ask(client, "hi")
    assert "retry-after" not in info.value.response.headers


def test_sdk_retry_honours_retry_after_ms(server: LoopbackServer) -> None:
    server.add_rule(None, Fault.status(429, retry_after_ms=150), times=1)
    sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=1)
    try:
        assert ask(sdk, "hi").choices[0].message.content == "echo: hi"
    finally:
        sdk.close()
    first, second = server.requests
    assert server.total_requests == 2
    assert second.at - first.at >= 0.14
    assert second.headers["x-stainless-retry-count"] == "1"


def test_500_is_an_internal_server_error(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(500, message="boom"))
    with pytest.raises(openai.InternalServerError, match="boom"):
        ask(client, "hi")


def test_401_fault_is_an_authentication_error(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(401))
    with pytest.raises(openai.AuthenticationError):
        ask(client, "hi")


def test_drop_is_a_connection_error_not_a_timeout(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.drop())
    with pytest.raises(openai.APIConnectionError) as info:
        ask(client, "hi")
    assert not isinstance(info.value, openai.APITimeoutError)


def test_timeout_fault_trips_the_client_timeout(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.timeout(3))
    with pytest.raises(openai.APITimeoutError):
        ask(client, "hi", timeout=0.5)
    assert server.total_requests == 1  # the client gave up on a request the server did receive


def test_garbage_json_raises_json_decode_error(server: LoopbackServer, client: openai.OpenAI) -> None:
    # The SDK does not wrap this: a plain json.JSONDecodeError escapes from create().
    server.add_rule(None, Fault.garbage())
    with pytest.raises(json.JSONDecodeError):
        ask(client, "hi")


def test_wrong_shaped_json_is_not_validated(server: LoopbackServer, client: openai.OpenAI) -> None:
    # Valid JSON of the wrong shape is built without validation: fields are simply None.
    server.add_rule(None, Fault.garbage('{"unexpected": 1}'))
    answer = ask(client, "hi")
    assert answer.choices is None
    assert answer.usage is None


def test_garbage_html_comes_back_as_a_str(server: LoopbackServer, client: openai.OpenAI) -> None:
    # Non-JSON content types are returned as the raw text instead of a ChatCompletion.
    server.add_rule(None, Fault.garbage("<html>bad gateway</html>", content_type="text/html"))
    assert ask(client, "hi") == "<html>bad gateway</html>"


def test_empty_choices(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.empty_choices())
    answer = ask(client, "hi")
    assert answer.choices == []
    assert answer.usage is not None and answer.usage.completion_tokens == 0


def test_refusal(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.refusal("I can't help with that"))
    message = ask(client, "hi").choices[0].message
    assert message.content is None
    assert message.refusal == "I can't help with that"


def test_length_finish_reason(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.length("cut off mid"))
    choice = ask(client, "hi").choices[0]
    assert (choice.finish_reason, choice.message.content) == ("length", "cut off mid")


# ------------------------------------------------------------------------------------- gates, counters


def test_rpm_limit_returns_429_with_retry_after_and_counts_it() -> None:
    with LoopbackServer(rpm_limit=3, max_seconds=30) as server:
        sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
        try:
            for _ in range(3):
                ok = sdk.chat.completions.with_raw_response.create(model="m", messages=USER)  # type: ignore[arg-type]
                assert ok.headers["x-ratelimit-limit-requests"] == "3"
            assert ok.headers["x-ratelimit-remaining-requests"] == "0"
            with pytest.raises(openai.RateLimitError) as info:
                ask(sdk, "hi")
        finally:
            sdk.close()
        headers = info.value.response.headers
        assert 1 <= int(headers["retry-after"]) <= 60
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert server.rate_limited == 1
        assert server.total_requests == 4


def test_require_key() -> None:
    with LoopbackServer(require_key="sk-right", max_seconds=30) as server:
        wrong = openai.OpenAI(base_url=server.url, api_key="sk-wrong", max_retries=0)
        right = openai.OpenAI(base_url=server.url, api_key="sk-right", max_retries=0)
        try:
            with pytest.raises(openai.AuthenticationError) as info:
                ask(wrong, "hi")
            assert info.value.code == "invalid_api_key"
            assert ask(right, "hi").choices[0].message.content == "echo: hi"
        finally:
            wrong.close()
            right.close()


def test_peak_in_flight_with_sdk_threads() -> None:
    workers = 16
    with LoopbackServer(latency=0.4, max_seconds=30) as server:
        sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
        results: list[str | None] = []
        threads = [
            threading.Thread(target=lambda: results.append(ask(sdk, "hi").choices[0].message.content))
            for _ in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        sdk.close()
        assert results == ["echo: hi"] * workers
        assert server.peak_in_flight >= workers // 2
        assert server.in_flight == 0


def test_scales_to_256_concurrent_connections() -> None:
    connections = 256
    body = json.dumps({"model": "m", "messages": USER})
    statuses: list[int] = []
    lock = threading.Lock()

    def one(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        finally:
            conn.close()

    with LoopbackServer(latency=0.5, max_seconds=30) as server:
        threads = [threading.Thread(target=one, args=(server.port,)) for _ in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        assert statuses == [200] * connections
        # Half of them in flight at once: served side by side, not one after another.
        assert server.peak_in_flight >= connections // 2


def test_latency_precedence_reply_over_rule_over_server(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.latency = 0.3
    server.add_rule("rule", "r", latency=0.0)
    server.add_rule("reply", Reply.text("x", latency=0.0), latency=1.0)

    def applied(content: str) -> str:
        raw = client.chat.completions.with_raw_response.create(
            model="loopback-chat", messages=[{"role": "user", "content": content}]
        )
        return raw.headers["x-loopback-latency"]

    assert applied("server default") == "0.3"
    assert applied("rule") == "0"
    assert applied("reply") == "0"  # the reply's own latency wins over its rule's 1.0


def test_reset_clears_rules_log_and_counters(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, "ruled")
    ask(client, "hi")
    server.reset()
    assert (server.total_requests, server.peak_in_flight, server.requests) == (0, 0, [])
    assert ask(client, "hi").choices[0].message.content == "echo: hi"


def test_server_stops_by_itself_after_max_seconds() -> None:
    server = LoopbackServer(max_seconds=0.3).start()
    port = server.port
    try:
        assert server.running
        assert server.wait(timeout=5)
        assert not server.running
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        server.stop()


def test_server_stops_after_max_requests_but_answers_the_last_one() -> None:
    with LoopbackServer(max_requests=2, max_seconds=30) as server:
        sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
        try:
            ask(sdk, "one")
            assert ask(sdk, "two").choices[0].message.content == "echo: two"
            assert server.wait(timeout=5)
            with pytest.raises(openai.APIConnectionError):
                ask(sdk, "three")
        finally:
            sdk.close()


def test_stop_releases_a_held_request_promptly(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.timeout(60))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            ask(client, "hi", timeout=30)
        except openai.APIError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while server.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()
    thread.join(timeout=10)  # the request holds for 60 s: only a prompt release ends it in time
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)


class FakeClock:
    """A hand-stepped clock for the rate limiters, so header values are exact, not timing-dependent."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_GO_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)(ms|s))?$")


def parse_reset(value: str) -> float:
    """What a client does with ``x-ratelimit-reset-*``: a Go-style duration (``1m30.5s``) in seconds."""
    found = _GO_DURATION.match(value)
    assert found and value, f"not an OpenAI-style duration: {value!r}"
    hours, minutes, number, unit = found.groups()
    seconds = float(number or 0) / (1000 if unit == "ms" else 1)
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + seconds


def test_reset_durations_are_written_like_openai_writes_them() -> None:
    # OpenAI's documented samples are "1s" and "6m0s"; live answers show e.g. "20ms" and "8.64s".
    examples = {0: "0s", 0.0004: "1ms", 0.02: "20ms", 0.58: "580ms", 1: "1s", 8.64: "8.64s", 59.999: "59.999s"}
    examples |= {60: "1m0s", 90.5: "1m30.5s", 360: "6m0s", 3600: "1h0m0s", 3725.25: "1h2m5.25s"}
    for seconds, text in examples.items():
        assert format_reset(seconds) == text
        assert parse_reset(text) == pytest.approx(max(seconds, 0.001) if seconds else 0, abs=1e-9)
    for millis in (1, 999, 1000, 1001, 59_999, 60_000, 61_010, 3_599_999, 7_261_500):
        assert parse_reset(format_reset(millis / 1000)) == pytest.approx(millis / 1000, abs=1e-9)


def _raw(sdk: openai.OpenAI, content: str = "hi", **kwargs: Any) -> Any:
    messages: Any = [{"role": "user", "content": content}]
    return sdk.chat.completions.with_raw_response.create(model="m", messages=messages, **kwargs)


def _ratelimit(headers: Any, unit: str) -> tuple[str, str, str]:
    return (
        headers[f"x-ratelimit-limit-{unit}"],
        headers[f"x-ratelimit-remaining-{unit}"],
        headers[f"x-ratelimit-reset-{unit}"],
    )


def test_request_bucket_refills_and_answers_429_like_openai() -> None:
    clock = FakeClock()
    with LoopbackServer(bucket_requests=3, bucket_refill=0.5, clock=clock, max_seconds=30) as server:
        sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
        try:
            seen = [_ratelimit(_raw(sdk).headers, "requests") for _ in range(3)]
            assert seen == [("3", "2", "2s"), ("3", "1", "4s"), ("3", "0", "6s")]
            with pytest.raises(openai.RateLimitError) as info:
                ask(sdk, "hi")
            headers = info.value.response.headers
            assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "2000")  # one token at 0.5/s
            assert _ratelimit(headers, "requests") == ("3", "0", "6s")
            assert info.value.code == "rate_limit_exceeded"
            assert isinstance(info.value.body, dict)
            assert info.value.body["type"] == "requests"
            assert info.value.body["message"].startswith("Rate limit reached for requests")

            clock.advance(1.5)  # 0.75 of a token
            with pytest.raises(openai.RateLimitError) as info:
                ask(sdk, "hi")
            headers = info.value.response.headers
            assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "500")
            assert _ratelimit(headers, "requests") == ("3", "0", "4.5s")

            clock.advance(0.5)  # one whole token: admitted, and embeddings take one too
            assert _ratelimit(_raw(sdk).headers, "requests") == ("3", "0", "6s")
            clock.advance(600)  # refilled, never beyond the capacity
            embedded = sdk.embeddings.with_raw_response.create(model="e", input="x")
            assert _ratelimit(embedded.headers, "requests") == ("3", "2", "2s")
            models = sdk.models.with_raw_response.list()  # not a model call: reported, not charged
            assert _ratelimit(models.headers, "requests") == ("3", "2", "2s")
        finally:
            sdk.close()
        assert server.rate_limited == 2
        assert server.total_requests == 8
        stats = server.stats()
        assert (stats["responses_200"], stats["responses_429"], stats["rate_limited"]) == (6, 2, 2)
        assert server.status_counts == {200: 6, 429: 2}
        assert "x-ratelimit-limit-tokens" not in models.headers  # no token bucket configured


def test_token_bucket_takes_the_estimated_tokens_of_each_request() -> None:
    clock = FakeClock()
    with LoopbackServer(
        bucket_requests=100, bucket_refill=10, bucket_tokens=1000, bucket_token_refill=100, clock=clock, max_seconds=30
    ) as server:
        sdk = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
        try:
            first = _raw(sdk, "hi", max_tokens=299).headers  # 1 prompt token + 299
            assert _ratelimit(first, "tokens") == ("1000", "700", "3s")
            assert _ratelimit(first, "requests") == ("100", "99", "100ms")  # both buckets on one answer
            second = _raw(sdk, "hi", max_completion_tokens=500, max_tokens=5).headers  # max_completion_tokens wins
            assert _ratelimit(second, "tokens") == ("1000", "199", "8.01s")

            with pytest.raises(openai.RateLimitError) as info:  # 1 + the default 256 > 199
                ask(sdk, "hi")
            headers = info.value.response.headers
            assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "580")
            assert _ratelimit(headers, "tokens") == ("1000", "199", "8.01s")
            assert _ratelimit(headers, "requests") == ("100", "98", "200ms")  # a rejected request takes nothing
            assert isinstance(info.value.body, dict)
            assert (info.value.body["type"], info.value.code) == ("tokens", "rate_limit_exceeded")
            assert info.value.body["message"].startswith("Rate limit reached for tokens")

            clock.advance(0.58)
            assert _ratelimit(_raw(sdk, "hi").headers, "tokens") == ("1000", "0", "10s")

            clock.advance(60)
            with pytest.raises(openai.RateLimitError) as info:  # larger than the bucket: waiting cannot help
                ask(sdk, "hi", max_tokens=5000)
            assert "retry-after" not in info.value.response.headers
            assert isinstance(info.value.body, dict)
            assert info.value.body["message"].startswith("Request too large for tokens")
        finally:
            sdk.close()
        assert server.rate_limited == 2


def test_request_tokens_estimate() -> None:
    chat = {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}
    assert request_tokens(CHAT_PATH, chat) == estimate_tokens("be brief\nhi") + 256
    assert request_tokens(CHAT_PATH, {**chat, "max_tokens": 10}) == estimate_tokens("be brief\nhi") + 10
    assert request_tokens(EMBEDDINGS_PATH, {"model": "e", "input": ["abcdefgh", "x"]}) == 3


def test_bucket_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        LoopbackServer(bucket_requests=0)
    with pytest.raises(ValueError):
        LoopbackServer(bucket_requests=10, bucket_refill=0)
    with pytest.raises(ValueError):
        LoopbackServer(bucket_token_refill=5.0)  # a rate without a bucket


def test_share_once_faults_a_fixed_share_of_bodies_once_each(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(429, retry_after=1), share=0.2, once=True)
    prompts = [f"question {i}" for i in range(60)]

    def statuses() -> list[int]:
        codes = []
        for prompt in prompts:
            try:
                ask(client, prompt)
                codes.append(200)
            except openai.RateLimitError as exc:
                assert exc.response.headers["retry-after"] == "1"
                codes.append(429)
        return codes

    first = statuses()
    selected = [body_share(r.body) < 0.2 for r in server.requests]
    assert first == [429 if s else 200 for s in selected]
    assert 3 <= first.count(429) <= 25  # about 20 % of 60, fixed by the hash
    assert statuses() == [200] * len(prompts)  # every repeat (a retry) skips the rule
    assert server.stats()["responses_429"] == first.count(429)
    assert server.rate_limited == 0  # a scripted fault, not the server's limiter


def test_share_without_once_faults_the_same_bodies_every_time(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(500), share=0.5)
    prompts = [f"q{i}" for i in range(12)]
    outcomes = []
    for _ in range(2):
        for prompt in prompts:
            try:
                ask(client, prompt)
                outcomes.append(True)
            except openai.InternalServerError:
                outcomes.append(False)
    assert outcomes[:12] == outcomes[12:]
    assert outcomes == [body_share(r.body) >= 0.5 for r in server.requests]
    # The share is of the body, whatever the order of its keys; shares nest.
    assert body_share({"a": 1, "b": [1, 2]}) == body_share({"b": [1, 2], "a": 1})
    with pytest.raises(ValueError):
        server.add_rule(None, "x", share=1.5)


def test_once_alone_and_json_rules_with_share(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.load_rules(
        [
            {"match": "^once$", "fault": {"status": 503}, "once": True},
            {"match": "^all$", "fault": {"status": 429, "retry_after": 1}, "share": 1.0, "once": True},
            {"match": "^none$", "fault": {"status": 429}, "share": 0.0},
        ]
    )
    with pytest.raises(openai.InternalServerError):
        ask(client, "once")
    assert ask(client, "once").choices[0].message.content == "echo: once"
    with pytest.raises(openai.RateLimitError):
        ask(client, "all")
    assert ask(client, "all").choices[0].message.content == "echo: all"
    with pytest.raises(openai.RateLimitError):  # the same prompt with other parameters is another body
        ask(client, "all", temperature=0)
    assert ask(client, "none").choices[0].message.content == "echo: none"
    assert server.status_counts == {503: 1, 200: 3, 429: 2}


def test_quota_429_is_not_a_rate_limit(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule("^quota$", Fault.status(429, code="insufficient_quota"))
    server.add_rule("custom", Fault.status(400, code="context_length_exceeded", type="invalid_request_error"))
    server.load_rules([{"match": "json quota", "fault": {"status": 429, "code": "insufficient_quota", "message": "m"}}])
    with pytest.raises(openai.RateLimitError) as info:
        ask(client, "quota")
    assert info.value.code == "insufficient_quota"
    assert isinstance(info.value.body, dict)
    assert info.value.body["type"] == "insufficient_quota"
    assert info.value.body["message"].startswith("You exceeded your current quota")
    assert "retry-after" not in info.value.response.headers
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, "custom")
    assert (bad.value.code, bad.value.type) == ("context_length_exceeded", "invalid_request_error")
    with pytest.raises(openai.RateLimitError) as info:
        ask(client, "json quota")
    assert isinstance(info.value.body, dict)
    assert (info.value.code, info.value.body["message"]) == ("insufficient_quota", "m")
    assert server.rate_limited == 0
    assert server.status_counts == {429: 2, 400: 1}


# ------------------------------------------------------------------------------------------ embeddings


def test_embeddings_are_deterministic_unit_vectors_and_similarity_aware(client: openai.OpenAI) -> None:
    texts = ["the cat sat on the mat", "the cat sat on a mat", "quarterly revenue grew sharply"]
    first = client.embeddings.create(model="loopback-embed", input=texts)  # SDK default: base64
    again = client.embeddings.create(model="loopback-embed", input=texts, encoding_format="float")
    vectors = [d.embedding for d in first.data]

    assert [d.index for d in first.data] == [0, 1, 2]
    assert all(len(v) == 64 for v in vectors)
    for vector, expected, other in zip(vectors, (embed_text(t) for t in texts), again.data, strict=True):
        assert math.isclose(cosine(vector, vector), 1.0, rel_tol=1e-5)
        assert vector == pytest.approx(expected, abs=1e-6)  # base64 float32 vs float64 JSON
        assert other.embedding == pytest.approx(expected, abs=1e-12)
    assert cosine(vectors[0], vectors[1]) > 0.6 > cosine(vectors[0], vectors[2])
    assert first.usage.prompt_tokens == sum(estimate_tokens(t) for t in texts)

    single = client.embeddings.create(model="loopback-embed", input="solo", dimensions=16)
    assert len(single.data[0].embedding) == 16


def test_embedding_rules_carry_faults_only(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.add_rule(None, Fault.status(429, retry_after=1), path=EMBEDDINGS_PATH, times=1)
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="e", input="x")
    assert ask(client, "chat unaffected").choices[0].message.content == "echo: chat unaffected"
    assert len(client.embeddings.create(model="e", input="x").data) == 1
    with pytest.raises(ValueError):
        server.add_rule(None, "text", path=EMBEDDINGS_PATH)


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_serves_rules_and_stats(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [
                {"match": "capital", "reply": "Paris"},
                {"match": "limit", "fault": {"status": 429, "retry_after": 1}},
                {"match": None, "json": {"ok": True}},
            ]
        )
    )
    script = _HERE / "loopback.py"
    buckets = ["--bucket-requests", "100", "--bucket-refill", "0.001", "--bucket-tokens", "5000"]
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--rules", str(rules), "--max-seconds", "30", *buckets],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "loopback CLI did not print its URL within 10 s"
        line = proc.stdout.readline().strip()
        assert line.startswith("LOOPBACK_URL=http://127.0.0.1:")
        url = line.removeprefix("LOOPBACK_URL=")
        root = url.removesuffix("/v1")

        sdk = openai.OpenAI(base_url=url, api_key="test", max_retries=0)
        try:
            assert ask(sdk, "capital?").choices[0].message.content == "Paris"
            assert json.loads(ask(sdk, "other").choices[0].message.content) == {"ok": True}
            with pytest.raises(openai.RateLimitError) as info:
                ask(sdk, "limit")
        finally:
            sdk.close()
        headers = info.value.response.headers  # the buckets admitted it; the rule faulted it
        assert headers["x-ratelimit-limit-requests"] == "100"
        assert headers["x-ratelimit-remaining-requests"] == "97"
        assert headers["x-ratelimit-limit-tokens"] == "5000"

        with urllib.request.urlopen(f"{root}/_stats", timeout=5) as response:
            stats = json.load(response)
        assert stats["total_requests"] == 3
        assert stats["peak_in_flight"] >= 1
        assert stats["rate_limited"] == 0  # a scripted 429 is not the server's limiter...
        assert (stats["responses_200"], stats["responses_429"]) == (2, 1)  # ...but it is a 429

        reset = urllib.request.Request(f"{root}/_reset", data=b"", method="POST")
        with urllib.request.urlopen(reset, timeout=5) as response:
            assert json.load(response) == {"ok": True}
        with urllib.request.urlopen(f"{root}/_stats", timeout=5) as response:
            assert json.load(response)["total_requests"] == 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------ faults of the reliability corpus


def test_content_filter_fault_stops_a_completion(client: openai.OpenAI, server: LoopbackServer) -> None:
    server.add_rule(None, Fault.content_filter("The first half of"))
    answer = client.chat.completions.create(model="loopback-chat", messages=USER)  # type: ignore[arg-type]
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.content == "The first half of"
    assert Fault.content_filter() == reply_from_spec({"fault": {"content_filter": ""}})


def test_kill_fault_stops_the_server_mid_run(client: openai.OpenAI, server: LoopbackServer) -> None:
    server.add_rule("die", Fault.kill())
    assert client.chat.completions.create(model="loopback-chat", messages=USER).choices  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="loopback-chat", messages=[{"role": "user", "content": "die"}])
    assert server.wait(5.0)  # stopped by itself
    with pytest.raises(openai.APIConnectionError):  # and nobody is listening any more
        client.chat.completions.create(model="loopback-chat", messages=USER)  # type: ignore[arg-type]
    assert server.total_requests == 2
    assert reply_from_spec({"fault": {"kill": True}}).kind == "kill"


def test_echo_headers_fault_repeats_what_the_client_sent(server: LoopbackServer) -> None:
    server.add_rule(None, Fault.echo_headers(401, ["Authorization", "OpenAI-Organization", "x-missing"]))
    sdk = openai.OpenAI(base_url=server.url, api_key="sk-echo-me", organization="org-echo", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(model="loopback-chat", messages=USER)  # type: ignore[arg-type]
    finally:
        sdk.close()
    message = caught.value.message
    assert "Request rejected; authorization: Bearer sk-echo-me; openai-organization: org-echo" in message
    assert "x-missing: (absent)" in message
    with pytest.raises(ValueError, match="out of range"):
        Fault.echo_headers(99, ["authorization"])
