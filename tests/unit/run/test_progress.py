"""The progress line: its text, when it shows an ETA, and where and how often it is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_llmeval._core.counters import Counters
from pytest_llmeval._run.progress import Progress, describe


def test_the_line_shows_every_counter() -> None:
    counters = Counters(total=1000, done=350, cached=120, in_flight=64, retries=3, errors=2, tokens=45120, spent=0.0123)
    line = describe(counters, elapsed=23.0)
    assert line.startswith(
        "llmeval: 350/1000 answered (120 cached) | 64 in flight | 3 retries | 2 errors | 45,120 tokens | $0.0123"
    )


def test_the_eta_is_from_what_was_sent_not_from_the_cache() -> None:
    # 230 sent in 23 s: 0.1 s each; 650 remain -> 65 s. Cached answers took no time and do not count.
    counters = Counters(total=1000, done=350, cached=120)
    assert describe(counters, elapsed=23.0).endswith("| $0.0000 | ETA 65s")


def test_a_long_eta_is_in_minutes() -> None:
    assert describe(Counters(total=100, done=10), elapsed=60.0).endswith("| ETA 9m")  # 540 s
    assert describe(Counters(total=100, done=50), elapsed=119.0).endswith("| ETA 119s")


@pytest.mark.parametrize(
    "counters",
    [
        pytest.param(Counters(total=10, done=0), id="nothing answered yet"),
        pytest.param(Counters(total=10, done=4, cached=4), id="only cache hits so far"),
        pytest.param(Counters(total=10, done=10, cached=2), id="nothing remains"),
    ],
)
def test_no_eta_unless_something_was_sent_and_something_remains(counters: Counters) -> None:
    assert "ETA" not in describe(counters, elapsed=5.0)
    assert describe(counters, elapsed=5.0).endswith("tokens | $0.0000")


# ---- Progress, through a stand-in for pytest's terminal reporter --------------------------


@dataclass
class Reporter:
    tty: bool
    calls: list[tuple[str, str]] = field(default_factory=list)

    def isatty(self) -> bool:
        return self.tty

    def write_line(self, line: str, **markup: Any) -> None:
        self.calls.append(("write_line", line))

    def rewrite(self, line: str, **markup: Any) -> None:
        self.calls.append(("rewrite", line))


def progress(reporter: Reporter | None, verbosity: int = 0) -> Progress:
    config = SimpleNamespace(
        pluginmanager=SimpleNamespace(get_plugin=lambda name: reporter if name == "terminalreporter" else None),
        get_verbosity=lambda: verbosity,
    )
    return Progress(config)  # type: ignore[arg-type]


def test_quiet_runs_and_runs_without_a_terminal_reporter_write_nothing() -> None:
    reporter = Reporter(tty=False)
    progress(reporter, verbosity=-1).update(Counters(total=3, done=3), final=True)
    assert reporter.calls == []
    progress(None).update(Counters(total=3, done=3), final=True)  # no reporter: no crash either


def test_nothing_to_generate_shows_no_line_until_the_end() -> None:
    reporter = Reporter(tty=False)
    meter = progress(reporter)
    meter.update(Counters())
    assert reporter.calls == []
    meter.update(Counters(), final=True)
    ((kind, line),) = reporter.calls
    assert kind == "write_line" and re.fullmatch(r"llmeval: 0/0 answered .* \| \$0\.0000 in \d+s", line)


def test_in_a_log_lines_are_plain_and_spaced_out() -> None:
    reporter = Reporter(tty=False)
    meter = progress(reporter)
    meter.update(Counters(total=3, done=1))
    meter.update(Counters(total=3, done=2))  # within PLAIN_EVERY of the first: not written
    meter.update(Counters(total=3, done=3), final=True)  # the last line is always written
    assert [kind for kind, _ in reporter.calls] == ["write_line", "write_line"]
    assert reporter.calls[0][1].startswith("llmeval: 1/3 answered")
    assert reporter.calls[1][1].startswith("llmeval: 3/3 answered") and " in " in reporter.calls[1][1]


def test_on_a_terminal_the_line_is_rewritten_in_place_and_ended_at_the_end() -> None:
    reporter = Reporter(tty=True)
    meter = progress(reporter)
    meter.update(Counters(total=3, done=1))
    meter.update(Counters(total=3, done=3), final=True)
    assert [kind for kind, _ in reporter.calls] == ["write_line", "rewrite", "rewrite", "write_line"]
    assert reporter.calls[0][1] == "" and reporter.calls[-1][1] == ""  # a line of its own, then a newline
    assert reporter.calls[2][1].startswith("llmeval: 3/3 answered")
