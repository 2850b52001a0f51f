"""Custom graders: the @grader registry, entry points, python_grader and its error grades."""

from __future__ import annotations

import importlib
import json
import math
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pytest_llmeval
from pytest_llmeval import graders
from pytest_llmeval.graders import FunctionGrader, Grade, GraderConfigError, Item, Sample, make_sample
from pytest_llmeval.graders._custom import (
    ENTRY_POINT_GROUP,
    GraderRegistry,
    activate,
    active,
    deactivate,
    exception_line,
    grader,
    named,
    python_grader,
)

NO_ENTRY_POINTS = "pytest_llmeval.tests.none"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for modules and *.dist-info folders; its modules are forgotten after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for module in set(sys.modules) - before:
        if getattr(sys.modules[module], "__file__", "") and str(folder) in str(sys.modules[module].__file__):
            del sys.modules[module]


@pytest.fixture
def registry(site: Path) -> Iterator[GraderRegistry]:
    """The registry of a run whose project is ``site``, active for the test (as a run's is)."""
    reg = GraderRegistry(site)
    token = activate(reg)
    yield reg
    deactivate(token)


def sample(text: str) -> Sample:
    return make_sample(text)


def write_module(folder: Path, name: str, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def install(site: Path, dist: str, entry_points: dict[str, str], group: str = ENTRY_POINT_GROUP) -> None:
    """A real, minimal installed distribution: METADATA and entry_points.txt in a dist-info folder."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    importlib.invalidate_caches()


class TestExports:
    def test_grader_is_public_at_top_level(self) -> None:
        assert pytest_llmeval.grader is grader
        assert "grader" in pytest_llmeval.__all__

    def test_graders_package_exports(self) -> None:
        assert graders.python_grader is python_grader
        assert graders.named is named
        for name in ("python_grader", "named", "multi"):
            assert name in graders.__all__


class TestDecorator:
    def test_returns_the_function_unchanged_and_marks_it(self, site: Path, registry: GraderRegistry) -> None:
        write_module(
            site,
            "order_graders",
            """
            import pytest_llmeval

            def order_id(sample, item):
                return 1.0 if sample["output_text"].strip().startswith("ORDER-") else 0.0

            decorated = pytest_llmeval.grader("order-id", pass_threshold=1.0)(order_id)
            """,
        )
        module = importlib.import_module("order_graders")
        assert module.decorated is module.order_id
        assert module.order_id(sample("ORDER-1"), {}) == 1.0  # still a plain function, testable alone
        assert "order-id" in registry
        g = named("order-id")
        assert isinstance(g, FunctionGrader)
        assert g.name == "order-id"
        good = g(sample("ORDER-12345"), {})
        assert good == Grade(
            passed=True,
            score=1.0,
            reason="order-id scored 1, at least the pass threshold 1",
            grader="order-id",
            details={"pass_threshold": 1.0},
        )
        bad = g(sample("nope"), {})
        assert not bad.passed
        assert bad.error is None
        assert bad.reason == "order-id scored 0, below the pass threshold 1"

    def test_pass_threshold_and_item(self, registry: GraderRegistry) -> None:
        @grader("overlap", pass_threshold=0.5)
        def overlap(sample: Sample, item: Item) -> float:
            words = set(item["expected"].split())
            return len(words & set(sample["output_text"].split())) / len(words)

        registry.register("overlap", overlap, pass_threshold=0.5)
        g = named("overlap")
        assert g(sample("a b x"), {"expected": "a b c d"}).passed  # 0.5 >= 0.5
        grade = g(sample("a x"), {"expected": "a b c d"})
        assert (grade.passed, grade.score) == (False, 0.25)

    @pytest.mark.parametrize(("result", "score", "passed"), [(True, 1.0, True), (False, 0.0, False), (1, 1.0, True)])
    def test_bools_and_ints_are_scores(self, result: object, score: float, passed: bool) -> None:
        grade = python_grader(lambda sample, item: result)(sample("x"), {})
        assert (grade.score, grade.passed, grade.error) == (score, passed, None)
        assert type(grade.score) is float

    @pytest.mark.parametrize("threshold", ["high", None, True, math.nan, math.inf, [1]])
    def test_threshold_must_be_a_finite_number(self, threshold: Any) -> None:
        with pytest.raises(GraderConfigError, match="pass_threshold must be a"):
            grader("x", pass_threshold=threshold)

    @pytest.mark.parametrize("name", ["", " padded", "tab\t", 3, None])
    def test_bad_names(self, name: Any) -> None:
        with pytest.raises(GraderConfigError, match="grader name"):
            grader(name)

    def test_function_must_take_sample_and_item(self) -> None:
        def one_argument(sample: Sample) -> float:
            return 1.0

        with pytest.raises(
            GraderConfigError,
            match=r"one_argument\(sample\) cannot be called as grade\(sample, item\): too many positional",
        ):
            grader("short")(one_argument)

    def test_marking_fills_no_registry(self, registry: GraderRegistry) -> None:
        @grader("only-marked")
        def only_marked(sample: Sample, item: Item) -> float:
            return 1.0

        # Defined in this test module, outside the run's project folder: not the run's grader.
        assert "only-marked" not in registry
        assert only_marked(sample("x"), {}) == 1.0

    def test_duplicate_name_names_both_modules_when_used(self, site: Path, registry: GraderRegistry) -> None:
        body = """
            import pytest_llmeval

            @pytest_llmeval.grader("tone")
            def tone(sample, item):
                return 1.0
        """
        write_module(site, "team_a_graders", body)
        write_module(site, "team_b_graders", body)
        importlib.import_module("team_a_graders")
        importlib.import_module("team_b_graders")  # importing is fine: the clash matters when used
        with pytest.raises(GraderConfigError) as info:
            named("tone")
        message = str(info.value)
        assert "'tone' is already taken by team_a_graders:tone" in message
        assert "cannot also register team_b_graders:tone" in message
        assert "rename one of them" in message

    def test_a_module_imported_again_has_its_new_graders(self, site: Path, registry: GraderRegistry) -> None:
        write_module(
            site, "conftest_like", 'import pytest_llmeval\n@pytest_llmeval.grader("g")\ndef g(s, i): return 0\n'
        )
        first = importlib.import_module("conftest_like")
        assert named("g")(sample("x"), {}).score == 0.0
        del sys.modules["conftest_like"]  # what an in-process pytester run does between runs
        write_module(
            site, "conftest_like", 'import pytest_llmeval\n@pytest_llmeval.grader("g")\ndef g(s, i): return 1\n'
        )
        # Same size, same second: the bytecode written for the first would be taken for the second.
        shutil.rmtree(site / "__pycache__", ignore_errors=True)
        importlib.invalidate_caches()
        second = importlib.import_module("conftest_like")
        assert first.g is not second.g
        assert GraderRegistry(site).get("g")(sample("x"), {}).score == 1.0  # the next run sees the new one

    def test_same_function_under_two_names(self, registry: GraderRegistry) -> None:
        def f(sample: Sample, item: Item) -> float:
            return 1.0

        registry.register("alias-a", f)
        registry.register("alias-b", f)
        registry.register("alias-a", f)  # registering the same function again is not a conflict
        assert named("alias-a")(sample("x"), {}).grader == "alias-a"
        assert named("alias-b")(sample("x"), {}).grader == "alias-b"

    def test_a_function_imported_into_another_module_is_one_grader(self, site: Path, registry: GraderRegistry) -> None:
        source = 'import pytest_llmeval\n@pytest_llmeval.grader("s")\ndef s(a, b): return 1\n'
        write_module(site, "shared_graders", source)
        write_module(site, "conftest_imports", "from shared_graders import s\n")
        importlib.import_module("conftest_imports")
        assert named("s")(sample("x"), {}).passed


class TestRegistry:
    def test_registries_do_not_share_names(self, tmp_path: Path) -> None:
        one = GraderRegistry(tmp_path, entry_point_group=NO_ENTRY_POINTS)
        two = GraderRegistry(tmp_path, entry_point_group=NO_ENTRY_POINTS)
        one.register("mine", lambda s, i: 1.0)
        assert "mine" not in two

    def test_the_active_registry_is_the_runs(self, tmp_path: Path) -> None:
        outer, inner = GraderRegistry(tmp_path), GraderRegistry(tmp_path)
        first = activate(outer)
        second = activate(inner)  # an in-process run inside another
        assert active() is inner
        deactivate(second)
        assert active() is outer
        deactivate(first)

    def test_a_registered_name_conflicts_at_once(self, tmp_path: Path) -> None:
        reg = GraderRegistry(tmp_path, entry_point_group=NO_ENTRY_POINTS)
        reg.register("taken", lambda s, i: 1.0)
        with pytest.raises(GraderConfigError, match="'taken' is already taken by"):
            reg.register("taken", boom)

    def test_unknown_name_lists_known_names_and_the_closest(self, tmp_path: Path) -> None:
        reg = GraderRegistry(tmp_path, entry_point_group=NO_ENTRY_POINTS)
        for name in ("order-id", "tone", "length"):
            reg.register(name, lambda s, i: 1.0)
        with pytest.raises(GraderConfigError) as info:
            reg.get("Order-ID")
        assert str(info.value) == (
            "no grader named 'Order-ID'; did you mean 'order-id'? known graders: length, order-id, tone"
        )
        with pytest.raises(GraderConfigError, match=r"no grader named 'zzz'; known graders: length, order-id, tone"):
            reg.get("zzz")

    def test_unknown_name_when_nothing_is_registered_says_how_to_register(self, tmp_path: Path) -> None:
        reg = GraderRegistry(tmp_path, entry_point_group=NO_ENTRY_POINTS)
        with pytest.raises(GraderConfigError) as info:
            reg.get("tone")
        assert "no graders are registered" in str(info.value)
        assert '@pytest_llmeval.grader("tone")' in str(info.value)
        assert "'pytest_llmeval.tests.none'" in str(info.value)

    def test_name_must_be_a_string(self) -> None:
        with pytest.raises(GraderConfigError, match="must be a string"):
            named(3)  # type: ignore[arg-type]


class TestEntryPoints:
    def test_plain_and_decorated_functions(self, site: Path) -> None:
        write_module(
            site,
            "acme_graders",
            """
            import pytest_llmeval

            def has_digits(sample, item):
                return any(c.isdigit() for c in sample["output_text"])

            @pytest_llmeval.grader("acme-half", pass_threshold=0.5)
            def half(sample, item):
                return 0.5
            """,
        )
        install(site, "acme-graders", {"acme-digits": "acme_graders:has_digits", "acme-half": "acme_graders:half"})
        reg = GraderRegistry(site)
        assert {"acme-digits", "acme-half"} <= set(reg.names())
        assert "acme_graders" not in sys.modules  # listed, not imported
        digits = reg.get("acme-digits")
        assert "acme_graders" in sys.modules
        assert digits(sample("order 12"), {}).passed
        assert digits.spec["pass_threshold"] == 1.0  # a plain function
        half = reg.get("acme-half")
        assert half(sample("x"), {}).passed  # the decorator's 0.5, in another registry too
        assert half.spec["pass_threshold"] == 0.5
        assert reg.get("acme-digits") is digits  # loaded once

    def test_named_reads_entry_points_through_the_runs_registry(self, site: Path, registry: GraderRegistry) -> None:
        write_module(site, "acme_len", "def short(sample, item):\n    return len(sample['output_text']) < 10\n")
        install(site, "acme-len", {"acme-short": "acme_len:short"})
        assert named("acme-short")(sample("tiny"), {}).passed
        assert not named("acme-short")(sample("far too long an answer"), {}).passed

    def test_a_broken_entry_point_fails_only_its_own_name(self, site: Path) -> None:
        write_module(site, "acme_ok", "def ok(sample, item):\n    return 1.0\n")
        write_module(site, "acme_broken", "import not_installed_anywhere_xyz\n")
        install(site, "acme-mixed", {"acme-ok": "acme_ok:ok", "acme-broken": "acme_broken:grade"})
        reg = GraderRegistry(site)
        assert reg.get("acme-ok")(sample("x"), {}).passed
        with pytest.raises(GraderConfigError) as info:
            reg.get("acme-broken")
        message = str(info.value)
        assert "cannot load grader 'acme-broken' from entry point acme-broken = 'acme_broken:grade'" in message
        assert "distribution 'acme-mixed'" in message
        assert "ModuleNotFoundError: No module named 'not_installed_anywhere_xyz'" in message

    def test_an_entry_point_that_is_not_callable(self, site: Path) -> None:
        write_module(site, "acme_const", "THRESHOLD = 3\n")
        install(site, "acme-const", {"acme-const": "acme_const:THRESHOLD"})
        with pytest.raises(GraderConfigError, match=r"is a int, not a function grade\(sample, item\) -> float"):
            GraderRegistry(site).get("acme-const")

    def test_an_entry_point_may_name_a_grader_object(self, site: Path) -> None:
        write_module(
            site,
            "acme_objects",
            "from pytest_llmeval import graders\nTHIRTY = graders.string_check('30 days', 'ilike')\n",
        )
        install(site, "acme-objects", {"thirty": "acme_objects:THIRTY"})
        g = GraderRegistry(site).get("thirty")
        assert g.spec["type"] == "string_check"
        assert g(sample("30 DAYS"), {}).passed

    def test_two_packages_with_one_name(self, site: Path) -> None:
        write_module(site, "one_pkg", "def g(s, i):\n    return 1\n")
        write_module(site, "two_pkg", "def g(s, i):\n    return 0\n")
        install(site, "one-dist", {"clash": "one_pkg:g"})
        install(site, "two-dist", {"clash": "two_pkg:g"})
        with pytest.raises(GraderConfigError) as info:
            GraderRegistry(site).get("clash")
        message = str(info.value)
        assert "more than one installed package" in message
        assert "'one-dist' (one_pkg:g)" in message
        assert "'two-dist' (two_pkg:g)" in message

    def test_a_name_registered_in_code_wins(self, site: Path) -> None:
        write_module(site, "acme_shadow", "def g(s, i):\n    return 0\n")
        install(site, "acme-shadow", {"shadowed": "acme_shadow:g"})
        reg = GraderRegistry(site)
        reg.register("shadowed", lambda s, i: 1.0)
        assert reg.get("shadowed")(sample("x"), {}).passed
        assert "acme_shadow" not in sys.modules

    def test_unknown_name_lists_installed_names_too(self, site: Path) -> None:
        install(site, "acme-listed", {"acme-tone": "nowhere:g"})
        with pytest.raises(GraderConfigError, match="did you mean 'acme-tone'"):
            GraderRegistry(site).get("acme-tones")


def boom(sample: Sample, item: Item) -> float:
    return 1 / 0  # the line the reason points at


BOOM_LINE = boom.__code__.co_firstlineno + 1


class TestErrors:
    def test_exception_reason_is_the_last_traceback_line_and_the_function(self) -> None:
        grade = python_grader(boom)(sample("x"), {})
        assert grade.error is not None
        assert not grade.passed
        assert grade.score == 0.0
        assert grade.reason == f"ZeroDivisionError: division by zero (in boom, test_custom.py line {BOOM_LINE})"
        assert grade.details["exception"] == "ZeroDivisionError"
        assert grade.details["traceback"].splitlines()[-1] == "ZeroDivisionError: division by zero"
        assert "pytest_llmeval" not in grade.details["traceback"]  # the plugin's own frame is left out

    def test_exception_inside_a_library_points_at_the_graders_line(self) -> None:
        def parse(sample: Sample, item: Item) -> float:
            data = json.loads(sample["output_text"])
            return float(data["score"])

        line = parse.__code__.co_firstlineno + 1
        grade = python_grader(parse)(sample("not json"), {})
        assert grade.reason == (
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0) "
            f"(in parse, test_custom.py line {line})"
        )

    def test_exception_without_a_message_and_with_several_lines(self) -> None:
        def bare(sample: Sample, item: Item) -> float:
            raise KeyError

        def lines(sample: Sample, item: Item) -> float:
            raise ValueError("first\n   second")

        assert python_grader(bare, name="bare")(sample("x"), {}).reason.startswith("KeyError (in ")
        assert python_grader(lines)(sample("x"), {}).reason.startswith("ValueError: first second (in ")

    def test_exception_whose_str_fails(self) -> None:
        class Odd(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no")

        assert exception_line(Odd()).endswith("Odd: <exception str() failed>")

    @pytest.mark.parametrize(
        ("result", "problem"),
        [
            (None, "returned NoneType None, not a number"),
            ("1.0", "returned str '1.0', not a number"),
            ([1.0], "returned list [1.0], not a number"),
            (1j, "returned complex 1j, not a number"),
            (math.nan, "returned nan, not a finite number"),
            (-math.inf, "returned -inf, not a finite number"),
            (10**400, "returned int too large for a float"),
        ],
    )
    def test_results_that_are_not_finite_numbers_are_errors(self, result: object, problem: str) -> None:
        def bad(sample: Sample, item: Item) -> object:
            return result

        grade = python_grader(bad, name="bad")(sample("x"), {})
        assert grade.error is not None
        assert grade.grader == "bad"
        assert grade.reason == (
            f"bad {problem}; return a number such as 1.0 or 0.0 (or a bool), a (score, reason) pair or a Grade"
        )

    def test_not_a_function(self) -> None:
        with pytest.raises(GraderConfigError, match="expected a function grade"):
            python_grader(3)  # type: ignore[arg-type]

    def test_python_grader_checks_its_threshold(self) -> None:
        with pytest.raises(GraderConfigError, match="python_grader 'boom': pass_threshold must be a number"):
            python_grader(boom, pass_threshold="1")  # type: ignore[arg-type]


class TestPythonGrader:
    def test_wraps_a_function_without_registering_it(self) -> None:
        g = python_grader(boom, pass_threshold=0.5, name="risky")
        assert g.name == "risky"
        assert "risky" not in GraderRegistry(Path.cwd(), entry_point_group=NO_ENTRY_POINTS)
        assert g.spec["type"] == "python"
        assert g.spec["function"] == f"{__name__}:boom"
        assert g.spec["pass_threshold"] == 0.5

    def test_spec_changes_when_the_function_body_changes(self) -> None:
        def v1(sample: Sample, item: Item) -> float:
            return 1.0

        first = python_grader(v1, name="same").spec["source_sha256"]

        def v1(sample: Sample, item: Item) -> float:  # type: ignore[no-redef]
            return 0.0

        assert python_grader(v1, name="same").spec["source_sha256"] != first

    def test_openai_style_source(self) -> None:
        source = textwrap.dedent(
            """
            import json

            def grade(sample, item) -> float:
                expected = item["reference_answer"]
                return 1.0 if sample["output_json"] == json.loads(expected) else 0.0
            """
        )
        g = python_grader(source, name="json_match")
        assert g.name == "json_match"
        assert g.spec == {"type": "python", "name": "json_match", "source": source, "pass_threshold": 1.0}
        assert g(sample('{"a": 1}'), {"reference_answer": '{"a": 1}'}).passed
        assert not g(sample('{"a": 2}'), {"reference_answer": '{"a": 1}'}).passed

    def test_source_errors_show_the_source_line(self) -> None:
        source = "def grade(sample, item):\n    total = 0\n    return 1 / total\n"
        grade = python_grader(source)(sample("x"), {})
        assert grade.grader == "python"
        assert grade.reason == "ZeroDivisionError: division by zero (in grade, <python_grader python> line 3)"
        assert "return 1 / total" in grade.details["traceback"]

    def test_each_source_runs_in_a_fresh_namespace(self) -> None:
        first = python_grader("SEEN = 1\ndef grade(sample, item):\n    return SEEN\n", name="first")
        second = python_grader("def grade(sample, item):\n    return SEEN\n", name="second")
        assert first(sample("x"), {}).passed
        assert second(sample("x"), {}).reason.startswith("NameError: name 'SEEN' is not defined")

    def test_source_with_a_syntax_error(self) -> None:
        with pytest.raises(GraderConfigError) as info:
            python_grader("def grade(sample, item):\n    return 1 +\n", name="typo")
        message = str(info.value)
        assert message.startswith("python_grader 'typo': source does not compile: invalid syntax (line 2, column")
        assert "    return 1 +\n" in message
        assert message.rstrip().endswith("^")

    def test_source_without_grade(self) -> None:
        with pytest.raises(GraderConfigError, match=r"must define a function grade\(sample, item\); it defines score"):
            python_grader("def score(sample, item):\n    return 1\n")

    def test_source_that_fails_when_run(self) -> None:
        with pytest.raises(GraderConfigError, match="running the source raised ModuleNotFoundError: No module named"):
            python_grader("import not_installed_anywhere_xyz\ndef grade(s, i):\n    return 1\n")

    def test_a_grader_object_with_call(self) -> None:
        class Length:
            def __call__(self, sample: Sample, item: Item) -> int:
                return len(sample["output_text"])

        g = python_grader(Length(), pass_threshold=3)
        assert g.name == "Length"
        assert g(sample("abcd"), {}).passed


class TestWhatAGraderMayReturn:
    def test_a_score_and_a_reason(self) -> None:
        def why(sample: Sample, item: Item) -> object:
            return 0.4, "two of five facts\nare there"

        grade = python_grader(why, name="facts", pass_threshold=0.5)(sample("x"), {})
        assert (grade.passed, grade.score, grade.error) == (False, 0.4, None)
        assert grade.reason == "two of five facts are there (facts scored 0.4, below the pass threshold 0.5)"

    def test_a_grade_is_kept_under_the_graders_name(self) -> None:
        def full(sample: Sample, item: Item) -> object:
            return Grade(grader="inner", passed=True, score=0.9, reason="fine", details={"n": 1})

        grade = python_grader(full, name="outer")(sample("x"), {})
        assert (grade.grader, grade.passed, grade.score, grade.reason, grade.details) == (
            "outer",
            True,
            0.9,
            "fine",
            {"n": 1},
        )

    def test_sys_exit_in_a_grader_is_its_error(self) -> None:
        def leaves(sample: Sample, item: Item) -> float:
            raise SystemExit(2)

        grade = python_grader(leaves, name="leaves")(sample("x"), {})
        assert grade.error is not None and "SystemExit: 2" in grade.reason
