"""Shared fixtures: a loopback OpenAI-compatible server and helpers for pytester sessions."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

# httpx2 imports httpcore2 only when a client is made. Imported here, in the outer session,
# before an in-process pytester run makes one: pytester drops the modules an inner run
# imported, and a second copy of httpcore2 beside the classes httpx2 already holds breaks
# its mapping of connection errors (a raw RemoteProtocolError instead of APIConnectionError).
import httpcore2  # noqa: F401
import pytest
from loopback import LoopbackServer
from project import Project

pytest_plugins = ["pytester"]

# Where PYTHONDONTWRITEBYTECODE is set (as on this project's machines), every pytest process
# the suite starts (xdist workers, pytester subprocesses and their workers) compiles and
# assertion-rewrites the plugin and the tests from source: twice the time of an inner
# ``-n 2`` session. Bytecode in __pycache__ (ignored by git) changes no behaviour under test.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A fresh loopback server; answers are scripted per test with ``server.add_rule``."""
    with LoopbackServer(max_seconds=300) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_real_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the suite may reach OpenAI: clear the variables the SDK reads."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(pytester: pytest.Pytester, server: LoopbackServer) -> Project:
    """A pytester project wired to the loopback server."""
    return Project(pytester, server)


@pytest.fixture(params=["plain", "xdist"])
def mode(request: pytest.FixtureRequest) -> list[str]:
    """Extra pytest arguments: run the same session plain and with ``-n 2``."""
    return [] if request.param == "plain" else ["-n", "2"]
