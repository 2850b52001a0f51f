"""pytest-bdd integration: tags, dataset rows, the per-scenario case, and clear step errors.

The only use of pytest-bdd's private API is :func:`scenario_template` (the registry from
a scenario test function to its template); it is isolated here and the supported
pytest-bdd range is pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .._case.case import ROUND, CaseSpec, error_record, fail, failure_text
from .._case.dataset import DatasetError, DatasetRow, load_dataset, row_hash
from .._config.options import Settings, parse_sample_spec, parse_threshold
from .._core.records import EvalRecord
from .._run.session import RECORD_KEY, fails_test, run_case, state_of

if TYPE_CHECKING:
    from pytest_bdd.parser import Feature, Scenario, ScenarioTemplate, Step

ROW_FIXTURE = "_llmeval_row"
TAG_PREFIXES = ("samples:", "threshold:", "model:", "judge:", "dataset:", "target:")


def scenario_template(function: object) -> ScenarioTemplate | None:
    """The Gherkin template behind a scenario test function, or None for other tests."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    try:
        return scenario_wrapper_template_registry.get(function)  # type: ignore[call-overload, no-any-return]
    except TypeError:  # not weak-referenceable: certainly not a scenario
        return None


def has_step_definition(item: pytest.Item, step: Step) -> bool:
    """Whether some step definition visible to ``item`` matches ``step`` (the user's own, say).

    Uses pytest-bdd's own lookup, so the answer is the one the run will get.
    """
    from pytest_bdd.scenario import find_fixturedefs_for_step

    try:
        manager = item.session._fixturemanager
        return next(iter(find_fixturedefs_for_step(step, manager, item)), None) is not None
    except Exception:  # a private API: if it changes, plan as if the step exists
        return True


def apply_tag(tag: str, function: Callable[..., object]) -> bool | None:
    """Keep our tags from becoming unknown pytest marks; a dataset tag needs the row fixture."""
    if not tag.startswith(TAG_PREFIXES):
        return None
    if tag.startswith("dataset:"):
        pytest.mark.usefixtures(ROW_FIXTURE)(function)
    return True


@dataclass(frozen=True)
class Tags:
    """Our tags of one scenario, scenario-level over feature-level, already checked."""

    samples: str | None = None
    """As written: ``N``, ``auto`` or ``auto:MAX`` (checked when read)."""
    threshold: float | None = None
    model: str | None = None
    judge: str | None = None
    dataset: str | None = None
    target: str | None = None


def read_tags(template: ScenarioTemplate, root: Path) -> Tags:
    """Parse the tags, failing collection with the feature file, line and tag on a bad value."""
    feature = template.feature
    scenario_tags = set(template.tags) | (template.rule.tags if template.rule else set())
    values: dict[str, Any] = {}
    for level in (feature.tags, scenario_tags):  # later level wins
        for tag in sorted(level):
            name, _, value = tag.partition(":")
            if f"{name}:" not in TAG_PREFIXES:
                continue
            where = f"{relative(Path(feature.filename), root)}:{template.line_number}: scenario {template.name!r}"
            problem = _tag_problem(name, value)
            if problem is not None:
                _collect_error(f"{where}: tag @{tag}: {problem}")
            values[name] = _tag_value(name, value)
    return Tags(**values)


_TAGS_KEY = pytest.StashKey[dict[int, Tags]]()


def _tags_of(config: pytest.Config, template: ScenarioTemplate) -> Tags:
    """``read_tags`` once per scenario template, not once per row (templates live all session)."""
    memo = config.stash.setdefault(_TAGS_KEY, {})
    tags = memo.get(id(template))
    if tags is None:
        tags = memo[id(template)] = read_tags(template, config.rootpath)
    return tags


def _tag_problem(name: str, value: str) -> str | None:
    if not value.strip():
        return f"the tag needs a value, e.g. @{name}:..."
    try:
        _tag_value(name, value)
    except ValueError as exc:
        return str(exc)
    return None


def _tag_value(name: str, value: str) -> Any:
    if name == "samples":
        parse_sample_spec(value)
        return value
    if name == "threshold":
        return parse_threshold(value)
    return value


