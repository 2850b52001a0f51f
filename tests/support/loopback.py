"""A loopback OpenAI-compatible HTTP server for the test suite and the benchmarks.

The plugin only ever talks to models through the official ``openai`` SDK, so the honest way to
test retries, timeouts, connection reuse, rate limiting and malformed answers is to let the real
SDK speak real HTTP to something that behaves like the provider -- without any network access and
with every failure mode on demand.  This module is that something.  It is standard library only
(so it can also run in a bare interpreter as a separate benchmark process), binds 127.0.0.1 only,
and every wait in it is bounded: the server shuts itself down after ``max_seconds`` or after
``max_requests``, whichever comes first, so a forgotten server can never hang a CI job.

In-process usage::

    import openai
    from loopback import Fault, LoopbackServer, Reply

    with LoopbackServer(latency=0.01) as server:
        server.add_rule(r"capital of France", "Paris")
        server.add_rule(None, Fault.status(429, retry_after=1), times=1)   # first other call: 429
        server.add_rule(r"^json please$", Reply.json({"ok": True}))
        client = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
        answer = client.chat.completions.create(
            model="loopback-chat", messages=[{"role": "user", "content": "capital of France?"}]
        )
        assert answer.choices[0].message.content == "Paris"
        assert server.total_requests == 1

Rate limits like OpenAI's (token buckets, with the ``x-ratelimit-*`` headers on every answer),
a fault on a fixed share of distinct requests, once each, and a quota error::

    server = LoopbackServer(bucket_requests=600, bucket_refill=10.0, bucket_tokens=40_000)
    server.add_rule(None, Fault.status(429, retry_after=1), share=0.2, once=True)
    server.add_rule("billing", Fault.status(429, code="insufficient_quota"))

Out-of-process usage (benchmarks)::

    python tests/support/loopback.py --port 0 --latency 0.2 --rpm 600 --rules rules.json --max-seconds 600
    python tests/support/loopback.py --bucket-requests 600 --bucket-refill 10 --bucket-tokens 40000
    # first stdout line: LOOPBACK_URL=http://127.0.0.1:PORT/v1
    # GET  http://127.0.0.1:PORT/_stats  -> {"total_requests": ..., "peak_in_flight": ...,
    #                                        "rate_limited": ..., "responses_429": ..., ...}
    # POST http://127.0.0.1:PORT/_reset  -> clears counters and the request log, keeps the rules

``rules.json`` is a JSON list such as::

    [{"match": "capital of France", "reply": "Paris"},
     {"match": null, "fault": {"status": 429, "retry_after": 1}, "times": 2},
     {"match": null, "fault": {"status": 429, "retry_after": 1}, "share": 0.2, "once": true},
     {"match": "quota", "fault": {"status": 429, "code": "insufficient_quota"}},
     {"match": "structured", "json": {"answer": 42}},
     {"match": "weather", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}]

Tool calls, and a final text once the model has been given a tool's result::

    server.add_rule(after_tool_result, lambda body: Reply.text("It is " + tool_results(body)[-1]))
    server.add_rule("weather", Reply.tool_calls(("get_weather", {"city": "Paris"})))

In ``/_stats``, ``rate_limited`` counts the 429s of the server's own limiters (``--rpm``, the
buckets) and ``responses_429`` every 429 sent, scripted faults included.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, TypeAlias, cast

__all__ = [
    "CHAT_PATH",
    "EMBEDDINGS_PATH",
    "EMBEDDING_DIMS",
    "MAX_SLEEP_SECONDS",
    "Fault",
    "LoopbackServer",
    "Match",
    "RecordedRequest",
    "Reply",
    "ReplySource",
    "after_tool_result",
    "body_digest",
    "body_share",
    "embed_text",
    "estimate_tokens",
    "format_reset",
    "main",
    "reply_from_spec",
    "request_tokens",
    "tool_results",
    "tool_rounds",
]

HOST = "127.0.0.1"
#: Upper bound for any single sleep (latency, ``Fault.timeout``) so no test can hang on a typo.
MAX_SLEEP_SECONDS = 120.0
#: Idle keep-alive connections are closed after this long, which bounds every handler thread.
IDLE_KEEPALIVE_SECONDS = 30.0
MAX_BODY_BYTES = 32 * 1024 * 1024
EMBEDDING_DIMS = 64
RATE_WINDOW_SECONDS = 60.0
MAX_CHOICES = 128
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
DEFAULT_MODELS = ("loopback-chat", "loopback-embed")

ReplyKind: TypeAlias = Literal[
    "text", "status", "timeout", "drop", "garbage", "empty_choices", "refusal", "length", "kill", "echo", "tool_calls"
]
#: Kinds that only make sense for chat completions (they render a completion object).
_COMPLETION_KINDS: frozenset[str] = frozenset({"text", "empty_choices", "refusal", "length", "tool_calls"})


# --------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """What the server answers for one request.

    A single value type covers both good answers and faults so that rules, ``default_reply`` and
    reply callables can all return the same thing; build instances with the constructors here and
    on :class:`Fault` rather than by hand.
    """

    kind: ReplyKind = "text"
    #: Choice texts; with ``n`` > len(texts) they are cycled so ``n`` is always honoured.
    texts: tuple[str, ...] = ("",)
    finish_reason: str = "stop"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str = "application/json"
    #: For ``timeout``: how long the connection is held open without an answer.
    seconds: float = 0.0
    #: Overrides the rule's and the server's latency when set.
    latency: float | None = None
    #: For ``echo``: the request headers (lower-case names) written into the error message.
    echo: tuple[str, ...] = ()
    #: For ``tool_calls``: ``(function name, arguments text)`` of each call, in order.
    calls: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, text: str, *, latency: float | None = None) -> Reply:
        return cls(kind="text", texts=(text,), latency=_check_latency(latency))

    @classmethod
    def json(cls, obj: Any, *, latency: float | None = None) -> Reply:
        """A text answer that is ``json.dumps(obj)``: the shape structured-output graders parse."""
        return cls(kind="text", texts=(json.dumps(obj),), latency=_check_latency(latency))

    @classmethod
    def choices(cls, texts: Sequence[str], *, latency: float | None = None) -> Reply:
        """Distinct texts for ``n`` > 1 requests, so self-consistency style code sees variety."""
        if not texts:
            raise ValueError("Reply.choices needs at least one text")
        return cls(kind="text", texts=tuple(texts), latency=_check_latency(latency))

    @classmethod
    def tool_calls(cls, *calls: tuple[str, Any], text: str | None = None, latency: float | None = None) -> Reply:
        """An answer that calls functions (``finish_reason: "tool_calls"``), with ``content`` ``text`` or null.

        Each call is ``(name, arguments)``: a dict or list is sent as its JSON text, a ``str``
        verbatim (so a test can send arguments that are not JSON at all).
        """
        if not calls:
            raise ValueError("Reply.tool_calls needs at least one (name, arguments) call")
        shaped = tuple((name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls)
        return cls(
            kind="tool_calls",
            texts=(text or "",),
            calls=shaped,
            finish_reason="tool_calls",
            latency=_check_latency(latency),
        )

    def with_latency(self, seconds: float | None) -> Reply:
        return replace(self, latency=_check_latency(seconds))

    @property
    def is_completion(self) -> bool:
        """True when the reply renders as a (possibly odd) 200 chat completion object."""
        return self.kind in _COMPLETION_KINDS


class Fault:
    """Constructors for the failure modes real providers exhibit.

    Each returns a :class:`Reply`, so faults can be used anywhere a reply can (rules, default
    reply, reply callables).
    """

    @staticmethod
    def status(
        status: int,
        /,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        body: Any = None,
        *,
        message: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
        latency: float | None = None,
    ) -> Reply:
        """An HTTP error with an OpenAI-style error body (or ``body`` verbatim when given).

        ``retry_after`` / ``retry_after_ms`` become the ``Retry-After`` / ``retry-after-ms``
        headers the SDK's retry logic reads; ``headers`` can add e.g. ``x-should-retry``.
        ``code`` and ``type`` script the body's ``error.code`` / ``error.type``; by default they
        follow the status (429: ``rate_limit_exceeded`` / ``requests``).  A code OpenAI pairs with
        its own type and message fills those in too, so
        ``Fault.status(429, code="insufficient_quota")`` is the quota error, not a rate limit.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"HTTP status out of range: {status}")
        extra: list[tuple[str, str]] = []
        if retry_after is not None:
            extra.append(("Retry-After", _format_number(retry_after)))
        if retry_after_ms is not None:
            extra.append(("retry-after-ms", str(int(retry_after_ms))))
        extra.extend((headers or {}).items())
        if body is None:
            known_type, known_message = _KNOWN_CODES.get(code or "", (None, None))
            payload = _error_body(status, message or known_message, type or known_type, code)
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        return Reply(kind="status", status=status, body=payload, headers=tuple(extra), latency=_check_latency(latency))

    @staticmethod
    def timeout(seconds: float) -> Reply:
        """Hold the request open, answer nothing, then close: a provider that hangs."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("timeout seconds must be a finite number >= 0")
        return Reply(kind="timeout", seconds=min(float(seconds), MAX_SLEEP_SECONDS))

    @staticmethod
    def drop() -> Reply:
        """Close the connection without a single response byte: a reset/crashed upstream."""
        return Reply(kind="drop")

    @staticmethod
    def garbage(
        body: bytes | str = b"{not json", content_type: str = "application/json", *, status: int = 200
    ) -> Reply:
        """A successful status whose body is not a completion (bad JSON, an HTML proxy page...)."""
        payload = body.encode() if isinstance(body, str) else body
        return Reply(kind="garbage", status=status, body=payload, content_type=content_type)

    @staticmethod
    def empty_choices() -> Reply:
        """A well-formed completion with ``choices: []``, which naive ``choices[0]`` code trips on."""
        return Reply(kind="empty_choices", texts=())

    @staticmethod
    def refusal(text: str = "I can't help with that") -> Reply:
        """A completion whose message has ``content: null`` and ``refusal`` set."""
        return Reply(kind="refusal", texts=(text,))

    @staticmethod
    def length(text: str) -> Reply:
        """A completion cut off by the token limit (``finish_reason: "length"``)."""
        return Reply(kind="length", texts=(text,), finish_reason="length")

    @staticmethod
    def content_filter(text: str = "") -> Reply:
        """A completion stopped by the provider's content filter (``finish_reason: "content_filter"``).

        ``text`` is what was produced before the filter cut in (often nothing).
        """
        return Reply(kind="length", texts=(text,), finish_reason="content_filter")

    @staticmethod
    def kill() -> Reply:
        """The server dies on this request: the connection is dropped and the server stops.

        Requests already in flight are cut, and every later connection is refused, as when
        the provider's process or the proxy in front of it is killed mid-run.
        """
        return Reply(kind="kill")

    @staticmethod
    def echo_headers(status: int, names: Sequence[str], *, message: str = "Request rejected") -> Reply:
        """An HTTP error whose message repeats request headers, as some proxies and gateways do.

        ``Fault.echo_headers(401, ["authorization", "openai-organization"])`` answers
        ``{"error": {"message": "Request rejected; authorization: Bearer sk-...; ..."}}``.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"HTTP status out of range: {status}")
        return Reply(kind="echo", status=status, body=message.encode(), echo=tuple(name.lower() for name in names))


