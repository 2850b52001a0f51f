"""Counters travel in heartbeat files and are added up across workers: the codec and the sums."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest

from pytest_llmeval._core.counters import Counters, sum_counters

FULL = Counters(total=10, done=7, cached=2, in_flight=3, retries=4, errors=1, rate_limited=5, tokens=1234, spent=0.375)
"""Every field set to a different non-default value, so a dropped or swapped field shows."""


def test_to_dict_names_every_field() -> None:
    assert set(FULL.to_dict()) == {f.name for f in fields(Counters)}
    assert FULL.to_dict()["tokens"] == 1234


def test_round_trip_through_a_heartbeat_file() -> None:
    # A heartbeat is JSON on disk, plus keys of its own ("at", "finished") that are not counters.
    state = json.loads(json.dumps({**FULL.to_dict(), "at": 1.5, "finished": True}))
    assert Counters.from_dict(state) == FULL


def test_from_an_empty_heartbeat_is_zero() -> None:
    assert Counters.from_dict({}) == Counters()


@pytest.mark.parametrize(
    "data",
    [
        {"done": "3"},
        {"done": None},
        {"done": [3]},
        {"done": {"n": 3}},
        {"done": True},  # a bool is an int to Python, not a count
        {"spent": "0.5"},
        {"spent": False},
        {"unknown": 99},
    ],
)
def test_malformed_entries_are_ignored(data: dict[str, Any]) -> None:
    assert Counters.from_dict({**data, "total": 4}) == Counters(total=4)


def test_types_are_normalised() -> None:
    counters = Counters.from_dict({"done": 3.0, "spent": 2})
    assert counters.done == 3 and type(counters.done) is int
    assert counters.spent == 2.0 and type(counters.spent) is float


def test_non_finite_numbers_in_a_damaged_heartbeat_are_ignored() -> None:
    state = json.loads('{"done": NaN, "tokens": Infinity, "total": 4}')
    assert Counters.from_dict(state) == Counters(total=4)


def test_addition_adds_every_field_and_leaves_the_operands_alone() -> None:
    other = Counters(total=1, done=2, cached=3, in_flight=4, retries=5, errors=6, rate_limited=7, tokens=8, spent=0.125)
    total = FULL + other
    assert total == Counters(
        total=11, done=9, cached=5, in_flight=7, retries=9, errors=7, rate_limited=12, tokens=1242, spent=0.5
    )
    assert FULL.done == 7 and other.done == 2


def test_sum_counters() -> None:
    parts = [Counters(done=1, spent=0.25), Counters(done=2, cached=1), Counters(total=5, spent=0.5)]
    assert sum_counters(parts) == Counters(total=5, done=3, cached=1, spent=0.75)
    assert sum_counters([]) == Counters()
    assert sum_counters(iter([FULL])) == FULL  # any iterable, e.g. a generator of heartbeats


def test_fresh_is_done_minus_cached_and_sent_is_counted_apart() -> None:
    # A replay miss or a budget stop is done and not cached, yet nothing went to the network.
    assert Counters(done=7, cached=2, sent=3).fresh == 5
    assert Counters(done=7, cached=2, sent=3).sent == 3
    assert sum_counters([Counters(done=4, cached=1, sent=3), Counters(done=2, sent=2)]).sent == 5


def test_learned_limits_are_not_added_up() -> None:
    both = Counters(learned_requests=600) + Counters(learned_requests=600)
    assert both.learned_requests == 600
