"""``--llmeval-max-cost``: a hard cap on what the run spends, every xdist worker included.

Checking the spend before each request is not enough when 64 requests are in flight: each
sees the budget still open and all of them are paid. So each request **reserves** its
estimated cost (its prompt, estimated from its characters, plus its completion cap,
priced) before it is sent, and the reservation is replaced by the real cost when the
answer is in. A request whose reservation would pass the cap is not sent. Under
pytest-xdist the reservations and the spend live in one ledger file in the run folder,
changed under a file lock, so the cap holds for the whole run: the spend can pass it only
by what an answer cost beyond its estimate.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._core.counters import Counters
from .pricing import PriceTable

DEFAULT_COMPLETION_CAP = 4096
"""Completion tokens a request is assumed to use when it sets no ``max_tokens`` (a budget is a
promise: the estimate leans high)."""


@dataclass
class Ledger:
    """Spend and reservations: this process's, or (with ``path``) every worker's in one file."""

    path: Path | None = None
    spent: float = 0.0
    reserved: float = 0.0

    @contextlib.contextmanager
    def locked(self) -> Iterator[Ledger]:
        """The ledger as it stands, changed in place and written back (under a lock, when shared)."""
        if self.path is None:
            yield self
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    self.spent, self.reserved = float(data["spent"]), float(data["reserved"])
                except (OSError, ValueError, KeyError, TypeError):
                    self.spent, self.reserved = 0.0, 0.0
                yield self
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"spent": self.spent, "reserved": max(0.0, self.reserved)}))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class Budget:
    """Reserves each request's estimated cost before it is sent; refuses it past the cap."""

    def __init__(self, limit: float | None, prices: PriceTable, meter: Counters, ledger: Path | None = None) -> None:
        self.limit = limit
        self.prices = prices
        self.meter = meter
        self._ledger = Ledger(ledger)

    def reserve(self, model: str, prompt_tokens: int, completion_cap: int | None) -> tuple[float, str | None]:
        """(the reservation, None) when the request may go; (0, why not) when it may not."""
        if self.limit is None:
            return 0.0, None
        price = self.prices.lookup(model)
        if price is None:
            return 0.0, f"no price for model {model!r}, so --llmeval-max-cost cannot hold: add it with --llmeval-prices"
        estimate = price.cost(prompt_tokens, completion_cap if completion_cap is not None else DEFAULT_COMPLETION_CAP)
        with self._ledger.locked() as ledger:
            committed = ledger.spent + ledger.reserved
            if committed + estimate > self.limit:
                held = f" and ${ledger.reserved:.4f} is reserved by requests in flight" if ledger.reserved else ""
                return 0.0, (
                    f"budget reached: this run spent ${ledger.spent:.4f}{held} of --llmeval-max-cost "
                    f"${self.limit:.4f}; this request could cost ${estimate:.4f}"
                )
            ledger.reserved += estimate
        return estimate, None

    def settle(self, reservation: float, cost: float) -> None:
        """Replace a reservation by what the answer cost (never less than nothing)."""
        if self.limit is None:
            return
        with self._ledger.locked() as ledger:
            ledger.reserved -= reservation
            ledger.spent += max(0.0, cost)