def reply_from_spec(spec: Mapping[str, Any]) -> Reply:
    """Build a reply from the JSON rule format used by ``--rules`` (see the module docstring).

    Keys: ``reply`` (text), ``json`` (any JSON value), ``choices`` (list of texts) or ``fault``,
    where ``fault`` is one of ``{"status": 429, "retry_after": 1, "retry_after_ms": 500,
    "body": ..., "message": ..., "code": "insufficient_quota", "type": ...}``, ``{"timeout": 5}``, ``{"drop": true}``,
    ``{"garbage": "<html>", "content_type": "text/html"}``, ``{"empty_choices": true}``,
    ``{"refusal": "..."}``, ``{"length": "..."}``, ``{"content_filter": "..."}``, ``{"kill": true}``.
    """
    if "reply" in spec:
        return Reply.text(str(spec["reply"]))
    if "json" in spec:
        return Reply.json(spec["json"])
    if "choices" in spec:
        return Reply.choices([str(t) for t in spec["choices"]])
    if "tool_calls" in spec:
        calls = [(str(c["name"]), c.get("arguments", {})) for c in spec["tool_calls"]]
        return Reply.tool_calls(*calls, text=_opt_str(spec.get("text")))
    fault = spec.get("fault")
    if not isinstance(fault, Mapping):
        raise ValueError(f"rule needs one of 'reply', 'json', 'choices' or 'fault': {dict(spec)!r}")
    if "status" in fault:
        return Fault.status(
            int(fault["status"]),
            retry_after=_opt_float(fault.get("retry_after")),
            retry_after_ms=None if fault.get("retry_after_ms") is None else int(fault["retry_after_ms"]),
            body=fault.get("body"),
            message=fault.get("message"),
            code=_opt_str(fault.get("code")),
            type=_opt_str(fault.get("type")),
            headers=fault.get("headers"),
        )
    if "timeout" in fault:
        return Fault.timeout(float(fault["timeout"]))
    if fault.get("drop"):
        return Fault.drop()
    if "garbage" in fault:
        return Fault.garbage(str(fault["garbage"]), str(fault.get("content_type", "application/json")))
    if fault.get("empty_choices"):
        return Fault.empty_choices()
    if "refusal" in fault:
        return Fault.refusal(str(fault["refusal"]))
    if "length" in fault:
        return Fault.length(str(fault["length"]))
    if "content_filter" in fault:
        return Fault.content_filter(str(fault["content_filter"]))
    if fault.get("kill"):
        return Fault.kill()
    raise ValueError(f"unknown fault spec: {dict(fault)!r}")