def dataset_params(path: Path, where: str) -> list[Any]:
    """One ``pytest.param`` per dataset row, with the case id as the test id."""
    problem = None
    try:
        rows = load_dataset(path)
    except DatasetError as exc:
        problem = str(exc)
    if problem is not None:
        _collect_error(f"{where}: {problem}")
    return [pytest.param(row, id=row.case_id) for row in rows]


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize scenarios tagged ``@dataset:`` (paths relative to the feature file)."""
    template = scenario_template(metafunc.function)
    if template is None:
        return
    root = metafunc.config.rootpath
    tags = read_tags(template, root)
    if tags.dataset is None:
        return
    feature_dir = Path(template.feature.filename).parent
    where = f"{relative(Path(template.feature.filename), root)}:{template.line_number}: @dataset:{tags.dataset}"
    metafunc.parametrize(ROW_FIXTURE, dataset_params(feature_dir / tags.dataset, where))


def clean_collect_error(report: pytest.CollectReport, root: Path) -> None:
    """Replace pytest-bdd's traceback for a malformed feature file with one line that says where."""
    from pytest_bdd.exceptions import GherkinParseError

    call = report.__dict__.get("call")
    error = call.excinfo.value if call is not None and call.excinfo is not None else None
    while error is not None and not isinstance(error, GherkinParseError):
        error = error.__cause__ or error.__context__
    if isinstance(error, GherkinParseError):
        message = error.message.replace("Unknown parsing error: ", "").replace("Parser errors:\n", "")
        report.longrepr = (
            f"{relative(Path(error.filename), root)}:{error.line}: malformed feature file: {message.strip()}\n"
            f"    {error.line_content.strip()}"
        )


def _collect_error(message: str) -> NoReturn:
    __tracebackhide__ = True
    fail(message)


# ---- the case behind one running scenario -------------------------------------------------


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


CASE_KEY = pytest.StashKey[ScenarioCase]()


def start_scenario(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario) -> None:
    """Prepare the case for a scenario (cheap: nothing is sent until the scenario ends)."""
    request.node.stash[CASE_KEY] = new_case(request.node, feature.filename, scenario.name)


def new_case(item: pytest.Item, feature_filename: str, scenario_name: str) -> ScenarioCase:
    """The empty case of a scenario item: row, tags and defaults, before any step."""
    config = item.config
    template = scenario_template(getattr(item, "obj", None))
    tags = _tags_of(config, template) if template is not None else Tags()
    settings = state_of(config).settings
    row: dict[str, Any] = {}
    row_id = None
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    example = params.get("_pytest_bdd_example")
    if isinstance(example, dict) and example:
        row.update(example)
        row_id = item.stash.get(_ROW_ID_KEY, None)
        if row_id is None:  # planned and run: hash the row once per item
            row_id = item.stash[_ROW_ID_KEY] = str(example["id"]) if example.get("id") else row_hash(example)
    dataset_row = params.get(ROW_FIXTURE)
    if isinstance(dataset_row, DatasetRow):
        row.update(dataset_row.row)
        row_id = dataset_row.case_id if row_id is None else f"{row_id}/{dataset_row.case_id}"
    samples, adaptive_max = sample_plan(tags.samples, settings)
    model_param = params.get(MODEL_FIXTURE)
    feature_file, group = _feature_paths(feature_filename, config.rootpath)
    spec = CaseSpec(
        case_id=with_model(scenario_name if row_id is None else f"{scenario_name}[{row_id}]", model_param),
        nodeid=item.nodeid,
        group=group,
        base_dir=feature_file.parent,
        row=row,
        samples=samples,
        adaptive_max=adaptive_max,
        strict_stats=settings.strict_stats,
        side_by_side=model_param if isinstance(model_param, str) else None,
        threshold=tags.threshold if tags.threshold is not None else settings.threshold,
        target=tags.target,
        judge_model=tags.judge,
    )
    return ScenarioCase(spec=spec, feature_file=Path(group), tags=tags)


_ROW_ID_KEY = pytest.StashKey[str]()


@functools.lru_cache(maxsize=1024)
def _feature_paths(filename: str, root: Path) -> tuple[Path, str]:
    """A feature file's path and how reports name it (cached: every row of every scenario asks)."""
    path = Path(filename)
    return path, relative(path, root)


