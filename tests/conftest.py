"""Shared fixtures: a loopback OpenAI-compatible server and helpers for pytester sessions."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_bdd.feature
from loopback import LoopbackServer

pytest_plugins = ["pytester"]

SECRET = "sk-test-SECRET-0123456789abcdef"


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


class Project:
    """A throwaway pytest project in ``pytester``'s folder, run against the loopback server."""

    def __init__(self, pytester: pytest.Pytester, server: LoopbackServer) -> None:
        self.pytester = pytester
        self.server = server
        self.path = pytester.path

    def feature(self, text: str, name: str = "eval") -> Path:
        # pytest-bdd memoizes parsed features per path in a module global, which in-process
        # pytester runs share: forget them so a rewritten file is read again.
        pytest_bdd.feature.features.clear()
        binding = self.path / "test_bdd_scenarios.py"
        if not binding.exists():
            binding.write_text("from pytest_bdd import scenarios\nscenarios('features')\n")
        path = self.path / "features" / f"{name}.feature"
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def file(self, relative: str, text: str) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def run(self, *args: str, base_url: bool = True) -> pytest.RunResult:
        extra = [f"--llmeval-base-url={self.server.url}"] if base_url else []
        return self.pytester.runpytest("-p", "no:cacheprovider", *extra, *args)

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "llmeval-report" / "llmeval-report.json").read_text())
        return data

    def cases(self) -> dict[str, dict[str, Any]]:
        return {c["case_id"]: c for c in self.report()["cases"]}


@pytest.fixture
def project(pytester: pytest.Pytester, server: LoopbackServer) -> Project:
    """A pytester project wired to the loopback server."""
    return Project(pytester, server)


@pytest.fixture(params=["plain", "xdist"])
def mode(request: pytest.FixtureRequest) -> list[str]:
    """Extra pytest arguments: run the same session plain and with ``-n 2``."""
    return [] if request.param == "plain" else ["-n", "2"]
