"""The benchmarks stay runnable (tiny sizes; the figures themselves live in benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_stats_simulation_runs() -> None:
    results = run("benchmarks/stats_sim.py", "--runs", "20")
    assert results[0]["false_alarm_rate"] <= 0.5
    assert any("adaptive" in str(r["simulation"]) for r in results)


def test_speed_benchmark_runs() -> None:
    (cached,) = run("benchmarks/run.py", "--only", "cached", "--n", "20")
    assert cached["first_requests"] == 20 and cached["rerun_requests"] == 0
