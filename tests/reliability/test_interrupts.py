"""Interrupts: SIGINT and SIGTERM at seeded random moments of generation and of grading.

One project is run again and again against the loopback server (with latency, so generation
takes a while) and stopped each time: during generation once the server has seen a chosen
number of requests, or during grading once a chosen number of samples was graded (a slow
custom grader logs each one), plus a seeded few milliseconds. After every interrupt:

- the run ended by itself (bounded), and said nothing noisy;
- every cache entry parses and no temporary file is left in the cache folder;
- the saved baseline is byte for byte the one the last complete run wrote;
- a report written by the interrupted run parses and says it is partial;
- no ``llmeval-run-*`` folder is left in the temporary folder;
- the run sent only what the cache did not hold before it (a re-run sends only what is missing).
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackServer, last_user_text
from sessions import Session, bdd_project, cache_state, jsonl, result_of, run_folders, run_pytest, shared, write

SEED = 20261121
CASES = 16
INTERRUPTS = 20
CHAINS = 2
"""The interrupts run as independent chains (a project and a server each), so they overlap."""
BOUND = 60.0

FEATURE = """
    Feature: interrupted
      @dataset:rows.jsonl
      Scenario: interrupted
        Given the model "m"
        When the user says "<q>"
        Then the answer contains "ok"
        And the answer passes "slow"
"""

CONFTEST = """
    import os, time
    import pytest_llmeval

    @pytest_llmeval.grader("slow")
    def slow(sample, item):
        time.sleep(0.05)  # a window of a few hundred ms after the chosen sample, even on a loaded machine
        with open(os.path.join(os.path.dirname(__file__), "graded.log"), "a") as log:
            log.write(item["id"] + "\\n")
        return 1.0
