"""Runs pytest in this process and prints its peak resident memory (for benchmarks/run.py)."""

from __future__ import annotations

import resource
import sys

import pytest

if __name__ == "__main__":
    code = pytest.main(sys.argv[1:])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_MB={peak_kb / 1024:.1f}")
    sys.exit(int(code))
