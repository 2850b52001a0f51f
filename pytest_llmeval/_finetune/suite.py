"""A suite's graders as OpenAI grader objects: ``finetune graders FEATURE_OR_TEST --out graders.json``.

The suite is collected by pytest itself, in this process (``--collect-only``, nothing is
sent), and each item is planned by the plugin's own planners — the code that plans a run
before its tests — so every case gets exactly the graders a run would give it: steps,
tags, Examples and dataset rows, named custom graders. Cases whose graders appear only
when the test runs (``llm.ask(...).check(...)``) cannot be known this way and are named.

``graders.json`` holds one entry per case: each grader as an OpenAI grader object
(:mod:`pytest_llmeval.graders._export`), and ``grader``, all of them as one ``multi``
grader that passes a sample when every check does — the object to give a reinforcement
fine-tuning job. A case with a grader that cannot be exported has ``grader: null`` and
says why, rather than a grader that checks less than the eval does.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .._core.files import atomic_write_text
from .._run.state import state_of
from ..graders._export import NotExportable, combined, openai_grader
from .report import FinetuneError

FORMAT = 1


@dataclass
class CaseGraders:
    """One case's graders, exported, and the ones that could not be."""

    case_id: str
    group: str
    nodeid: str
    graders: list[dict[str, Any]] = field(default_factory=list)
    not_exportable: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        whole = None
        if self.graders and not self.not_exportable:
            whole = self.graders[0] if len(self.graders) == 1 else combined(_named(self.graders), self.case_id)
        return {
            "case_id": self.case_id,
            "group": self.group,
            "nodeid": self.nodeid,
            "grader": whole,
            "graders": self.graders,
            "not_exportable": self.not_exportable,
        }


@dataclass
class SuiteGraders:
    cases: list[CaseGraders] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Eval tests whose graders are given in the test body: node ids."""

    def as_json(self, source: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source": source,
            "cases": [c.as_json() for c in self.cases],
            "not_known_before_the_run": self.unknown,
        }


def _named(objects: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(o.get("name") or o["type"]): o for o in objects}


class _Planner:
    """A plugin for one collect-only session: plans every item with the llmeval plugin's planners."""

    def __init__(self, judge_model: str | None, within: Path | None) -> None:
        self.judge_model = judge_model
        self.within = within
        """Keep only the cases of this feature file or folder (a feature file is bound elsewhere)."""
        self.found = SuiteGraders()

    def _kept(self, group: str, root: Path) -> bool:
        if self.within is None:
            return True
        path = (root / group).resolve()
        return path == self.within or self.within in path.parents

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        config = session.config
        plugin = config.pluginmanager.get_plugin("llmeval")
        planners = getattr(plugin, "_PLANNERS", ())
        settings = state_of(config).settings
        for item in session.items:
            spec = None
            for planner in planners:
                # A case the planner cannot set up is the run's error to report, not this export's.
                with contextlib.suppress(Exception, pytest.fail.Exception, pytest.skip.Exception):
                    spec = planner(item, settings)
                if spec is not None:
                    break
            if spec is None:
                if "llm" in getattr(item, "fixturenames", ()) and self._kept(
                    item.nodeid.split("::")[0], config.rootpath
                ):
                    self.found.unknown.append(item.nodeid)
                continue
            if not self._kept(spec.group, settings.project_root):
                continue
            case = CaseGraders(case_id=spec.case_id, group=spec.group, nodeid=item.nodeid)
            for grader in spec.graders:
                try:
                    case.graders.append(
                        openai_grader(grader, spec.judge_model or self.judge_model or settings.judge_model, spec.tools)
                    )
                except NotExportable as exc:
                    case.not_exportable.append(str(exc))
            self.found.cases.append(case)


def suite_graders(target: str, judge_model: str | None = None, pytest_args: Sequence[str] = ()) -> SuiteGraders:
    """Collect ``target`` (a feature file, a test module, a folder) and export its cases' graders.

    pytest cannot collect a feature file itself: the test module that calls ``scenarios()``
    binds it, wherever it is. So a feature file is found by collecting what ``pytest`` would
    collect here (``testpaths``, or this folder) and keeping that file's cases; a folder
    whose own test modules give no case (feature files bound from outside it) likewise.
    """
    path = Path(target.split("::")[0])
    if not path.exists():
        raise FinetuneError(f"{target}: no such file or folder")
    if path.suffix == ".feature":
        found = _collect([], judge_model, path.resolve(), pytest_args, target)
        if not found.cases:
            raise FinetuneError(
                f"{target}: no collected test binds this feature file; name the test module that calls "
                "scenarios(...) for it, or run this command from the folder pytest runs it from"
            )
        return found
    found = _collect([target], judge_model, None, pytest_args, target)
    if not found.cases and path.is_dir() and any(path.rglob("*.feature")):
        found = _collect([], judge_model, path.resolve(), pytest_args, target)
    return found


def _collect(
    args: Sequence[str], judge_model: str | None, within: Path | None, pytest_args: Sequence[str], target: str
) -> SuiteGraders:
    planner = _Planner(judge_model, within)
    output = io.StringIO()
    # A model for cases that name none: the planners skip a case without one, and graders do not depend on it.
    command = [*args, "--collect-only", "-q", "-p", "no:cacheprovider", "--llmeval-model=finetune-graders"]
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main([*command, *pytest_args], plugins=[planner])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        shown = [line for line in output.getvalue().splitlines() if line.strip()][-5:]
        raise FinetuneError(f"collecting {target} failed (pytest exit code {int(code)}): " + " | ".join(shown))
    return planner.found


def write(found: SuiteGraders, source: str, path: Path) -> None:
    try:
        atomic_write_text(path, json.dumps(found.as_json(source), indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise FinetuneError(f"cannot write {path}: {exc.strerror or exc}") from None