"""


@dataclass
class Interrupt:
    """One planned interrupt."""

    signum: int
    phase: str
    """``generation`` or ``grading``."""
    after: int
    """Requests seen (generation) or samples graded (grading) before the signal."""
    jitter: float

    def describe(self) -> str:
        return f"{signal.Signals(self.signum).name} in {self.phase} after {self.after} (+{self.jitter * 1000:.0f} ms)"


def plan(rng: random.Random, count: int, offset: int = 0) -> list[Interrupt]:
    """``count`` interrupts: both signals in both phases, in a seeded order and at seeded moments."""
    kinds = [(s, p) for s in (signal.SIGINT, signal.SIGTERM) for p in ("generation", "grading")]
    chosen = [kinds[(i + offset * count) % len(kinds)] for i in range(count)]
    rng.shuffle(chosen)
    return [Interrupt(s, p, rng.randint(1, 10), rng.uniform(0.0, 0.05)) for s, p in chosen]


class Runs:
    """The project, its server and the checks after each run."""

    def __init__(self, folder: Path, server: LoopbackServer, extra: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.server = server
        self.extra = extra
        bdd_project(folder, FEATURE, name="interrupted")
        write(folder, "features/rows.jsonl", jsonl({"id": f"c{i}", "q": f"ask {i}"} for i in range(CASES)))
        write(folder, "conftest.py", CONFTEST)
        self.cache = folder / ".llmeval-cache"
        self.baseline = folder / "base.json"
        self.report = folder / "llmeval-report" / "llmeval-report.json"
        self.markdown = folder / "llmeval-report" / "llmeval-report.md"
        self.tmp = folder / "tmp"

    @property
    def graded(self) -> int:
        log = self.folder / "graded.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def run(self, trigger: Callable[[], bool] | None = None, signum: int = signal.SIGINT) -> Session:
        (self.folder / "graded.log").unlink(missing_ok=True)
        return run_pytest(
            self.folder,
            f"--llmeval-base-url={self.server.url}",
            "--llmeval-concurrency=3",
            f"--llmeval-save-baseline={self.baseline}",
            "--llmeval-report=json,md",
            "-q",
            *self.extra,
            timeout=BOUND,
            tmpdir=self.tmp,
            interrupt=None if trigger is None else (signum, BOUND / 2),
            interrupt_when=trigger,
        )

    def sent_since(self, start: int) -> list[str]:
        return [last_user_text(r.body) for r in self.server.requests[start:] if isinstance(r.body, dict)]

    def forget(self, rng: random.Random, share: float) -> None:
        """Delete a seeded share of the cache entries, so the next run has something to generate."""
        for path in cache_state(self.cache).entries:
            if rng.random() < share:
                path.unlink()


INTERRUPT_NOISE = ("Traceback (most recent call last)", "INTERNALERROR", "During handling of")
"""Noise after an interrupt (pytest's own ``KeyboardInterrupt`` location line is not noise)."""


def findings(
    runs: Runs, session: Session, what: str, cached_before: set[str], sent: list[str], strays_before: set[str]
) -> dict[str, Any]:
    """What an interrupted run left behind, as plain data (checked by the tests)."""
    state = cache_state(runs.cache)
    noise = [line for line in session.output.splitlines() if any(marker in line for marker in INTERRUPT_NOISE)]
    return {
        "what": what,
        "signalled": session.signalled is not None,
        "timed_out": session.timed_out,
        "ret": session.ret,
        "noise": noise[:5],
        "unparsable": [str(p) for p in state.unparsable],
        "strays": sorted({str(p) for p in state.strays} - strays_before),
        "run_folders": [str(p) for p in run_folders(runs.tmp)],
        "resent": sorted(set(sent) & cached_before),
        "sent_twice": len(sent) != len(set(sent)),
        "tail": session.output[-1500:],
    }


def run_interrupts(folder: Path, chain: int) -> dict[str, Any]:
    rng = random.Random(SEED + chain)
    found: list[dict[str, Any]] = []
    with LoopbackServer(max_seconds=600, latency=0.08) as server:
        server.add_rule(None, "ok")
        runs = Runs(folder, server)
        first = runs.run()
        if first.ret != 0:
            return {"first": first.output[-3000:], "interrupts": [], "last": {}}
        saved = runs.baseline.read_bytes()
        for interrupt in plan(rng, INTERRUPTS // CHAINS, offset=chain):
            if interrupt.phase == "generation":  # something to generate; a grading run may find a full cache
                runs.forget(rng, 0.6)
            cached_before = cache_state(runs.cache).user_messages()
            strays_before = {str(p) for p in cache_state(runs.cache).strays}
            missing = CASES - len(cached_before)
            start = server.total_requests
            report_before = runs.report.stat().st_mtime_ns if runs.report.exists() else None
            deadline: list[float] = []

            def trigger(
                interrupt: Interrupt = interrupt,
                start: int = start,
                deadline: list[float] = deadline,
                missing: int = missing,
            ) -> bool:
                if not deadline:
                    reached = (
                        server.total_requests - start >= min(interrupt.after, missing)
                        if interrupt.phase == "generation"
                        else runs.graded >= interrupt.after
                    )
                    if reached:
                        deadline.append(time.monotonic() + interrupt.jitter)
                return bool(deadline) and time.monotonic() >= deadline[0]

            session = runs.run(trigger, interrupt.signum)
            sent = runs.sent_since(start)
            result = findings(runs, session, interrupt.describe(), cached_before, sent, strays_before)
            result["phase"] = interrupt.phase
            result["signal"] = signal.Signals(interrupt.signum).name
            result["baseline_kept"] = runs.baseline.read_bytes() == saved
            saved = runs.baseline.read_bytes()  # what the next run must leave alone
            written = runs.report.exists() and runs.report.stat().st_mtime_ns != report_before
            result["report_written"] = written
            if written:
                try:
                    report = json.loads(runs.report.read_text())
                    result["report_partial"] = bool(report.get("partial"))
                except ValueError:
                    result["report_partial"] = "unparsable"
                result["markdown_partial"] = "partial" in runs.markdown.read_text().lower()
            found.append(result)
        # Whatever was interrupted, a complete run finishes the job and sends only what is missing.
        cached_before = cache_state(runs.cache).user_messages()
        start = server.total_requests
        last = runs.run()
        sent = runs.sent_since(start)
        return {
            "first": None,
            "interrupts": found,
            "last": {
                "ret": last.ret,
                "tail": last.output[-3000:],
                "sent": sorted(sent),
                "missing": sorted({f"ask {i}" for i in range(CASES)} - cached_before),
                "entries": len(cache_state(runs.cache).entries),
            },
        }


def run_interrupts_xdist(folder: Path) -> dict[str, Any]:
    """Under ``-n 2`` too: a complete run, then SIGINT and SIGTERM during generation."""
    found: list[dict[str, Any]] = []
    with LoopbackServer(max_seconds=300, latency=0.08) as server:
        server.add_rule(None, "ok")
        runs = Runs(folder, server)
        first = runs.run()  # the baseline and most of the cache, from a plain run
        runs.extra = ("-n", "2")
        if first.ret != 0:
            return {"first": first.output[-3000:], "interrupts": []}
        saved = runs.baseline.read_bytes()
        rng = random.Random(SEED)
        for signum in (signal.SIGINT, signal.SIGTERM):
            runs.forget(rng, 0.7)
            cached_before = cache_state(runs.cache).user_messages()
            strays_before = {str(p) for p in cache_state(runs.cache).strays}
            start = server.total_requests
            session = runs.run(lambda start=start: server.total_requests - start >= 3, signum)  # type: ignore[misc]
            sent = runs.sent_since(start)
            result = findings(runs, session, signal.Signals(signum).name, cached_before, sent, strays_before)
            result["baseline_kept"] = runs.baseline.read_bytes() == saved
            saved = runs.baseline.read_bytes()  # what the next run must leave alone
            found.append(result)
    return {"first": None, "interrupts": found}


for _chain in range(CHAINS):
    shared(
        f"interrupted_{_chain}",
        f"interrupted-{_chain}",
        lambda folder, chain=_chain: run_interrupts(folder, chain),
        used_by=["interrupted"],
    )
shared("interrupted_xdist", "interrupted-xdist", run_interrupts_xdist)


@pytest.fixture
def interrupted(shared_root: Path) -> dict[str, Any]:
    """Every chain's interrupts together, and each chain's last complete run."""
    chains = [result_of(shared_root, f"interrupted_{chain}") for chain in range(CHAINS)]
    firsts = [c["first"] for c in chains if c["first"] is not None]
    return {
        "first": firsts[0] if firsts else None,
        "interrupts": [r for c in chains for r in c["interrupts"]],
        "lasts": [c["last"] for c in chains],
    }


@pytest.fixture
def interrupted_xdist(shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, "interrupted_xdist")


def check(result: dict[str, Any]) -> None:
    what = result["what"]
    assert result["signalled"], f"{what}: the run ended before the signal:\n{result['tail']}"
    assert not result["timed_out"], f"{what}: the run did not end within {BOUND} s after the signal"
    assert result["ret"] not in (0, None), f"{what}: exit code {result['ret']}"
    assert result["noise"] == [], f"{what}: {result['noise']}"
    assert result["unparsable"] == [], f"{what}: half-written cache entries"
    assert result["run_folders"] == [], f"{what}: run folders left in the temporary folder"
    assert result["resent"] == [], f"{what}: sent again although cached"
    assert not result["sent_twice"], f"{what}: a request was sent twice in one run"
    assert result["baseline_kept"], f"{what}: the saved baseline was replaced by an interrupted run"


def test_interrupts_never_leave_half_written_files(interrupted: dict[str, Any]) -> None:
    assert interrupted["first"] is None, interrupted["first"]
    results = interrupted["interrupts"]
    assert len(results) == INTERRUPTS
    for result in results:
        check(result)
        assert result["strays"] == [], f"{result['what']}: temporary files left in the cache folder"
        if result["report_written"]:
            assert result["report_partial"] is True, f"{result['what']}: the report does not say it is partial"
            assert result["markdown_partial"], f"{result['what']}: the Markdown report does not say it is partial"
    assert {(r["signal"], r["phase"]) for r in results} == {
        (s, p) for s in ("SIGINT", "SIGTERM") for p in ("generation", "grading")
    }


def test_sigterm_ends_a_plain_run_as_ctrl_c_does(interrupted: dict[str, Any]) -> None:
    terms = [r for r in interrupted["interrupts"] if r["signal"] == "SIGTERM"]
    assert terms
    for result in terms:
        assert result["ret"] == 2, f"{result['what']}: exit code {result['ret']}"
        assert result["strays"] == [], f"{result['what']}: temporary files left in the cache folder"


def test_after_the_interrupts_a_run_sends_only_what_is_missing(interrupted: dict[str, Any]) -> None:
    for last in interrupted["lasts"]:
        assert last["ret"] == 0, last["tail"]
        assert last["sent"] == last["missing"]
        assert last["entries"] == CASES


def test_interrupts_under_xdist(interrupted_xdist: dict[str, Any]) -> None:
    assert interrupted_xdist["first"] is None, interrupted_xdist["first"]
    assert len(interrupted_xdist["interrupts"]) == 2
    for result in interrupted_xdist["interrupts"]:
        check(result)
        assert result["strays"] == [], f"{result['what']}: temporary files left in the cache folder"


MOMENT = """
    import os, signal, time

    def pytest_bdd_before_step(request, feature, scenario, step, step_func):
        if request.node.name.endswith("[c3]") and step.keyword.strip() == "{keyword}":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, at this precise moment
            time.sleep(2)
"""


def run_ctrl_c_at(folder: Path, keyword: str) -> dict[str, Any]:
    with LoopbackServer(max_seconds=120) as server:
        server.add_rule(None, "ok")
        runs = Runs(folder, server)
        write(folder, "conftest_moment.py", MOMENT.format(keyword=keyword))
        (folder / "conftest.py").write_text((folder / "conftest.py").read_text() + "\nfrom conftest_moment import *\n")
        session = runs.run()
    report = json.loads(runs.report.read_text()) if runs.report.exists() else None
    return {
        "ret": session.ret,
        "timed_out": session.timed_out,
        "tail": session.output[-2500:],
        "baseline": runs.baseline.exists(),
        "partial": None if report is None else report.get("partial"),
    }


shared("ctrl_c_in_when", "ctrl-c-in-when", lambda folder: run_ctrl_c_at(folder, "When"), used_by=["ctrl_c"])
shared("ctrl_c_in_then", "ctrl-c-in-then", lambda folder: run_ctrl_c_at(folder, "Then"), used_by=["ctrl_c"])


@pytest.fixture(params=["When", "Then"])
def ctrl_c(request: pytest.FixtureRequest, shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, f"ctrl_c_in_{str(request.param).lower()}")


def test_ctrl_c_in_a_step_ends_the_run(ctrl_c: dict[str, Any]) -> None:
    assert not ctrl_c["timed_out"]
    assert ctrl_c["ret"] == 2, f"exit code {ctrl_c['ret']}:\n{ctrl_c['tail']}"
    assert not ctrl_c["baseline"], "an interrupted run wrote a baseline"
    assert ctrl_c["partial"] in (None, "interrupted"), ctrl_c["partial"]
