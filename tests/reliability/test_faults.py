"""The fault matrix: every fault a provider can produce, through real HTTP, plain and under ``-n 2``.

One session per mode runs a dataset whose rows each meet one scripted fault of the loopback
server (and a second session replays the cache it recorded). For every row the tests check
what the user sees: the case is recorded, its verdict and reason, the pytest outcome, how
many requests were sent, whether an answer was stored, and that a replay never turns the
fault into a pass. The run always ends: each session is a subprocess with a time bound.
The server killed mid-run and an xdist worker killed mid-run are sessions of their own.

docs/reliability.md has the table of these outcomes; keep the two in step.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import Fault, LoopbackServer, Reply, last_user_text
from sessions import Session, bdd_project, cache_state, jsonl, result_of, run_folders, run_pytest, shared, write

RETRIES = 1
OPTIONS = (
    "--llmeval-cache=record",
    f"--llmeval-max-retries={RETRIES}",
    "--llmeval-timeout=0.5",
    "--llmeval-rate-limit-timeout=3",
    "--llmeval-concurrency=8",
    "--llmeval-report=json,md",
    "--junitxml=junit.xml",
    "-rA",
)
MODES = {"plain": (), "xdist": ("-n", "2")}
SESSION_BOUND = 120.0


def completion(content: Any, *, usage: Any = None, finish_reason: str = "stop") -> Reply:
    """A 200 whose body is a chat completion written by hand (for contents the server would not make)."""
    body = {
        "id": "chatcmpl-handmade",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": usage if usage is not None else {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    return Fault.garbage(json.dumps(body))


@dataclass(frozen=True)
class Row:
    """One fault and what the user must see for it."""

    name: str
    replies: tuple[tuple[Reply, int | None], ...]
    """Replies in order for this row's request: (reply, times), the last usually forever."""
    shows: str
    """The fault, as docs/reliability.md names it."""
    verdicts: tuple[str, ...]
    """The verdicts allowed (``pass`` only where the fault is one the engine must absorb)."""
    reason: tuple[str, ...] = ()
    """Text the case's reason (or, for a failure, the failure table) must contain."""
    requests: int | None = None
    """Requests the server must receive for this row, when that is part of the contract."""
    stored: bool = False
    """Whether an answer is written to the cache."""
    pending: str | None = None
    """Why today's plugin does not do this yet (an issue number): the row is a strict xfail."""

    @property
    def message(self) -> str:
        return f"fault {self.name}"


