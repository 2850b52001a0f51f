"""Simulation (no network) of the regression gate and of adaptive sampling.

    .venv/bin/python benchmarks/stats_sim.py            # 1,000 simulated runs each, seed 2026
    .venv/bin/python benchmarks/stats_sim.py --runs 5000 --seed 7

It uses the plugin's own decision functions (``_baseline.compare`` with real records and
``_case.settled``), so what is measured is what the plugin does, not a re-implementation.

1. Regression gate, 20 cases x 5 samples per run, baseline and new run drawn from the same
   true pass rates (0.9): the share of runs where ``--llmeval-fail-on-regression`` fires is
   the false-alarm rate (target: at most alpha = 0.05).
2. The same with every case's true rate dropping from 0.9 to 0.7: the share of runs where
   the gate fires is its power.
3. Adaptive sampling (rounds of 5 up to 30) against fixed-n sampling, threshold 0.8, over a
   spread of true pass rates: model calls per case and the verdict error rate (a case whose
   true rate is at least the threshold judged fail, or below it judged pass).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from pytest_llmeval._case.spec import ROUND
from pytest_llmeval._case.verdict import decide, settled
from pytest_llmeval._core.records import EvalRecord, SampleRecord
from pytest_llmeval._verdicts.baseline import Baseline, BaselineEntry, compare
from pytest_llmeval._verdicts.stats import wilson


def record(case: int, passes: int, samples: int) -> EvalRecord:
    return EvalRecord(
        case_id=f"c{case}",
        nodeid=f"t::c{case}",
        group="sim.feature",
        model="m",
        samples=samples,
        passes=passes,
        failures=samples - passes,
        errors=0,
        pass_rate=passes / samples,
        threshold=0.8,
        verdict="pass",
        fingerprint="f",
    )


def draw(rng: random.Random, rate: float, n: int) -> int:
    return sum(rng.random() < rate for _ in range(n))


def gate_fires(rng: random.Random, before: float, after: float, cases: int, n: int, alpha: float) -> bool:
    entries = {}
    for case in range(cases):
        passes = draw(rng, before, n)
        entries[f"sim.feature::c{case}::m"] = BaselineEntry(
            case_id=f"c{case}",
            group="sim.feature",
            model="m",
            passes=passes,
            failures=n - passes,
            errors=0,
            samples=n,
            pass_rate=passes / n,
            fingerprint="f",
        )
    baseline = Baseline(plugin_version="sim", created_at="", entries=entries)
    now = [record(case, draw(rng, after, n), n) for case in range(cases)]
    comparison = compare(baseline, now, Path("sim.json"), alpha)
    # The same rule as _report.gate_failures.
    return comparison.count("regressed") > 0 or comparison.suite_p_value < alpha


def sample_records(outcomes: list[bool]) -> list[SampleRecord]:
    return [SampleRecord(index=i, outcome="pass" if ok else "fail", answer="") for i, ok in enumerate(outcomes)]


def adaptive(rng: random.Random, rate: float, threshold: float, top: int) -> tuple[int, bool]:
    outcomes: list[bool] = []
    while True:
        outcomes += [rng.random() < rate for _ in range(min(ROUND, top - len(outcomes)))]
        if len(outcomes) >= top or settled(sample_records(outcomes), threshold):
            break
    passes = sum(outcomes)
    verdict = decide(passes / len(outcomes), wilson(passes, len(outcomes)), threshold, strict=False)
    return len(outcomes), verdict == "pass"


def fixed(rng: random.Random, rate: float, threshold: float, n: int) -> tuple[int, bool]:
    passes = draw(rng, rate, n)
    return n, decide(passes / n, wilson(passes, n), threshold, strict=False) == "pass"


def fixed_n_for(curve: dict[int, tuple[float, float]], error: float) -> float:
    """The fixed sample count whose error rate equals ``error`` (linear between measured points)."""
    points = sorted((n, e) for n, (_, e) in curve.items())
    for (n1, e1), (n2, e2) in itertools.pairwise(points):
        if e2 <= error <= e1 and e1 != e2:
            return n1 + (e1 - error) / (e1 - e2) * (n2 - n1)
    return float(points[-1][0]) if error < points[-1][1] else float(points[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()

    false_alarms = sum(gate_fires(rng, 0.9, 0.9, 20, 5, args.alpha) for _ in range(args.runs))
    power = sum(gate_fires(rng, 0.9, 0.7, 20, 5, args.alpha) for _ in range(args.runs))
    print(
        json.dumps(
            {
                "simulation": "regression gate, 20 cases x 5 samples, true rate 0.9 -> 0.9",
                "runs": args.runs,
                "alpha": args.alpha,
                "false_alarm_rate": false_alarms / args.runs,
            }
        )
    )
    print(
        json.dumps(
            {
                "simulation": "regression gate, 20 cases x 5 samples, true rate 0.9 -> 0.7",
                "runs": args.runs,
                "alpha": args.alpha,
                "power": power / args.runs,
            }
        )
    )

    threshold = 0.8
    rates = [0.3, 0.5, 0.6, 0.7, 0.75, 0.85, 0.9, 0.95, 1.0]

    def measure(strategy: Callable[[float], tuple[int, bool]]) -> tuple[float, float]:
        calls = errors = total = 0
        for _ in range(args.runs):
            for rate in rates:
                used, passed = strategy(rate)
                calls += used
                errors += passed != (rate >= threshold)
                total += 1
        return calls / total, errors / total

    curve = {n: measure(lambda r, n=n: fixed(rng, r, threshold, n)) for n in (10, 15, 20, 25, 30, 40, 50, 60)}
    for n, (calls, error) in curve.items():
        print(
            json.dumps({"simulation": f"sampling: fixed n={n}", "calls_per_case": calls, "verdict_error_rate": error})
        )
    for top in (30, 40, 60):
        calls, error = measure(lambda r, top=top: adaptive(rng, r, threshold, top))
        equal_n = fixed_n_for(curve, error)
        print(
            json.dumps(
                {
                    "simulation": f"sampling: adaptive, rounds of {ROUND} up to {top}",
                    "threshold": threshold,
                    "true_rates": rates,
                    "calls_per_case": round(calls, 2),
                    "verdict_error_rate": round(error, 4),
                    "fixed_n_with_equal_error": round(equal_n, 1),
                    "calls_saved": f"{1 - calls / equal_n:.0%}",
                }
            )
        )
    print(f"# {args.runs} runs, seed {args.seed}, {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
