"""Generate: every planned request in flight at once, within the limits, before tests run.

One asyncio event loop runs in a background thread for the whole session and owns the one
``AsyncOpenAI`` client (a client must not outlive or change its loop). Tests stay plain
synchronous functions: they read answers the engine already has, and anything unplanned
goes through the same loop, limits and cache::

    engine = Engine(settings, cache, prices)
    engine.prefetch(jobs, on_progress)      # before the tests; blocking, Ctrl-C safe
    generations = engine.generate(requests) # in a test: this run's answers, else cache, else the model
    engine.close()

Cache hits never touch the network or the limits. Under pytest-xdist each worker fetches
only the jobs it owns (:class:`~pytest_llmeval._share.SharedRun`) and limits are divided
between workers, so each request is sent once and the limits hold for the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

from .._config.options import CacheMode, Settings
from .._core.request import ChatRequest, Generation, Job
from .cache import ResponseCache, cache_key, key_material
from .client import MissingAPIKeyError, ModelClient
from .limits import AdaptiveLimit, TokenBucket
from .pricing import PriceTable
from .share import SharedRun

MAX_RETRY_WAIT = 600.0
"""A Retry-After longer than this fails the request instead of stalling the run."""


@dataclass
class Meter:
    """What the engine has done this run; read by the progress line and the budget."""

    total: int = 0
    done: int = 0
    cached: int = 0
    in_flight: int = 0
    retries: int = 0
    errors: int = 0
    rate_limited: int = 0
    tokens: int = 0
    spent: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def counters(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started")
        return data


class Engine:
    """Serves requests from this run's answers, the shared run, the cache or the network."""

    def __init__(
        self, settings: Settings, cache: ResponseCache, prices: PriceTable, share: SharedRun | None = None
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.prices = prices
        self.share = share
        self.meter = Meter()
        self.results: dict[str, Generation] = {}
        """This run's outcomes by cache key: answers and errors alike."""
        self._planned_elsewhere: set[str] = set()
        self._parents_elsewhere: set[str] = set()
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        """Generations owned by other workers whose judges those workers also run."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: ModelClient | None = None
        self._limits: _Limits | None = None
        self._lock = threading.Lock()
        self._spend_of_others = 0.0
        self._spend_read_at = float("-inf")
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """How the engine waits before a retry (a seam for tests of long Retry-After values)."""

    # ---- the two entry points ------------------------------------------------------------

    def prefetch(self, jobs: Sequence[Job], on_progress: Callable[[Meter], None] | None = None) -> None:
        """Answer every planned job now. Raises MissingAPIKeyError before sending anything."""
        to_fetch: list[Job] = []
        self.meter.total += len(jobs)
        # Generations first, so a judge whose generation is already cached can be built now.
        for job in sorted(jobs, key=lambda j: j.derive is not None):
            if self.share is not None and not self.share.owns(job.after or job.key):
                # Another worker's job (a judge goes with its generation): counted there.
                (self._parents_elsewhere if job.derive else self._planned_elsewhere).add(job.after or job.key)
                self.meter.total -= 1
                continue
            if job.derive is not None:
                if job.after not in self.results:
                    to_fetch.append(job)  # its generation is fetched in this run first
                    continue
                derived = self._derive(job)
                if derived is None:
                    continue
                job = derived
            if not self._answered_from_cache(job):
                to_fetch.append(job)
        try:
            if to_fetch:
                self._check_key()
                self._wait(self._submit(to_fetch), on_progress)
        finally:
            # Done even on failure: other workers must not wait for answers that will not come.
            if self.share is not None:
                self.share.heartbeat(self._shared_counters(), done=True)
        if on_progress is not None:
            on_progress(self.meter)

    def keys_of(self, requests: Sequence[ChatRequest]) -> list[str | None]:
        """Cache keys of ``requests`` (to tell a judge which generation it grades)."""
        return [cache_key(key_material(r, self.settings.base_url)) for r in requests]

    def _answered_from_cache(self, job: Job) -> bool:
        """Serve ``job`` from the cache (or a replay miss) without the network or the limits."""
        assert job.request is not None
        hit = self._from_cache(job.request, job.key, job.material)
        if hit is None:
            return False
        self.results[job.key] = hit
        self.meter.done += 1
        self.meter.cached += hit.cached
        return True

    def _derive(self, job: Job) -> Job | None:
        """The concrete job of a derived one, now that its generation is in (None: no judge)."""
        assert job.derive is not None and job.after is not None
        parent = self.results.get(job.after)
        request = job.derive(parent) if parent is not None and parent.text is not None else None
        if request is None:
            self.meter.done += 1  # nothing to judge: the sample errored
            return None
        material = key_material(request, self.settings.base_url)
        return Job(key=cache_key(material), material=material, request=request)

    def generate(self, requests: Sequence[ChatRequest], after: str | None = None) -> list[Generation]:
        """One Generation per request, in order; unplanned ones are fetched now.

        ``after``: the key of the generation these requests judge, so that under xdist a
        judge planned on another worker is waited for rather than sent twice.
        """
        keys: list[str] = []
        found: dict[str, Generation] = {}
        missing: dict[str, Job] = {}
        for request in requests:
            material = key_material(request, self.settings.base_url)
            key = cache_key(material)
            keys.append(key)
            outcome = self.results.get(key)
            if outcome is None and self.share is not None:
                if key in self._planned_elsewhere:
                    outcome = self.share.wait_for(key)
                elif after is not None and after in self._parents_elsewhere:
                    outcome = self.share.wait_for(key, owner=self.share.owner(after))
            if outcome is None:
                outcome = self._from_cache(request, key, material)
            if outcome is not None:
                found[key] = outcome
            else:
                missing.setdefault(key, Job(key=key, material=material, request=request))
        if missing:
            self._check_key()
            self.meter.total += len(missing)
            self._wait(self._submit(list(missing.values())), None, prefetching=False)
        lost = Generation.failed("the engine produced no answer for this request (a bug: please report it)")
        return [found.get(key) or self.results.get(key, lost) for key in keys]

    # ---- sources -------------------------------------------------------------------------

    def _from_cache(self, request: ChatRequest, key: str, material: dict[str, Any]) -> Generation | None:
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if self.cache.mode is CacheMode.REPLAY:
            return Generation.failed(self._replay_miss(request, key, material))
        return None

    def _replay_miss(self, request: ChatRequest, key: str, material: dict[str, Any]) -> str:
        lines = [f"replay miss: no cached answer for {request.describe()} (key {key[:12]}) in {self.cache.root}"]
        nearest = self.cache.nearest(material)
        if nearest is None:
            lines.append(
                "no closest entry shown (the cache is empty, or this run already named the closest entries "
                "of its first misses); record with --llmeval-cache record"
            )
        else:
            lines.append(f"closest cached entry: {nearest.path}")
            lines.extend(f"  differs in {d}" for d in nearest.differences)
        return "\n".join(lines)

    def _check_key(self) -> None:
        # Before the loop starts anything: a missing key stops the run with nothing sent.
        if self._client is None:
            self._client = self._make_client()

    def _make_client(self) -> ModelClient:
        return ModelClient(
            self.settings.base_url, base_url_is_custom=self.settings.base_url_is_custom, timeout=self.settings.timeout
        )

    # ---- running jobs on the loop --------------------------------------------------------

    def _submit(self, jobs: list[Job]) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(self._run(jobs), self._ensure_loop())

    def _wait(
        self, future: Future[None], on_progress: Callable[[Meter], None] | None, *, prefetching: bool = True
    ) -> None:
        """Block until done, ticking progress; on Ctrl-C cancel what is in flight and re-raise."""
        try:
            while True:
                try:
                    future.result(timeout=0.25)
                    if not prefetching and self.share is not None:
                        # Keep the run's totals right; this worker's planned share is long finished.
                        self.share.heartbeat(self._shared_counters(), done=True)
                    return
                except TimeoutError:
                    if on_progress is not None:
                        on_progress(self.meter)
                    if self.share is not None and prefetching:
                        self.share.heartbeat(self._shared_counters())
        except KeyboardInterrupt:
            future.cancel()
            with contextlib.suppress(Exception):
                future.result(timeout=5)
            raise

    async def _run(self, jobs: list[Job]) -> None:
        limits = self._ensure_limits()
        queue: asyncio.Queue[Job] = asyncio.Queue()
        waiting: dict[str, list[Job]] = {}
        keys = {job.key for job in jobs}
        for job in jobs:
            if job.after is not None and job.after not in self.results and job.after in keys:
                waiting.setdefault(job.after, []).append(job)
            else:
                queue.put_nowait(job)
        remaining = len(jobs)
        finished = asyncio.Event()
        if remaining == 0:
            return

        async def worker() -> None:
            nonlocal remaining
            while True:
                job = await queue.get()
                try:
                    await self._one(job, limits)
                finally:
                    for follower in waiting.pop(job.key, []):
                        queue.put_nowait(follower)
                    remaining -= 1
                    if remaining == 0:
                        finished.set()

        workers = [asyncio.create_task(worker()) for _ in range(min(limits.concurrency.maximum, len(jobs)))]
        try:
            await finished.wait()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _one(self, job: Job, limits: _Limits) -> None:
        if job.derive is not None:
            derived = self._derive(job)
            if derived is None:
                return
            job = derived
            # Two samples with the same answer make the same judge request: ask once.
            pending = self._in_flight.get(job.key)
            if job.key in self.results or pending is not None:
                if pending is not None:
                    await pending
                self.meter.done += 1
                return
            if self._answered_from_cache(job):
                return
        assert job.request is not None
        done = self._in_flight[job.key] = asyncio.get_running_loop().create_future()
        try:
            generation = await self._attempts(job.request, limits)
        except Exception as exc:  # every job ends as an answer or an error, whatever went wrong
            generation = Generation.failed(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self._in_flight.pop(job.key, None)
            done.set_result(None)
        cost = None
        if not generation.cached and generation.usage.total_tokens:
            cost = self.prices.cost(
                job.request.model, generation.usage.prompt_tokens, generation.usage.completion_tokens
            )
        self.meter.spent += cost or 0.0
        self.meter.tokens += generation.usage.total_tokens
        self.meter.errors += generation.error is not None
        self.meter.done += 1
        self.results[job.key] = generation
        self.cache.put(job.key, job.material, generation)
        if self.share is not None:
            self.share.publish(job.key, generation)

    async def _attempts(self, request: ChatRequest, limits: _Limits) -> Generation:
        assert self._client is not None
        retries = 0
        while True:
            if (reason := self._over_budget(request.model)) is not None:
                return Generation.failed(reason)
            await limits.pause()
            await limits.concurrency.acquire()
            # Only a TPM limit needs the estimate: it is a JSON dump of every message.
            estimate = estimate_tokens(request) if limits.tpm is not None else 0
            sending = False
            try:
                if limits.rpm is not None:
                    await limits.rpm.acquire(1)
                if limits.tpm is not None:
                    await limits.tpm.acquire(estimate)
                self.meter.in_flight += 1
                sending = True
                attempt = await self._client.attempt(request)
            finally:
                # Cancelled while waiting for a token: this request never counted as in flight.
                self.meter.in_flight -= sending
                limits.concurrency.release()
            generation = attempt.generation
            if limits.tpm is not None:
                limits.tpm.give_back(estimate - generation.usage.total_tokens if generation.usage.total_tokens else 0)
            if attempt.rate_limited:
                self.meter.rate_limited += 1
                limits.concurrency.rate_limited()
                if attempt.retry_after is not None and attempt.retry_after <= MAX_RETRY_WAIT:
                    limits.pause_for(attempt.retry_after)
            elif generation.error is None:
                limits.concurrency.succeeded()
            if not attempt.retryable:
                return generation
            if retries >= self.settings.max_retries:
                suffix = f" (after {retries} retries)" if retries else ""
                return Generation.failed(f"{generation.error}{suffix}", generation.latency)
            wait = attempt.retry_after if attempt.retry_after is not None else _backoff(retries)
            if wait > MAX_RETRY_WAIT:
                return Generation.failed(
                    f"{generation.error} (the server asked to wait {wait:.0f} s, more than {MAX_RETRY_WAIT:.0f} s)"
                )
            retries += 1
            self.meter.retries += 1
            await self.sleep(wait)

    def _over_budget(self, model: str) -> str | None:
        limit = self.settings.max_cost
        if limit is None:
            return None
        if self.prices.lookup(model) is None:
            return f"no price for model {model!r}, so --llmeval-max-cost cannot hold: add it with --llmeval-prices"
        spent = self.meter.spent + self._others_spend()
        if spent >= limit:
            return f"budget reached: this run spent ${spent:.4f} of --llmeval-max-cost ${limit:.4f}"
        return None

    def _others_spend(self) -> float:
        """What the other xdist workers spent, from their heartbeats (re-read twice a second)."""
        if self.share is None:
            return 0.0
        now = time.monotonic()
        if now - self._spend_read_at > 0.5:
            self._spend_of_others = self.share.totals(exclude_self=True).get("spent", 0.0)
            self._spend_read_at = now
        return self._spend_of_others

    def _shared_counters(self) -> dict[str, Any]:
        return self.meter.counters()

    def _ensure_limits(self) -> _Limits:
        if self._limits is None:
            workers, index = (self.share.workers, self.share.index) if self.share else (1, 0)
            self._limits = _Limits.for_settings(self.settings, workers, index)
        return self._limits

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


@dataclass
class _Limits:
    """The limits of one process; under xdist each worker gets its share of the run's."""

    concurrency: AdaptiveLimit
    rpm: TokenBucket | None
    tpm: TokenBucket | None
    paused_until: float = 0.0

    @classmethod
    def for_settings(cls, settings: Settings, workers: int, index: int = 0) -> _Limits:
        share = max(1, workers)
        # Split so the workers' caps add up to the run's (5 over 2 workers: 3 + 2, not 3 + 3).
        mine = settings.concurrency // share + (1 if index < settings.concurrency % share else 0)
        return cls(
            concurrency=AdaptiveLimit(max(1, mine)),
            rpm=TokenBucket(settings.rpm / share) if settings.rpm else None,
            tpm=TokenBucket(settings.tpm / share) if settings.tpm else None,
        )

    def pause_for(self, seconds: float) -> None:
        """After a 429 with Retry-After, no request starts before the server said."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def pause(self) -> None:
        while (delay := self.paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)


def estimate_tokens(request: ChatRequest) -> int:
    """Tokens a request will use, before it is sent: prompt by characters, answer by its cap."""
    prompt = len(json.dumps(list(request.messages), ensure_ascii=False)) // 4 + 1
    cap = request.params.get("max_completion_tokens") or request.params.get("max_tokens") or 256
    try:
        return prompt + int(cap)
    except (TypeError, ValueError):
        return prompt + 256


def _backoff(retries: int) -> float:
    """Exponential back-off with jitter when the server gave no Retry-After."""
    return min(0.5 * float(2**retries), 30.0) * (0.5 + random.random() / 2)


__all__ = ["Engine", "Meter", "MissingAPIKeyError", "estimate_tokens"]
