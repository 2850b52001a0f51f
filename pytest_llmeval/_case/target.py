"""Calling a user's own application (a RAG pipeline, an agent) in place of a bare model.

A target is ``target(case) -> str | dict`` (sync or async). A dict answer is graded as
its JSON text, so JSON graders see exactly what the application returned. Targets are
not cached: the point of evaluating an application is to run it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._core.request import Generation

Target = Callable[[Mapping[str, Any]], Any]
"""A user's application: ``target(case) -> str | dict``, sync or async."""


def call_target(target: Target, case: Mapping[str, Any]) -> Generation:
    """Run a target once; an exception in it is this sample's error, with its last line."""
    started = time.perf_counter()
    try:
        result = target(case)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
    except Exception as exc:
        return Generation.failed(f"target raised {type(exc).__name__}: {exc}", time.perf_counter() - started)
    latency = time.perf_counter() - started
    if isinstance(result, str):
        return Generation(text=result, latency=latency)
    if isinstance(result, dict | list):
        return Generation(text=json.dumps(result, ensure_ascii=False), latency=latency)
    return Generation.failed(f"target returned {type(result).__name__}; expected str or dict", latency)


async def _await(awaitable: Any) -> Any:
    return await awaitable
