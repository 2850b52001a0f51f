"""Generate: every planned request in flight at once, within the limits, before tests run.

One asyncio event loop runs in a background thread for the whole session and owns the one
``AsyncOpenAI`` client (a client must not outlive or change its loop). Tests stay plain
synchronous functions: they read answers the engine already has, and anything unplanned
goes through the same loop, limits and cache::

    engine = Engine(settings, cache, prices)
    engine.prefetch(jobs, on_progress)      # before the tests; blocking, Ctrl-C safe
    generations = engine.generate(requests) # in a test: this run's answers, else cache, else the model
    engine.close()

An answer comes from the first of four sources that has it: this run's outcomes, another
xdist worker's (:class:`~pytest_llmeval._engine.share.SharedRun`), the response cache, or
the network. Cache hits never touch the network or the limits. Under pytest-xdist each
worker sends only the jobs it owns and limits are divided between workers, so each
request is sent once and the limits hold for the whole run. The policies live beside
this module: :mod:`.retry`, :mod:`.limits`, :mod:`.budget`, :mod:`.scheduler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from .._config.options import CacheMode, Settings
from .._core.counters import Counters
from .._core.request import ChatRequest, EmbeddingRequest, Generation, Job, Request, TargetRequest
from . import retry
from .budget import Budget
from .cache import ResponseCache, cache_key, key_material
from .client import Attempt, ModelClient
from .clock import SYSTEM, Clock
from .limits import Limits
from .pricing import PriceTable
from .scheduler import run_jobs
from .share import SharedRun
from .targets import TargetRunner

LOST = "the engine produced no answer for this request (a bug: please report it)"


class Engine:
    """Serves requests from this run's answers, the shared run, the cache or the network."""

    def __init__(
        self,
        settings: Settings,
        cache: ResponseCache,
        prices: PriceTable,
        share: SharedRun | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.prices = prices
        self.share = share
        self.clock = clock
        """Every wait of the engine goes through it (a seam for tests of long waits)."""
        self.meter = Counters()
        self.results: dict[str, Generation] = {}
        """This run's outcomes by cache key: answers and errors alike."""
        self.budget = Budget(settings.max_cost, prices, self.meter, share.root / "budget.json" if share else None)
        self._planned_elsewhere: set[str] = set()
        self._parents_elsewhere: set[str] = set()
        """Generations owned by other workers whose judges and tool rounds those workers also run."""
        self._aliases: dict[str, str] = {}
        """A derived job's placeholder key -> its request's real key, once built: a tool round
        derived from another tool round finds its parent's answer by the parent's placeholder."""
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: ModelClient | None = None
        self._limits: Limits | None = None
        workers = share.workers if share is not None else 1
        self._targets = TargetRunner((settings.target_concurrency or settings.concurrency) // workers, settings.timeout)
        self._lock = threading.Lock()

    # ---- the two entry points ------------------------------------------------------------

    def prefetch(self, jobs: Sequence[Job], on_progress: Callable[[Counters], None] | None = None) -> None:
        """Answer every planned job now. Raises MissingAPIKeyError before sending anything."""
        to_fetch: list[Job] = []
        self.meter.total += len(jobs)
        self.meter.planned += len(jobs)
        # Generations first, so a judge whose generation is already cached can be built now.
        for job in sorted(jobs, key=lambda j: j.derive is not None):
            if self.share is not None and not self.share.owns(job.root):
                # Another worker's job (a judge or a tool round goes with its generation): counted there.
                (self._parents_elsewhere if job.derive else self._planned_elsewhere).add(job.root)
                self.meter.total -= 1
                self.meter.planned -= 1
                continue
            if job.derive is not None:
                if self._aliases.get(job.after or "", job.after) not in self.results:
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
                self._check_key(to_fetch)
                self._wait(self._submit(to_fetch), on_progress)
        finally:
            # Done even on failure: other workers must not wait for answers that will not come.
            if self.share is not None:
                self.share.heartbeat(self.meter, done=True)
        if on_progress is not None:
            on_progress(self.meter)

    def generate(
        self, requests: Sequence[Request], after: str | Sequence[str | None] | None = None
    ) -> list[Generation]:
        """One Generation per request, in order; unplanned ones are fetched now.

        ``after``: the key of the generation these requests judge (or, one per request, the
        first request of each tool round's sample), so that under xdist a judge or a tool
        round planned on another worker is waited for rather than sent twice.
        """
        keys: list[str] = []
        found: dict[str, Generation] = {}
        missing: dict[str, Job] = {}
        parents = [after] * len(requests) if after is None or isinstance(after, str) else list(after)
        for request, parent in zip(requests, parents, strict=True):
            material = key_material(request, self.settings.base_url)
            key = cache_key(material)
            keys.append(key)
            outcome = self.results.get(key)
            if outcome is None and self.share is not None:
                if key in self._planned_elsewhere:
                    outcome = self.share.wait_for(key)
                elif parent is not None and parent in self._parents_elsewhere:
                    outcome = self.share.wait_for(key, owner=self.share.owner(parent))
            if outcome is None:
                outcome = self._from_cache(request, key, material)
            if outcome is not None:
                found[key] = outcome
            else:
                missing.setdefault(key, Job(key=key, material=material, request=request))
        if missing:
            self._check_key(missing.values())
            self.meter.total += len(missing)
            self.meter.asked += len(missing)
            self._wait(self._submit(list(missing.values())), None, prefetching=False)
        lost = Generation.failed(LOST)
        return [found.get(key) or self.results.get(key, lost) for key in keys]

    def keys_of(self, requests: Sequence[Request]) -> list[str | None]:
        """Cache keys of ``requests`` (to tell a judge which generation it grades)."""
        return [cache_key(key_material(r, self.settings.base_url)) for r in requests]

    # ---- sources -------------------------------------------------------------------------

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

    def _caches(self, request: Request | None) -> bool:
        """Targets are applications, not pure functions: cached only with --llmeval-cache-targets."""
        return not isinstance(request, TargetRequest) or self.settings.cache_targets

    def _from_cache(self, request: Request, key: str, material: dict[str, Any]) -> Generation | None:
        if not self._caches(request):
            return None
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if self.cache.mode is CacheMode.REPLAY:
            return Generation.failed(self._replay_miss(request, key, material))
        return None

    def _replay_miss(self, request: Request, key: str, material: dict[str, Any]) -> str:
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

    def _derive(self, job: Job) -> Job | None:
        """The concrete job of a derived one, now that its generation is in (None: no judge)."""
        assert job.derive is not None and job.after is not None
        parent = self.results.get(self._aliases.get(job.after, job.after))
        request = job.derive(parent) if parent is not None and parent.text is not None else None
        if request is None:
            self.meter.done += 1  # nothing to judge (the sample errored), or no further tool round
            return None
        material = key_material(request, self.settings.base_url)
        key = cache_key(material)
        self._aliases[job.key] = key
        return Job(key=key, material=material, request=request)

    def _check_key(self, jobs: Iterable[Job]) -> None:
        # Before the loop starts anything: a missing key stops the run with nothing sent.
        # Jobs that only call targets need no model, so no key.
        if self._client is None and not all(isinstance(job.request, TargetRequest) for job in jobs):
            self._client = ModelClient(
                self.settings.base_url,
                base_url_is_custom=self.settings.base_url_is_custom,
                timeout=self.settings.timeout,
            )

    # ---- running jobs on the loop --------------------------------------------------------

    def _submit(self, jobs: list[Job]) -> Future[None]:
        limits = self._ensure_limits()
        run = run_jobs(
            jobs, limits.concurrency.maximum, lambda job: self._one(job, limits), self.results, self._aliases
        )
        return asyncio.run_coroutine_threadsafe(run, self._ensure_loop())

    def _wait(
        self, future: Future[None], on_progress: Callable[[Counters], None] | None, *, prefetching: bool = True
    ) -> None:
        """Block until done, ticking progress; on Ctrl-C cancel what is in flight and re-raise."""
        try:
            while True:
                try:
                    future.result(timeout=0.25)
                    if not prefetching and self.share is not None:
                        # Keep the run's totals right; this worker's planned share is long finished.
                        self.share.heartbeat(self.meter, done=True)
                    return
                except TimeoutError:
                    if on_progress is not None:
                        on_progress(self.meter)
                    if self.share is not None and prefetching:
                        self.share.heartbeat(self.meter)
        except KeyboardInterrupt:
            future.cancel()
            with contextlib.suppress(Exception):
                future.result(timeout=5)
            raise

    async def _one(self, job: Job, limits: Limits) -> None:
        """Answer one job; whatever raises on the way, the job ends with an outcome."""
        try:
            if job.derive is not None:
                derived = await self._concrete(job)
                if derived is None:
                    return
                job = derived
            assert job.request is not None
            done = self._in_flight[job.key] = asyncio.get_running_loop().create_future()
            try:
                generation = await self._attempts(job.request, limits)
            finally:
                self._in_flight.pop(job.key, None)
                done.set_result(None)
        except Exception as exc:  # every job ends as an answer or an error, whatever went wrong
            generation = Generation.failed(f"unexpected {type(exc).__name__}: {exc}")
        self._finish(job, generation)

    async def _concrete(self, job: Job) -> Job | None:
        """A derived job's own request, or None when it needs no sending (no judge, or known)."""
        derived = self._derive(job)
        if derived is None:
            return None
        # Two samples with the same answer make the same judge request: ask once.
        pending = self._in_flight.get(derived.key)
        if derived.key in self.results or pending is not None:
            if pending is not None:
                await pending
            self.meter.done += 1
            return None
        if self._answered_from_cache(derived):
            return None
        return derived

    def _finish(self, job: Job, generation: Generation) -> None:
        """Count, keep, cache and share an outcome; a failure here ends the job as an error."""
        self.results[job.key] = generation
        self.meter.done += 1
        try:
            cost = None
            if not generation.cached and generation.usage.total_tokens and job.request is not None:
                usage = generation.usage
                cost = self.prices.cost(job.request.model, usage.prompt_tokens, usage.completion_tokens)
            self.meter.spent += max(0.0, cost or 0.0)  # spend only grows, whatever a server reports
            self.meter.tokens += generation.usage.total_tokens
            if self._caches(job.request):
                self.cache.put(job.key, job.material, generation)
        except Exception as exc:
            generation = Generation.failed(f"the answer could not be stored: {type(exc).__name__}: {exc}")
            self.results[job.key] = generation
        self.meter.errors += generation.error is not None
        if self.share is not None:
            try:
                self.share.publish(job.key, generation)
            except Exception as exc:  # the owner's heartbeat says done: the others then ask themselves
                self.results[job.key] = Generation.failed(f"the answer could not be shared: {exc}")

    async def _attempts(self, request: Request, limits: Limits) -> Generation:
        if isinstance(request, TargetRequest):
            self.meter.sent += 1
            return await self._targets.call(request)  # no model: no budget, no rate limits
        assert self._client is not None
        tries = retry.Tries()
        while True:
            reservation, refusal = self.budget.reserve(request.model, prompt_tokens(request), completion_cap(request))
            if refusal is not None:
                return Generation.failed(refusal)
            attempt: Attempt | None = None
            try:
                attempt = await self._attempt(request, limits, tries)
            finally:
                if self.budget.limit is not None:  # the reservation becomes what the answer cost
                    self.budget.settle(reservation, self._cost(request, attempt))
            step = retry.after(attempt, tries, self.settings.max_retries, self.settings.rate_limit_timeout)
            if step.wait is None:
                return step.outcome
            if step.rate_limit:
                tries.rate_waits += 1
                tries.waited += step.wait
                await self._wait_on_rate_limit(step.wait)
            else:
                tries.retries += 1
                self.meter.retries += 1
                await self.clock.sleep(step.wait)

    async def _attempt(self, request: ChatRequest | EmbeddingRequest, limits: Limits, tries: retry.Tries) -> Attempt:
        """One try, within every limit; what the response says of the limits is taken in."""
        assert self._client is not None
        await limits.pause()
        await limits.concurrency.acquire()
        # Only a TPM limit (told or learned) needs the estimate: it is a JSON dump of every message.
        estimate = estimate_tokens(request) if limits.counts_tokens else 0
        sending = False
        try:
            await limits.admit(estimate)
            self.meter.in_flight += 1
            self.meter.sent += tries.retries == 0 and tries.rate_waits == 0  # the job, not each attempt
            sending = True
            attempt = await self._client.attempt(request)
        finally:
            # Cancelled while waiting for a token: this request never counted as in flight.
            self.meter.in_flight -= sending
            limits.concurrency.release()
        generation = attempt.generation
        limits.settle(estimate, generation.usage.total_tokens, attempt.limits)
        self._note_limits(limits)
        if attempt.rate_limited:
            self.meter.rate_limited += 1
            limits.concurrency.rate_limited()
            if attempt.limits is not None and attempt.limits.exhausted and attempt.retry_after is not None:
                # The headers say the shared budget is used up: nobody starts before it refills.
                limits.pause_for(min(attempt.retry_after, retry.MAX_RETRY_WAIT))
        elif generation.error is None:
            limits.concurrency.succeeded()
        return attempt

    def _cost(self, request: Request, attempt: Attempt | None) -> float:
        usage = attempt.generation.usage if attempt is not None else None
        if usage is None or not usage.total_tokens:
            return 0.0
        return self.prices.cost(request.model, usage.prompt_tokens, usage.completion_tokens) or 0.0

    async def _wait_on_rate_limit(self, seconds: float) -> None:
        """Only this request waits; the others go on (the learned limits pace them)."""
        self.meter.waiting += 1
        self.meter.rate_waits += 1
        try:
            await self.clock.sleep(seconds)
        finally:
            self.meter.waiting -= 1
            self.meter.waited_s += seconds

    def _note_limits(self, limits: Limits) -> None:
        self.meter.learned_requests = int(limits.learned_requests.limit or 0)
        self.meter.learned_tokens = int(limits.learned_tokens.limit or 0)

    def _ensure_limits(self) -> Limits:
        if self._limits is None:
            workers, index = (self.share.workers, self.share.index) if self.share else (1, 0)
            self._limits = Limits.for_settings(self.settings, workers, index, self.clock)
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
        if self.share is not None:
            self.share.close()
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._client is not None:
            client = self._client
            self._client = None
            # Closing must never fail a finished run.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=10)
        self._targets.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None


def prompt_tokens(request: Request) -> int:
    """A request's prompt tokens, before it is sent: its characters over 4 (no tokenizer needed)."""
    if isinstance(request, EmbeddingRequest):
        return len(request.text) // 4 + 1
    if not isinstance(request, ChatRequest):
        return 0
    return len(json.dumps(list(request.messages), ensure_ascii=False)) // 4 + 1


def completion_cap(request: Request) -> int | None:
    """The completion tokens a request may use, when it says (``max_completion_tokens`` / ``max_tokens``)."""
    if not isinstance(request, ChatRequest):
        return 0
    cap = request.params.get("max_completion_tokens") or request.params.get("max_tokens")
    try:
        return int(cap) if cap is not None else None
    except (TypeError, ValueError):
        return None


def estimate_tokens(request: Request) -> int:
    """Tokens a request will use, before it is sent: prompt by characters, answer by its cap (else 256)."""
    cap = completion_cap(request)
    return prompt_tokens(request) + (cap if cap is not None else 256)
