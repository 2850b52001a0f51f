"""run_jobs: every job once, derived jobs after their parent, at most ``workers`` at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence

import pytest

from pytest_llmeval._core.request import Job
from pytest_llmeval._engine.scheduler import run_jobs

GUARD = 2.0
"""Seconds after which a batch that should finish at once is taken as hung (never reached when green)."""


def job(key: str, after: str | None = None) -> Job:
    return Job(key=key, material={}, request=None, after=after)


class Recorder:
    """A ``run_one`` that logs starts and ends and lets other jobs run in between."""

    def __init__(self, steps: int = 3, fail: Collection[str] = ()) -> None:
        self.events: list[tuple[str, str]] = []
        self.in_flight = 0
        self.peak = 0
        self._steps = steps
        self._fail = set(fail)

    async def __call__(self, job: Job) -> None:
        self.events.append(("start", job.key))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(self._steps):
                await asyncio.sleep(0)  # a chance for every other worker to take a job
            if job.key in self._fail:
                raise RuntimeError(f"{job.key} broke")
        finally:
            self.in_flight -= 1
            self.events.append(("end", job.key))

    def started(self) -> list[str]:
        return [key for event, key in self.events if event == "start"]

    def at(self, event: str, key: str) -> int:
        return self.events.index((event, key))


def run(
    jobs: Sequence[Job],
    workers: int,
    run_one: Callable[[Job], Awaitable[None]],
    answered: Collection[str] = (),
    guard: float = GUARD,
) -> None:
    async def main() -> None:
        await asyncio.wait_for(run_jobs(jobs, workers, run_one, answered), guard)

    asyncio.run(main())


def test_no_jobs_return_at_once() -> None:
    recorder = Recorder()
    run([], 4, recorder)
    assert recorder.events == []


def test_every_job_runs_exactly_once() -> None:
    recorder = Recorder()
    keys = [f"k{i}" for i in range(25)]
    run([job(k) for k in keys], 4, recorder)
    assert sorted(recorder.started()) == sorted(keys)
    assert len(recorder.events) == 50


def test_a_follower_starts_only_after_its_parent_finished() -> None:
    recorder = Recorder()
    # The follower comes first and there are idle workers: it still waits for "parent".
    run([job("follower", after="parent"), job("parent"), job("other")], 4, recorder)
    assert recorder.at("end", "parent") < recorder.at("start", "follower")
    assert sorted(recorder.started()) == ["follower", "other", "parent"]


def test_a_chain_runs_in_order() -> None:
    recorder = Recorder()
    run([job("c", after="b"), job("b", after="a"), job("a")], 3, recorder)
    assert recorder.at("end", "a") < recorder.at("start", "b")
    assert recorder.at("end", "b") < recorder.at("start", "c")


def test_every_follower_of_a_parent_is_released() -> None:
    recorder = Recorder()
    followers = [job(f"judge{i}", after="gen") for i in range(5)]
    run([*followers, job("gen")], 3, recorder)
    assert sorted(recorder.started()) == sorted(["gen", *(f.key for f in followers)])
    assert all(recorder.at("end", "gen") < recorder.at("start", f.key) for f in followers)


def test_followers_of_an_answered_parent_run_at_once() -> None:
    # "gen" is in the batch but its answer is already in (e.g. from the cache): the judge need not
    # wait for it. The proof is that "gen" cannot finish until the judge has started.
    judge_started = asyncio.Event()
    events: list[str] = []

    async def run_one(j: Job) -> None:
        events.append(f"start {j.key}")
        if j.key == "judge":
            judge_started.set()
        else:
            await judge_started.wait()
        events.append(f"end {j.key}")

    run([job("gen"), job("judge", after="gen")], 2, run_one, answered={"gen"})
    assert events.index("start judge") < events.index("end gen")


def test_a_parent_outside_the_batch_does_not_hold_its_follower() -> None:
    recorder = Recorder()
    run([job("judge", after="elsewhere")], 2, recorder)
    assert recorder.started() == ["judge"]


@pytest.mark.parametrize(("workers", "jobs"), [(1, 6), (3, 12), (4, 4), (8, 3)])
def test_at_most_workers_jobs_run_at_once(workers: int, jobs: int) -> None:
    recorder = Recorder(steps=5)
    run([job(f"k{i}") for i in range(jobs)], workers, recorder)
    assert recorder.peak == min(workers, jobs)
    assert len(recorder.started()) == jobs


def test_followers_of_a_failed_job_still_run_on_another_worker() -> None:
    recorder = Recorder(fail={"gen"})
    run([job("gen"), job("judge", after="gen"), job("other")], 2, recorder)
    assert sorted(recorder.started()) == ["gen", "judge", "other"]
    assert recorder.at("end", "gen") < recorder.at("start", "judge")


def test_a_failed_job_does_not_stall_the_batch() -> None:
    recorder = Recorder(fail={"gen"})
    try:
        run([job("gen"), job("judge", after="gen")], 1, recorder, guard=0.2)  # done in microseconds if at all
    except TimeoutError:
        pytest.fail(f"run_jobs hung after a job raised; started: {recorder.started()}")
    except RuntimeError:
        pass  # reporting the error is fine too; the follower must have run either way
    assert recorder.started() == ["gen", "judge"]
