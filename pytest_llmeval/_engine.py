"""Answers for a batch of requests: from the cache when it has them, else from the model.

One asyncio event loop runs in a background thread for the whole session and owns the
one ``AsyncOpenAI`` client (a client must not outlive or change its loop). Tests stay
ordinary synchronous pytest functions: they hand a batch over and wait for it::

    engine = Engine(settings, cache)
    generations = engine.generate([request_sample_0, request_sample_1])
    engine.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from ._cache import ResponseCache, cache_key, key_material
from ._client import ModelClient
from ._options import CacheMode, Settings
from ._request import ChatRequest, Generation

# Samples of one case go out together; the session-wide limit comes with the planner.
_IN_FLIGHT = 16


class Engine:
    """Serves requests from the cache or the network; one per session, in ``config.stash``."""

    def __init__(self, settings: Settings, cache: ResponseCache) -> None:
        self.settings = settings
        self.cache = cache
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: ModelClient | None = None
        self._lock = threading.Lock()

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        """One Generation per request, in order. Raises MissingAPIKeyError if a call needs a key."""
        results: list[Generation | None] = [None] * len(requests)
        misses: list[tuple[int, ChatRequest, str, dict[str, object]]] = []
        for index, request in enumerate(requests):
            material = key_material(request, self.settings.base_url)
            key = cache_key(material)
            hit = self.cache.get(key)
            if hit is not None:
                results[index] = hit
            elif self.cache.mode is CacheMode.REPLAY:
                results[index] = Generation.failed(self._replay_miss(request, key, material))
            else:
                misses.append((index, request, key, material))
        if misses:
            fetched = self._submit([request for _, request, _, _ in misses]).result()
            for (index, _, key, material), generation in zip(misses, fetched, strict=True):
                self.cache.put(key, material, generation)
                results[index] = generation
        return [r for r in results if r is not None]

    def _replay_miss(self, request: ChatRequest, key: str, material: dict[str, object]) -> str:
        lines = [f"replay miss: no cached answer for {request.describe()} (key {key[:12]}) in {self.cache.root}"]
        nearest = self.cache.nearest(material)
        if nearest is None:
            lines.append("the cache is empty; record it first with --llmeval-cache record")
        else:
            lines.append(f"closest cached entry: {nearest.path}")
            lines.extend(f"  differs in {d}" for d in nearest.differences)
        return "\n".join(lines)

    def _submit(self, requests: list[ChatRequest]) -> Future[list[Generation]]:
        loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(self._fetch_all(requests), loop)

    async def _fetch_all(self, requests: list[ChatRequest]) -> list[Generation]:
        client = self._ensure_client()
        limit = asyncio.Semaphore(_IN_FLIGHT)

        async def one(request: ChatRequest) -> Generation:
            async with limit:
                return await client.chat(request)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    def _ensure_client(self) -> ModelClient:
        # Created lazily on the loop thread: a run served from the cache needs no key and no SDK.
        if self._client is None:
            self._client = ModelClient(
                self.settings.base_url,
                base_url_is_custom=self.settings.base_url_is_custom,
                timeout=self.settings.timeout,
                max_retries=self.settings.max_retries,
            )
        return self._client

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="llmeval-engine", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def close(self) -> None:
        """Close the client on its own loop, then stop the loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._client is not None:
            client = self._client
            self._client = None
            # Closing must never fail a finished run.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None
