"""The plan-and-generate engine in real sessions: before the tests, once per request, within limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback import Fault, LoopbackServer
from project import Project


def many(project: Project, n: int, samples: int = 1, extra_tags: str = "") -> None:
    rows = "\n".join(f'{{"id": "c{i}", "q": "question {i}"}}' for i in range(n))
    project.file("features/rows.jsonl", rows)
    project.feature(
        f"""
        @samples:{samples} {extra_tags}
        Feature: many
          @dataset:rows.jsonl
          Scenario: s
            Given the model "m"
            When the user says "<q>"
            Then the answer equals "ok"
        """
    )


def test_every_planned_request_is_sent_before_the_first_test(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok", latency=0.2)
    many(project, 20, samples=2)
    project.pytester.makeconftest(
        """
        import json, os, time
        def pytest_runtest_setup(item):
            path = os.path.join(os.path.dirname(__file__), "first-test-at")
            if not os.path.exists(path):
                with open(path, "w") as f:
                    f.write(str(time.time()))
        """
    )
    result = project.run("--llmeval-cache=off", "--llmeval-concurrency=40", *mode)
    result.assert_outcomes(passed=20)
    assert project.server.total_requests == 40  # each request once, also across workers
    if not mode:  # under xdist each worker starts its tests once its own share is in
        first_test = float((project.path / "first-test-at").read_text())
        assert max(r.at for r in project.server.requests) <= first_test
    # 40 requests of 200 ms with 40 in flight: they overlapped.
    assert project.server.peak_in_flight >= 20


def test_concurrency_is_a_cap_for_the_whole_run(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok", latency=0.1)
    many(project, 30)
    project.run("--llmeval-cache=off", "--llmeval-concurrency=4", *mode).assert_outcomes(passed=30)
    assert project.server.peak_in_flight <= 4
    assert project.server.total_requests == 30


def test_rpm_holds_for_the_whole_run(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok")
    many(project, 40)
    project.run("--llmeval-cache=off", "--llmeval-rpm=600", *mode).assert_outcomes(passed=40)
    times = sorted(r.at for r in project.server.requests)
    assert len(times) == 40
    # 600/min is 10/s with at most one second of burst, for the whole run: no second holds
    # more than 20 requests (a limit per xdist worker would allow 40 in the first second).
    # The margin is for arrival jitter on a loaded machine, not for the limiter.
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 25


def test_rate_limit_with_retry_after_is_waited_out(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, Fault.status(429, retry_after_ms=300), times=3)
    project.server.add_rule(None, "ok")
    many(project, 6)
    result = project.run("--llmeval-cache=off", "--llmeval-max-retries=3", "--llmeval-report=json", *mode)
    result.assert_outcomes(passed=6)
    assert project.server.total_requests == 9
    assert project.report()["overall"]["sample_errors"] == 0


def test_every_fault_ends_as_an_error_with_a_reason(project: Project, mode: list[str]) -> None:
    faults = {
        "question 0": Fault.status(500),
        "question 1": Fault.status(429),
        "question 2": Fault.drop(),
        "question 3": Fault.garbage(b"{nope"),
        "question 4": Fault.refusal("No."),
        "question 5": Fault.timeout(3),
        "question 6": Fault.empty_choices(),
    }
    for pattern, fault in faults.items():
        project.server.add_rule(f"^{pattern}$", fault)
    project.server.add_rule(None, "ok")
    many(project, 8)
    result = project.run(
        "--llmeval-cache=off",
        "--llmeval-max-retries=1",
        "--llmeval-timeout=0.5",
        "--llmeval-rate-limit-timeout=1",
        "--llmeval-report=json",
        *mode,
    )
    result.assert_outcomes(passed=1, failed=7)
    cases = project.cases()
    assert len(cases) == 8
    reasons = {cid: c["reason"] for cid, c in cases.items() if c["verdict"] == "error"}
    assert len(reasons) == 7
    assert "HTTP 500" in reasons["s[c0]"] and "after 1 retries" in reasons["s[c0]"]
    assert "HTTP 429" in reasons["s[c1]"] and "still rate limited after waiting" in reasons["s[c1]"]
    assert "connection failed" in reasons["s[c2]"]
    assert "not JSON" in reasons["s[c3]"]
    assert "refused: No." in reasons["s[c4]"]
    assert "timed out" in reasons["s[c5]"]
    assert "no choices" in reasons["s[c6]"]
    assert cases["s[c7]"]["verdict"] == "pass"


def test_budget_stops_new_requests(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok")
    project.file("prices.json", '{"m": {"input": 1000000, "output": 0}}')  # $1 per prompt token
    many(project, 12)
    result = project.run(
        "--llmeval-cache=off",
        "--llmeval-concurrency=1",
        "--llmeval-max-cost=10",
        f"--llmeval-prices={project.path / 'prices.json'}",
        "--llmeval-report=json",
        *mode,
    )
    errored = [c for c in project.cases().values() if c["verdict"] == "error"]
    assert errored, result.stdout.str()
    assert all("budget reached" in c["reason"] for c in errored)
    assert project.server.total_requests < 12
    assert len(project.cases()) == 12


def test_unplanned_asks_use_the_same_engine(project: Project) -> None:
    project.server.add_rule(None, "ok")
    project.pytester.makepyfile(
        test_x="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m", samples=3)
        def test_x(llm):
            llm.ask("hi").check(graders.string_check(reference="ok", operation="eq"))
        """
    )
    project.run("--llmeval-concurrency=1").assert_outcomes(passed=1)
    assert project.server.peak_in_flight == 1
    project.run("--llmeval-cache=replay").assert_outcomes(passed=1)
    assert project.server.total_requests == 3


