"""Wilson, Fisher, Holm and the sign test against scipy / statsmodels-free reference values."""

from __future__ import annotations

import itertools

import pytest

from pytest_llmeval._verdicts.stats import (
    fisher_greater,
    fisher_less,
    holm,
    sign_test_less,
    sign_test_two_sided,
    wilson,
)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(("passes", "n"), [(0, 1), (1, 1), (4, 5), (5, 5), (0, 20), (17, 20), (45, 50), (1, 3)])
def test_wilson_matches_scipy(passes: int, n: int) -> None:
    ci = scipy_stats.binomtest(passes, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(passes, n)
    assert low == pytest.approx(ci.low, abs=1e-12) and high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_known_value() -> None:
    # Wilson (1927) as tabulated by Newcombe (1998), Table I, case 81/263: 0.2553 to 0.3662.
    low, high = wilson(81, 263)
    assert round(low, 4) == 0.2553 and round(high, 4) == 0.3662


@pytest.mark.parametrize(("a", "b"), list(itertools.product(range(0, 6), range(0, 6))))
def test_fisher_matches_scipy_small_tables(a: int, b: int) -> None:
    # new: a of 5 passed; old: b of 5 passed.
    table = [[a, 5 - a], [b, 5 - b]]
    expected_less = scipy_stats.fisher_exact(table, alternative="less").pvalue
    expected_greater = scipy_stats.fisher_exact(table, alternative="greater").pvalue
    assert fisher_less(a, 5, b, 5) == pytest.approx(expected_less, abs=1e-12)
    assert fisher_greater(a, 5, b, 5) == pytest.approx(expected_greater, abs=1e-12)


def test_fisher_uneven_sizes() -> None:
    table = [[14, 6], [48, 2]]
    assert fisher_less(14, 20, 48, 50) == pytest.approx(scipy_stats.fisher_exact(table, alternative="less").pvalue)


def test_holm() -> None:
    # Holm (1979) step-down: sorted p 0.01, 0.02, 0.04 with m=3 -> 0.03, 0.04, 0.04.
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([]) == []


def test_sign_tests_match_scipy_binomtest() -> None:
    diffs = [-0.2, -0.4, 0.0, -0.2, 0.2, -0.6, -0.2, -0.4, 0.0, -0.2]
    negatives, nonzero = 7, 8
    assert sign_test_less(diffs) == pytest.approx(scipy_stats.binomtest(negatives, nonzero, 0.5, "greater").pvalue)
    assert sign_test_two_sided(diffs) == pytest.approx(scipy_stats.binomtest(negatives, nonzero, 0.5).pvalue)
    assert sign_test_less([0.0, 0.0]) == 1.0