@functools.lru_cache(maxsize=1024)
def relative(path: Path, root: Path) -> str:
    """``path`` relative to the rootdir when it is inside it: how reports and errors name files."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def forget_case(item: pytest.Item) -> None:
    """Drop the scenario's case once its record is on the report (memory of big suites)."""
    if CASE_KEY in item.stash:
        del item.stash[CASE_KEY]


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


def finish_scenario(request: pytest.FixtureRequest) -> None:
    """After the last step: run the case, keep its record, fail the test on fail or error."""
    __tracebackhide__ = True
    case = request.node.stash.get(CASE_KEY, None)
    if case is None or not case.used:
        return
    state = state_of(request.config)
    spec = case.spec
    spec.model = resolve_model(state.settings, case.step_model, case.tags.model, side_by_side=spec.side_by_side)
    record: EvalRecord
    if case.aborted is not None:
        request.node.stash[RECORD_KEY] = error_record(spec, case.aborted)
        return  # the step's own error is already on its way to the report
    where = f"{case.feature_file}: scenario {spec.case_id!r}"
    problem = None
    if spec.user is None:
        problem = f"{where}: no user message: add a step 'When the user says \"...\"'"
    elif not spec.graders:
        # Without a Then step every answer would "pass": an eval that cannot fail.
        problem = f"{where}: nothing grades the answer: add a Then step (see docs/steps.md)"
    elif spec.model is None and spec.target is None:
        problem = (
            f"{where}: no model: add 'Given the model \"...\"', a @model:NAME tag, --llmeval-model, "
            "or llmeval_model in the ini file"
        )
    if problem is not None:
        request.node.stash[RECORD_KEY] = error_record(spec, problem)
        fail(problem)
    targets = request.getfixturevalue("llmeval_targets") if spec.target is not None else None
    record = run_case(request.node, state, spec, targets)
    request.node.stash[RECORD_KEY] = record
    if fails_test(record, state.settings):
        fail(failure_text(record))


MODEL_FIXTURE = "_llmeval_model"


def with_model(case_id: str, model: object) -> str:
    """Side by side, a case id names its model: ``refund[30d]@ft:gpt-4.1-mini:acme::x``."""
    return f"{case_id}@{model}" if isinstance(model, str) else case_id


def sample_plan(written: str | int | None, settings: Settings) -> tuple[int, int | None]:
    """(samples of the first round, the adaptive maximum or None) from a tag or marker value."""
    if written is None:
        return settings.samples, None
    fixed, maximum = parse_sample_spec(str(written))
    if fixed is not None:
        return fixed, None
    top = maximum or settings.max_samples
    return min(ROUND, top), top


def resolve_model(settings: Settings, *specific: str | None, side_by_side: object = None) -> str | None:
    """CLI override, else the most specific of step/tag/marker, else the ini default."""
    if isinstance(side_by_side, str):
        return side_by_side
    if settings.model_override:
        return settings.model_override
    return next((m for m in specific if m), settings.default_model)


# ---- unknown steps ------------------------------------------------------------------------

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def step_not_found(request: pytest.FixtureRequest, step: Step, scenario: Scenario, phrases: list[str]) -> NoReturn:
    """Replace pytest-bdd's lookup error with one that lists our closest phrases."""
    __tracebackhide__ = True
    root = request.config.rootpath
    wanted = _QUOTED.sub('"x"', step.name)
    shapes = {_QUOTED.sub('"x"', p): p for p in phrases}
    close = difflib.get_close_matches(wanted, list(shapes), n=3, cutoff=0.4)
    hint = "".join(f"\n    {step.type.capitalize()} {shapes[c]}" for c in close)
    where = f"{relative(Path(scenario.feature.filename), root)}:{step.line_number}"
    message = f"{where}: unknown step: {step.keyword} {step.name} (scenario {scenario.name!r})"
    message += f"\n  closest phrases in pytest-llmeval's step library:{hint}" if close else ""
    message += "\n  (all phrases: see docs/steps.md, or define your own step with pytest_bdd.given/when/then)"
    case = request.node.stash.get(CASE_KEY, None)
    if case is not None:
        case.aborted = message.splitlines()[0]
    fail(message)
