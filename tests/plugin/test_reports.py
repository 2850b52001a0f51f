"""The report formats of a real run, plain and with ``-n 2``: HTML, JUnit properties, the GitHub job summary, shards."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from project import Project

SUPPORT = """
    Feature: support
      Scenario Outline: policy
        Given the model "m"
        When the user says "<q>"
        Then the answer contains "30 days"

        Examples:
          | id       | q                        |
          | refund   | How long for a refund?   |
          | shipping | How long does shipping take? |
          | returns  | Can I return it?         |
"""

JUNIT_NAMES = [
    "llmeval_case",
    "llmeval_pass_rate",
    "llmeval_ci_low",
    "llmeval_ci_high",
    "llmeval_samples",
    "llmeval_passes",
    "llmeval_errors",
    "llmeval_model",
    "llmeval_verdict",
    "llmeval_cost_usd",
]


def answers(project: Project, shipping: str = "<img src=x onerror=alert(1)> no idea") -> None:
    project.server.add_rule("refund", "You have 30 days.")
    project.server.add_rule("shipping", shipping)
    project.server.add_rule("return", "Yes, within 30 days.")


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    """Test case name -> its properties."""
    root = ET.parse(path).getroot()
    found = {}
    for case in root.iter("testcase"):
        props = case.find("properties")
        found[case.get("name", "")] = {} if props is None else {p.get("name", ""): p.get("value", "") for p in props}
    return found


def test_html_junit_and_job_summary_from_one_run(project: Project, mode: list[str], tmp_path: Path) -> None:
    answers(project)
    project.feature(SUPPORT)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    project.pytester._monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = project.run(
        "--llmeval-report=html,json", "--junitxml=junit.xml", "-W", "error::pytest.PytestWarning", *mode
    )
    result.assert_outcomes(passed=2, failed=1)
    assert "warning" not in result.stdout.str().lower()
    page = (project.path / "llmeval-report" / "llmeval-report.html").read_text(encoding="utf-8")
    # Self-contained: no remote resource; the data block holds the JSON report, < escaped.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<img src=x" not in page
    embedded = re.search(r'<script type="application/json" id="llmeval-data">(.*?)</script>', page, re.S)
    assert embedded is not None
    data = json.loads(embedded.group(1))
    assert data["report"]["cases"] == project.report()["cases"]
    assert data["report"]["run"]["models"] == ["m"] and data["report"]["run"]["options"]["cache"] == "record"
    # JUnit: every eval case carries the properties, with the numbers of the JSON report.
    props = junit_properties(project.path / "junit.xml")
    assert len(props) == 3
    for name, values in props.items():
        assert list(values) == JUNIT_NAMES, name
    shipping = next(v for k, v in props.items() if "shipping" in k)
    assert shipping["llmeval_verdict"] == "fail" and shipping["llmeval_pass_rate"] == "0"
    assert shipping["llmeval_samples"] == "1" and shipping["llmeval_passes"] == "0"
    assert shipping["llmeval_model"] == "m" and shipping["llmeval_case"].endswith("::policy[shipping]::m")
    case = project.cases()["policy[shipping]"]
    assert float(shipping["llmeval_ci_high"]) == pytest.approx(case["interval"][1], rel=1e-5)
    # The job summary: appended, with the failing case's worst sample (as text, escaped).
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n# LLM eval results")
    assert "<summary>policy[shipping] on m: fail (0/1)</summary>" in text
    # Reasons sit in the summary's HTML and are escaped; the answer sits in a code block, where it is text.
    assert "got '&lt;img src=x onerror=alert(1)&gt; no idea'" in text
    assert "```\n<img src=x onerror=alert(1)> no idea\n```" in text
    assert "Cost: $" in text
    result.stdout.fnmatch_lines([f"job summary appended: {summary}"])


def test_junit_baseline_status_is_the_report_s(project: Project, mode: list[str]) -> None:
    answers(project, shipping="30 days")
    project.feature(SUPPORT)
    project.run("--llmeval-save-baseline=base.json").assert_outcomes(passed=3)
    project.server.reset()
    project.server.add_rule("refund", "Ask us.")  # pass -> fail with one sample each: regressed
    project.server.add_rule(None, "30 days")
    result = project.run(
        "--llmeval-cache=off", "--llmeval-baseline=base.json", "--junitxml=junit.xml", "--llmeval-report=json", *mode
    )
    result.assert_outcomes(passed=2, failed=1)
    props = junit_properties(project.path / "junit.xml")
    status = {k.split("[")[1].split("-")[0]: v.get("llmeval_baseline") for k, v in props.items()}
    assert status == {"refund": "regressed", "shipping": "unchanged", "returns": "unchanged"}
    changes = {c["case_id"]: c["change"] for c in project.report()["baseline"]["changes"]}
    assert changes == {"policy[refund]": "regressed", "policy[shipping]": "unchanged", "policy[returns]": "unchanged"}


def test_no_junit_file_no_properties(project: Project) -> None:
    answers(project)
    project.feature(SUPPORT)
    project.pytester.makepyfile(
        test_props="""
        def test_props(request):
            assert request.node.user_properties == []
        """
    )
    project.run().assert_outcomes(passed=3, failed=1)


def test_shards_split_the_suite_and_merge_into_the_whole(project: Project, mode: list[str]) -> None:
    answers(project)
    rows = "\n".join(f"          | r{i} | How long for a refund {i}? |" for i in range(10))
    project.feature(SUPPORT.split("          | refund")[0] + rows + "\n")
    seen: list[set[str]] = []
    for index in (1, 2):
        result = project.run(
            f"--llmeval-shard={index}/2", "--llmeval-report=json", f"--llmeval-report-dir=shard-{index}", *mode
        )
        report = json.loads((project.path / f"shard-{index}" / "llmeval-report.json").read_text())
        seen.append({c["case_id"] for c in report["cases"]})
        outcomes = result.parseoutcomes()
        assert outcomes["passed"] == len(seen[-1])
        if not mode:  # xdist's controller does not count what its workers deselected
            assert outcomes["deselected"] == 10 - len(seen[-1])
        assert report["run"]["shards"] == [f"{index}/2"]
    assert sum(map(len, seen)) == 10 and len(seen[0] | seen[1]) == 10  # every case once
    assert all(1 <= len(s) <= 9 for s in seen)

    from pytest_llmeval.__main__ import main

    shards = [str(project.path / f"shard-{i}" / "llmeval-report.json") for i in (1, 2)]
    assert main(["merge", *shards, "--out", str(project.path / "all.json"), "--min-pass-rate", "1"]) == 0
    merged = json.loads((project.path / "all.json").read_text())
    assert merged["overall"]["cases"] == 10 and merged["overall"]["passed"] == 10
    assert sorted(merged["run"]["shards"]) == ["1/2", "2/2"]


def test_shard_is_checked(project: Project) -> None:
    project.feature(SUPPORT)
    result = project.run("--llmeval-shard=3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llmeval-shard: expected I/N with 1 <= I <= N, got '3/2'*"])
