"""@pytest_llmeval.target marks a function; a run's TargetRegistry finds it in the project."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_llmeval import target
from pytest_llmeval._case.targets import TargetRegistry, origin


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]


def module(site: Path, name: str, source: str) -> None:
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    importlib.import_module(name)


def test_the_decorator_returns_the_function_and_marks_it() -> None:
    def app(case: object) -> str:
        return "x"

    assert target("app")(app) is app
    assert app("c") == "x"
    assert vars(app)["__llmeval_target__"] == "app"


@pytest.mark.parametrize("name", ["", " app", 3])
def test_bad_names(name: object) -> None:
    with pytest.raises(ValueError, match="target name"):
        target(name)  # type: ignore[arg-type]


def test_the_registry_finds_targets_of_the_projects_modules(site: Path) -> None:
    module(site, "apps", 'import pytest_llmeval\n@pytest_llmeval.target("rag")\ndef rag(case): return "r"\n')
    registry = TargetRegistry(site)
    found = registry.get("rag")
    assert found is not None and origin(found) == "apps:rag"
    assert registry.get("other") is None
    assert set(registry.all()) == {"rag"}


def test_modules_outside_the_project_are_not_searched(site: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    module(site, "elsewhere_apps", 'import pytest_llmeval\n@pytest_llmeval.target("far")\ndef far(case): return "f"\n')
    assert TargetRegistry(tmp_path_factory.mktemp("other-project")).get("far") is None


def test_two_functions_under_one_name_fail_when_called(site: Path) -> None:
    module(site, "one", 'import pytest_llmeval\n@pytest_llmeval.target("app")\ndef a(case): return "a"\n')
    module(site, "two", 'import pytest_llmeval\n@pytest_llmeval.target("app")\ndef b(case): return "b"\n')
    registry = TargetRegistry(site)
    with pytest.raises(ValueError, match="target name 'app' is taken by one:a and two:b"):
        registry.get("app")
    with pytest.raises(ValueError, match="taken by"):
        registry.all()["app"]({})