FOREVER = None
ROWS = (
    Row("control", ((Reply.text("ok"), FOREVER),), "a good answer", ("pass",), requests=1, stored=True),
    Row(
        "429-retry-after",
        ((Fault.status(429, retry_after=1), 1), (Reply.text("ok"), FOREVER)),
        "429 with `Retry-After: 1`, once",
        ("pass",),
        requests=2,
        stored=True,
    ),
    Row(
        "429-no-retry-after",
        ((Fault.status(429), 2), (Reply.text("ok"), FOREVER)),
        "429 without `Retry-After`, twice",
        ("pass",),
        requests=3,
        stored=True,
    ),
    Row(
        "429-beyond-max-retries",
        ((Fault.status(429, retry_after_ms=100), 5), (Reply.text("ok"), FOREVER)),
        f"429 (`retry-after-ms: 100`) 5 times, more than `--llmeval-max-retries={RETRIES}`",
        ("pass",),
        requests=6,
        stored=True,
    ),
    Row(
        "429-past-the-timeout",
        ((Fault.status(429, retry_after_ms=400), FOREVER),),
        "429 on every try, longer than `--llmeval-rate-limit-timeout=3`",
        ("error",),
        ("HTTP 429: loopback fault: HTTP 429 (still rate limited after waiting 3 s;", "rate-limit-timeout is 3 s)"),
    ),
    Row(
        "429-wait-over-the-timeout",
        ((Fault.status(429, retry_after=3600), FOREVER),),
        "429 with `Retry-After: 3600`, more than the timeout",
        ("error",),
        ("HTTP 429: loopback fault: HTTP 429 (the server asked to wait 3600 s, more than 3 s of",),
        requests=1,
    ),
    Row(
        "429-insufficient-quota",
        ((Fault.status(429, code="insufficient_quota"), FOREVER),),
        "429 `insufficient_quota`",
        ("error",),
        ("HTTP 429: You exceeded your current quota",),
        requests=1,
    ),
    Row(
        "500-once",
        ((Fault.status(500), 1), (Reply.text("ok"), FOREVER)),
        "HTTP 500 once, then an answer",
        ("pass",),
        requests=2,
        stored=True,
    ),
    *(
        Row(
            f"{status}",
            ((Fault.status(status), FOREVER),),
            f"HTTP {status} on every try",
            ("error",),
            (f"HTTP {status}: loopback fault: HTTP {status} (after {RETRIES} retries)",),
            requests=RETRIES + 1,
        )
        for status in (500, 502, 503)
    ),
    Row(
        "400",
        ((Fault.status(400, message="Invalid 'messages'"), FOREVER),),
        "HTTP 400",
        ("error",),
        ("HTTP 400: Invalid 'messages'",),
        requests=1,
    ),
    Row(
        "timeout",
        ((Fault.timeout(5), FOREVER),),
        "no answer within `--llmeval-timeout=0.5`",
        ("error",),
        ("request timed out", f"(after {RETRIES} retries)"),
        requests=RETRIES + 1,
    ),
    Row(
        "dropped-connection",
        ((Fault.drop(), FOREVER),),
        "connection closed without a byte",
        ("error",),
        ("connection failed: Server disconnected (after", f"(after {RETRIES} retries)"),
        requests=RETRIES + 1,
    ),
    Row(
        "garbage-body",
        ((Fault.garbage(b"{nope"), FOREVER),),
        "200 with a body that is not JSON",
        ("error",),
        ("malformed response body (not JSON)",),
    ),
    Row(
        "html-body",
        ((Fault.garbage("<html><body>502 Bad Gateway</body></html>", "text/html"), FOREVER),),
        "200 with an HTML page (`text/html`)",
        ("error",),
        ("malformed response: not a chat completion ('<html><body>502 Bad Gateway</body></html>')",),
    ),
    Row(
        "empty-body",
        ((Fault.garbage(b""), FOREVER),),
        "200 with an empty body",
        ("error",),
        ("malformed response body (not JSON): Expecting value",),
    ),
    Row(
        "not-a-completion",
        ((Fault.garbage(b'{"hello": "world"}'), FOREVER),),
        "200 with JSON that is not a completion (no `choices`)",
        ("error",),
        ("the server returned no choices",),
    ),
    Row(
        "no-choices",
        ((Fault.empty_choices(), FOREVER),),
        "a completion with `choices: []`",
        ("error",),
        ("the server returned no choices",),
    ),
    Row(
        "refusal",
        ((Fault.refusal("No, I won't."), FOREVER),),
        "a refusal (`content: null`, `refusal` set)",
        ("error",),
        ("the model refused: No, I won't.",),
        requests=1,
    ),
    Row(
        "empty-answer",
        ((Reply.text(""), FOREVER),),
        'an empty answer (`content: ""`)',
        ("error",),
        ("empty answer (finish_reason=stop)",),
        requests=1,
    ),
    Row(
        "whitespace-answer",
        ((Reply.text(" \n\t "), FOREVER),),
        "a whitespace-only answer",
        ("error",),
        ("empty answer (finish_reason=stop)",),
    ),
    Row(
        "length",
        ((Fault.length("The refund window is"), FOREVER),),
        "`finish_reason: length` (the answer cut off)",
        ("fail",),
        ("cut off: the answer reached the token limit, finish_reason=length",),
        requests=1,
        stored=True,
    ),
    Row(
        "content-filter-empty",
        ((Fault.content_filter(""), FOREVER),),
        '`finish_reason: content_filter`, `content: ""`',
        ("error",),
        ("empty answer (finish_reason=content_filter)",),
    ),
    Row(
        "content-filter-partial",
        ((Fault.content_filter("ok, here is how to"), FOREVER),),
        "`finish_reason: content_filter` with a partial answer that the graders would pass",
        ("fail", "error"),
        ("the content filter stopped the answer (finish_reason=content_filter)",),
    ),
    Row(
        "content-int",
        ((completion(42), FOREVER),),
        "`content` is a number",
        ("error",),
        ("malformed response: the message content is int, not text",),
    ),
    Row(
        "content-object",
        ((completion({"text": "ok"}), FOREVER),),
        "`content` is an object",
        ("error",),
        ("malformed response: the message content is dict, not text",),
    ),
    Row(
        "lone-surrogate",
        ((completion("ok \ud800"), FOREVER),),
        "an answer with a lone surrogate (`\\ud800`)",
        ("error",),
        ("not valid Unicode",),
    ),
    Row(
        "usage-not-a-number",
        ((completion("ok", usage={"prompt_tokens": "many", "completion_tokens": -3}), FOREVER),),
        '`usage` with `"many"` and `-3` tokens (the answer itself is good)',
        ("pass",),
        requests=1,
        stored=True,
    ),
)
BY_NAME = {row.name: row for row in ROWS}

