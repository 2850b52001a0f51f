"""Our Gherkin tags: ``@samples:N``, ``@threshold:P``, ``@model:M``, ``@judge:M``,
``@dataset:path``, ``@target:name`` — read once per scenario, checked at collection.

A tag on the Feature applies to all its scenarios, a Rule's to the scenarios of that
Rule; the most specific wins (Scenario over Rule over Feature). A bad value fails
collection with the feature file, line and tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._case.outcome import fail
from .._case.params import ROW_FIXTURE, dataset_params
from .._config.parse import parse_sample_spec, parse_threshold
from .._core.paths import relative
from .template import scenario_template

if TYPE_CHECKING:
    from pytest_bdd.parser import ScenarioTemplate

TAG_PREFIXES = ("samples:", "threshold:", "model:", "judge:", "dataset:", "target:")


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
    __tracebackhide__ = True
    feature = template.feature
    rule_tags = template.rule.tags if template.rule else set()
    values: dict[str, Any] = {}
    for level in (feature.tags, rule_tags, set(template.tags)):  # later level wins
        for tag in sorted(level):
            name, _, value = tag.partition(":")
            if f"{name}:" not in TAG_PREFIXES:
                continue
            where = f"{relative(Path(feature.filename), root)}:{template.line_number}: scenario {template.name!r}"
            problem = _tag_problem(name, value)
            if problem is not None:
                fail(f"{where}: tag @{tag}: {problem}")
            values[name] = _tag_value(name, value)
    return Tags(**values)


_TAGS_KEY = pytest.StashKey[dict[int, Tags]]()


def tags_of(config: pytest.Config, template: ScenarioTemplate) -> Tags:
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
