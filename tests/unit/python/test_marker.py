"""What the ``llmeval`` marker and an item's parameters make of a Python test's case.

:func:`marked_case` reads real items: each test collects a small module with pytester
(the plugin parametrizes it for datasets and compared models, as in a run).
"""

from __future__ import annotations

import textwrap

import pytest

from pytest_llmeval._python.marker import MARK_KEYS, MarkedCase, marked_case
from pytest_llmeval._run.state import state_of


def items(pytester: pytest.Pytester, source: str, *args: str) -> list[pytest.Item]:
    module = pytester.getmodulecol(textwrap.dedent(source), configargs=("-p", "no:cacheprovider", *args))
    return pytester.genitems([module])


def cases(pytester: pytest.Pytester, source: str, *args: str) -> dict[str, MarkedCase]:
    """Every collected item's case, by test name (which carries the parameters)."""
    return {item.name: marked_case(item, state_of(item.config).settings) for item in items(pytester, source, *args)}


def failure(pytester: pytest.Pytester, source: str) -> str:
    (item,) = items(pytester, source)
    with pytest.raises(pytest.fail.Exception) as excinfo:
        marked_case(item, state_of(item.config).settings)
    assert excinfo.value.pytrace is False
    return str(excinfo.value.msg)


def test_an_unmarked_test_gets_the_run_defaults(pytester: pytest.Pytester) -> None:
    (case,) = cases(pytester, "def test_x(llm):\n    pass\n", "--llmeval-samples=3", "--llmeval-threshold=0.7").values()
    assert case == MarkedCase(
        case_id="test_x", samples=3, adaptive_max=None, threshold=0.7, model=None, marker_model=None, side_by_side=None
    )


def test_the_marker_arguments(pytester: pytest.Pytester) -> None:
    (case,) = cases(
        pytester,
        """
        import pytest

        @pytest.mark.llmeval(samples=4, threshold="80%", model="m", parameters={"seed": 7},
                             target="rag", judge_model="j")
        def test_x(llm):
            pass
        """,
    ).values()
    assert (case.samples, case.adaptive_max, case.threshold) == (4, None, 0.8)
    assert (case.model, case.marker_model, case.target, case.judge_model) == ("m", "m", "rag", "j")
    assert case.parameters == {"seed": 7}


def test_adaptive_samples(pytester: pytest.Pytester) -> None:
    source = "import pytest\n\n@pytest.mark.llmeval(samples='auto:12')\ndef test_x(llm):\n    pass\n"
    (case,) = cases(pytester, source).values()
    assert (case.samples, case.adaptive_max) == (5, 12)


def test_the_cli_model_replaces_the_markers_and_the_ini_is_the_default(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllmeval_model = ini-model\n")
    source = """
        import pytest

        @pytest.mark.llmeval(model="marker-model")
        def test_marked(llm):
            pass

        def test_unmarked(llm):
            pass
        """
    found = cases(pytester, source)
    assert (found["test_marked"].model, found["test_unmarked"].model) == ("marker-model", "ini-model")
    overridden = cases(pytester, source, "--llmeval-model=cli")
    assert {case.model for case in overridden.values()} == {"cli"}
    assert overridden["test_marked"].marker_model == "marker-model"  # kept: ask(model=) is resolved against it


def test_unknown_marker_arguments_fail_naming_them(pytester: pytest.Pytester) -> None:
    message = failure(
        pytester,
        "import pytest\n\n@pytest.mark.llmeval(sample=3, temperature=0.1, model='m')\ndef test_x(llm):\n    pass\n",
    )
    assert message == (
        "test_unknown_marker_arguments_fail_naming_them.py::test_x: unknown llmeval marker argument(s) "
        f"['sample', 'temperature']; use {sorted(MARK_KEYS)}"
    )


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("threshold=2", "expected a threshold between 0 and 1 (or 0%-100%), got '2'"),
        ("samples='auto:x'", "expected auto:MAX with a whole number MAX >= 1, got 'auto:x'"),
    ],
)
def test_a_bad_value_fails_naming_the_test_and_the_marker(
    pytester: pytest.Pytester, argument: str, problem: str
) -> None:
    message = failure(pytester, f"import pytest\n\n@pytest.mark.llmeval({argument})\ndef test_x(llm):\n    pass\n")
    assert message.endswith(f".py::test_x: @pytest.mark.llmeval: {problem}")


DATASET_TEST = """
    import pytest

    @pytest.mark.llmeval(model="m")
    @pytest.mark.llmeval_dataset("rows.jsonl")
    def test_x(llm, case):
        pass
    """


def test_a_dataset_row_gives_its_id_and_its_fields(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", rows='{"id": "r1", "q": "a"}\n{"q": "b"}\n')
    found = cases(pytester, DATASET_TEST)
    first, second = found.values()
    assert first.case_id == "test_x[r1]" and first.row == {"id": "r1", "q": "a"}
    assert second.case_id.startswith("test_x[row-") and second.row == {"q": "b"}
    assert list(found) == [first.case_id, second.case_id]  # the test id is the case id


def test_a_compared_model_replaces_the_markers_and_ends_the_case_id(pytester: pytest.Pytester) -> None:
    source = "import pytest\n\n@pytest.mark.llmeval(model='m')\ndef test_x(llm):\n    pass\n"
    found = cases(pytester, source, "--llmeval-model=a", "--llmeval-model=ft:b:acme::x")
    assert {name: (c.case_id, c.model, c.side_by_side) for name, c in found.items()} == {
        "test_x[a]": ("test_x@a", "a", "a"),
        "test_x[ft:b:acme::x]": ("test_x@ft:b:acme::x", "ft:b:acme::x", "ft:b:acme::x"),
    }


def test_side_by_side_moves_the_model_from_the_test_id_to_the_case_id(pytester: pytest.Pytester) -> None:
    source = """
        import pytest

        @pytest.mark.parametrize("p", ["x", "y"])
        def test_x(llm, p):
            pass
        """
    found = cases(pytester, source, "--llmeval-model=a", "--llmeval-model=b")
    assert {name: c.case_id for name, c in found.items()} == {
        "test_x[a-x]": "test_x[x]@a",
        "test_x[a-y]": "test_x[y]@a",
        "test_x[b-x]": "test_x[x]@b",
        "test_x[b-y]": "test_x[y]@b",
    }


def test_side_by_side_with_a_dataset(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", rows='{"id": "r1"}\n')
    found = cases(pytester, DATASET_TEST, "--llmeval-model=a", "--llmeval-model=b")
    assert {name: c.case_id for name, c in found.items()} == {
        "test_x[r1-a]": "test_x[r1]@a",
        "test_x[r1-b]": "test_x[r1]@b",
    }


def test_a_dataset_id_that_ends_like_a_compared_model_is_kept(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", rows='{"id": "two-a"}\n')
    found = cases(pytester, DATASET_TEST, "--llmeval-model=a", "--llmeval-model=b")
    assert sorted(c.case_id for c in found.values()) == ["test_x[two-a]@a", "test_x[two-a]@b"]
