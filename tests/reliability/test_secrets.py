"""Secrets: a canary API key, organisation and project id never appear in anything the plugin writes.

A session runs with canary ``OPENAI_API_KEY``, ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID`` against a
loopback server that echoes the request's headers back in its error messages (401, 400 and a
retried 500, as some gateways do) and quotes a masked key as OpenAI's 401 does. It runs with
``-v --tb=long -rA``, every report format the plugin has, a JUnit XML file and a saved baseline,
plain and under ``-n 2``. Then every file in the project (cache, reports, baseline, JUnit XML),
the temporary folder, and stdout/stderr are searched for the canaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from loopback import Fault, LoopbackServer, Reply
from sessions import bdd_project, files_under, jsonl, result_of, run_pytest, shared, write

from pytest_llmeval._reports.writers import WRITERS

KEY = "sk-proj-canaryKEY0c0ffee0123456789abcdefABCDEF"
ORG = "org-canaryORG0123456789ab"
PROJECT = "proj_canaryPRJ0123456789"
MASKED = f"{KEY[:8]}{'*' * 24}{KEY[-4:]}"
CANARIES = {
    "api key": KEY,
    "api key (core)": KEY[8:-4],
    "masked api key": MASKED,
    "organisation": ORG,
    "organisation (core)": ORG[4:],
    "project": PROJECT,
    "project (core)": PROJECT[5:],
}
ECHOED = ["authorization", "openai-organization", "openai-project"]

FEATURE = """
    Feature: secrets
      @dataset:rows.jsonl
      Scenario: secrets
        Given the model "m"
        When the user says "<q>"
        Then the answer contains "ok"
"""

ROWS = {
    "good": "ok",
    "wrong": "not what was asked",
    "echo-401": Fault.echo_headers(401, ECHOED, message="Unauthorized"),
    "echo-400": Fault.echo_headers(400, ECHOED, message="Bad request"),
    "echo-500": Fault.echo_headers(500, ECHOED, message="Upstream failed"),
    "masked-key": Fault.status(401, message=f"Incorrect API key provided: {MASKED}.", code="invalid_api_key"),
    "refusal-echo": Fault.refusal(f"I will not repeat {KEY} or {ORG} or {PROJECT}"),
}


def run_secrets(folder: Path, mode: tuple[str, ...]) -> dict[str, Any]:
    bdd_project(folder, FEATURE, name="secrets")
    write(folder, "features/rows.jsonl", jsonl({"id": name, "q": f"secret {name}"} for name in ROWS))
    env = {"OPENAI_API_KEY": KEY, "OPENAI_ORG_ID": ORG, "OPENAI_PROJECT_ID": PROJECT}
    with LoopbackServer(max_seconds=300) as server:
        for name, reply in ROWS.items():
            server.add_rule(f"^secret {name}$", reply if isinstance(reply, Reply) else Reply.text(reply))
        session = run_pytest(
            folder,
            f"--llmeval-base-url={server.url}",
            "--llmeval-max-retries=1",
            f"--llmeval-report={','.join(WRITERS)}",
            "--llmeval-save-baseline=baselines/base.json",
            "--junitxml=junit.xml",
            "-v",
            "--tb=long",
            "-rA",
            *mode,
            env=env,
            timeout=120,
            tmpdir=folder / "tmp",
        )
        headers = [r.headers for r in server.requests]
    written = {
        str(path.relative_to(folder)): path.read_bytes().decode("utf-8", "replace")
        for path in files_under(folder, skip=("features",))
        if path.name not in ("test_bdd_scenarios.py",)
    }
    return {
        "ret": session.ret,
        "timed_out": session.timed_out,
        "output": session.output,
        "files": written,
        "headers": headers,
    }


shared("secrets_plain", "secrets-plain", lambda folder: run_secrets(folder, ()), used_by=["secrets"])
shared("secrets_xdist", "secrets-xdist", lambda folder: run_secrets(folder, ("-n", "2")), used_by=["secrets"])


@pytest.fixture(params=["plain", "xdist"])
def secrets(request: pytest.FixtureRequest, shared_root: Path) -> dict[str, Any]:
    return result_of(shared_root, f"secrets_{request.param}")


def test_the_canaries_reached_the_server(secrets: dict[str, Any]) -> None:
    """The test is only worth something if the SDK really sent the canaries (the echo had them to echo)."""
    assert not secrets["timed_out"] and secrets["ret"] == 1, secrets["output"][-3000:]
    sent = secrets["headers"]
    assert sent and all(h.get("authorization") == f"Bearer {KEY}" for h in sent)
    assert all(h.get("openai-organization") == ORG and h.get("openai-project") == PROJECT for h in sent)


def test_every_case_is_recorded_and_every_echo_errored(secrets: dict[str, Any]) -> None:
    report = next(text for name, text in secrets["files"].items() if name.endswith("llmeval-report.json"))
    for name in ROWS:
        assert f'"secrets[{name}]"' in report
    assert "[redacted]" in secrets["output"]  # the echoes were there, and were redacted


@pytest.mark.parametrize("canary", list(CANARIES))
def test_no_canary_in_the_terminal(secrets: dict[str, Any], canary: str) -> None:
    value = CANARIES[canary]
    lines = [line for line in secrets["output"].splitlines() if value in line]
    assert lines == [], f"the {canary} is in the output: {lines[:3]}"


@pytest.mark.parametrize("canary", list(CANARIES))
def test_no_canary_in_any_file_written(secrets: dict[str, Any], canary: str) -> None:
    value = CANARIES[canary]
    assert any(name.startswith(".llmeval-cache") for name in secrets["files"])
    assert "junit.xml" in secrets["files"] and "baselines/base.json" in secrets["files"]
    leaked = sorted(name for name, text in secrets["files"].items() if value in text)
    assert leaked == [], f"the {canary} is written in {leaked}"