FEATURE = """
    Feature: faults
      @dataset:faults.jsonl
      Scenario: faults
        Given the model "m"
        When the user says "<q>"
        Then the answer contains "ok"
"""


def script(server: LoopbackServer) -> None:
    for row in ROWS:
        for reply, times in row.replies:
            server.add_rule(f"^{row.message}$", reply, times=times)


def junit_outcomes(path: Path) -> dict[str, str]:
    """pytest's outcome of every test case in a JUnit XML file, by test name."""
    outcomes: dict[str, str] = {}
    if not path.exists():
        return outcomes
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        outcome = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        outcomes[case.get("name", "")] = outcome
    return outcomes


def summary(session: Session, folder: Path, report_dir: str, junit: str) -> dict[str, Any]:
    report_path = folder / report_dir / "llmeval-report.json"
    md_path = folder / report_dir / "llmeval-report.md"
    return {
        "ret": session.ret,
        "timed_out": session.timed_out,
        "elapsed": session.elapsed,
        "output": session.output,
        "noise": session.noise(),
        "report": json.loads(report_path.read_text()) if report_path.exists() else None,
        "markdown": md_path.read_text() if md_path.exists() else None,
        "junit": junit_outcomes(folder / junit),
    }


def run_matrix(folder: Path, mode: str) -> dict[str, Any]:
    bdd_project(folder, FEATURE)
    write(folder, "features/faults.jsonl", jsonl({"id": row.name, "q": row.message} for row in ROWS))
    with LoopbackServer(max_seconds=SESSION_BOUND * 2) as server:
        script(server)
        args = (f"--llmeval-base-url={server.url}", *OPTIONS, *MODES[mode])
        record = run_pytest(folder, *args, timeout=SESSION_BOUND, tmpdir=folder / "tmp")
        sent: dict[str, int] = {}
        for request in server.requests:
            text = last_user_text(request.body) if isinstance(request.body, dict) else ""
            sent[text] = sent.get(text, 0) + 1
        first = summary(record, folder, "llmeval-report", "junit.xml")
        first["requests"] = sent
        cache = cache_state(folder / ".llmeval-cache")
        first["stored"] = sorted(cache.user_messages())
        first["cache_problems"] = [str(p) for p in cache.unparsable + cache.strays]
        first["run_folders"] = [str(p) for p in run_folders(folder / "tmp")]
        if mode != "plain":  # replaying is the same under xdist; once is enough for the time it costs
            return {"record": first}
        before = server.total_requests
        replay = run_pytest(
            folder,
            *(a for a in args if not a.startswith(("--llmeval-cache=", "--junitxml"))),
            "--llmeval-cache=replay",
            "--llmeval-report-dir=replay-report",
            "--junitxml=junit-replay.xml",
            timeout=SESSION_BOUND,
            tmpdir=folder / "tmp",
        )
        second = summary(replay, folder, "replay-report", "junit-replay.xml")
        second["requests"] = server.total_requests - before
    return {"record": first, "replay": second}


shared("matrix_plain", "fault-matrix-plain", lambda folder: run_matrix(folder, "plain"), used_by=["matrix"])
shared("matrix_xdist", "fault-matrix-xdist", lambda folder: run_matrix(folder, "xdist"), used_by=["matrix"])


@pytest.fixture
def matrix_plain(shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, "matrix_plain")


@pytest.fixture
def matrix_xdist(shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, "matrix_xdist")


@pytest.fixture(params=list(MODES))
def matrix(request: pytest.FixtureRequest, shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, f"matrix_{request.param}")


