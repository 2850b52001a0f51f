"""The worker pool: run jobs concurrently, each job that needs another's answer after it.

A pool of ``workers`` tasks takes jobs from one queue; a job whose ``after`` is another
job of the same batch waits in a side list and is queued once that job finished. The
pool's size is only an upper bound: the engine's limits decide how many are on the
network at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence

from .._core.request import Job


async def run_jobs(
    jobs: Sequence[Job],
    workers: int,
    run_one: Callable[[Job], Awaitable[None]],
    answered: Container[str],
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Run every job through ``run_one``; ``answered``: keys whose answers are already in.

    ``aliases``: placeholder keys of derived jobs already built, to their real keys (a tool
    round after a round that was built before the batch started waits for the real key).
    """
    if not jobs:
        return
    queue: asyncio.Queue[Job] = asyncio.Queue()
    waiting: dict[str, list[Job]] = {}
    keys = {job.key for job in jobs}
    for job in jobs:
        after = (aliases or {}).get(job.after, job.after) if job.after is not None else None
        if after is not None and after not in answered and after in keys:
            waiting.setdefault(after, []).append(job)
        else:
            queue.put_nowait(job)
    remaining = len(jobs)
    finished = asyncio.Event()

    async def worker() -> None:
        nonlocal remaining
        while True:
            job = await queue.get()
            try:
                await run_one(job)
            except Exception:  # run_one records its own outcome; a worker that died would shrink the pool
                pass
            finally:
                for follower in waiting.pop(job.key, []):
                    queue.put_nowait(follower)
                remaining -= 1
                if remaining == 0:
                    finished.set()

    tasks = [asyncio.create_task(worker()) for _ in range(min(workers, len(jobs)))]
    try:
        await finished.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
