"""--llmeval-max-cost: the check made before each request, over this worker's and the others' spend."""

from __future__ import annotations

import types

import pytest

from pytest_llmeval._core.counters import Counters
from pytest_llmeval._engine import budget as budget_module
from pytest_llmeval._engine.budget import Budget
from pytest_llmeval._engine.pricing import Price, PriceTable

PRICES = PriceTable({"priced": Price(1.0, 2.0)})


class Others:
    """The other workers' spend as their heartbeats give it, counting how often it is read."""

    def __init__(self, spent: float = 0.0) -> None:
        self.spent = spent
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.spent


class FakeTime:
    """Stands in for the ``time`` module inside budget.py only."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(budget_module, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_no_limit_refuses_nothing_and_reads_nothing() -> None:
    others = Others(spent=1e9)
    budget = Budget(None, PRICES, Counters(spent=1e9), others)
    assert budget.refusal("priced") is None
    assert budget.refusal("unpriced") is None
    assert others.reads == 0


def test_an_unpriced_model_is_refused_naming_the_price_option() -> None:
    budget = Budget(10.0, PRICES, Counters())
    reason = budget.refusal("my-local-llama")
    assert reason is not None
    assert "'my-local-llama'" in reason
    assert "--llmeval-prices" in reason
    assert "--llmeval-max-cost" in reason


def test_a_priced_model_under_the_limit_may_go() -> None:
    assert Budget(1.0, PRICES, Counters(spent=0.99)).refusal("priced") is None


def test_a_priced_snapshot_is_priced_by_its_base_name() -> None:
    assert Budget(1.0, PRICES, Counters()).refusal("priced-2025-01-31") is None


@pytest.mark.parametrize(("mine", "theirs"), [(1.0, 0.0), (0.0, 1.0), (0.6, 0.4), (0.75, 5.0)])
def test_spent_here_and_elsewhere_at_the_limit_is_refused(mine: float, theirs: float) -> None:
    budget = Budget(1.0, PRICES, Counters(spent=mine), Others(theirs))
    reason = budget.refusal("priced")
    assert reason is not None
    assert reason.startswith("budget reached:")
    assert f"${mine + theirs:.4f}" in reason
    assert "$1.0000" in reason


def test_the_meter_is_read_live() -> None:
    # The engine counts into the same Counters as it goes: no copy is taken at construction.
    meter = Counters()
    budget = Budget(0.5, PRICES, meter)
    assert budget.refusal("priced") is None
    meter.spent = 0.5
    assert budget.refusal("priced") is not None


def test_an_unpriced_model_does_not_read_the_others() -> None:
    others = Others()
    Budget(1.0, PRICES, Counters(), others).refusal("unpriced")
    assert others.reads == 0


def test_the_others_are_read_at_most_twice_a_second(clock: FakeTime) -> None:
    others = Others(spent=0.25)
    budget = Budget(1.0, PRICES, Counters(spent=0.5), others)
    assert budget.refusal("priced") is None
    assert others.reads == 1

    others.spent = 0.5  # now over the limit, but not yet read: the last reading stands
    clock.now += 0.3
    assert budget.refusal("priced") is None
    clock.now += 0.2  # 0.5 s after the reading: still not more than half a second
    assert budget.refusal("priced") is None
    assert others.reads == 1

    clock.now += 0.01
    assert budget.refusal("priced") is not None
    assert others.reads == 2
    assert budget.refusal("priced") is not None
    assert others.reads == 2
