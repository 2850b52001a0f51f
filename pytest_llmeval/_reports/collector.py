"""Controller side: gather every record, then compare, gate, write and print once at the end.

Registered only on the controller (an xdist worker has ``workerinput``): the workers'
records arrive on their test reports, so the terminal section and the files are written
once. What it needs of the run — settings, the cache's damaged entries, the engine's
counters — is handed to it, so reports know nothing of the engine.
"""

from __future__ import annotations

import tempfile
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
from .summary import build_report
from .terminal import comparison_lines, describe_run, terminal_lines
from .writers import write_reports


class Collector:
    """Controller-side plugin: gathers records from test reports, prints and writes at the end."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        damaged: Sequence[str],
        counters: Callable[[], Counters | None],
    ) -> None:
        self.config = config
        self.settings = settings
        self.damaged = damaged
        """The cache's damaged entries (the list grows during the run)."""
        self.counters = counters
        self.records: dict[str, EvalRecord] = {}
        self.written: list[Path] = []
        self.stop: str | None = None
        self.final: RunReport | None = None
        self.baseline_saved: Path | None = None
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
            }
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        settings = self.settings
        if self.stop is not None:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if not self.records:
            return
        self.final = self.report()
        if self.final.gates and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if settings.save_baseline is not None and self.stop is None:
            baselines.save(self.final.cases, settings.save_baseline, VERSION)
            self.baseline_saved = settings.save_baseline
        if settings.reports:
            self.written = write_reports(self.final, settings.reports, settings.report_dir)

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
            for line in comparison_lines(final):
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
        if self.baseline_saved is not None:
            terminalreporter.write_line(f"baseline written: {self.baseline_saved}")


def _check_writable(path: Path) -> None:
    """Fail before the run, not after it, when the baseline could not be saved."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".probe-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(f"--llmeval-save-baseline: cannot write {path}: {exc.strerror or exc}") from None
