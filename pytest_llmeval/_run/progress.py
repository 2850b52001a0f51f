"""The progress line while answers are generated: a live line on a terminal, plain lines in CI.

::

    llmeval: 350/1000 answered (120 cached) | 64 in flight | 3 retries | 0 errors | 45,120 tokens | $0.0123 | ETA 12s
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .._core.counters import Counters

PLAIN_EVERY = 10.0
"""Seconds between lines when the output is not a terminal (a CI log)."""


def describe(counters: Counters, elapsed: float) -> str:
    fresh = counters.fresh
    remaining = counters.total - counters.done
    eta = "" if not fresh or not remaining else f" | ETA {_seconds(elapsed / fresh * remaining)}"
    waiting = f" | {counters.waiting} waiting on a rate limit" if counters.waiting else ""
    return (
        f"llmeval: {counters.done}/{counters.total} answered ({counters.cached} cached) | "
        f"{counters.in_flight} in flight{waiting} | {counters.retries} retries | {counters.errors} errors | "
        f"{counters.tokens:,} tokens | ${counters.spent:.4f}{eta}"
    )


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value < 120 else f"{value / 60:.0f}m"


class Progress:
    """Writes the progress line through pytest's terminal reporter (nothing with ``-q``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
        self.quiet = config.get_verbosity() < 0 or self.reporter is None
        self.tty = bool(self.reporter is not None and self.reporter.isatty())
        self.started = time.monotonic()
        self._last = float("-inf")
        self._shown = False

    def update(self, counters: Counters, *, final: bool = False) -> None:
        if self.quiet or (not final and not counters.total):
            return
        now = time.monotonic()
        if not final and now - self._last < (0.2 if self.tty else PLAIN_EVERY):
            return
        self._last = now
        line = describe(counters, now - self.started)
        if final:
            line += f" in {_seconds(now - self.started)}"
        if self.tty:
            if not self._shown:
                self.reporter.write_line("")
            self.reporter.rewrite(line, erase=True)
            if final:
                self.reporter.write_line("")
        else:
            self.reporter.write_line(line)
        self._shown = True