def case_of(run: dict[str, Any], row: Row) -> dict[str, Any]:
    assert run["report"] is not None, f"no JSON report was written:\n{run['output'][-3000:]}"
    cases = {c["case_id"]: c for c in run["report"]["cases"]}
    case_id = f"faults[{row.name}]"
    assert case_id in cases, f"{case_id} is not recorded; recorded: {sorted(cases)}"
    case: dict[str, Any] = cases[case_id]
    return case


def shown(case: dict[str, Any]) -> str:
    """Everything the report says about a case: its reason and every sample's error."""
    return " | ".join([case.get("reason") or "", *((s.get("error") or "") for s in case["sample_records"])])


def pending(row: Row) -> Any:
    marks = [pytest.mark.xfail(reason=row.pending, strict=True)] if row.pending else []
    return pytest.param(row, id=row.name, marks=marks)


def test_the_matrix_runs_end_with_every_case_and_no_noise(matrix: dict[str, Any]) -> None:
    for phase in ("record", "replay"):
        if phase not in matrix:
            continue
        run = matrix[phase]
        assert not run["timed_out"], f"{phase}: the run did not end within {SESSION_BOUND} s"
        assert run["ret"] == 1, f"{phase}: exit code {run['ret']}:\n{run['output'][-3000:]}"
        assert run["noise"] == [], f"{phase}: traceback noise: {run['noise'][:5]}"
        assert run["report"] is not None
        assert len(run["report"]["cases"]) == len(ROWS)
        assert "requests:" in run["output"]
        assert len(run["junit"]) == len(ROWS)
    record = matrix["record"]
    assert record["cache_problems"] == []
    assert record["run_folders"] == []
    if "replay" in matrix:
        assert matrix["replay"]["requests"] == 0  # replay never touches the network


@pytest.mark.parametrize("row", [pending(row) for row in ROWS])
def test_fault(matrix: dict[str, Any], row: Row) -> None:
    run = matrix["record"]
    case = case_of(run, row)
    assert case["verdict"] in row.verdicts, f"{row.name}: verdict {case['verdict']}: {shown(case)}"
    passed = case["verdict"] == "pass"
    assert run["junit"].get(f"test_faults[{row.name}]") == ("passed" if passed else "failed")
    text = shown(case) if case["verdict"] == "error" else run["output"]
    for part in row.reason:
        assert part in text, f"{row.name}: {part!r} not in {text[-2000:]!r}"
    if case["verdict"] == "error":
        assert case["errors"] == 1 and case["pass_rate"] is None
        error = case["sample_records"][0]["error"]
        assert error and error[:60] in run["output"], f"{row.name}: the sample's error is not shown: {error!r}"
    if row.requests is not None:
        assert run["requests"].get(row.message, 0) == row.requests
    assert (row.message in run["stored"]) == row.stored, f"{row.name}: stored={row.message in run['stored']}"


@pytest.mark.parametrize("row", [pending(row) for row in ROWS])
def test_fault_replayed(matrix_plain: dict[str, Any], row: Row) -> None:
    """What was recorded replays to the same verdict; a fault (never stored) is a replay miss, not a pass."""
    first, again = case_of(matrix_plain["record"], row), case_of(matrix_plain["replay"], row)
    if row.stored:
        assert again["verdict"] == first["verdict"]
        assert again["cache_hits"] == 1
    else:
        assert again["verdict"] == "error"
        assert "replay miss" in shown(again)


def test_length_is_said_in_the_failure_table_and_the_reports(matrix: dict[str, Any]) -> None:
    run = matrix["record"]
    case = case_of(run, BY_NAME["length"])
    (sample,) = case["sample_records"]
    assert sample["finish_reason"] == "length" and sample["answer"] == "The refund window is"
    table = [line for line in run["output"].splitlines() if "The refund window is" in line or "cut off" in line]
    assert any("cut off" in line for line in table), table
    assert run["markdown"] is not None and "cut off" in run["markdown"]


# ------------------------------------------------------------------------- deaths in mid-run


def dying_project(folder: Path, cases: int) -> None:
    bdd_project(folder, FEATURE)
    write(folder, "features/faults.jsonl", jsonl({"id": f"c{i}", "q": f"fault c{i}"} for i in range(cases)))


