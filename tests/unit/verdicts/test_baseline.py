"""Baselines: the saved file reads back, a bad one is an error, and a later run is compared case by case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval._core.ids import with_model
from pytest_llmeval._core.records import CaseChange, EvalRecord
from pytest_llmeval._verdicts.baseline import (
    FORMAT,
    Baseline,
    BaselineError,
    compare,
    key_of,
    load,
    save,
)
from pytest_llmeval._verdicts.stats import fisher_greater, fisher_less, holm, sign_test_less

VERSION = "1.0.0"
PATH = Path("baselines/main.json")


def record(
    case_id: str,
    passes: int,
    failures: int,
    *,
    errors: int = 0,
    group: str = "a.feature",
    model: str = "m",
    fingerprint: str = "f0",
) -> EvalRecord:
    decided = passes + failures
    rate = passes / decided if decided else None
    return EvalRecord(
        case_id=case_id,
        nodeid=f"{group}::{case_id}",
        group=group,
        model=model,
        samples=decided + errors,
        passes=passes,
        failures=failures,
        errors=errors,
        pass_rate=rate,
        threshold=1.0,
        verdict="error" if rate is None else "pass" if rate == 1.0 else "fail",
        fingerprint=fingerprint,
    )


def baseline_of(*records: EvalRecord, tmp_path: Path) -> Baseline:
    return save(records, tmp_path / "baseline.json", VERSION)


def by_case(changes: list[CaseChange]) -> dict[str, CaseChange]:
    return {c.case_id: c for c in changes}


# ---- save and load ---------------------------------------------------------------------------


def test_save_then_load_gives_the_same_baseline(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "main.json"
    saved = save([record("b", 1, 1), record("a", 2, 0, errors=1, fingerprint="xyz")], path, VERSION)
    assert load(path, VERSION) == saved
    assert list(saved.entries) == ["a.feature::a::m", "a.feature::b::m"]  # sorted: stable diffs in git
    entry = saved.entries["a.feature::a::m"]
    assert (entry.passes, entry.failures, entry.errors, entry.samples) == (2, 0, 1, 3)
    assert (entry.pass_rate, entry.fingerprint) == (1.0, "xyz")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["format"], data["plugin_version"]) == (FORMAT, VERSION)
    assert [p.name for p in path.parent.iterdir()] == ["main.json"]  # written atomically, no temporary left


def test_a_missing_baseline_is_an_error_not_an_empty_one(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=r"cannot read the baseline .*nope\.json: No such file"):
        load(tmp_path / "nope.json", VERSION)


def test_a_baseline_that_is_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{\n "format": 1,\n "entries": {,\n}\n', encoding="utf-8")
    with pytest.raises(BaselineError, match=r"b\.json:3: the baseline is not valid JSON \(.+\); re-save it"):
        load(path, VERSION)


@pytest.mark.parametrize("data", [[1, 2], {"format": 1, "plugin_version": VERSION}, "entries"])
def test_a_foreign_file_is_not_a_baseline(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BaselineError, match=r"b\.json: not a pytest-llmeval baseline \(no 'entries'\)"):
        load(path, VERSION)


def test_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"format": 2, "plugin_version": VERSION, "entries": {}}), encoding="utf-8")
    with pytest.raises(BaselineError, match=r"baseline format 2, this plugin reads format 1"):
        load(path, VERSION)


def test_another_plugin_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    save([record("a", 1, 0)], path, "0.9.0")
    with pytest.raises(BaselineError, match=r"written by pytest-llmeval 0\.9\.0, this is 1\.0\.0; re-save it"):
        load(path, VERSION)


def test_a_damaged_entry_names_where(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    save([record("a", 1, 0)], path, VERSION)
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["entries"]["a.feature::a::m"]["passes"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BaselineError, match=r"damaged baseline at entries\.a\.feature::a::m\.passes: Field required"):
        load(path, VERSION)


# ---- keys ------------------------------------------------------------------------------------


def test_key_of_ignores_the_model_suffix() -> None:
    # A baseline saved from a side-by-side run is the same case as in a run with one model.
    alone = record("refund[30d]", 1, 0, model="ft:gpt:acme::x")
    side_by_side = record(with_model("refund[30d]", "ft:gpt:acme::x"), 1, 0, model="ft:gpt:acme::x")
    assert key_of(alone) == key_of(side_by_side) == "a.feature::refund[30d]::ft:gpt:acme::x"
    assert key_of(record("refund", 1, 0, model="other")) != key_of(record("refund", 1, 0, model="m"))
    assert key_of(record("refund", 1, 0, group="b.feature")) != key_of(record("refund", 1, 0))


def test_a_side_by_side_baseline_compares_with_a_single_model_run(tmp_path: Path) -> None:
    baseline = baseline_of(record(with_model("c", "m"), 1, 0), tmp_path=tmp_path)
    result = compare(baseline, [record("c", 0, 1)], PATH, 0.05)
    assert [(c.case_id, c.change) for c in result.changes] == [("c", "regressed")]


# ---- compare ---------------------------------------------------------------------------------


def test_one_sample_each_pass_to_fail_is_a_regression_and_back_an_improvement(tmp_path: Path) -> None:
    baseline = baseline_of(record("down", 1, 0), record("up", 0, 1), record("same", 1, 0), tmp_path=tmp_path)
    result = compare(baseline, [record("down", 0, 1), record("up", 1, 0), record("same", 1, 0)], PATH, 0.05)
    changes = by_case(result.changes)
    assert {k: c.change for k, c in changes.items()} == {"down": "regressed", "up": "improved", "same": "unchanged"}
    assert (changes["down"].before, changes["down"].after, changes["down"].p_value) == ("1/1", "0/1", 0.0)
    assert changes["same"].p_value is None
    assert (result.path, result.alpha, result.shared_cases) == (str(PATH), 0.05, 3)
    assert result.mean_difference == 0.0  # -1 + 1 + 0


def test_several_samples_use_fisher_and_a_small_drop_is_not_a_regression(tmp_path: Path) -> None:
    baseline = baseline_of(record("big", 10, 0), record("small", 10, 0), tmp_path=tmp_path)
    result = compare(baseline, [record("big", 2, 8), record("small", 8, 2)], PATH, 0.05)
    changes = by_case(result.changes)
    assert changes["small"].change == "unchanged"  # 10/10 -> 8/10 is within chance
    assert changes["big"].change == "regressed"
    raw = [fisher_less(2, 10, 10, 10), fisher_less(8, 10, 10, 10)]
    assert changes["big"].p_value == pytest.approx(holm(raw)[0])
    assert result.suite_p_value == sign_test_less([-0.8, -0.2]) == 0.25


def test_holm_adjustment_keeps_one_lucky_case_from_regressing(tmp_path: Path) -> None:
    # 6/6 -> 2/6 alone has p ~ 0.03 < 0.05; among four compared cases Holm multiplies it by four.
    raw = fisher_less(2, 6, 6, 6)
    assert raw < 0.05 < 4 * raw
    alone = compare(baseline_of(record("c0", 6, 0), tmp_path=tmp_path), [record("c0", 2, 4)], PATH, 0.05)
    assert alone.changes[0].change == "regressed" and alone.changes[0].p_value == pytest.approx(raw)
    cases = [record(f"c{i}", 6, 0) for i in range(4)]
    now = [record("c0", 2, 4), *(record(f"c{i}", 6, 0) for i in range(1, 4))]
    result = compare(baseline_of(*cases, tmp_path=tmp_path), now, PATH, 0.05)
    assert [c.change for c in result.changes] == ["unchanged"] * 4


def test_improvements_are_holm_adjusted_on_their_own(tmp_path: Path) -> None:
    baseline = baseline_of(record("up", 0, 8), record("down", 8, 0), tmp_path=tmp_path)
    result = compare(baseline, [record("up", 8, 0), record("down", 0, 8)], PATH, 0.05)
    changes = by_case(result.changes)
    assert (changes["up"].change, changes["down"].change) == ("improved", "regressed")
    # "Better" p-values of the shared cases in key order (down, up), adjusted among themselves.
    better = [fisher_greater(0, 8, 8, 8), fisher_greater(8, 8, 0, 8)]
    assert changes["up"].p_value == pytest.approx(holm(better)[1]) == pytest.approx(2 * better[1])
    assert changes["down"].p_value == pytest.approx(2 * fisher_less(0, 8, 8, 8))


def test_new_removed_and_untouched_groups(tmp_path: Path) -> None:
    baseline = baseline_of(
        record("kept", 1, 0),
        record("gone", 1, 1),
        record("elsewhere", 1, 0, group="b.feature"),  # a file this run did not touch (-k, a path)
        tmp_path=tmp_path,
    )
    result = compare(baseline, [record("kept", 1, 0), record("added", 2, 1)], PATH, 0.05)
    assert [(c.case_id, c.change, c.before, c.after) for c in result.changes] == [
        ("kept", "unchanged", "1/1", "1/1"),
        ("added", "new", None, "2/3"),
        ("gone", "removed", "1/2", None),
    ]
    assert result.shared_cases == 1


def test_another_model_of_the_same_case_is_new_not_shared(tmp_path: Path) -> None:
    baseline = baseline_of(record("c", 1, 0, model="old"), tmp_path=tmp_path)
    result = compare(baseline, [record("c", 1, 0, model="new")], PATH, 0.05)
    assert sorted((c.model, c.change) for c in result.changes) == [("new", "new"), ("old", "removed")]


def test_a_redefined_case_is_compared_and_flagged(tmp_path: Path) -> None:
    baseline = baseline_of(record("edited", 1, 0, fingerprint="v1"), record("same", 1, 0), tmp_path=tmp_path)
    result = compare(baseline, [record("edited", 0, 1, fingerprint="v2"), record("same", 1, 0)], PATH, 0.05)
    changes = by_case(result.changes)
    assert (changes["edited"].change, changes["edited"].redefined) == ("regressed", True)
    assert changes["same"].redefined is False
    assert result.redefined == 1


def test_all_errored_cases_are_unchanged_and_left_out_of_the_suite_test(tmp_path: Path) -> None:
    baseline = baseline_of(record("a", 1, 0), record("b", 3, 0), tmp_path=tmp_path)
    result = compare(baseline, [record("a", 0, 0, errors=1), record("b", 0, 3)], PATH, 0.05)
    changes = by_case(result.changes)
    assert changes["a"].change == "unchanged" and changes["a"].after == "0/0"
    assert result.mean_difference == -1.0  # only "b" has a rate on both sides
    assert result.suite_p_value == sign_test_less([-1.0]) == 0.5


def test_the_suite_test_sees_many_small_drops(tmp_path: Path) -> None:
    # No case alone is significant, but ten of ten got a little worse: the suite p says so.
    baseline = baseline_of(*(record(f"c{i}", 5, 0) for i in range(10)), tmp_path=tmp_path)
    result = compare(baseline, [record(f"c{i}", 4, 1) for i in range(10)], PATH, 0.05)
    assert result.count("regressed") == 0
    assert result.mean_difference == pytest.approx(-0.2)
    assert result.suite_p_value == pytest.approx(1 / 2**10)


def test_nothing_shared_gives_no_mean_and_p_one(tmp_path: Path) -> None:
    result = compare(baseline_of(tmp_path=tmp_path), [record("a", 1, 0)], PATH, 0.05)
    assert (result.shared_cases, result.mean_difference, result.suite_p_value) == (0, None, 1.0)
    assert result.count("new") == 1
