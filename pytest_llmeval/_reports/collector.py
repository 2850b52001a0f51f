"""Aggregating records and writing what a person or a CI job reads at the end of a run.

Only the controller calls these (under xdist the workers' records arrive on their test
reports), so the terminal section and the files are written once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from .._config.options import Settings
from .._core.records import BaselineComparison, EvalRecord, GroupSummary, ModelSummary, RunReport
from .._engine.cache import atomic_write_text
from .._run.session import STOP_REASON, state_of


def summarize(group: str, records: Sequence[EvalRecord]) -> GroupSummary:
    passed = sum(r.verdict == "pass" for r in records)
    failed = sum(r.verdict == "fail" for r in records)
    return GroupSummary(
        group=group,
        cases=len(records),
        passed=passed,
        failed=failed,
        errored=sum(r.verdict == "error" for r in records),
        pass_rate=passed / (passed + failed) if passed + failed else None,
        samples=sum(r.samples for r in records),
        sample_failures=sum(r.failures for r in records),
        sample_errors=sum(r.errors for r in records),
        cache_hits=sum(r.cache_hits for r in records),
        tokens=sum(r.usage.total_tokens for r in records),
        cost_usd=round(sum(r.cost_usd or 0.0 for r in records), 6),
    )


def build_report(records: Iterable[EvalRecord], version: str) -> RunReport:
    ordered = sorted(records, key=lambda r: (r.group, r.nodeid))
    groups: dict[str, list[EvalRecord]] = {}
    for record in ordered:
        groups.setdefault(record.group, []).append(record)
    return RunReport(
        plugin_version=version,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        overall=summarize("overall", ordered),
        groups=[summarize(name, rs) for name, rs in groups.items()],
        cases=ordered,
    )


def terminal_lines(report: RunReport, damaged: Sequence[str]) -> list[str]:
    """The table under the ``llmeval`` heading: one row per group, then the overall row.

    Failed samples get their own column: a case can pass its threshold with some samples
    failing, and that is exactly what a reader of an eval wants to notice.
    """
    rows = [*report.groups, report.overall]
    width = max(len(g.group) for g in rows)
    columns = (
        "pass rate",
        "cases",
        "failed",
        "errored",
        "samples",
        "s.failed",
        "s.errored",
        "cached",
        "tokens",
        "cost",
    )
    widths = (15, 5, 6, 7, 7, 8, 9, 6, 8, 9)
    header = f"{'':<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    lines = [header]
    for group in rows:
        if group is report.overall:
            lines.append("-" * len(header))
        rate = "n/a" if group.pass_rate is None else f"{group.pass_rate:.1%}"
        values = (
            f"{group.passed}/{group.passed + group.failed} {rate}",
            group.cases,
            group.failed,
            group.errored,
            group.samples,
            group.sample_failures,
            group.sample_errors,
            group.cache_hits,
            group.tokens,
            f"${group.cost_usd:.4f}",
        )
        lines.append(f"{group.group:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True)))
    for line in damaged:
        lines.append(f"damaged cache entry ignored: {line}")
    return lines


def _check_writable(path: Path) -> None:
    """Fail before the run, not after it, when the baseline could not be saved."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".probe-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(f"--llmeval-save-baseline: cannot write {path}: {exc.strerror or exc}") from None


def gate_failures(
    settings: Settings, summaries: Sequence[ModelSummary], comparison: BaselineComparison | None
) -> list[str]:
    """One line per failed gate, saying which gate and by how much."""
    lines = []
    if settings.min_pass_rate is not None:
        for summary in summaries:
            if summary.pass_rate is not None and summary.pass_rate + 1e-12 < settings.min_pass_rate:
                lines.append(
                    f"llmeval gate failed: {summary.model}: {summary.passed}/{summary.decided} cases passed "
                    f"({summary.pass_rate:.1%}), below --llmeval-min-pass-rate {settings.min_pass_rate:.1%}"
                )
    if settings.fail_on_regression and comparison is not None:
        regressed = comparison.count("regressed")
        if regressed or comparison.suite_p_value < comparison.alpha:
            lines.append(
                f"llmeval gate failed: {regressed} case(s) regressed against {comparison.path}; suite paired "
                f"p = {comparison.suite_p_value:.4f} (alpha {comparison.alpha})"
            )
    return lines


def comparison_lines(report: RunReport) -> list[str]:
    """Models side by side, then the baseline comparison, for the terminal."""
    lines: list[str] = []
    if report.models:
        lines.append("")
        lines.append("models side by side (case pass rate with 95% interval; tokens; cost; request seconds):")
        for m in report.models:
            rate = "n/a" if m.pass_rate is None else f"{m.pass_rate:.1%}"
            ci = "" if m.interval is None else f" [{m.interval[0]:.1%}, {m.interval[1]:.1%}]"
            lines.append(
                f"  {m.model}: {m.passed}/{m.decided} {rate}{ci} | {m.tokens:,} tokens | ${m.cost_usd:.4f} | "
                f"{m.latency_s:.1f}s"
            )
        for c in report.comparisons:
            mean = "n/a" if c.mean_difference is None else f"{c.mean_difference:+.1%}"
            lines.append(
                f"  {c.model_b} vs {c.model_a}: {c.shared_cases} shared cases, mean difference {mean}, "
                f"better on {c.b_better}, worse on {c.a_better}, sign test p = {c.p_value:.4f}"
            )
    comparison = report.baseline
    if comparison is not None:
        lines.append("")
        counts = ", ".join(
            f"{comparison.count(kind)} {kind}" for kind in ("regressed", "improved", "unchanged", "new", "removed")
        )
        mean = "n/a" if comparison.mean_difference is None else f"{comparison.mean_difference:+.1%}"
        lines.append(f"baseline {comparison.path}: {counts}, {comparison.redefined} redefined")
        lines.append(
            f"  suite: {comparison.shared_cases} shared cases, mean pass-rate change {mean}, "
            f"paired sign test p = {comparison.suite_p_value:.4f}"
        )
        for change in comparison.changes:
            if change.change in ("regressed", "improved", "removed", "new") or change.redefined:
                flag = " (redefined)" if change.redefined else ""
                p = "" if change.p_value is None else f" p = {change.p_value:.4f}"
                lines.append(
                    f"  {change.change}{flag}: {change.case_id} on {change.model}: "
                    f"{change.before or '-'} -> {change.after or '-'}{p}"
                )
    return lines


