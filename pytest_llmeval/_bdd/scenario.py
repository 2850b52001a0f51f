"""The case behind one running scenario: built empty before the first step, filled by the
steps, run through the case pipeline after the last one.

Steps only describe the case; nothing is sent until the scenario's last step has run,
so a scenario is one case with all its graders applied to each sample.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .._case.dataset import row_hash
from .._case.outcome import conclude, fail, keep
from .._case.params import compared_model, compared_variant, dataset_row, params_of
from .._case.pipeline import Runtime, evaluate
from .._case.spec import CaseSpec, resolve_model, resolve_variant, sample_plan
from .._case.verdict import error_record
from .._config.options import Settings
from .._core.ids import with_model, with_variant
from .._core.paths import relative
from .tags import Tags, tags_of
from .template import scenario_template

if TYPE_CHECKING:
    from pytest_bdd.parser import Step


@dataclass
class ScenarioCase:
    """The case a scenario builds as its steps run; finished after the last step."""

    spec: CaseSpec
    feature_file: Path
    step: Step | None = None
    used: bool = False
    """True once one of the plugin's steps ran: other BDD scenarios are left alone."""
    aborted: str | None = None
    step_model: str | None = None
    tags: Tags = field(default_factory=Tags)
    root: Path = Path(".")
    """The project's root: a file a dataset value names must lie inside it (unless allowed)."""
    paths_anywhere: bool = False

    def where(self) -> str:
        if self.step is None:
            return str(self.feature_file)
        # "Given the conversation:" + ": unknown role" would read "::".
        text = f"{self.step.keyword} {self.step.name}".removesuffix(":")
        return f"{self.feature_file}:{self.step.line_number}: {text}"

    def fail(self, message: str) -> NoReturn:
        """Stop the scenario with one line that names the feature file, line and step."""
        __tracebackhide__ = True
        full = f"{self.where()}: {message}"
        self.aborted = full
        fail(full)

    def resolve_model(self, settings: Settings) -> None:
        """The model after every step ran: compared model, CLI, step, tag, ini (in that order)."""
        self.spec.model = resolve_model(settings, self.step_model, self.tags.model, side_by_side=self.spec.side_by_side)


CASE_KEY = pytest.StashKey[ScenarioCase]()
_ROW_ID_KEY = pytest.StashKey[str]()


def new_case(item: pytest.Item, feature_filename: str, scenario_name: str, settings: Settings) -> ScenarioCase:
    """The empty case of a scenario item: row, tags and defaults, before any step."""
    config = item.config
    template = scenario_template(getattr(item, "obj", None))
    tags = tags_of(config, template) if template is not None else Tags()
    row: dict[str, Any] = {}
    row_id = None
    params = params_of(item)
    example = params.get("_pytest_bdd_example")
    if isinstance(example, dict) and example:
        row.update(example)
        row_id = item.stash.get(_ROW_ID_KEY, None)
        if row_id is None:  # planned and run: hash the row once per item
            row_id = item.stash[_ROW_ID_KEY] = str(example["id"]) if example.get("id") else row_hash(example)
    dataset = dataset_row(params)
    if dataset is not None:
        row.update(dataset.row)
        row_id = dataset.case_id if row_id is None else f"{row_id}/{dataset.case_id}"
    samples, adaptive_max = sample_plan(tags.samples, settings)
    model = compared_model(params)
    variant = compared_variant(params)
    feature_file, group = _feature_paths(feature_filename, settings.project_root)
    base_id = scenario_name if row_id is None else f"{scenario_name}[{row_id}]"
    spec = CaseSpec(
        case_id=with_model(with_variant(base_id, variant), model),
        variant=resolve_variant(settings, variant),
        nodeid=item.nodeid,
        group=group,
        base_dir=feature_file.parent,
        row=row,
        samples=samples,
        adaptive_max=adaptive_max,
        strict_stats=settings.strict_stats,
        max_error_rate=settings.max_error_rate,
        min_decided=settings.min_decided,
        side_by_side=model,
        threshold=tags.threshold if tags.threshold is not None else settings.threshold,
        target=tags.target,
        judge_model=tags.judge,
    )
    return ScenarioCase(
        spec=spec,
        feature_file=Path(group),
        tags=tags,
        root=settings.project_root,
        paths_anywhere=settings.paths_anywhere,
    )


@functools.lru_cache(maxsize=1024)
def _feature_paths(filename: str, root: Path) -> tuple[Path, str]:
    """A feature file's path and how reports name it (cached: every row of every scenario asks)."""
    path = Path(filename)
    return path, relative(path, root)


def start_scenario(
    request: pytest.FixtureRequest, feature_filename: str, name: str, line: int, settings: Settings
) -> None:
    """Prepare the case for a scenario (cheap: nothing is sent until the scenario ends)."""
    case = request.node.stash[CASE_KEY] = new_case(request.node, feature_filename, name, settings)
    case.spec.where = f"{case.feature_file}:{line}"


def current_case(request: pytest.FixtureRequest) -> ScenarioCase:
    case: ScenarioCase | None = request.node.stash.get(CASE_KEY, None)
    if case is None:
        raise RuntimeError("pytest-llmeval steps run only inside a pytest-bdd scenario")
    case.used = True
    return case


def before_step(request: pytest.FixtureRequest, step: Step) -> None:
    case = request.node.stash.get(CASE_KEY, None)
    if case is not None:
        case.step = step


def step_error(request: pytest.FixtureRequest, exception: BaseException) -> None:
    case = request.node.stash.get(CASE_KEY, None)
    if case is not None and case.aborted is None:
        first = str(exception).strip().splitlines()[0] if str(exception).strip() else type(exception).__name__
        case.aborted = f"{case.where()}: {first}"


def finish_scenario(request: pytest.FixtureRequest, runtime: Runtime) -> None:
    """After the last step: run the case, keep its record, fail the test on fail or error."""
    __tracebackhide__ = True
    case = request.node.stash.get(CASE_KEY, None)
    if case is None or not case.used:
        return
    # pytest-bdd calls this in a ``finally``: a Ctrl-C (or pytest.exit) on its way out must
    # stop the run, not become this case's "nothing grades the answer".
    if isinstance(sys.exc_info()[1], (KeyboardInterrupt, pytest.exit.Exception)):
        return
    case.resolve_model(runtime.settings)
    spec = case.spec
    if case.aborted is not None:
        keep(request.node, error_record(spec, case.aborted))
        return  # the step's own error is already on its way to the report
    problem = spec.problem()
    if problem is not None:
        message = f"{spec.where or case.feature_file}: scenario {spec.case_id!r}: {problem}"
        keep(request.node, error_record(spec, message))
        fail(message)
    conclude(request.node, evaluate(spec, runtime), runtime.settings)


def forget_case(item: pytest.Item) -> None:
    """Drop the scenario's case once its record is on the report (memory of big suites)."""
    if CASE_KEY in item.stash:
        del item.stash[CASE_KEY]
