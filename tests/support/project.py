"""A throwaway pytest project run against the loopback server: what plugin tests drive."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_bdd.feature
from loopback import LoopbackServer

SECRET = "sk-test-SECRET-0123456789abcdef"
"""A canary API key: it must never appear in anything the plugin writes."""


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
