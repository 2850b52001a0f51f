"""What generation did, counted: one typed value for the engine, the xdist heartbeats,
the progress line and the end-of-run ``requests:`` line.

::

    counters = Counters(total=10, done=4, cached=1)
    Counters.from_dict(counters.to_dict()) == counters      # how a heartbeat carries them
    sum_counters([a, b]).done                                # every worker's, added up
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Counters:
    """Requests and their outcomes so far (mutable: the engine counts into it as it goes)."""

    total: int = 0
    """Requests planned or asked for (each distinct request once): ``planned + asked``."""
    planned: int = 0
    """Requests planned before the tests."""
    asked: int = 0
    """Requests the tests asked for that were not planned (``llm.ask``, later adaptive rounds, judges at check)."""
    sent: int = 0
    """Requests that went to the network (or target calls made): not cache hits, replay misses or budget stops."""
    done: int = 0
    """Requests with an outcome: answered, errored or served from the cache."""
    cached: int = 0
    """Of ``done``, served from the response cache."""
    in_flight: int = 0
    """Requests on the network right now."""
    retries: int = 0
    errors: int = 0
    """Requests that ended without an answer."""
    rate_limited: int = 0
    """Responses 429 that were rate limits."""
    waiting: int = 0
    """Requests waiting right now to try again after a rate limit."""
    rate_waits: int = 0
    """Times a request waited on a rate limit (none of them used up a retry)."""
    waited_s: float = 0.0
    """Seconds those waits added up to."""
    tokens: int = 0
    spent: float = 0.0
    """US dollars, priced from the table."""
    learned_requests: int = 0
    """The server's request limit, from its x-ratelimit headers (0: never said)."""
    learned_tokens: int = 0
    """The server's token limit, likewise."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counters:
        """Counters from a heartbeat; unknown or malformed entries are ignored, not fatal."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                values[f.name] = float(value) if f.name in _FLOATS else int(value)
        return cls(**values)

    def __add__(self, other: Counters) -> Counters:
        # Every worker sees the same server, so its limits are the same number, not a share.
        values: dict[str, Any] = {
            f.name: (max if f.name in _LIMITS else _plus)(getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
        }
        return Counters(**values)

    @property
    def fresh(self) -> int:
        """Outcomes that did not come from the cache (for the ETA)."""
        return self.done - self.cached


_FLOATS = frozenset({"spent", "waited_s"})
_LIMITS = frozenset({"learned_requests", "learned_tokens"})


def _plus(a: float, b: float) -> float:
    return a + b


def sum_counters(parts: Iterable[Counters]) -> Counters:
    total = Counters()
    for part in parts:
        total = total + part
    return total