def test_progress_lines_in_a_log_and_silence_with_q(project: Project) -> None:
    project.server.add_rule(None, "ok")
    many(project, 5)
    result = project.run("--llmeval-cache=off")
    result.stdout.fnmatch_lines(["llmeval: 5/5 answered (0 cached) | 0 in flight | 0 retries | 0 errors | * in *s"])
    quiet = project.run("-q")
    assert "answered" not in quiet.stdout.str()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--llmeval-concurrency=0", "*--llmeval-concurrency: expected a whole number >= 1, got '0'*"),
        ("--llmeval-rpm=-5", "*--llmeval-rpm: expected a number > 0, got '-5'*"),
        ("--llmeval-tpm=lots", "*--llmeval-tpm: expected a number > 0, got 'lots'*"),
        ("--llmeval-max-cost=0", "*--llmeval-max-cost: expected a number > 0*"),
        ("--llmeval-prices=nope.json", "*--llmeval-prices*cannot read the price file*nope.json*"),
    ],
)
def test_invalid_limits_are_one_usage_error(project: Project, option: str, message: str) -> None:
    many(project, 1)
    result = project.run(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert project.server.total_requests == 0


def test_a_dead_worker_does_not_leave_others_waiting(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_LLMEVAL_STALE_AFTER", "1")
    project.server.add_rule(None, "ok")
    many(project, 10)
    project.pytester.makeconftest(
        """
        import os, pytest

        @pytest.hookimpl(tryfirst=True, wrapper=True)
        def pytest_runtestloop(session):
            marker = os.path.join(str(session.config.rootpath), "killed-once")
            # workerinput, not $PYTEST_XDIST_WORKER: this suite may itself run under xdist.
            workerid = getattr(session.config, "workerinput", {}).get("workerid")
            if workerid == "gw1" and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(3)  # dies before it plans or fetches anything
            return (yield)
        """
    )
    started = time.monotonic()
    result = project.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--llmeval-base-url={project.server.url}",
        "--llmeval-cache=off",
        "-n",
        "2",
        "--max-worker-restart=1",
        "--llmeval-report=json",
        timeout=120,
    )
    assert time.monotonic() - started < 60
    # The dead worker's test is reported as crashed; every other case ran, its answers
    # fetched by a live worker once the dead one's heartbeat never came.
    assert "= llmeval =" in result.stdout.str(), result.stdout.str() + result.stderr.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 10, result.stdout.str()
    assert outcomes.get("failed", 0) <= 1, result.stdout.str()  # a test running when gw1 died


def test_ctrl_c_during_generation_keeps_what_finished(server: LoopbackServer, tmp_path: Path) -> None:
    server.add_rule(None, "ok", latency=1.0)
    (tmp_path / "features").mkdir()
    rows = "\n".join(f'{{"id": "c{i}", "q": "question {i}"}}' for i in range(40))
    (tmp_path / "features" / "rows.jsonl").write_text(rows)
    (tmp_path / "features" / "f.feature").write_text(
        'Feature: f\n  @dataset:rows.jsonl\n  Scenario: s\n    Given the model "m"\n'
        '    When the user says "<q>"\n    Then the answer equals "ok"\n'
    )
    (tmp_path / "test_f.py").write_text("from pytest_bdd import scenarios\nscenarios('features')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--llmeval-base-url={server.url}",
            "--llmeval-concurrency=4",
            "-p",
            "no:xdist",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while server.total_requests < 9 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "generation interrupted:" in output and "finished answers are kept in the cache" in output
    entries = list((tmp_path / ".llmeval-cache").glob("*/*.json"))
    assert 4 <= len(entries) < 40
    for entry in entries:
        assert json.loads(entry.read_text())["response"]["text"] == "ok"
    assert not list((tmp_path / ".llmeval-cache").glob("*/.*.tmp"))


def test_cost_per_case_in_the_records(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok")
    project.file("prices.json", '{"m": {"input": 1000, "output": 2000}}')
    many(project, 3, samples=2)
    project.run(f"--llmeval-prices={project.path / 'prices.json'}", "--llmeval-report=json", *mode).assert_outcomes(
        passed=3
    )
    report = project.report()
    for case in report["cases"]:
        usage = case["usage"]
        expected = (usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 2000) / 1_000_000
        assert case["cost_usd"] == pytest.approx(expected)
    assert report["overall"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in report["cases"]))


def test_skipped_scenarios_are_not_planned(project: Project) -> None:
    project.server.add_rule(None, "ok")
    many(project, 3)
    project.pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name.endswith("[c1]"):
                    item.add_marker(pytest.mark.skip(reason="not today"))
        """
    )
    project.run("--llmeval-cache=off").assert_outcomes(passed=2, skipped=1)
    assert project.server.total_requests == 2


def test_a_budget_with_an_unpriced_model_errors_instead_of_spending(project: Project) -> None:
    project.server.add_rule(None, "ok")
    many(project, 2)
    result = project.run("--llmeval-cache=off", "--llmeval-max-cost=1")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no price for model 'm', so --llmeval-max-cost cannot hold*"])
    assert project.server.total_requests == 0


def test_the_budget_is_a_hard_cap_with_many_requests_in_flight(project: Project, mode: list[str]) -> None:
    # Each request may cost $0.20 (a 2000-token completion cap at $100 per 1M); the cap is $0.50.
    # Without reservations all 64 in flight would be sent and paid.
    project.server.add_rule(None, "x" * 8000, latency=0.2)  # 2000 completion tokens: the estimate is the cost
    project.file("prices.json", '{"m": {"input": 0, "output": 100}}')
    rows = "\n".join(f"      | c{i} | {i} |" for i in range(64))
    project.feature(
        f"""
        Feature: costly
          Scenario Outline: s
            Given the model "m"
            And the parameters:
              | max_tokens | 2000 |
            When the user says "question <q>"
            Then the answer contains "x"

            Examples:
              | id | q |
        {rows}
        """
    )
    result = project.run(
        "--llmeval-cache=off",
        "--llmeval-concurrency=64",
        "--llmeval-max-cost=0.5",
        f"--llmeval-prices={project.path / 'prices.json'}",
        "--llmeval-report=json",
        *mode,
    )
    cases = project.cases()
    spent = sum(c["cost_usd"] or 0.0 for c in cases.values() if c["verdict"] != "error")
    assert project.server.total_requests == 2  # two reservations of $0.20 fit in $0.50, a third does not
    assert spent <= 0.5 + 1e-9, result.stdout.str()
    refused = [c for c in cases.values() if c["verdict"] == "error"]
    assert len(refused) == 62 and all("budget reached" in c["reason"] for c in refused)
