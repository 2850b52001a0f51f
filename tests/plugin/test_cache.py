"""The response cache in real sessions: record, replay offline, refresh, damaged entries, xdist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loopback import Fault
from project import SECRET, Project

FEATURE = """
    @samples:3
    Feature: cached
      Scenario Outline: q
        Given the model "m"
        When the user says "<q>"
        Then the answer contains "yes"

        Examples:
          | q     |
          | one   |
          | two   |
"""


def entries(project: Project) -> list[Path]:
    return sorted((project.path / ".llmeval-cache").glob("*/*.json"))


def test_record_then_replay_never_touches_the_network(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "yes")
    project.feature(FEATURE)
    project.run(*mode).assert_outcomes(passed=2)
    assert project.server.total_requests == 6
    # Repeated samples of one case are distinct entries.
    assert len(entries(project)) == 6
    project.server.reset()
    project.server.add_rule(None, Fault.status(500))
    result = project.run("--llmeval-cache=replay", "--llmeval-report=json", *mode)
    result.assert_outcomes(passed=2)
    assert project.server.total_requests == 0
    assert project.report()["overall"]["cache_hits"] == 6
    result.stdout.fnmatch_lines(["overall*2/2 100.0%*6*"])


def test_record_mode_reads_hits_and_fills_misses(project: Project) -> None:
    project.server.add_rule(None, "yes")
    project.feature(FEATURE)
    project.run().assert_outcomes(passed=2)
    project.feature(FEATURE.replace("@samples:3", "@samples:4"))
    project.run().assert_outcomes(passed=2)
    assert project.server.total_requests == 6 + 2  # only the new fourth samples


def test_replay_miss_names_the_request_and_the_nearest_entry(project: Project) -> None:
    project.server.add_rule(None, "yes")
    project.feature(FEATURE)
    project.run().assert_outcomes(passed=2)
    project.feature(FEATURE.replace("| two   |", "| three |"))
    result = project.run("--llmeval-cache=replay", "--llmeval-report=json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR: every sample errored: replay miss: no cached answer for model 'm', sample 0, "
            "user message 'three'*",
            "*closest cached entry: *.llmeval-cache*.json",
            '*differs in messages: wanted ?{"content": "three", "role": "user"}?, cached ?{"content": "*',
        ]
    )
    (case,) = [c for c in project.report()["cases"] if c["verdict"] != "pass"]
    assert case["verdict"] == "error" and case["errors"] == 3


def test_refresh_calls_again_and_overwrites(project: Project) -> None:
    project.server.add_rule(None, "no")
    project.feature(FEATURE)
    project.run().assert_outcomes(failed=2)
    project.server.reset()
    project.server.add_rule(None, "yes")
    project.run().assert_outcomes(failed=2)  # record mode: stale answers still served
    assert project.server.total_requests == 0
    project.run("--llmeval-cache=refresh").assert_outcomes(passed=2)
    assert project.server.total_requests == 6
    project.run("--llmeval-cache=replay").assert_outcomes(passed=2)


def test_off_neither_reads_nor_writes(project: Project) -> None:
    project.server.add_rule(None, "yes")
    project.feature(FEATURE)
    project.run("--llmeval-cache=off").assert_outcomes(passed=2)
    project.run("--llmeval-cache=off").assert_outcomes(passed=2)
    assert project.server.total_requests == 12
    assert entries(project) == []


def test_damaged_entry_is_reported_and_skipped(project: Project) -> None:
    project.server.add_rule(None, "yes")
    project.feature(FEATURE)
    project.run().assert_outcomes(passed=2)
    victim = entries(project)[0]
    victim.write_text('{"format": 1, "response": {"te')
    result = project.run()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"damaged cache entry ignored: {victim}: *"])
    assert project.server.total_requests == 7  # the damaged one was fetched again...
    json.loads(victim.read_text())  # ...and rewritten whole


def test_errors_and_refusals_are_not_cached(project: Project) -> None:
    project.server.add_rule("one", Fault.refusal("no way"))
    project.server.add_rule("two", Fault.status(500))
    project.feature(FEATURE)
    result = project.run("--llmeval-max-retries=0")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*the model refused: no way*"])
    assert entries(project) == []


def test_concurrent_workers_write_one_cache(project: Project) -> None:
    project.server.add_rule(None, "yes")
    rows = "\n".join(f'{{"id": "c{i}", "q": "question {i}"}}' for i in range(40))
    project.file("features/rows.jsonl", rows)
    project.feature(
        """
        @samples:2
        Feature: many
          @dataset:rows.jsonl
          Scenario: s
            Given the model "m"
            When the user says "<q>"
            Then the answer contains "yes"
        """
    )
    project.run("-n", "2").assert_outcomes(passed=40)
    files = entries(project)
    assert len(files) == 80
    for file in files:
        json.loads(file.read_text())
    assert not list((project.path / ".llmeval-cache").glob("*/.*.tmp"))


def test_api_key_never_written(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    project.server.add_rule("one", "yes")
    # A 401 like OpenAI's echoes (part of) the key back in its message.
    project.server.add_rule("two", Fault.status(401, message=f"Incorrect API key provided: {SECRET}."))
    project.feature(FEATURE)
    result = project.run("--llmeval-report=json,md", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    assert SECRET not in result.stdout.str() + result.stderr.str()
    assert "Incorrect API key provided: [redacted]" in result.stdout.str()
    assert project.server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    for path in project.path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