# ----------------------------------------------------------------------------------------------- rules

Match: TypeAlias = "str | re.Pattern[str] | Callable[[dict[str, Any]], bool] | None"
ReplySource: TypeAlias = "Reply | str | Callable[[dict[str, Any]], Reply | str]"


@dataclass
class _Rule:
    matcher: Callable[[dict[str, Any], str], bool]
    reply: ReplySource
    times: int | None
    latency: float | None
    path: str
    used: int = 0
    #: Applies only to request bodies whose :func:`body_share` is below this (None: every body).
    share: float | None = None
    #: Applies at most once per distinct request body.
    once: bool = False
    #: Digests of the bodies a ``once`` rule has already applied to.
    applied: set[bytes] = field(default_factory=set)

    def applies(self, body: dict[str, Any], text: str, digest: Callable[[], bytes]) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.share is not None and _share_of(digest()) >= self.share:
            return False
        if self.once and digest() in self.applied:
            return False
        return self.matcher(body, text)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; header names are lower-cased for easy lookup."""

    path: str
    method: str
    headers: dict[str, str]
    #: Parsed JSON body, or the raw text when it was not JSON, or None when there was no body.
    body: Any
    #: ``time.time()`` at arrival, so tests can check pacing (e.g. retry back-off).
    at: float
    #: The client's TCP port: equal ports across requests prove the SDK reused a connection.
    client_port: int = 0


@dataclass
class _Outcome:
    """The handler-facing result of routing: what to send, or to drop / hold the connection."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: Literal["send", "drop", "hold", "kill"] = "send"
    hold_seconds: float = 0.0
    latency: float = 0.0


class _Bucket:
    """A token bucket: ``capacity`` tokens, refilled continuously at ``refill`` per second.

    Not locked itself; the server calls it under its own lock.  It starts full, as an account
    that has been idle does.
    """

    def __init__(self, capacity: int, refill: float, now: float) -> None:
        self.capacity = capacity
        self.refill = refill
        self.level = float(capacity)
        self.at = now

    def update(self, now: float) -> None:
        if now > self.at:
            self.level = min(float(self.capacity), self.level + (now - self.at) * self.refill)
        self.at = max(self.at, now)

    def wait(self, cost: float) -> float:
        """Seconds until ``cost`` tokens are there (0 when they are now)."""
        if self.level + 1e-9 >= cost:  # float dust from the refill arithmetic is not a shortage
            return 0.0
        return (cost - self.level) / self.refill

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level + 1e-9))

    @property
    def until_full(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.refill)

    @property
    def used(self) -> int:
        return self.capacity - self.remaining

    def headers(self, unit: str) -> list[tuple[str, str]]:
        return [
            (f"x-ratelimit-limit-{unit}", str(self.capacity)),
            (f"x-ratelimit-remaining-{unit}", str(self.remaining)),
            (f"x-ratelimit-reset-{unit}", format_reset(self.until_full)),
        ]


# ---------------------------------------------------------------------------------------------- server


