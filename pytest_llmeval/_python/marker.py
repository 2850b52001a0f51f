"""The Python front end's markers: ``@pytest.mark.llmeval(...)`` and ``llmeval_dataset(path)``.

::

    @pytest.mark.llmeval(samples=5, threshold=0.8, model="gpt-4.1-mini")
    @pytest.mark.llmeval_dataset("golden/orders.jsonl")
    def test_extracts_order(llm, case): ...

The marker's ``prompt``, ``system``, ``messages`` and ``response_format`` declare the case
of the ``answer`` fixture instead (:mod:`.declare`); here they are only known to exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .._case.outcome import fail
from .._case.params import ROW_FIXTURE, compared_model, compared_variant, dataset_params, dataset_row, params_of
from .._case.spec import CaseSpec, resolve_model, resolve_variant, sample_plan
from .._config.options import Settings
from .._config.parse import parse_threshold
from .._core.ids import with_model, with_variant
from .._core.paths import relative

DECLARE_KEYS = frozenset({"prompt", "system", "messages", "response_format", "tools", "tool_choice", "tool_results"})
"""The arguments that declare the ``answer`` fixture's case (read by :mod:`.declare`)."""
MARK_KEYS = frozenset({"samples", "threshold", "model", "parameters", "target", "judge_model"}) | DECLARE_KEYS
ANSWER_FIXTURE = "answer"


@dataclass(frozen=True)
class MarkedCase:
    """What the ``llmeval`` marker and the item's parameters say about the test's case."""

    case_id: str
    samples: int
    adaptive_max: int | None
    threshold: float
    model: str | None
    """The model after precedence (compared model, CLI, marker, ini); ``ask(model=)`` may still win."""
    marker_model: str | None
    side_by_side: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    judge_model: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    """The prompt variant this item runs under when several ``--llmeval-prompt-variant`` are compared."""


def marked_case(item: pytest.Item, settings: Settings) -> MarkedCase:
    """Read the marker (a bad argument fails the test naming it) and the item's row and model."""
    __tracebackhide__ = True
    marker = item.get_closest_marker("llmeval")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(options) - MARK_KEYS
    if unknown:
        fail(f"{item.nodeid}: unknown llmeval marker argument(s) {sorted(unknown)}; use {sorted(MARK_KEYS)}")
    declared = sorted(DECLARE_KEYS & set(options))
    if declared and ANSWER_FIXTURE not in getattr(item, "fixturenames", ()):
        # Otherwise they would be silently ignored: llm.ask takes its own prompt and system.
        shown = " and ".join(f"{key}=" for key in declared)
        verb = "declares" if len(declared) == 1 else "declare"
        fail(
            f"{item.nodeid}: @pytest.mark.llmeval: {shown} {verb} the case of the '{ANSWER_FIXTURE}' fixture, "
            f"but the test does not take it (llm.ask has its own prompt, system= and response_format=)"
        )
    problem = None
    try:
        samples, adaptive_max = sample_plan(options.get("samples"), settings)
        threshold = parse_threshold(str(options.get("threshold", settings.threshold)))
    except ValueError as exc:
        problem = f"{item.nodeid}: @pytest.mark.llmeval: {exc}"
    if problem is not None:
        fail(problem)
    params = params_of(item)
    side_by_side = compared_model(params)
    variant = compared_variant(params)
    base = item.name
    row: dict[str, Any] = {}
    dataset = dataset_row(params)
    if dataset is not None:
        row = dict(dataset.row)
        base = f"{getattr(item, 'originalname', item.name)}[{dataset.case_id}]"
    else:
        # The test id carries the model and variant as parameters; the case id as suffixes.
        for compared in (side_by_side, variant):
            if compared is not None:
                base = base.replace(f"-{compared}]", "]").replace(f"[{compared}-", "[").replace(f"[{compared}]", "")
    marker_model = options.get("model")
    return MarkedCase(
        case_id=with_model(with_variant(base, variant), side_by_side),
        variant=variant,
        samples=samples,
        adaptive_max=adaptive_max,
        threshold=threshold,
        model=resolve_model(settings, marker_model, side_by_side=side_by_side),
        marker_model=marker_model,
        side_by_side=side_by_side,
        parameters=dict(options.get("parameters") or {}),
        target=options.get("target"),
        judge_model=options.get("judge_model"),
        row=row,
    )


def base_spec(item: pytest.Item, case: MarkedCase, settings: Settings, **fields: Any) -> CaseSpec:
    """A case of this test: its id, row, threshold and judge from the marker, with ``fields`` on top.

    ``llm.ask``, an OpenAI eval item and a declared case all start here, so they name,
    group and judge a test's case the same way.
    """
    path = Path(str(item.path))
    base: dict[str, Any] = {
        "case_id": case.case_id,
        "nodeid": item.nodeid,
        "group": relative(path, settings.project_root),
        "base_dir": path.parent,
        "row": case.row,
        "model": case.model,
        "samples": case.samples,
        "threshold": case.threshold,
        "strict_stats": settings.strict_stats,
        "max_error_rate": settings.max_error_rate,
        "min_decided": settings.min_decided,
        "side_by_side": case.side_by_side,
        "judge_model": case.judge_model,
        "variant": resolve_variant(settings, case.variant),
    }
    return CaseSpec(**{**base, **fields})


def case_row(request: pytest.FixtureRequest, row: object) -> dict[str, Any]:
    """The dataset row of the current test (see the ``llmeval_dataset`` marker)."""
    __tracebackhide__ = True
    found = dataset_row({ROW_FIXTURE: row})
    if found is None:
        fail(f"{request.node.nodeid}: the 'case' fixture needs @pytest.mark.llmeval_dataset(\"path\")")
    return dict(found.row)


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests marked ``llmeval_dataset`` (paths relative to the test module)."""
    __tracebackhide__ = True
    marker = metafunc.definition.get_closest_marker("llmeval_dataset")
    if marker is None:
        return
    if not marker.args or not isinstance(marker.args[0], str | Path):
        fail(f'{metafunc.definition.nodeid}: use @pytest.mark.llmeval_dataset("path")')
    if ROW_FIXTURE not in metafunc.fixturenames:
        fail(
            f"{metafunc.definition.nodeid}: @pytest.mark.llmeval_dataset needs the test to take the 'case' fixture "
            f"(or '{ANSWER_FIXTURE}')"
        )
    path = Path(str(metafunc.definition.path)).parent / marker.args[0]
    where = f"{metafunc.definition.nodeid}: llmeval_dataset({str(marker.args[0])!r})"
    metafunc.parametrize(ROW_FIXTURE, dataset_params(path, where))


def is_eval(metafunc: pytest.Metafunc) -> bool:
    """A test that takes the ``llm`` fixture is an eval."""
    return "llm" in metafunc.fixturenames
