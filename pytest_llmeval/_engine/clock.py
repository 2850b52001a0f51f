"""Time as the engine sees it, one seam for every wait (retries, pauses, buckets).

Tests of a 300-second ``Retry-After`` give the engine a clock whose ``sleep`` only moves
its own time forward, instead of patching the engine's internals.
"""

from __future__ import annotations

import asyncio
import time


class Clock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM = Clock()
