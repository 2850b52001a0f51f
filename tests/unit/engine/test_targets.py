"""The engine's target runner: async on the loop, sync in threads, every failure a sample's error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

from pytest_llmeval._core.request import TargetRequest
from pytest_llmeval._engine.targets import TargetRunner, answer_of


def request(call: Any, sample: int = 0, text: str = "hi") -> TargetRequest:
    case = {"input": text, "messages": [], "row": {}, "model": None, "sample": sample}
    return TargetRequest(target="app", case=case, function="m:app", call=call)


def run(runner: TargetRunner, *requests: TargetRequest) -> list[Any]:
    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(runner.call(r) for r in requests)))

    try:
        return asyncio.run(all_of())
    finally:
        runner.close()


def test_an_async_target_runs_on_the_loop_side_by_side() -> None:
    running, peak = [0], [0]

    async def app(case: Mapping[str, Any]) -> str:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.05)
        running[0] -= 1
        return f"ok {case['sample']}"

    answers = run(TargetRunner(4, 5.0), *(request(app, i) for i in range(8)))
    assert [a.text for a in answers] == [f"ok {i}" for i in range(8)]
    assert peak[0] == 4  # bounded by the runner's concurrency


def test_a_sync_target_runs_in_threads() -> None:
    threads: set[str] = set()
    lock = threading.Lock()

    def app(case: Mapping[str, Any]) -> str:
        with lock:
            threads.add(threading.current_thread().name)
        time.sleep(0.05)
        return "ok"

    answers = run(TargetRunner(3, 5.0), *(request(app, i) for i in range(6)))
    assert all(a.text == "ok" for a in answers)
    assert threads and all(name.startswith("llmeval-target") for name in threads)
    assert 1 < len(threads) <= 3


def test_errors_are_the_samples() -> None:
    def broken(case: Mapping[str, Any]) -> str:
        raise ValueError("no stock")

    def exits(case: Mapping[str, Any]) -> str:
        raise SystemExit(3)

    first, second = run(TargetRunner(2, 5.0), request(broken), request(exits))
    assert first.error == "target raised ValueError: no stock"
    assert second.error == "target raised SystemExit: 3"


def test_a_slow_target_times_out() -> None:
    async def slow(case: Mapping[str, Any]) -> str:
        await asyncio.sleep(10)
        return "late"

    (answer,) = run(TargetRunner(1, 0.1), request(slow))
    assert answer.error == "target 'app' timed out after 0.1 s (--llmeval-timeout)"


def test_a_sync_function_that_returns_a_coroutine_is_awaited() -> None:
    async def inner() -> str:
        return "awaited"

    (answer,) = run(TargetRunner(1, 5.0), request(lambda case: inner()))
    assert answer.text == "awaited"


def test_results_become_answers() -> None:
    assert answer_of("text", 0.1).text == "text"
    assert answer_of({"a": "é"}, 0.1).text == '{"a": "é"}'
    assert answer_of([1, 2], 0.1).text == "[1, 2]"
    assert answer_of(3, 0.1).error == "target returned int; expected str or dict"
    assert answer_of({"a": {1, 2}}, 0.1).error is not None  # a set is no JSON


def test_the_key_leaves_the_function_object_out() -> None:
    one = request(lambda case: "a")
    two = request(lambda case: "b")
    assert one == two and one.material("h") == two.material("h")
    assert one.material("h")["function"] == "m:app"
