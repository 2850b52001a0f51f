"""Fuzzing with hypothesis, each test bounded (a fixed number of examples, no example database):

- placeholders: filling never raises anything but PlaceholderError, and fills exactly;
- quoted step strings: any text, quoted the documented way, reaches the step unchanged;
- the ``multi`` formula language: building raises nothing but GraderConfigError, grading never raises;
- dataset parsing: any file raises nothing but DatasetError.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_llmeval import graders
from pytest_llmeval._bdd.phrases import STEPS, match_phrase
from pytest_llmeval._bdd.steps import _unescape
from pytest_llmeval._case.dataset import DatasetError, load_dataset
from pytest_llmeval._case.placeholders import PlaceholderError, fill_angle, fill_braces
from pytest_llmeval.graders._base import Grade, GraderConfigError

BOUNDED = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
ROWS = st.dictionaries(NAMES, VALUES, max_size=5)


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------------------- placeholders


@BOUNDED
@given(text=st.text(alphabet=st.sampled_from("<>{}\\ab_.-1 \n\"'"), max_size=40) | st.text(max_size=40), row=ROWS)
def test_filling_raises_nothing_but_a_placeholder_error(text: str, row: dict[str, Any]) -> None:
    for fill in (fill_angle, fill_braces):
        try:
            out = fill(text, row, "where")
        except PlaceholderError as exc:
            assert str(exc).startswith("where: no value for ")
        else:
            assert isinstance(out, str)


SEGMENTS = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_characters="<>\\{}"), max_size=10).map(lambda s: ("text", s)),
        NAMES.map(lambda n: ("name", n)),
    ),
    max_size=6,
)
SAFE_VALUES = VALUES.filter(lambda v: "\\<" not in as_text(v))


@BOUNDED
@given(segments=SEGMENTS, values=st.dictionaries(NAMES, SAFE_VALUES, max_size=6))
def test_every_placeholder_is_filled_with_its_value_and_nothing_else(
    segments: list[tuple[str, str]], values: dict[str, Any]
) -> None:
    row = {**{name: f"v-{name}" for kind, name in segments if kind == "name"}, **values}
    for fill, shape in ((fill_angle, "<{}>"), (fill_braces, "{{{{ {} }}}}")):
        template = "".join(shape.format(value) if kind == "name" else value for kind, value in segments)
        expected = "".join(as_text(row[value]) if kind == "name" else value for kind, value in segments)
        assert fill(template, row, "where") == expected


def test_a_row_value_with_a_backslash_angle_is_inserted_verbatim() -> None:
    assert fill_angle("<v>", {"v": "C:\\<dir>"}, "where") == "C:\\<dir>"


@BOUNDED
@given(name=NAMES, row=ROWS)
def test_a_missing_name_is_an_error_that_lists_the_row(name: str, row: dict[str, Any]) -> None:
    row.pop(name, None)
    with pytest.raises(PlaceholderError, match=re.escape(f"no value for <{name}>")):
        fill_angle(f"say <{name}>", row, "where")
    assert fill_angle(f"say \\<{name}>", row, "where") == f"say <{name}>"


# ------------------------------------------------------------------------- quoted step strings


def quote(text: str) -> str:
    """Quote text the way docs/steps.md says: ``\\`` as ``\\\\`` and ``"`` as ``\\"``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


LINE = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=40)


@BOUNDED
@given(text=LINE)
@example('She said "hi" \\" and \\\\ and \\d+ \\n')
def test_any_text_quoted_reaches_the_step_unchanged(text: str) -> None:
    found = match_phrase("when", f"the user says {quote(text)}")
    assert found is not None, "a quoted string did not match its phrase"
    assert _unescape(found[1]["text"]) == text
    found = match_phrase("then", f"the answer contains {quote(text)} in any case")
    assert found is not None
    assert _unescape(found[1]["text"]) == text and found[1]["any"] == " in any case"


@BOUNDED
@given(kind=st.sampled_from(["given", "when", "then"]), text=st.text(max_size=80))
def test_matching_any_step_text_never_raises(kind: str, text: str) -> None:
    found = match_phrase(kind, text)
    assert found is None or found[0] in STEPS


