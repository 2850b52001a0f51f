"""``--llmeval-max-cost``: no new request once the run (every xdist worker) has spent the budget."""

from __future__ import annotations

import time
from collections.abc import Callable

from .._core.counters import Counters
from .pricing import PriceTable


class Budget:
    """Checks, before each request, what this process and the others have spent.

    ``others`` returns the other workers' spend (from their heartbeats); it is read at
    most twice a second, because it reads files.
    """

    def __init__(
        self, limit: float | None, prices: PriceTable, meter: Counters, others: Callable[[], float] | None = None
    ) -> None:
        self.limit = limit
        self.prices = prices
        self.meter = meter
        self._others = others
        self._others_spent = 0.0
        self._read_at = float("-inf")

    def refusal(self, model: str) -> str | None:
        """Why a request for ``model`` may not be sent now, or None when it may."""
        if self.limit is None:
            return None
        if self.prices.lookup(model) is None:
            return f"no price for model {model!r}, so --llmeval-max-cost cannot hold: add it with --llmeval-prices"
        spent = self.meter.spent + self._spent_elsewhere()
        if spent >= self.limit:
            return f"budget reached: this run spent ${spent:.4f} of --llmeval-max-cost ${self.limit:.4f}"
        return None

    def _spent_elsewhere(self) -> float:
        if self._others is None:
            return 0.0
        now = time.monotonic()
        if now - self._read_at > 0.5:
            self._others_spent = self._others()
            self._read_at = now
        return self._others_spent
