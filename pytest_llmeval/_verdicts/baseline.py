"""Baselines: save a run's per-case counts, and compare a later run against them.

Each case is **regressed** (one-sided Fisher exact test, Holm-adjusted across the compared
cases so that "any case regressed" keeps its false-alarm rate at ``alpha``; with one sample
on each side, pass → fail), **improved**, **unchanged**, **new**, **removed** or
**redefined** (its fingerprint changed: compared all the same, and flagged). The suite
comparison is paired over shared cases (an exact sign test)::

    pytest --llmeval-save-baseline baselines/main.json       # on main
    pytest --llmeval-baseline baselines/main.json --llmeval-fail-on-regression   # in a PR
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .._core.files import atomic_write_text
from .._core.ids import without_model
from .._core.records import BaselineComparison, CaseChange, Change, EvalRecord
from .stats import fisher_greater, fisher_less, holm, sign_test_less

FORMAT = 1


class BaselineError(Exception):
    """A baseline file that cannot be used; never silently treated as 'no regressions'."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


MAX_SAMPLES = 1_000_000
"""More samples of one case than any run draws: a count above it is damage, not data."""


class BaselineEntry(_Model):
    """One case on one model, as a baseline remembers it; counts that cannot be are refused."""

    case_id: str
    group: str
    model: str
    passes: int = Field(ge=0, le=MAX_SAMPLES)
    failures: int = Field(ge=0, le=MAX_SAMPLES)
    errors: int = Field(ge=0, le=MAX_SAMPLES)
    samples: int = Field(ge=0, le=MAX_SAMPLES)
    pass_rate: float | None = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    fingerprint: str

    @model_validator(mode="after")
    def _counts_add_up(self) -> BaselineEntry:
        if self.passes + self.failures + self.errors != self.samples:
            raise ValueError(
                f"passes {self.passes} + failures {self.failures} + errors {self.errors} is not samples {self.samples}"
            )
        decided = self.passes + self.failures
        if (self.pass_rate is None) != (decided == 0) or (
            self.pass_rate is not None and abs(self.pass_rate - self.passes / decided) > 1e-9
        ):
            raise ValueError(f"pass_rate {self.pass_rate} is not passes / decided samples")
        return self


class Baseline(_Model):
    """The file ``--llmeval-save-baseline`` writes."""

    format: int = FORMAT
    plugin_version: str
    created_at: str
    entries: dict[str, BaselineEntry] = Field(description="By case key: group :: case id :: model.")


def key_of(record: EvalRecord | BaselineEntry) -> str:
    """group :: case id without its ``@model`` suffix :: model — the same case whether the run
    compared several models or ran one."""
    return f"{record.group}::{without_model(record.case_id, record.model)}::{record.model}"


def save(records: Iterable[EvalRecord], path: Path, version: str) -> Baseline:
    """Write the baseline atomically: a reader sees the old file or the new one, never a part."""
    baseline = of_records(records, version)
    atomic_write_text(path, baseline.model_dump_json(indent=1) + "\n")
    return baseline


def of_records(records: Iterable[EvalRecord], version: str) -> Baseline:
    """The baseline a run's records make (what ``save`` writes; ``diff`` compares two reports with it)."""
    entries = {
        key_of(r): BaselineEntry(
            case_id=r.case_id,
            group=r.group,
            model=r.model,
            passes=r.passes,
            failures=r.failures,
            errors=r.errors,
            samples=r.samples,
            pass_rate=r.pass_rate,
            fingerprint=r.fingerprint,
        )
        for r in records
    }
    return Baseline(
        plugin_version=version,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        entries=dict(sorted(entries.items())),
    )