def write_reports(report: RunReport, formats: Sequence[str], directory: Path) -> list[Path]:
    """Write each requested format atomically; return the paths written."""
    written = []
    for fmt in formats:
        path = directory / f"llmeval-report.{fmt}"
        text = report.model_dump_json(indent=2) if fmt == "json" else markdown(report)
        atomic_write_text(path, text + "\n")
        written.append(path)
    return written


def markdown(report: RunReport) -> str:
    """A Markdown summary for CI job summaries and PR comments."""
    lines = [
        "# LLM eval results",
        "",
        "| group | pass rate | cases | failed | errored | samples | failed samples | errored samples "
        "| cache hits | tokens | cost (USD) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in [*report.groups, report.overall]:
        rate = "n/a" if g.pass_rate is None else f"{g.pass_rate:.1%}"
        lines.append(
            f"| {g.group} | {g.passed}/{g.passed + g.failed} ({rate}) | {g.cases} | {g.failed} | "
            f"{g.errored} | {g.samples} | {g.sample_failures} | {g.sample_errors} | {g.cache_hits} | {g.tokens} "
            f"| {g.cost_usd:.4f} |"
        )
    bad = [r for r in report.cases if r.verdict != "pass"]
    if bad:
        lines += ["", "## Cases that did not pass", "", "| case | model | verdict | passes | reason |"]
        lines.append("|---|---|---|---|---|")
        for r in bad:
            reason = r.reason.splitlines()[0].replace("|", "/") if r.reason else ""
            lines.append(f"| `{r.case_id}` | {r.model} | {r.verdict} | {r.passes}/{r.passes + r.failures} | {reason} |")
    return "\n".join(lines)


class Collector:
    """Controller-side plugin: gathers records from test reports, prints and writes at the end."""

    def __init__(self, config: pytest.Config) -> None:
        from .. import __version__
        from .._verdicts.baseline import BaselineError, load

        self.config = config
        self.records: dict[str, EvalRecord] = {}
        self.written: list[Path] = []
        self.stop: str | None = None
        self.final: RunReport | None = None
        self.baseline_saved: Path | None = None
        settings = state_of(config).settings
        if settings.fail_on_regression and settings.baseline is None:
            raise pytest.UsageError("--llmeval-fail-on-regression needs --llmeval-baseline PATH to compare with")
        if settings.save_baseline is not None:
            _check_writable(settings.save_baseline)
        self.baseline = None
        if settings.baseline is not None:
            try:
                self.baseline = load(settings.baseline, __version__)
            except BaselineError as exc:
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
        from .. import __version__
        from .._verdicts.baseline import compare
        from .._verdicts.compare import comparisons, model_summaries

        settings = state_of(self.config).settings
        base = build_report(self.records.values(), __version__)
        records = base.cases
        several = len({r.model for r in records}) > 1
        comparison = None
        if self.baseline is not None and settings.baseline is not None:
            comparison = compare(self.baseline, records, settings.baseline, settings.alpha)
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
        from .. import __version__
        from .._verdicts.baseline import save

        state = state_of(self.config)
        if self.stop is not None:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if not self.records:
            return
        self.final = self.report()
        if self.final.gates and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if state.settings.save_baseline is not None and self.stop is None:
            save(self.final.cases, state.settings.save_baseline, __version__)
            self.baseline_saved = state.settings.save_baseline
        if state.settings.reports:
            self.written = write_reports(self.final, state.settings.reports, state.settings.report_dir)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        state = state_of(self.config)
        if not self.records and not state.cache.damaged and self.stop is None:
            return
        terminalreporter.section("llmeval")
        if self.stop is not None:
            terminalreporter.write_line(self.stop, red=True, bold=True)
        if self.records:
            final = self.final or self.report()
            for line in terminal_lines(final, state.cache.damaged):
                terminalreporter.write_line(line)
            for line in comparison_lines(final):
                terminalreporter.write_line(line)
            for gate in final.gates:
                terminalreporter.write_line(gate, red=True, bold=True)
        else:
            for line in state.cache.damaged:
                terminalreporter.write_line(f"damaged cache entry ignored: {line}")
        from .._run.generate import describe_run, run_counters

        counters = run_counters(self.config)
        if counters:
            terminalreporter.write_line(describe_run(counters))
        for path in self.written:
            terminalreporter.write_line(f"report written: {path}")
        if self.baseline_saved is not None:
            terminalreporter.write_line(f"baseline written: {self.baseline_saved}")
