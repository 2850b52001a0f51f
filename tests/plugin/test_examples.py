"""The README's first command: the example suite runs offline, with no key, from its cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_examples_pass_offline_from_the_shipped_cache(tmp_path: Path, extra: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    report_dir = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--llmeval-report-dir={report_dir}", *extra],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "= llmeval =" in result.stdout
    report = json.loads((report_dir / "llmeval-report.json").read_text())
    overall = report["overall"]
    assert overall["errored"] == 0 and overall["failed"] == 0
    assert overall["cache_hits"] == overall["samples"]
    # The demo keeps a few wrong answers so the report shows failures inside passing cases.
    assert overall["sample_failures"] >= 3