@BOUNDED
@given(inner=st.text(alphabet=st.sampled_from('ab\\" '), max_size=12))
def test_an_unescaped_quote_never_ends_up_inside_an_argument(inner: str) -> None:
    """A quoted argument is one ``"..."``: a bare quote inside would end it, so the step is unknown."""
    found = match_phrase("when", f'the user says "{inner}"')
    if found is not None:
        raw = found[1]["text"]
        assert re.fullmatch(r'(?:[^"\\]|\\.)*', raw, flags=re.DOTALL)


# ------------------------------------------------------------------------ the formula language

ATOMS = st.one_of(
    st.sampled_from(["a", "b", "c", "0", "1", "2.5", ".5", "1e3", "1e308", "0.0"]),
    st.integers(0, 10**6).map(str),
)
FUNCTIONS = ["min", "max", "abs", "sqrt", "log", "exp", "floor", "ceil", "round", "pow", "mean"]


def formulas() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "^", " ^ -"]), inner).map(lambda t: "".join(t)),
            inner.map(lambda e: f"({e})"),
            inner.map(lambda e: f"-{e}"),
            st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, min_size=0, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
        )

    return st.recursive(ATOMS, extend, max_leaves=12)


NOISE = st.text(alphabet=st.sampled_from("abc012.+-*/^(), eE_'\"[]{}:;=<>!#\\@$%&|~`?λ\t\n"), max_size=60)
SCORES = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6) | st.sampled_from(
    [0.0, 1.0, -0.0, 1e-300, 1e300]
)


def fixed(score: float) -> graders.FunctionGrader:
    return graders.python_grader(lambda sample, item: score, name="fixed", pass_threshold=0.5)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(formula=formulas() | NOISE, a=SCORES, b=SCORES, c=SCORES)
@example(formula="9^9^9^9", a=1.0, b=1.0, c=1.0)
@example(formula="1/(a-1)", a=1.0, b=0.0, c=0.0)
@example(formula="log(0) + sqrt(-1)", a=0.0, b=0.0, c=0.0)
@example(formula="(" * 150 + "a" + ")" * 150, a=0.0, b=0.0, c=0.0)
@example(formula="a" + "+a" * 4000, a=1e300, b=0.0, c=0.0)
def test_a_formula_is_built_or_refused_and_then_always_grades(formula: str, a: float, b: float, c: float) -> None:
    try:
        grader = graders.multi({"a": fixed(a), "b": fixed(b), "c": fixed(c)}, formula, pass_threshold=0.5)
    except GraderConfigError as exc:
        assert str(exc).startswith("multi: ")
        return
    grade = grader(graders.make_sample("any answer"), {})
    assert isinstance(grade, Grade)
    if grade.error is None:
        assert math.isfinite(grade.score)
        assert grade.passed == (grade.score >= 0.5)


@BOUNDED
@given(formula=st.text(max_size=200))
def test_any_text_as_a_formula_raises_nothing_but_a_config_error(formula: str) -> None:
    with contextlib.suppress(GraderConfigError):
        graders.multi({"a": fixed(1.0)}, formula)


# ------------------------------------------------------------------------------ dataset parsing

DATASET_TEXT = st.one_of(
    st.binary(max_size=200),
    st.text(alphabet=st.sampled_from('{}[]":,\n\r 1ab"id\\\ufeff'), max_size=120).map(str.encode),
    st.lists(
        st.dictionaries(st.sampled_from(["id", "q", "x"]), st.one_of(st.text(max_size=5), st.integers()), max_size=3),
        max_size=5,
    ).map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode()),
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=DATASET_TEXT, suffix=st.sampled_from([".jsonl", ".ndjson", ".csv", ".json", ".txt", ""]))
def test_any_dataset_file_raises_nothing_but_a_dataset_error(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"rows{suffix}"
        path.write_bytes(content)
        try:
            rows = load_dataset(path)
        except DatasetError as exc:
            assert str(path) in str(exc) or "not found" in str(exc)
            return
    assert rows
    ids = [row.case_id for row in rows]
    assert len(ids) == len(set(ids)), "duplicate case ids were accepted"
    for row in rows:
        assert isinstance(row.row, dict) and row.line >= 1 and row.case_id