def load(path: Path, version: str) -> Baseline:
    """Read a baseline; a missing, damaged or foreign file is a :class:`BaselineError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{path}: the baseline is not UTF-8 text (byte {exc.start}); re-save it") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: the baseline is not valid JSON ({exc.msg}); re-save it") from None
    except RecursionError:
        raise BaselineError(f"{path}: the baseline is nested too deeply to be a baseline; re-save it") from None
    if not isinstance(data, dict) or "entries" not in data:
        raise BaselineError(f"{path}: not a pytest-llmeval baseline (no 'entries')")
    if data.get("format") != FORMAT:
        raise BaselineError(f"{path}: baseline format {data.get('format')!r}, this plugin reads format {FORMAT}")
    if data.get("plugin_version") != version:
        raise BaselineError(
            f"{path}: written by pytest-llmeval {data.get('plugin_version')}, this is {version}; "
            "re-save it with --llmeval-save-baseline (see docs/baselines.md)"
        )
    try:
        return Baseline.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BaselineError(f"{path}: damaged baseline at {where}: {first['msg']}") from None


def compare(baseline: Baseline, records: Sequence[EvalRecord], path: Path, alpha: float) -> BaselineComparison:
    now = {key_of(r): r for r in records}
    shared = sorted(set(now) & set(baseline.entries))
    worse = [_p_worse(baseline.entries[k], now[k]) for k in shared]
    better = [_p_better(baseline.entries[k], now[k]) for k in shared]
    worse_adjusted, better_adjusted = holm(worse), holm(better)
    changes: list[CaseChange] = []
    differences: list[float] = []
    for index, key in enumerate(shared):
        old, new = baseline.entries[key], now[key]
        change: Change = "unchanged"
        p_value = None
        if worse_adjusted[index] < alpha:
            change, p_value = "regressed", worse_adjusted[index]
        elif better_adjusted[index] < alpha:
            change, p_value = "improved", better_adjusted[index]
        if old.pass_rate is not None and new.pass_rate is not None:
            differences.append(new.pass_rate - old.pass_rate)
        changes.append(
            CaseChange(
                key=key,
                case_id=new.case_id,
                model=new.model,
                change=change,
                redefined=old.fingerprint != new.fingerprint,
                before=_counts(old.passes, old.failures),
                after=_counts(new.passes, new.failures),
                p_value=p_value,
            )
        )
    run_groups = {r.group for r in records}
    for key in sorted(set(now) - set(baseline.entries)):
        r = now[key]
        changes.append(
            CaseChange(key=key, case_id=r.case_id, model=r.model, change="new", after=_counts(r.passes, r.failures))
        )
    for key in sorted(set(baseline.entries) - set(now)):
        old = baseline.entries[key]
        # A case of a file this run did not touch (-k, a path) was not run, not removed.
        if old.group in run_groups:
            changes.append(
                CaseChange(
                    key=key,
                    case_id=old.case_id,
                    model=old.model,
                    change="removed",
                    before=_counts(old.passes, old.failures),
                )
            )
    return BaselineComparison(
        path=str(path),
        alpha=alpha,
        changes=changes,
        shared_cases=len(shared),
        mean_difference=sum(differences) / len(differences) if differences else None,
        suite_p_value=sign_test_less(differences),
    )


def _counts(passes: int, failures: int) -> str:
    return f"{passes}/{passes + failures}"


def _p_worse(old: BaselineEntry, new: EvalRecord) -> float:
    old_n, new_n = old.passes + old.failures, new.passes + new.failures
    if old_n == 0 or new_n == 0:
        return 1.0
    if old_n == 1 and new_n == 1:
        return 0.0 if old.passes == 1 and new.passes == 0 else 1.0  # one sample each: pass -> fail
    return fisher_less(new.passes, new_n, old.passes, old_n)


def _p_better(old: BaselineEntry, new: EvalRecord) -> float:
    old_n, new_n = old.passes + old.failures, new.passes + new.failures
    if old_n == 0 or new_n == 0:
        return 1.0
    if old_n == 1 and new_n == 1:
        return 0.0 if old.passes == 0 and new.passes == 1 else 1.0
    return fisher_greater(new.passes, new_n, old.passes, old_n)
