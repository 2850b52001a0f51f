"""The few statistics the verdicts need, exact and dependency-free (checked against scipy in tests).

- :func:`wilson` — the Wilson score interval of a pass rate (95 % by default).
- :func:`fisher_less` — one-sided Fisher exact test: is the new pass rate lower?
- :func:`holm` — Holm's step-down adjustment, so "any case regressed" keeps its false-alarm
  rate at the nominal alpha across many cases.
- :func:`sign_test_less` — the suite-level paired comparison over shared cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054


def wilson(passes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson interval for ``passes`` out of ``n``; (0, 1) when there is nothing to go on."""
    if n <= 0:
        return 0.0, 1.0
    p = passes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low, high = centre - half, centre + half
    # Exact bounds at 0 and n (rounding would leave 5e-17 and 0.9999999999999999).
    return (0.0 if passes == 0 else max(0.0, low)), (1.0 if passes == n else min(1.0, high))


def fisher_less(new_passes: int, new_n: int, old_passes: int, old_n: int) -> float:
    """P-value that the new pass rate is lower than the old one (one-sided Fisher exact test).

    The 2x2 table is [[new_passes, new_fails], [old_passes, old_fails]]; the p-value sums
    the hypergeometric probabilities of tables with as few or fewer new passes.
    """
    total_passes = new_passes + old_passes
    total = new_n + old_n
    if new_n <= 0 or old_n <= 0:
        return 1.0
    low = max(0, total_passes - old_n)
    denominator = math.comb(total, new_n)
    return min(
        1.0,
        sum(math.comb(total_passes, k) * math.comb(total - total_passes, new_n - k) for k in range(low, new_passes + 1))
        / denominator,
    )


def fisher_greater(new_passes: int, new_n: int, old_passes: int, old_n: int) -> float:
    """P-value that the new pass rate is higher (the mirror of :func:`fisher_less`)."""
    return fisher_less(old_passes, old_n, new_passes, new_n)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sign_test_less(differences: Sequence[float]) -> float:
    """One-sided exact sign test that the differences are mostly negative (ties dropped)."""
    negative = sum(1 for d in differences if d < 0)
    nonzero = sum(1 for d in differences if d != 0)
    if nonzero == 0:
        return 1.0
    return min(1.0, sum(math.comb(nonzero, k) for k in range(negative, nonzero + 1)) / (1 << nonzero))


def sign_test_two_sided(differences: Sequence[float]) -> float:
    """Two-sided exact sign test (for comparing two models, neither being "the old one")."""
    negative = sum(1 for d in differences if d < 0)
    positive = sum(1 for d in differences if d > 0)
    nonzero = negative + positive
    if nonzero == 0:
        return 1.0
    tail = sum(math.comb(nonzero, k) for k in range(max(negative, positive), nonzero + 1)) / (1 << nonzero)
    return min(1.0, 2 * tail)
