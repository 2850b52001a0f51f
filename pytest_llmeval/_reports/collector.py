"""Controller side: gather every record, then compare, gate, write and print once at the end.

Registered only on the controller (an xdist worker has ``workerinput``): the workers'
records arrive on their test reports, so the terminal section and the files are written
once. What it needs of the run — settings, the cache's damaged entries, the engine's
counters — is handed to it, so reports know nothing of the engine.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from .._case.outcome import STOP_REASON
from .._config.options import Settings
from .._core.counters import Counters
from .._core.records import EvalRecord, RunReport
from .._core.version import VERSION
from .._verdicts import baseline as baselines
from .._verdicts.compare import comparisons, model_summaries
from .._verdicts.gates import gate_failures
from .._verdicts.variants import variant_comparisons, variant_summaries
from . import junit
from .github import append_step_summary
from .runinfo import run_info
from .summary import build_report
from .terminal import comparison_lines, describe_run, terminal_lines
from .variants import variant_lines
from .writers import write_reports


class Collector:
    """Controller-side plugin: gathers records from test reports, prints and writes at the end."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        damaged: Sequence[str],
        counters: Callable[[], Counters | None],
        crashed: Callable[[str, str], EvalRecord | None] = lambda nodeid, crash: None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.damaged = damaged
        """The cache's damaged entries (the list grows during the run)."""
        self.counters = counters
        self.crashed = crashed
        """The stand-in record of a case whose xdist worker crashed (node id, xdist's message)."""
        self.records: dict[str, EvalRecord] = {}
        self.written: list[Path] = []
        self.stop: str | None = None
        self.final: RunReport | None = None
        self.baseline_saved: Path | None = None
        self.baseline_skipped: str | None = None
        self.started = time.time()
        self.step_summary: Path | None = None
        self.step_summary_error: str | None = None
        if settings.fail_on_regression and settings.baseline is None:
            raise pytest.UsageError("--llmeval-fail-on-regression needs --llmeval-baseline PATH to compare with")
        if settings.save_baseline is not None:
            _check_writable(settings.save_baseline)
        self.baseline = None
        if settings.baseline is not None:
            try:
                self.baseline = baselines.load(settings.baseline, VERSION)
            except baselines.BaselineError as exc:
                raise pytest.UsageError(f"--llmeval-baseline: {exc}") from None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        stop = getattr(report, "llmeval_stop", None)
        if stop is not None and self.stop is None:
            self.stop = stop
            # Under xdist the controller's loop decides when to stop; ask it as -x does.
            dsession = self.config.pluginmanager.getplugin("dsession")
            if dsession is not None and not dsession.shouldstop:
                dsession.shouldstop = STOP_REASON
        data = getattr(report, "llmeval_record", None)
        if data is None and str(report.when) == "???" and report.nodeid not in self.records:  # its xdist worker died
            crashed = self.crashed(report.nodeid, str(report.longrepr))
            if crashed is not None:
                self.records[report.nodeid] = crashed
        if data is not None:
            # Keyed by node id: a rerun plugin's second attempt replaces the first.
            self.records[report.nodeid] = EvalRecord.model_validate(data)
            del report.llmeval_record  # pytest keeps every report; one copy of a record is enough

    def report(self) -> RunReport:
        settings = self.settings
        base = build_report(self.records.values(), VERSION)
        records = base.cases
        several = len({r.model for r in records}) > 1
        comparison = None
        if self.baseline is not None and settings.baseline is not None:
            comparison = baselines.compare(self.baseline, records, settings.baseline, settings.alpha)
        summaries = model_summaries(records)
        order = {model: index for index, model in enumerate(settings.models)}
        summaries.sort(key=lambda s: order.get(s.model, len(order)))  # in the order the flags were given
        gates = gate_failures(settings, summaries, comparison)
        return base.model_copy(
            update={
                "models": summaries if several else [],
                "comparisons": comparisons(records, settings.models) if several else [],
                "baseline": comparison,
                "gates": gates,
                "run": run_info(settings, self.started, records),
                **self.variant_results(records),
            }
        )

    def variant_results(self, records: list[EvalRecord]) -> dict[str, object]:
        """Per-variant rates and paired comparisons, when several prompt variants ran."""
        variants = self.settings.prompt_variants
        if len(variants) < 2:
            return {}
        names = [v.name for v in variants]
        return {
            "variants": variant_summaries(records, variants),
            "variant_comparisons": variant_comparisons(records, names, self.settings.alpha),
        }

    @pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_junit(self, session: pytest.Session) -> None:
        """Each case's baseline change into the JUnit file, before pytest's writer writes it."""
        if self.baseline is not None and self.settings.baseline is not None and junit.wanted(self.config):
            records = list(self.records.values())
            comparison = baselines.compare(self.baseline, records, self.settings.baseline, self.settings.alpha)
            junit.add_baseline_status(self.config, comparison)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        settings = self.settings
        if self.stop is not None:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if not self.records:
            return
        partial = partial_reason(session)
        self.final = self.report().model_copy(update={"partial": partial})
        if self.final.gates and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if settings.save_baseline is not None and self.stop is None:
            if partial is None:
                baselines.save(self.final.cases, settings.save_baseline, VERSION)
                self.baseline_saved = settings.save_baseline
            else:
                # A baseline of half a suite would make every case it lacks "new" next time.
                self.baseline_skipped = f"baseline not written: the run is partial ({partial})"
        if settings.reports:
            self.written = write_reports(self.final, settings.reports, settings.report_dir)
        try:
            self.step_summary = append_step_summary(self.final)
        except OSError as exc:  # the job summary is a courtesy; the run's result stands
            self.step_summary_error = f"job summary not written: {exc.strerror or exc}"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.records and not self.damaged and self.stop is None:
            return
        terminalreporter.section("llmeval")
        if self.stop is not None:
            terminalreporter.write_line(self.stop, red=True, bold=True)
        if self.records:
            final = self.final or self.report()
            for line in terminal_lines(final, self.damaged):
                terminalreporter.write_line(line)
            for line in [*variant_lines(final), *comparison_lines(final)]:
                terminalreporter.write_line(line)
            for gate in final.gates:
                terminalreporter.write_line(gate, red=True, bold=True)
        else:
            for line in self.damaged:
                terminalreporter.write_line(f"damaged cache entry ignored: {line}")
        counters = self.counters()
        if counters is not None:
            terminalreporter.write_line(describe_run(counters))
        for path in self.written:
            terminalreporter.write_line(f"report written: {path}")
        if self.step_summary is not None:
            terminalreporter.write_line(f"job summary appended: {self.step_summary}")
        if self.step_summary_error is not None:
            terminalreporter.write_line(self.step_summary_error, yellow=True)
        if self.baseline_saved is not None:
            terminalreporter.write_line(f"baseline written: {self.baseline_saved}")
        if self.baseline_skipped is not None:
            terminalreporter.write_line(self.baseline_skipped, yellow=True)


def partial_reason(session: pytest.Session) -> str | None:
    """Why the run did not run every selected test, or None when it did."""
    if session.exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    if session.shouldfail:
        return f"stopped early: {session.shouldfail}"
    if session.shouldstop:
        return f"stopped early: {session.shouldstop}"
    return None


def _check_writable(path: Path) -> None:
    """Fail before the run, not after it, when the baseline could not be saved."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".probe-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(f"--llmeval-save-baseline: cannot write {path}: {exc.strerror or exc}") from None
