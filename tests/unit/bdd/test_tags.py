"""Our Gherkin tags, read from feature files parsed by pytest-bdd's own parser (no session needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pytest_bdd.parser import FeatureParser, ScenarioTemplate

from pytest_llmeval._bdd.tags import Tags, apply_tag, read_tags, tags_of
from pytest_llmeval._case.params import ROW_FIXTURE


def scenario(tmp_path: Path, text: str, name: str = "s") -> ScenarioTemplate:
    """The template of scenario ``name`` in a feature file ``features/f.feature`` under ``tmp_path``."""
    folder = tmp_path / "features"
    folder.mkdir(exist_ok=True)
    (folder / "f.feature").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return FeatureParser(str(folder), "f.feature").parse().scenarios[name]


def test_no_tags_is_all_none(tmp_path: Path) -> None:
    template = scenario(tmp_path, 'Feature: f\n  Scenario: s\n    When the user says "x"\n')
    assert read_tags(template, tmp_path) == Tags()


def test_a_feature_tag_applies_to_its_scenarios(tmp_path: Path) -> None:
    template = scenario(
        tmp_path,
        """
        @samples:auto:12 @threshold:80% @model:m @judge:j @dataset:rows.csv @target:rag
        Feature: f
          Scenario: s
            When the user says "x"
        """,
    )
    assert read_tags(template, tmp_path) == Tags(
        samples="auto:12", threshold=0.8, model="m", judge="j", dataset="rows.csv", target="rag"
    )


def test_a_scenario_tag_wins_over_the_features(tmp_path: Path) -> None:
    text = """
        @samples:3 @model:feature-model @threshold:0.5
        Feature: f
          @samples:1 @model:scenario-model
          Scenario: s
            When the user says "x"

          Scenario: other
            When the user says "x"
        """
    assert read_tags(scenario(tmp_path, text), tmp_path) == Tags(samples="1", threshold=0.5, model="scenario-model")
    other = scenario(tmp_path, text, "other")
    assert read_tags(other, tmp_path) == Tags(samples="3", threshold=0.5, model="feature-model")


def test_a_rule_tag_wins_over_the_features(tmp_path: Path) -> None:
    template = scenario(
        tmp_path,
        """
        @samples:auto @model:feature-model
        Feature: f
          @samples:5
          Rule: r
            Scenario: s
              When the user says "x"
        """,
    )
    assert read_tags(template, tmp_path) == Tags(samples="5", model="feature-model")


def test_a_scenario_tag_wins_over_its_rules(tmp_path: Path) -> None:
    template = scenario(
        tmp_path,
        """
        Feature: f
          @samples:2 @model:zeta
          Rule: r
            @samples:10 @model:alpha
            Scenario: s
              When the user says "x"
        """,
    )
    assert read_tags(template, tmp_path) == Tags(samples="10", model="alpha")


def test_other_tags_are_ignored(tmp_path: Path) -> None:
    template = scenario(
        tmp_path,
        """
        @slow @samplesX:3 @modelx
        Feature: f
          @wip @judgement:x
          Scenario: s
            When the user says "x"
        """,
    )
    assert read_tags(template, tmp_path) == Tags()


def test_a_bare_name_of_ours_asks_for_its_value(tmp_path: Path) -> None:
    # ``@model`` alone is almost certainly ``@model:M`` half-written, not a mark of the user's.
    template = scenario(tmp_path, 'Feature: f\n  @model\n  Scenario: s\n    When the user says "x"\n')
    with pytest.raises(pytest.fail.Exception, match=r"tag @model: the tag needs a value, e\.g\. @model:\.\.\.$"):
        read_tags(template, tmp_path)


def test_a_value_keeps_everything_after_the_first_colon(tmp_path: Path) -> None:
    template = scenario(
        tmp_path,
        """
        Feature: f
          @model:ft:gpt-4.1-mini:acme::x
          Scenario: s
            When the user says "x"
        """,
    )
    assert read_tags(template, tmp_path).model == "ft:gpt-4.1-mini:acme::x"


@pytest.mark.parametrize(
    ("tag", "problem"),
    [
        ("@samples:0", "expected a whole number >= 1, auto, or auto:MAX, got '0'"),
        ("@samples:auto:0", "expected auto:MAX with a whole number MAX >= 1, got 'auto:0'"),
        ("@threshold:1.5", "expected a threshold between 0 and 1 (or 0%-100%), got '1.5'"),
        ("@threshold:lots", "expected a threshold between 0 and 1 (or 0%-100%), got 'lots'"),
        ("@model:", "the tag needs a value, e.g. @model:..."),
        ("@dataset:", "the tag needs a value, e.g. @dataset:..."),
    ],
)
def test_a_bad_value_fails_naming_file_line_scenario_and_tag(tmp_path: Path, tag: str, problem: str) -> None:
    template = scenario(
        tmp_path,
        f"""
        Feature: f

          {tag}
          Scenario: s
            When the user says "x"
        """,
    )
    with pytest.raises(pytest.fail.Exception) as excinfo:
        read_tags(template, tmp_path)
    assert excinfo.value.msg == f"features/f.feature:4: scenario 's': tag {tag}: {problem}"
    assert excinfo.value.pytrace is False


def test_a_bad_feature_tag_fails_each_scenario_where_it_stands(tmp_path: Path) -> None:
    text = """
        @threshold:2
        Feature: f
          Scenario: s
            When the user says "x"

          Scenario: later
            When the user says "x"
        """
    with pytest.raises(pytest.fail.Exception, match=r"^features/f.feature:6: scenario 'later': tag @threshold:2: "):
        read_tags(scenario(tmp_path, text, "later"), tmp_path)


def test_the_path_is_relative_to_the_root(tmp_path: Path) -> None:
    template = scenario(tmp_path, 'Feature: f\n  @samples:x\n  Scenario: s\n    When the user says "x"\n')
    with pytest.raises(pytest.fail.Exception, match=r"^f.feature:3: "):
        read_tags(template, tmp_path / "features")


def test_tags_are_read_once_per_template(tmp_path: Path, pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    template = scenario(tmp_path, 'Feature: f\n  @samples:4\n  Scenario: s\n    When the user says "x"\n')
    first = tags_of(config, template)
    template.tags.clear()  # were they read again, the tag would be gone
    assert tags_of(config, template) is first and first.samples == "4"


def test_apply_tag_claims_only_our_tags() -> None:
    def scenario_function() -> None:
        pass

    assert apply_tag("slow", scenario_function) is None  # left to pytest-bdd: an ordinary mark
    assert apply_tag("samples:3", scenario_function) is True
    assert not hasattr(scenario_function, "pytestmark")


def test_a_dataset_tag_makes_the_scenario_use_the_row_fixture() -> None:
    def scenario_function() -> None:
        pass

    assert apply_tag("dataset:rows.jsonl", scenario_function) is True
    (mark,) = scenario_function.pytestmark  # type: ignore[attr-defined]
    assert mark.name == "usefixtures" and mark.args == (ROW_FIXTURE,)
