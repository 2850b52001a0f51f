"""Calling targets on the engine: async ones on its loop, sync ones in a bounded thread pool.

A target is the user's application, so it is called as an application is: concurrently,
within ``--llmeval-target-concurrency`` (else ``--llmeval-concurrency``), each call bounded
by ``--llmeval-timeout``. Whatever it raises becomes that sample's error (the exception's
last line), never a crash of the run; a sync target that times out keeps its thread
until it returns, but the sample does not wait for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import time
from typing import Any

from .._core.request import Generation, TargetRequest


class TargetRunner:
    """Runs target calls for the engine; made lazily on the engine's loop."""

    def __init__(self, concurrency: int, timeout: float) -> None:
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self._slots: asyncio.Semaphore | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def call(self, request: TargetRequest) -> Generation:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            started = time.perf_counter()
            try:
                result = await asyncio.wait_for(self._run(request), self.timeout)
            except TimeoutError:
                return Generation.failed(
                    f"target {request.target!r} timed out after {self.timeout:g} s (--llmeval-timeout)",
                    time.perf_counter() - started,
                )
            except _Exited as exc:
                return Generation.failed(f"target raised SystemExit: {exc}", time.perf_counter() - started)
            except Exception as exc:  # the application's failure is this sample's error
                return Generation.failed(f"target raised {type(exc).__name__}: {exc}", time.perf_counter() - started)
            return answer_of(result, time.perf_counter() - started)

    async def _run(self, request: TargetRequest) -> Any:
        try:
            return await self._call(request)
        except SystemExit as exc:  # asyncio would stop the loop for it: a plain exception instead
            raise _Exited(str(exc)) from None

    async def _call(self, request: TargetRequest) -> Any:
        fn = request.call
        case = dict(request.case)
        if _is_async(fn):
            result = await fn(case)
        else:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, "llmeval-target")
            result = await asyncio.get_running_loop().run_in_executor(self._pool, fn, case)
        if inspect.isawaitable(result):  # a sync function that returned a coroutine
            result = await result
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class _Exited(Exception):
    """A target called ``sys.exit``: that sample's error, not the end of the run."""


def _is_async(fn: object) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__dict__.get("__call__"))


def answer_of(result: object, latency: float) -> Generation:
    """A target's return value as a generation: text, JSON text of a dict or list, else an error."""
    if isinstance(result, str):
        try:
            result.encode("utf-8")
        except UnicodeEncodeError:
            return Generation.failed("target returned text that is not valid Unicode (a lone surrogate)", latency)
        return Generation(text=result, latency=latency)
    if isinstance(result, dict | list):
        try:
            return Generation(text=json.dumps(result, ensure_ascii=False), latency=latency)
        except (TypeError, ValueError) as exc:
            return Generation.failed(f"target returned a {type(result).__name__} that is not JSON: {exc}", latency)
    return Generation.failed(f"target returned {type(result).__name__}; expected str or dict", latency)
