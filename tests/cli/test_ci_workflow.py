"""The CI recipe of docs/ci.md, run locally: the script it shows, against a loopback server, step by step.

A failing gate of the same ``merge`` command is tested in test_report_cli.py, in-process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from loopback import LoopbackServer
from sessions import clean_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"

FEATURE = """\
Feature: support
  Scenario Outline: policy
    Given the model "m"
    When the user says "<q>"
    Then the answer contains "30 days"

    Examples:
      | id | q |
{rows}
"""


def script() -> str:
    """The bash block of the doc's "The same commands, locally" section."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## The same commands, locally", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_the_workflow_s_steps_use_the_same_commands_as_the_local_script() -> None:
    workflow = DOC.read_text(encoding="utf-8").split("```yaml", 1)[1].split("```", 1)[0]
    for needle in (
        "--llmeval-shard",
        "python -m pytest_llmeval merge",
        "--fail-on-regression",
        "--save-baseline",
        "--llmeval-cache",
        "--html",
        "|| [ $? -eq 1 ]",
    ):
        assert needle in workflow and needle in script(), needle


def test_record_on_main_then_replay_a_fork_s_pull_request_gated(tmp_path: Path, server: LoopbackServer) -> None:
    server.add_rule(None, "Within 30 days.")
    project = tmp_path / "project"
    (project / "features").mkdir(parents=True)
    # r0-r9 all hash to shard 2 of 2, r10 and r11 to shard 1.
    rows = "\n".join(f"      | r{i} | question {i} |" for i in range(12))
    (project / "features" / "support.feature").write_text(FEATURE.format(rows=rows), encoding="utf-8")
    (project / "test_features.py").write_text("from pytest_bdd import scenarios\nscenarios('features')\n")
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n")
    summary = tmp_path / "summary.md"
    bin_dir = Path(sys.executable).parent
    env = clean_env(
        tmp_path / "tmp",
        {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "OPENAI_BASE_URL": server.url,
            "GITHUB_STEP_SUMMARY": str(summary),
        },
    )
    done = subprocess.run(["bash", "-c", script()], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # main recorded every answer once; the pull request replayed them all.
    assert server.total_requests == 12
    merged = json.loads((project / "llmeval-report" / "llmeval-report.json").read_text())
    assert merged["overall"]["cases"] == 12 and merged["overall"]["passed"] == 12
    assert sorted(merged["run"]["shards"]) == ["1/2", "2/2"]
    assert merged["baseline"]["shared_cases"] == 12 and merged["gates"] == []
    assert {c["cache_hits"] for c in merged["cases"]} == {1}
    assert (project / "llmeval-report" / "llmeval-report.html").stat().st_size > 1000
    assert json.loads((project / "baseline.json").read_text())["entries"]
    # Each pytest run and each merge appended its summary: four shard runs, two merges.
    assert summary.read_text(encoding="utf-8").count("# LLM eval results") == 6
    assert "job summary appended" in done.stdout
