"""The only module that imports ``openai``: turns a :class:`ChatRequest` into a :class:`Generation`.

Every way a call can go wrong ends here as a ``Generation`` with an ``error`` reason,
because an errored sample is counted apart from pass and fail, never as either.
The SDK is checked, not trusted: a 200 can carry a non-JSON body, an HTML page (the SDK
then returns a ``str``), no choices at all, or a refusal.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from .._core.records import Usage
from .._core.request import ChatRequest, EmbeddingRequest, Generation, ToolCall
from .ratelimits import RateLimitHeaders

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,})")
_ACCOUNT_LIKE = re.compile(r"\b(?:org-[A-Za-z0-9]{8,}|proj_[A-Za-z0-9]{8,})\b")
"""Organisation and project ids, which error bodies echo as they echo keys."""
_ACCOUNT_VARIABLES = ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID")


class MissingAPIKeyError(Exception):
    """A request would go to OpenAI but no API key is set."""


MISSING_KEY_MESSAGE = (
    "pytest-llmeval: a request must go to the model, but OPENAI_API_KEY is not set. Either\n"
    "  - export OPENAI_API_KEY=... (your key is read from the environment and never written anywhere),\n"
    "  - point the run at an OpenAI-compatible server: --llmeval-base-url http://127.0.0.1:11434/v1,\n"
    "  - or run from the recorded answers only: --llmeval-cache replay"
)


def api_key_from_env() -> str | None:
    return os.environ.get("OPENAI_API_KEY") or None


def redact(text: str, key: str | None) -> str:
    """Remove the API key (whole or masked, as OpenAI's 401 messages echo it), and organisation
    and project ids, from a message."""
    secrets = [key, *(os.environ.get(name) for name in _ACCOUNT_VARIABLES)]
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _ACCOUNT_LIKE.sub("[redacted]", _KEY_LIKE.sub("[redacted]", text))


@dataclass(frozen=True)
class Attempt:
    """One try at a request: its outcome, and whether and when to try again."""

    generation: Generation
    retryable: bool = False
    """True for 408/409/429/5xx, timeouts and dropped connections."""
    retry_after: float | None = None
    """Seconds the server asked to wait (``retry-after-ms``, else ``Retry-After``)."""
    rate_limited: bool = False
    """A 429 that is a rate limit: waited out, not counted against the retries (a 429 for an
    exhausted quota, ``insufficient_quota``, is an ordinary error: waiting cannot help)."""
    limits: RateLimitHeaders | None = None
    """What the response's ``x-ratelimit-*`` headers say, when it had them."""


_RETRYABLE_STATUS = {408, 409, 429}


class ModelClient:
    """An ``AsyncOpenAI`` bound to the engine's event loop (one client per loop).

    The SDK's own retries are off: the engine retries, so it can honour any Retry-After
    (the SDK gives up on values above 120 s) and share back-off across requests.
    """

    def __init__(self, base_url: str, *, base_url_is_custom: bool, timeout: float, max_retries: int = 0) -> None:
        self._key = api_key_from_env()
        if self._key is None and not base_url_is_custom:
            raise MissingAPIKeyError(MISSING_KEY_MESSAGE)
        import openai  # here, not at plugin import: a run served from the cache never pays for it
        from openai.types import CreateEmbeddingResponse
        from openai.types.chat import ChatCompletion

        # Raw responses, parsed by us: the headers carry the learned rate limits.
        self._completion_type = openai.AsyncAPIResponse[ChatCompletion]
        self._embedding_type = openai.AsyncAPIResponse[CreateEmbeddingResponse]
        self._client = openai.AsyncOpenAI(
            # Local servers (Ollama, vLLM) ignore the key, but the SDK insists on one.
            api_key=self._key or "no-key-needed",
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            # The SDK's own aiohttp transport (the ``openai[aiohttp]`` extra): its C HTTP
            # parser takes 40 % less CPU per request than the default httpx2 one, and with
            # 64 requests in flight the engine's loop is bound by that CPU, not the network.
            http_client=openai.DefaultAioHttpClient(timeout=timeout),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def attempt(self, request: ChatRequest | EmbeddingRequest) -> Attempt:
        import openai

        started = time.perf_counter()
        if isinstance(request, EmbeddingRequest):
            return await self._embedding(request, started)
        kwargs: dict[str, Any] = dict(request.params)
        if request.response_format is not None:
            kwargs["response_format"] = dict(request.response_format)
        try:
            # The client's documented raw ``post``, not ``chat.completions.create``: the same
            # endpoint, headers and parsing, without re-walking every message through the typed
            # params transform (a quarter of the SDK's CPU per request at high request rates).
            raw: Any = await self._client.post(
                "/chat/completions",
                body={"model": request.model, "messages": [dict(m) for m in request.messages], **kwargs},
                cast_to=self._completion_type,
            )
        except openai.OpenAIError as exc:
            return self._attempt_failed(exc, started)
        limits = RateLimitHeaders.parse(raw.headers)
        latency = time.perf_counter() - started
        # Read as plain JSON and checked here: the SDK's typed models would cost more CPU
        # per answer than sending it, and a server's answer is checked, not trusted, anyway.
        http = raw.http_response
        try:
            data = json.loads(http.content) if _is_json(http.headers) else http.text
        except json.JSONDecodeError as exc:
            return Attempt(self._failed(f"malformed response body (not JSON): {exc.msg}", started), limits=limits)
        except UnicodeDecodeError:
            return Attempt(self._failed("malformed response body (not UTF-8)", started), limits=limits)
        return Attempt(_read_completion(data, latency, self._key), limits=limits)

    def _attempt_failed(self, exc: Exception, started: float) -> Attempt:
        """What an SDK exception means: the reason, and whether and when to try again."""
        import openai

        if isinstance(exc, openai.APITimeoutError) and not _dropped(exc):
            return Attempt(self._failed("request timed out", started), retryable=True)
        if isinstance(exc, openai.APITimeoutError):
            return Attempt(self._failed(f"connection failed: {_root(exc)}", started), retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return Attempt(self._failed(f"connection failed: {exc.__cause__ or exc}", started), retryable=True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            headers = exc.response.headers
            quota = status == 429 and _error_code(exc) == "insufficient_quota"
            return Attempt(
                self._failed(f"HTTP {status}: {_error_message(exc)}", started),
                retryable=(status in _RETRYABLE_STATUS or status >= 500) and not quota,
                retry_after=retry_after(headers),
                rate_limited=status == 429 and not quota,
                limits=RateLimitHeaders.parse(headers),
            )
        return Attempt(self._failed(f"{type(exc).__name__}: {exc}", started))

    async def _embedding(self, request: EmbeddingRequest, started: float) -> Attempt:
        """An embedding; the vector is kept as JSON text, so the cache and xdist carry it as-is."""
        import openai

        body = {"model": request.model, "input": request.text, "encoding_format": "float"}
        try:
            raw: Any = await self._client.post("/embeddings", body=body, cast_to=self._embedding_type)
        except openai.OpenAIError as exc:
            return self._attempt_failed(exc, started)
        limits = RateLimitHeaders.parse(raw.headers)
        latency = time.perf_counter() - started
        try:
            data = json.loads(raw.http_response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return Attempt(
                self._failed(f"malformed embeddings response (not JSON): {getattr(exc, 'msg', exc)}", started),
                limits=limits,
            )
        items = data.get("data") if isinstance(data, dict) else None
        vector = items[0].get("embedding") if isinstance(items, list) and items and isinstance(items[0], dict) else None
        if not isinstance(vector, list) or not all(isinstance(x, int | float) for x in vector):
            return Attempt(Generation.failed("the server returned no embedding", latency), limits=limits)
        usage = _usage(data.get("usage"))
        generation = Generation(text=json.dumps(vector), usage=Usage.of(usage.prompt_tokens, 0), latency=latency)
        return Attempt(generation, limits=limits)

    def _failed(self, reason: str, started: float) -> Generation:
        return Generation.failed(redact(reason, self._key), time.perf_counter() - started)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _root(exc: BaseException) -> BaseException:
    """The first exception of a chain: what the transport itself raised."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _dropped(exc: BaseException) -> bool:
    """A "timeout" that is a closed connection: the aiohttp transport maps every connection
    error to a connect timeout, so the first exception of the chain says which it was."""
    root = _root(exc)
    return root is not exc and not isinstance(root, TimeoutError) and "Timeout" not in type(root).__name__


def _error_code(exc: Any) -> str | None:
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    return code if isinstance(code, str) else None


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc))


def _is_json(headers: Mapping[str, str]) -> bool:
    kind = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _read_completion(data: Any, latency: float, key: str | None) -> Generation:
    """Check what the server returned; anything that is not a usable answer becomes an error."""
    if not isinstance(data, dict) or not isinstance(data.get("choices", []), list | None):
        shown = (data if isinstance(data, str) else json.dumps(data))[:80]
        return Generation.failed(f"malformed response: not a chat completion ({shown!r})", latency)
    choices = data.get("choices") or []
    usage = _usage(data.get("usage"))
    if not choices:
        return Generation(text=None, error="the server returned no choices", usage=usage, latency=latency)
    choice: dict[str, Any] = choices[0] if isinstance(choices[0], dict) else {}
    found = choice.get("message")
    message: dict[str, Any] = found if isinstance(found, dict) else {}
    finish_reason = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
    refusal = message.get("refusal")
    if refusal:
        return Generation(text=None, error=redact(f"the model refused: {refusal}", key), usage=usage, latency=latency)
    content = message.get("content")
    calls, problem = _tool_calls(message.get("tool_calls"))
    if problem is not None:
        pass
    elif calls:
        # An answer that calls tools needs no text: what it does is the answer.
        problem = _tool_answer_problem(content, calls, finish_reason)
        content = content or ""
    elif content is None or (isinstance(content, str) and not content.strip()):
        problem = f"empty answer (finish_reason={finish_reason})"
    elif not isinstance(content, str):
        problem = f"malformed response: the message content is {type(content).__name__}, not text"
    elif not _encodable(content):
        problem = "malformed response: the answer is not valid Unicode (a lone surrogate)"
    elif finish_reason == "content_filter":
        # What is left is a fragment the graders could pass ("ok, here is how to"): not an answer.
        problem = "the content filter stopped the answer (finish_reason=content_filter); a partial answer is not graded"
    if problem is not None:
        return Generation(text=None, error=problem, usage=usage, latency=latency)
    model = data.get("model")
    return Generation(
        text=content,
        usage=usage,
        latency=latency,
        finish_reason=finish_reason,
        response_model=model if isinstance(model, str) else None,
        tool_calls=calls,
    )


def _tool_answer_problem(content: Any, calls: tuple[ToolCall, ...], finish_reason: str | None) -> str | None:
    """Why an answer that calls tools is not usable, or None."""
    if content is not None and not isinstance(content, str):
        return f"malformed response: the message content is {type(content).__name__}, not text"
    if not all(_encodable(text) for text in [content or "", *(c.name + c.raw_arguments + c.id for c in calls)]):
        return "malformed response: the tool call is not valid Unicode (a lone surrogate)"
    if finish_reason == "content_filter":
        return "the content filter stopped the answer (finish_reason=content_filter); a partial answer is not graded"
    return None


def _tool_calls(found: Any) -> tuple[tuple[ToolCall, ...], str | None]:
    """The message's function calls, checked: each needs an id, a function name and argument text."""
    if found is None or found == []:
        return (), None
    if not isinstance(found, list):
        return (), f"malformed response: tool_calls is {type(found).__name__}, not a list"
    calls = []
    for index, call in enumerate(found):
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(name, str) or not name or not isinstance(arguments, str) or not isinstance(call_id, str):
            return (), f"malformed response: tool call {index} needs an id, a function name and arguments text"
        calls.append(ToolCall(id=call_id, name=name, raw_arguments=arguments))
    return tuple(calls), None


def _usage(data: Any) -> Usage:
    """Token counts as reported; a count that is no whole number >= 0 is taken as 0, never trusted."""
    if not isinstance(data, dict):
        return Usage()
    counts = [data.get("prompt_tokens"), data.get("completion_tokens")]
    prompt, completion = (n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0 for n in counts)
    return Usage.of(prompt, completion)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
