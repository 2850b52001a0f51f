"""--llmeval-max-cost as a hard cap: each request reserves its estimated cost before it is sent."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_llmeval._core.counters import Counters
from pytest_llmeval._engine.budget import DEFAULT_COMPLETION_CAP, Budget, Ledger
from pytest_llmeval._engine.pricing import Price, PriceTable

# 1 USD per 1M input tokens, 2 USD per 1M output tokens.
PRICES = PriceTable({"priced": Price(1.0, 2.0)})


def test_no_limit_reserves_and_refuses_nothing() -> None:
    budget = Budget(None, PRICES, Counters())
    assert budget.reserve("priced", 10**9, 10**9) == (0.0, None)
    assert budget.reserve("unpriced", 1, 1) == (0.0, None)


def test_an_unpriced_model_is_refused_naming_the_price_option() -> None:
    reservation, reason = Budget(10.0, PRICES, Counters()).reserve("my-local-llama", 10, 10)
    assert reservation == 0.0 and reason is not None
    assert "'my-local-llama'" in reason and "--llmeval-prices" in reason and "--llmeval-max-cost" in reason


def test_a_reservation_is_the_prompt_and_the_completion_cap_priced() -> None:
    budget = Budget(1.0, PRICES, Counters())
    reservation, reason = budget.reserve("priced", 1000, 500)
    assert reason is None and reservation == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)


def test_without_a_cap_the_estimate_leans_high() -> None:
    reservation, _ = Budget(1.0, PRICES, Counters()).reserve("priced", 0, None)
    assert reservation == pytest.approx(DEFAULT_COMPLETION_CAP * 2.0 / 1e6)


def test_requests_in_flight_hold_the_budget_until_they_settle() -> None:
    # Each request may cost 0.2; with 0.5 to spend only two may be in flight at once.
    budget = Budget(0.5, PRICES, Counters())
    first = budget.reserve("priced", 0, 100_000)
    second = budget.reserve("priced", 0, 100_000)
    third = budget.reserve("priced", 0, 100_000)
    assert first[1] is None and second[1] is None
    assert third[0] == 0.0 and third[1] is not None
    assert third[1].startswith("budget reached: this run spent $0.0000 and $0.4000 is reserved")
    budget.settle(first[0], 0.05)  # the answer was cheaper than its estimate: room again
    assert budget.reserve("priced", 0, 100_000)[1] is None


def test_spend_never_goes_down() -> None:
    budget = Budget(1.0, PRICES, Counters())
    reservation, _ = budget.reserve("priced", 0, 10)
    budget.settle(reservation, -5.0)  # a server reporting negative usage
    with budget._ledger.locked() as ledger:
        assert ledger.spent == 0.0 and ledger.reserved == pytest.approx(0.0)


def _reserve_many(path: str, count: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    budget = Budget(1.0, PRICES, Counters(), Path(path))
    granted = 0
    for _ in range(count):
        reservation, reason = budget.reserve("priced", 0, 50_000)  # 0.1 each
        if reason is None:
            granted += 1
            budget.settle(reservation, reservation)
    results.put(granted)


def test_the_ledger_holds_across_processes(tmp_path: Path) -> None:
    # Two "workers" race for a budget of 1.0 in steps of 0.1: together they get exactly 10.
    ledger = tmp_path / "budget.json"
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [multiprocessing.Process(target=_reserve_many, args=(str(ledger), 20, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sum(results.get(timeout=5) for _ in workers) == 10
    assert json.loads(ledger.read_text())["spent"] == pytest.approx(1.0)


def test_a_damaged_ledger_starts_again_from_nothing(tmp_path: Path) -> None:
    path = tmp_path / "budget.json"
    path.write_text("{not json")
    with Ledger(path).locked() as ledger:
        assert (ledger.spent, ledger.reserved) == (0.0, 0.0)
        ledger.spent = 0.25
    assert json.loads(path.read_text()) == {"spent": 0.25, "reserved": 0.0}
