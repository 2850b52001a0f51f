"""An unknown step fails with where it is and the closest phrases of the step library."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from pytest_bdd.parser import FeatureParser, Scenario

from pytest_llmeval._bdd.errors import step_not_found
from pytest_llmeval._bdd.phrases import phrases
from pytest_llmeval._bdd.scenario import CASE_KEY, ScenarioCase
from pytest_llmeval._case.spec import CaseSpec

ALL_PHRASES = "\n  (all phrases: see docs/steps.md, or define your own step with pytest_bdd.given/when/then)"


def parsed(tmp_path: Path, steps: str) -> Scenario:
    """Scenario ``s`` of ``features/f.feature`` with ``steps``, rendered as pytest-bdd runs it."""
    folder = tmp_path / "features"
    folder.mkdir(exist_ok=True)
    body = textwrap.indent(textwrap.dedent(steps).strip(), "    ")
    (folder / "f.feature").write_text(f"Feature: f\n  Scenario: s\n{body}\n", encoding="utf-8")
    return FeatureParser(str(folder), "f.feature").parse().scenarios["s"].render({})


def request_for(root: Path, case: ScenarioCase | None = None) -> SimpleNamespace:
    """What step_not_found reads of the fixture request: the rootdir and the item's stash."""
    node = SimpleNamespace(stash=pytest.Stash())
    if case is not None:
        node.stash[CASE_KEY] = case
    return SimpleNamespace(config=SimpleNamespace(rootpath=root), node=node)


def message(tmp_path: Path, steps: str, index: int, case: ScenarioCase | None = None) -> str:
    scenario = parsed(tmp_path, steps)
    step = scenario.steps[index]
    with pytest.raises(pytest.fail.Exception) as excinfo:
        step_not_found(
            request_for(tmp_path, case),  # type: ignore[arg-type]
            step,
            scenario,
            [shown for _, shown in phrases(step.type)],
        )
    assert excinfo.value.pytrace is False
    return str(excinfo.value.msg)


def test_a_misspelt_step_lists_the_closest_phrases_of_its_kind(tmp_path: Path) -> None:
    text = message(tmp_path, 'Given the model "m"\nWhen the user says "hi"\nThen the answer contians "hi"', 2)
    lines = text.splitlines()
    assert lines[0] == "features/f.feature:5: unknown step: Then the answer contians \"hi\" (scenario 's')"
    assert lines[1] == "  closest phrases in pytest-llmeval's step library:"
    assert lines[2] == '    Then the answer contains "x"'
    assert 2 <= len(lines) - 2 <= 4  # at most three phrases, then the pointer to all of them
    assert all(line.startswith("    Then ") for line in lines[2:-1])
    assert text.endswith(ALL_PHRASES)


def test_quoted_arguments_do_not_sway_the_match(tmp_path: Path) -> None:
    long_argument = "a rather long quoted argument that would otherwise dominate any similarity measure"
    text = message(tmp_path, f'When the usr says "{long_argument}"', 0)
    assert text.splitlines()[2] == '    When the user says "text"'


def test_an_and_step_keeps_its_keyword_but_is_matched_by_its_kind(tmp_path: Path) -> None:
    text = message(tmp_path, 'Given the model "m"\nAnd the temprature is 0.2', 1)
    assert "unknown step: And the temprature is 0.2" in text.splitlines()[0]
    assert "    Given the temperature is T" in text.splitlines()


def test_nothing_close_lists_no_phrases(tmp_path: Path) -> None:
    text = message(tmp_path, "Given zzzz qqqq", 0)
    assert text == "features/f.feature:3: unknown step: Given zzzz qqqq (scenario 's')" + ALL_PHRASES


def test_only_the_given_phrases_are_offered(tmp_path: Path) -> None:
    scenario = parsed(tmp_path, 'Then the answer contians "hi"')
    with pytest.raises(pytest.fail.Exception) as excinfo:
        step_not_found(request_for(tmp_path), scenario.steps[0], scenario, ['the answer equals "x"'])  # type: ignore[arg-type]
    assert '    Then the answer equals "x"' in str(excinfo.value.msg).splitlines()
    assert "contains" not in str(excinfo.value.msg).split("\n", 1)[1]


def test_the_running_case_is_marked_aborted_with_the_first_line(tmp_path: Path) -> None:
    spec = CaseSpec(case_id="s", nodeid="n", group="features/f.feature", base_dir=tmp_path)
    case = ScenarioCase(spec=spec, feature_file=Path("features/f.feature"))
    text = message(tmp_path, 'Then the answer contians "hi"', 0, case)
    assert case.aborted == text.splitlines()[0]