class LoopbackServer:
    """An OpenAI-compatible server on 127.0.0.1 with scripted answers and injectable faults.

    Thread-safe: the HTTP side runs one daemon thread per connection while tests add rules and
    read counters from their own thread.  Latency precedence is reply > rule > server, and
    latency only applies to requests that passed the auth and rate-limit gates (real providers
    reject fast).  ``/_stats``, ``/_reset`` and ``/_requests`` are control endpoints: they are
    neither counted nor logged, so a benchmark can poll them without disturbing what it measures.

    Two rate limiters exist side by side.  ``rpm_limit`` is a 60-second sliding window over every
    request.  ``bucket_requests`` / ``bucket_tokens`` are token buckets like OpenAI's: a capacity
    refilled continuously (``bucket_refill`` requests, ``bucket_token_refill`` tokens per second;
    by default a minute's worth of the capacity, i.e. capacity / 60).  Each chat or embeddings
    request takes one request token and its estimated tokens (prompt plus ``max_completion_tokens``
    / ``max_tokens`` or 256); a request the buckets cannot cover gets a 429 and takes nothing.
    While a bucket is configured every response carries OpenAI's ``x-ratelimit-*`` headers for it.
    ``clock`` (default ``time.monotonic``) drives both limiters, so tests can step time by hand.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rpm_limit: int | None = None,
        require_key: str | None = None,
        max_seconds: float = 600.0,
        max_requests: int = 1_000_000,
        default_reply: Reply | None = None,
        port: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
        log_limit: int = 100_000,
        bucket_requests: int | None = None,
        bucket_refill: float | None = None,
        bucket_tokens: int | None = None,
        bucket_token_refill: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (max_seconds > 0 and math.isfinite(max_seconds)):
            raise ValueError("max_seconds must be a finite number > 0")
        if max_requests < 1:
            raise ValueError("max_requests must be >= 1")
        if rpm_limit is not None and rpm_limit < 1:
            raise ValueError("rpm_limit must be >= 1 or None")
        if log_limit < 0:
            raise ValueError("log_limit must be >= 0")
        for name, capacity, refill in (
            ("bucket_requests", bucket_requests, bucket_refill),
            ("bucket_tokens", bucket_tokens, bucket_token_refill),
        ):
            if capacity is not None and capacity < 1:
                raise ValueError(f"{name} must be >= 1 or None")
            if refill is not None and not (refill > 0 and math.isfinite(refill)):
                raise ValueError(f"the refill rate of {name} must be a finite number > 0")
            if refill is not None and capacity is None:
                raise ValueError(f"a refill rate needs {name}")
        self._clock = clock
        now = clock()
        self._request_bucket = (
            None
            if bucket_requests is None
            else _Bucket(bucket_requests, bucket_refill or bucket_requests / RATE_WINDOW_SECONDS, now)
        )
        self._token_bucket = (
            None
            if bucket_tokens is None
            else _Bucket(bucket_tokens, bucket_token_refill or bucket_tokens / RATE_WINDOW_SECONDS, now)
        )
        self.latency = _check_latency(latency) or 0.0
        self.rpm_limit = rpm_limit
        self.require_key = require_key
        self.max_seconds = float(max_seconds)
        self.max_requests = max_requests
        self.default_reply = default_reply
        self.models = tuple(models)
        self._port = port

        self._lock = threading.Lock()  # counters, log, rate window
        self._rules_lock = threading.RLock()  # re-entrant: user callables may read server state
        self._rules: list[_Rule] = []
        # A bounded log keeps a million-request benchmark from eating the machine's memory.
        self._log: collections.deque[RecordedRequest] = collections.deque(maxlen=log_limit)
        self._window: collections.deque[float] = collections.deque()
        self._total = 0
        self._in_flight = 0
        self._peak = 0
        self._rate_limited = 0
        self._statuses: collections.Counter[int] = collections.Counter()
        self._completion_ids = 0
        self.errors: list[str] = []

        self._stop_event = threading.Event()
        self._stopped = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        if self._httpd is not None:
            raise RuntimeError("LoopbackServer can only be started once; create a new one")
        self._httpd = _HTTPServer((HOST, self._port), self)
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-serve-{self.port}",
            daemon=True,
        )
        self._watchdog = threading.Thread(target=self._watch, name=f"loopback-watchdog-{self.port}", daemon=True)
        self._serve_thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut open connections and wake sleeping handlers; idempotent."""
        self._stop_event.set()
        self._shutdown()
        for thread in (self._serve_thread, self._watchdog):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (by itself or via :meth:`stop`); True if it has."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)``; includes the ``/v1`` prefix."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None and not self._stopped.is_set()

    def _watch(self) -> None:
        self._stop_event.wait(self.max_seconds)
        self._shutdown()

    def _shutdown(self) -> None:
        with self._shutdown_lock:
            if self._stopped.is_set() or self._httpd is None:
                return
            self._stop_event.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_all_connections()
            self._stopped.set()

    # -- rules --------------------------------------------------------------------------------------

    def add_rule(
        self,
        match: Match,
        reply: ReplySource,
        *,
        times: int | None = None,
        latency: float | None = None,
        path: str = CHAT_PATH,
        share: float | None = None,
        once: bool = False,
    ) -> None:
        """Append a rule; the first matching, not yet exhausted rule decides the reply.

        A ``str``/pattern is ``re.search``-ed against the last user message (chat) or the
        newline-joined inputs (embeddings); a callable gets the parsed JSON body; ``None`` matches
        everything.  ``path`` selects the endpoint; embedding rules may only carry faults since a
        text answer has no embedding meaning.

        ``share=0.2`` limits the rule to a deterministic 20 % of distinct request bodies (those
        whose :func:`body_share` is below 0.2, the same bodies in every process and run), and
        ``once=True`` to the first time it applies to a given body: a repeat of that body (a
        retry) skips the rule.  Together they fault a fixed share of requests exactly once.
        """
        if times is not None and times < 0:
            raise ValueError("times must be >= 0 or None")
        if share is not None and not 0.0 <= share <= 1.0:
            raise ValueError("share must be between 0 and 1, or None")
        if path not in (CHAT_PATH, EMBEDDINGS_PATH):
            raise ValueError(f"rules apply to {CHAT_PATH} or {EMBEDDINGS_PATH}, not {path!r}")
        if path == EMBEDDINGS_PATH and (isinstance(reply, str) or (isinstance(reply, Reply) and reply.is_completion)):
            raise ValueError("embedding rules can only reply with faults (status/timeout/drop/garbage)")
        rule = _Rule(_make_matcher(match), reply, times, _check_latency(latency), path, share=share, once=bool(once))
        with self._rules_lock:
            self._rules.append(rule)

    def load_rules(self, source: str | Path | Iterable[Mapping[str, Any]]) -> None:
        """Add rules from a ``--rules`` style JSON file (path) or an already parsed list."""
        specs: Any = json.loads(Path(source).read_text()) if isinstance(source, str | Path) else list(source)
        if not isinstance(specs, list):
            raise ValueError("rules must be a JSON list")
        for spec in specs:
            if not isinstance(spec, Mapping):
                raise ValueError(f"each rule must be an object: {spec!r}")
            self.add_rule(
                spec.get("match"),
                reply_from_spec(spec),
                times=None if spec.get("times") is None else int(spec["times"]),
                latency=_opt_float(spec.get("latency")),
                path=str(spec.get("path", CHAT_PATH)),
                share=_opt_float(spec.get("share")),
                once=bool(spec.get("once", False)),
            )

    def reset(self, *, rules: bool = True) -> None:
        """Clear rules (unless ``rules=False``), the request log and all counters but ``in_flight``.

        ``in_flight`` is live state, not history, so it is left alone.  The rate limiters start
        afresh (the window empty, the buckets full); kept rules keep their own state (``times``
        used, the bodies a ``once`` rule has seen).
        """
        if rules:
            with self._rules_lock:
                self._rules.clear()
        with self._lock:
            self._log.clear()
            self._window.clear()
            self._total = 0
            self._peak = self._in_flight
            self._rate_limited = 0
            self._statuses.clear()
            now = self._clock()
            for bucket in (self._request_bucket, self._token_bucket):
                if bucket is not None:
                    bucket.level, bucket.at = float(bucket.capacity), now
            self.errors.clear()

    # -- observation --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def total_requests(self) -> int:
        with self._lock:
            return self._total

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak

    @property
    def rate_limited(self) -> int:
        """429s from the server's own limiters (``rpm_limit`` and the buckets), not scripted ones."""
        with self._lock:
            return self._rate_limited

    @property
    def status_counts(self) -> dict[int, int]:
        """Responses sent, by HTTP status (scripted faults included; drops and holds are not sent)."""
        with self._lock:
            return dict(self._statuses)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "total_requests": self._total,
                "peak_in_flight": self._peak,
                "in_flight": self._in_flight,
                "rate_limited": self._rate_limited,
                "responses_200": self._statuses[200],
                "responses_429": self._statuses[429],
            }

    # -- request processing (called from handler threads) ----------------------------------------

    def _enter(self, record: RecordedRequest) -> int:
        with self._lock:
            self._total += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            self._log.append(record)
            return self._total

    def _leave(self, status: int | None = None) -> None:
        with self._lock:
            self._in_flight -= 1
            if status is not None:
                self._statuses[status] += 1

    def _sleep(self, seconds: float) -> bool:
        """Sleep (bounded, interruptible by shutdown); False means the server is stopping."""
        if seconds <= 0:
            return not self._stop_event.is_set()
        return not self._stop_event.wait(min(seconds, MAX_SLEEP_SECONDS))

    def _admit(self, method: str, path: str, body: Any) -> tuple[_Outcome | None, list[tuple[str, str]]]:
        """The rate-limit gates: (a 429 to send, or None when admitted; the ``x-ratelimit-*`` headers).

        The sliding window counts every request; the buckets only chat and embeddings POSTs.  A
        request is admitted only when every gate lets it through, and only then does it take its
        place in the window and its tokens from the buckets.
        """
        limit, requests, tokens = self.rpm_limit, self._request_bucket, self._token_bucket
        if limit is None and requests is None and tokens is None:
            return None, []
        consumes = method == "POST" and path in (CHAT_PATH, EMBEDDINGS_PATH)
        cost = request_tokens(path, body) if consumes and tokens is not None else 0
        now = self._clock()
        rejection: _Outcome | None = None
        headers: list[tuple[str, str]] = []
        with self._lock:
            if limit is not None:
                while self._window and self._window[0] <= now - RATE_WINDOW_SECONDS:
                    self._window.popleft()
                if len(self._window) >= limit:
                    reset = self._window[0] + RATE_WINDOW_SECONDS - now
                    rejection = _error(
                        429, "Rate limit reached for requests (loopback rpm_limit).", "requests", "rate_limit_exceeded"
                    )
                    rejection.headers.append(("Retry-After", str(max(1, math.ceil(reset)))))
            for bucket in (requests, tokens):
                if bucket is not None:
                    bucket.update(now)
            if rejection is None and consumes:
                rejection = self._bucket_rejection(cost)
            if rejection is None:
                if limit is not None:
                    self._window.append(now)
                if consumes and requests is not None:
                    requests.level -= 1
                if consumes and tokens is not None:
                    tokens.level -= cost
            else:
                self._rate_limited += 1
            if limit is not None and requests is None:
                reset = self._window[0] + RATE_WINDOW_SECONDS - now if self._window else 0.0
                headers += [
                    ("x-ratelimit-limit-requests", str(limit)),
                    ("x-ratelimit-remaining-requests", str(max(limit - len(self._window), 0))),
                    ("x-ratelimit-reset-requests", format_reset(reset)),
                ]
            if requests is not None:
                headers += requests.headers("requests")
            if tokens is not None:
                headers += tokens.headers("tokens")
        return rejection, headers

    def _bucket_rejection(self, cost: int) -> _Outcome | None:
        """The buckets' 429 for a request of ``cost`` tokens, or None when they can cover it (lock held)."""
        waits: list[tuple[float, str, _Bucket, int]] = []
        if self._request_bucket is not None:
            waits.append((self._request_bucket.wait(1), "requests", self._request_bucket, 1))
        if self._token_bucket is not None:
            if cost > self._token_bucket.capacity:  # no wait helps: OpenAI's "Request too large"
                return _error(
                    429,
                    f"Request too large for tokens (loopback bucket): Limit {self._token_bucket.capacity}, "
                    f"Requested {cost}. The input or output tokens must be reduced in order to run successfully.",
                    "tokens",
                    "rate_limit_exceeded",
                )
            waits.append((self._token_bucket.wait(cost), "tokens", self._token_bucket, cost))
        if not waits:
            return None
        wait, unit, bucket, requested = max(waits, key=lambda w: w[0])
        if wait <= 0.0:
            return None
        out = _error(
            429,
            f"Rate limit reached for {unit} (loopback bucket): Limit {bucket.capacity}, Used {bucket.used}, "
            f"Requested {requested}. Please try again in {format_reset(wait)}.",
            unit,
            "rate_limit_exceeded",
        )
        out.headers += [("Retry-After", str(_ceil(wait))), ("retry-after-ms", str(_ceil(wait * 1000)))]
        return out

    def _choose(self, path: str, body: dict[str, Any], text: str) -> tuple[ReplySource | None, float | None]:
        digests: list[bytes] = []

        def digest() -> bytes:  # hashed only when a share/once rule asks
            if not digests:
                digests.append(body_digest(body))
            return digests[0]

        with self._rules_lock:
            for rule in self._rules:
                if rule.path == path and rule.applies(body, text, digest):
                    rule.used += 1
                    if rule.once:
                        rule.applied.add(digest())
                    return rule.reply, rule.latency
        return None, None

    def _resolve(self, source: ReplySource, body: dict[str, Any]) -> Reply:
        value = source(body) if callable(source) else source
        return Reply.text(value) if isinstance(value, str) else value

    def _route(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> _Outcome:
        if self.require_key is not None and headers.get("authorization") != f"Bearer {self.require_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        rejection, rl_headers = self._admit(method, path, body)
        if rejection is not None:
            rejection.headers.extend(rl_headers)
            return rejection
        if path in (MODELS_PATH, MODELS_PATH + "/"):
            out = self._models() if method == "GET" else _error(405, f"{method} not allowed on {path}")
        elif path in (CHAT_PATH, EMBEDDINGS_PATH):
            out = (
                self._post_endpoint(method, path, body, headers)
                if method == "POST"
                else _error(405, f"{method} not allowed on {path}")
            )
        else:
            out = _error(404, f"Unknown path {path}", code="unknown_url")
        out.headers.extend(rl_headers)
        return out

    def _models(self) -> _Outcome:
        data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "loopback"} for m in self.models]
        out = _json_outcome({"object": "list", "data": data})
        out.latency = self.latency
        return out

    def _post_endpoint(self, method: str, path: str, body: Any, headers: Mapping[str, str] | None = None) -> _Outcome:
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object.")
        problem = _validate_chat(body) if path == CHAT_PATH else _validate_embeddings(body)
        if problem:
            return _error(400, problem)
        text = last_user_text(body) if path == CHAT_PATH else "\n".join(_embedding_inputs(body))
        source, rule_latency = self._choose(path, body, text)
        reply: Reply | None
        if source is not None:
            reply = self._resolve(source, body)
        elif path == CHAT_PATH:
            reply = self.default_reply or Reply.text(f"echo: {text}")
        else:
            reply = None  # ordinary embeddings
        if reply is None:
            out = self._embeddings(body)
        elif reply.is_completion and path == EMBEDDINGS_PATH:
            return _error(500, "loopback: an embeddings rule produced a chat reply", "server_error")
        else:
            out = self._render(reply, body, headers or {})
        latency = reply.latency if reply is not None and reply.latency is not None else rule_latency
        out.latency = self.latency if latency is None else latency
        # The server's own decision, so tests can check which latency applied without a stopwatch.
        out.headers.append(("x-loopback-latency", _format_number(out.latency)))
        return out

    def _render(self, reply: Reply, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> _Outcome:
        if reply.kind == "drop":
            return _Outcome(action="drop")
        if reply.kind == "kill":
            return _Outcome(action="kill")
        if reply.kind == "echo":
            seen = headers or {}
            echoed = "; ".join(f"{name}: {seen.get(name, '(absent)')}" for name in reply.echo)
            message = (reply.body or b"").decode() + (f"; {echoed}" if echoed else "")
            return _error(reply.status, message)
        if reply.kind == "timeout":
            return _Outcome(action="hold", hold_seconds=reply.seconds)
        if reply.kind in ("status", "garbage"):
            return _Outcome(
                status=reply.status,
                body=reply.body or b"",
                content_type=reply.content_type,
                headers=list(reply.headers),
            )
        return _json_outcome(self._completion(reply, body))

    def _completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        n = 1 if body.get("n") is None else int(body["n"])
        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        for index in range(n if reply.texts else 0):
            text = reply.texts[index % len(reply.texts)]
            completion_tokens += estimate_tokens(text)
            refused = reply.kind == "refusal"
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None if refused else text,
                "refusal": text if refused else None,
                "annotations": [],
            }
            if reply.kind == "tool_calls":
                message["content"] = text or None
                message["tool_calls"] = _tool_calls(reply.calls, body, index)
                completion_tokens += sum(estimate_tokens(name + args) for name, args in reply.calls)
            choices.append({"index": index, "message": message, "finish_reason": reply.finish_reason, "logprobs": None})
        prompt_tokens = estimate_tokens("\n".join(_all_message_texts(body)))
        with self._lock:
            self._completion_ids += 1
            serial = self._completion_ids
        return {
            "id": f"chatcmpl-loopback{serial:08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_loopback",
            "service_tier": "default",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }

    def _embeddings(self, body: dict[str, Any]) -> _Outcome:
        inputs = _embedding_inputs(body)
        dims = int(body.get("dimensions") or EMBEDDING_DIMS)
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for index, text in enumerate(inputs):
            vector = embed_text(text, dims)
            encoded: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(estimate_tokens(t) for t in inputs)
        return _json_outcome(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


# --------------------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Hundreds of SDK threads connect at once in the concurrency tests; the default backlog of 5
    # would make the kernel drop SYNs and turn a latency test into a flaky timeout test.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: LoopbackServer) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Wake handler threads blocked on keep-alive reads so stop() really stops serving."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # clients hanging up (timeouts, drops) are expected here, not errors
        self.app.errors.append(f"{type(exc).__name__}: {exc}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "loopback/1.0"
    sys_version = ""
    timeout = IDLE_KEEPALIVE_SECONDS
    # Headers and body must leave in one segment: with an unbuffered writer, Nagle plus the
    # client's delayed ACK adds ~40 ms to every response, which would swamp latency benchmarks.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; the server keeps a structured log instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    @property
    def app(self) -> LoopbackServer:
        return cast(_HTTPServer, self.server).app

    def _dispatch(self) -> None:
        app = self.app
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        if raw is None:
            return
        body = _parse_body(raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/_"):
            self._control(app, path, body)
            return
        if app._stop_event.is_set():
            self.close_connection = True  # stopping: behave like a dead server
            return
        serial = app._enter(RecordedRequest(path, self.command, headers, body, time.time(), self.client_address[1]))
        left = False
        try:
            if serial > app.max_requests:
                out = _error(503, "loopback: max_requests reached; the server is stopping", "server_error")
                self.close_connection = True
            else:
                try:
                    out = app._route(self.command, path, headers, body)
                except Exception as exc:  # a user rule callable blew up: make it visible, not a hang
                    app.errors.append(f"{type(exc).__name__}: {exc}")
                    out = _error(500, f"loopback: rule raised {type(exc).__name__}: {exc}", "server_error")
            if not app._sleep(out.latency):
                self.close_connection = True
                return
            if out.action == "drop":
                self.close_connection = True
                return
            if out.action == "kill":
                self.close_connection = True
                app._stop_event.set()  # the watchdog shuts the server down: later connections are refused
                return
            if out.action == "hold":
                app._sleep(out.hold_seconds)
                self.close_connection = True
                return
            out.headers.append(("x-request-id", f"req_loopback_{serial}"))
            # Leave before the last byte goes out, so a caller that has its answer never sees
            # its own request still counted as in flight.
            app._leave(out.status)
            left = True
            self._send(out)
        finally:
            if not left:
                app._leave()
            if serial == app.max_requests:
                app._stop_event.set()  # after the answer is written, so the last caller gets it

    def _control(self, app: LoopbackServer, path: str, body: Any) -> None:
        if path == "/_stats" and self.command == "GET":
            self._send(_json_outcome(app.stats()))
        elif path == "/_reset" and self.command == "POST":
            app.reset(rules=False)
            self._send(_json_outcome({"ok": True}))
        elif path == "/_requests" and self.command == "GET":
            log = [asdict(r) for r in app.requests]
            self._send(_json_outcome(log))
        else:
            self._send(_error(404, f"Unknown control path {self.command} {path}"))

    def _read_body(self) -> bytes | None:
        """Always drain the body, even for requests we reject, or keep-alive framing breaks."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(_error(413 if length > 0 else 400, "Bad or oversized Content-Length."))
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while total <= MAX_BODY_BYTES:  # bounded by the size cap
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                break
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)
            total += size
        self.close_connection = True
        self._send(_error(400, "Bad or oversized chunked body."))
        return None

    def _send(self, out: _Outcome) -> None:
        try:
            self.send_response(out.status)
            self.send_header("Content-Type", out.content_type)
            self.send_header("Content-Length", str(len(out.body)))
            for name, value in out.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(out.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its own timeout)


# ---------------------------------------------------------------------------------------------- helpers


def estimate_tokens(text: str) -> int:
    """Deterministic token estimate (ceil(chars / 4), at least 1) so usage numbers are testable."""
    return max(1, math.ceil(len(text) / 4))


def body_digest(body: Any) -> bytes:
    """A stable digest of a JSON request body: key order and whitespace do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


def body_share(body: Any) -> float:
    """Where a request body falls in [0, 1): a rule with ``share=s`` applies when this is below s.

    Deterministic across processes and runs, so the same 20 % of a benchmark's cases are
    faulted every time; shares nest (the bodies under 0.1 are among those under 0.2).
    """
    return _share_of(body_digest(body))


def _share_of(digest: bytes) -> float:
    return int.from_bytes(digest[:8], "big") / 2**64


def request_tokens(path: str, body: Any) -> int:
    """The tokens a request takes from the token bucket, estimated before it is answered.

    Chat: :func:`estimate_tokens` of the messages' texts (what ``usage.prompt_tokens`` reports)
    plus ``max_completion_tokens``, else ``max_tokens``, else 256.  Embeddings: the inputs' tokens.
    """
    if not isinstance(body, dict):
        body = {}
    if path == EMBEDDINGS_PATH:
        return sum(estimate_tokens(t) for t in _embedding_inputs(body))
    completion = 256
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            completion = value
            break
    return estimate_tokens("\n".join(_all_message_texts(body))) + completion


def format_reset(seconds: float) -> str:
    """A duration the way OpenAI's ``x-ratelimit-reset-*`` headers write it (Go's duration format).

    Whole milliseconds, rounded up so a wait is never shown as none: ``0s``, ``20ms``, ``1s``,
    ``8.64s``, ``1m30.5s``, ``6m0s``, ``1h0m0s``.
    """
    millis = max(0, math.ceil(seconds * 1000 - 1e-6))  # 1e-6: 0.58 s is 580 ms, not 581
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    text = f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


_WORD = re.compile(r"\w+")


def embed_text(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """Bag-of-words feature-hashing embedding, unit length.

    Texts sharing words get high cosine similarity and unrelated texts land near zero, which is
    all a semantic-similarity grader test needs -- and it is deterministic across processes
    (blake2b, not Python's salted ``hash``).
    """
    if dims < 1:
        raise ValueError("dims must be >= 1")
    vector = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        for salt in (b"a", b"b"):  # two buckets per word make collisions less damaging
            digest = int.from_bytes(hashlib.blake2b(salt + word.encode(), digest_size=8).digest(), "little")
            vector[digest % dims] += 1.0 if (digest >> 40) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:  # empty text (or a perfect cancellation): still a valid, deterministic unit vector
        digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        vector[digest % dims] = 1.0
        return vector
    return [x / norm for x in vector]


def content_text(content: Any) -> str:
    """Text of a message ``content``: the string, or the text parts of a parts list joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _tool_calls(calls: Sequence[tuple[str, str]], body: Any, choice: int) -> list[dict[str, Any]]:
    """The message's ``tool_calls``; ids derive from the request, so a repeated request gets the same ids."""
    stem = body_digest(body).hex()[:12]
    return [
        {"id": f"call_{stem}_{choice}_{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(calls)
    ]


def after_tool_result(body: Mapping[str, Any]) -> bool:
    """A rule matcher: the request's last message is a ``tool`` result (the model is asked again)."""
    messages = body.get("messages")
    return isinstance(messages, list) and bool(messages) and (messages[-1] or {}).get("role") == "tool"


def tool_results(body: Mapping[str, Any]) -> list[str]:
    """The contents of the request's ``tool`` messages, in order (for a reply that repeats them)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "tool"]


def tool_rounds(body: Mapping[str, Any]) -> int:
    """How many times the request's conversation has had tool results (0 for a first request)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls"))


def last_user_text(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return content_text(message.get("content"))
    return ""


def _all_message_texts(body: Mapping[str, Any]) -> list[str]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [content_text(m.get("content")) for m in messages if isinstance(m, dict)]


def _embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    value = body.get("input")
    return [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []


def _validate_chat(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str):
        return "'model' is required and must be a string."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array."
    if body.get("stream"):
        return "loopback does not implement streaming ('stream': true)."
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES):
        return f"'n' must be an integer between 1 and {MAX_CHOICES}."
    return None


def _validate_embeddings(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str):
        return "'model' is required and must be a string."
    value = body.get("input")
    if not (isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))):
        return "'input' must be a string or a non-empty array of strings."
    dims = body.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 4096):
        return "'dimensions' must be an integer between 1 and 4096."
    if body.get("encoding_format") not in (None, "float", "base64"):
        return "'encoding_format' must be 'float' or 'base64'."
    return None


def _make_matcher(match: Match) -> Callable[[dict[str, Any], str], bool]:
    if match is None:
        return lambda body, text: True
    if isinstance(match, str | re.Pattern):
        pattern = re.compile(match)
        return lambda body, text: pattern.search(text) is not None
    if callable(match):
        predicate = match
        return lambda body, text: bool(predicate(body))
    raise TypeError(f"unsupported rule match: {match!r}")


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout", "timeout"),
    409: ("conflict", "conflict"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}


#: Error codes OpenAI sends with a type and message of their own: ``code -> (type, message)``.
_KNOWN_CODES: dict[str, tuple[str, str]] = {
    "insufficient_quota": (
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    ),
}


def _error_body(status: int, message: str | None = None, type_: str | None = None, code: str | None = None) -> bytes:
    default_type, default_code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return json.dumps(
        {
            "error": {
                "message": message or f"loopback fault: HTTP {status}",
                "type": type_ or default_type,
                "param": None,
                "code": code or default_code,
            }
        }
    ).encode()


def _error(status: int, message: str, type_: str | None = None, code: str | None = None) -> _Outcome:
    return _Outcome(status=status, body=_error_body(status, message, type_, code))


def _json_outcome(obj: Any) -> _Outcome:
    return _Outcome(body=json.dumps(obj).encode())


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def _check_latency(value: float | None) -> float | None:
    if value is None:
        return None
    if value < 0 or not math.isfinite(value):
        raise ValueError("latency must be a finite number >= 0")
    return min(float(value), MAX_SLEEP_SECONDS)


def _ceil(value: float) -> int:
    """Round a positive wait up to a whole number of its unit, at least 1, ignoring float dust."""
    return max(1, math.ceil(value - 1e-6))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# -------------------------------------------------------------------------------------------------- CLI


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible server for tests and benchmarks.")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS pick a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before each answer")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute before 429s (sliding window)")
    parser.add_argument("--bucket-requests", type=int, default=None, help="request bucket capacity (OpenAI-style)")
    parser.add_argument("--bucket-refill", type=float, default=None, help="requests refilled per second")
    parser.add_argument("--bucket-tokens", type=int, default=None, help="token bucket capacity (OpenAI-style)")
    parser.add_argument("--bucket-token-refill", type=float, default=None, help="tokens refilled per second")
    parser.add_argument("--rules", type=Path, default=None, help="JSON list of rules")
    parser.add_argument("--require-key", default=None, help="API key clients must send")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    server = LoopbackServer(
        port=args.port,
        latency=args.latency,
        rpm_limit=args.rpm,
        require_key=args.require_key,
        max_seconds=args.max_seconds,
        max_requests=args.max_requests,
        bucket_requests=args.bucket_requests,
        bucket_refill=args.bucket_refill,
        bucket_tokens=args.bucket_tokens,
        bucket_token_refill=args.bucket_token_refill,
    )
    if args.rules is not None:
        server.load_rules(args.rules)
    # SIGTERM (what subprocess.terminate sends) becomes SystemExit so the finally below runs.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    server.start()
    try:
        print(f"LOOPBACK_URL={server.url}", flush=True)
        while not server.wait(1.0):  # bounded: the server stops itself after max_seconds
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