def run_server_killed(folder: Path, mode: str) -> dict[str, Any]:
    """The provider dies at the 5th request: what was answered passes, the rest errors, the run ends."""
    dying_project(folder, 12)
    with LoopbackServer(max_seconds=SESSION_BOUND, latency=0.05) as server:
        server.add_rule(lambda body: server.total_requests >= 5, Fault.kill())
        server.add_rule(None, "ok")
        session = run_pytest(
            folder,
            f"--llmeval-base-url={server.url}",
            *OPTIONS,
            "--llmeval-concurrency=4",
            "--llmeval-max-retries=0",
            *MODES[mode],
            timeout=SESSION_BOUND,
            tmpdir=folder / "tmp",
        )
        stopped = server.wait(5)
    result = summary(session, folder, "llmeval-report", "junit.xml")
    stored = cache_state(folder / ".llmeval-cache")
    result.update(
        stopped=stopped,
        cache_problems=[str(p) for p in stored.unparsable + stored.strays],
        stored=len(stored.entries),
        run_folders=[str(p) for p in run_folders(folder / "tmp")],
    )
    return result


for _mode in MODES:
    shared(
        f"server_killed_{_mode}",
        f"server-killed-{_mode}",
        lambda folder, mode=_mode: run_server_killed(folder, mode),
        used_by=["server_killed"],
    )


@pytest.fixture(params=list(MODES))
def server_killed(request: pytest.FixtureRequest, shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, f"server_killed_{request.param}")


def test_the_server_killed_mid_run(server_killed: dict[str, Any]) -> None:
    run = server_killed
    assert run["stopped"], "the server did not die"
    assert not run["timed_out"] and run["ret"] == 1, run["output"][-3000:]
    assert run["noise"] == []
    assert run["report"] is not None
    cases = run["report"]["cases"]
    assert len(cases) == 12
    verdicts = [c["verdict"] for c in cases]
    assert set(verdicts) == {"pass", "error"}, verdicts
    assert 1 <= verdicts.count("pass") <= 4
    for case in cases:
        if case["verdict"] == "error":
            assert "connection failed" in shown(case), shown(case)
    assert run["cache_problems"] == []
    assert run["stored"] == verdicts.count("pass")
    assert run["run_folders"] == []


WORKER_KILLER = """
    import os, signal

    def pytest_runtest_call(item):
        # The worker running the third case dies like an OOM-killed process: no cleanup at all.
        if os.environ.get("PYTEST_XDIST_WORKER") and item.name.endswith("[c3]"):
            os.kill(os.getpid(), signal.SIGKILL)
"""


def run_worker_killed(folder: Path) -> dict[str, Any]:
    dying_project(folder, 8)
    write(folder, "conftest.py", WORKER_KILLER)
    with LoopbackServer(max_seconds=SESSION_BOUND) as server:
        server.add_rule(None, "ok")
        session = run_pytest(
            folder,
            f"--llmeval-base-url={server.url}",
            *OPTIONS,
            "-n",
            "2",
            timeout=SESSION_BOUND,
            tmpdir=folder / "tmp",
        )
    stored = cache_state(folder / ".llmeval-cache")
    result = summary(session, folder, "llmeval-report", "junit.xml")
    result["cache_problems"] = [str(p) for p in stored.unparsable + stored.strays]
    result["stored"] = len(stored.entries)
    result["run_folders"] = [str(p) for p in run_folders(folder / "tmp")]
    return result


shared("worker_killed", "worker-killed", run_worker_killed)


@pytest.fixture
def worker_killed(shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, "worker_killed")


def test_an_xdist_worker_killed_mid_run(worker_killed: dict[str, Any]) -> None:
    run = worker_killed
    assert not run["timed_out"] and run["ret"] == 1, run["output"][-3000:]
    assert "crashed" in run["output"]
    assert run["junit"].get("test_faults[c3]") == "failed"
    assert sum(o == "passed" for o in run["junit"].values()) == 7
    assert run["cache_problems"] == [] and run["stored"] == 8
    assert run["run_folders"] == []


def test_a_case_whose_worker_was_killed_is_recorded_as_an_error(worker_killed: dict[str, Any]) -> None:
    assert worker_killed["report"] is not None
    cases = {c["case_id"]: c for c in worker_killed["report"]["cases"]}
    assert len(cases) == 8
    assert cases["faults[c3]"]["verdict"] == "error"
    assert "crash" in (cases["faults[c3]"]["reason"] or "")
