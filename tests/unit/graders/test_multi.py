"""multi: sub-graders combined by a formula that is parsed, never eval'd, and cannot hang."""

from __future__ import annotations

import ast
import inspect
import math
import random
import sys
import time
import types
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from pytest_llmeval import graders
from pytest_llmeval.graders import FunctionGrader, Grade, Grader, GraderConfigError, Item, Sample, make_sample
from pytest_llmeval.graders._custom import GraderRegistry, activate, deactivate, grader, named, python_grader
from pytest_llmeval.graders._multi import FUNCTIONS, MAX_DEPTH, MAX_FORMULA_LENGTH, multi


def constant(score: float, name: str = "constant") -> FunctionGrader:
    """A sub-grader that always gives ``score``."""
    return FunctionGrader(
        name=name,
        spec={"type": "constant", "score": score},
        fn=lambda sample, item: Grade(passed=score >= 1, score=score, reason=f"always {score}", grader=name),
    )


def errored(reason: str = "judge refused") -> FunctionGrader:
    return FunctionGrader(name="judge", spec={"type": "judge"}, fn=lambda sample, item: Grade.errored("judge", reason))


SUBS: Mapping[str, Grader] = {"a": constant(1.0), "b": constant(0.5), "zero": constant(0.0), "neg": constant(-8.0)}


def value(formula: str, subs: Mapping[str, Grader] = SUBS) -> float:
    grade = multi(subs, formula, pass_threshold=-1e300)(make_sample("x"), {})
    assert grade.error is None, grade.reason
    return grade.score


def config_error(formula: str, subs: Mapping[str, Grader] = SUBS) -> str:
    with pytest.raises(GraderConfigError) as info:
        multi(subs, formula)
    return str(info.value)


def evaluation_error(formula: str, subs: Mapping[str, Grader] = SUBS) -> str:
    grade = multi(subs, formula)(make_sample("x"), {})
    assert grade.error is not None, grade
    assert not grade.passed
    assert grade.score == 0.0
    return grade.reason


@pytest.fixture
def registry(tmp_path: Any) -> Iterator[GraderRegistry]:
    """A run's registry of custom graders, active for the test."""
    reg = GraderRegistry(tmp_path)
    token = activate(reg)
    yield reg
    deactivate(token)


class TestGrade:
    def test_weighted_sum_of_sub_grades(self) -> None:
        g = multi(
            {"exact": graders.string_check("30 days", "ilike"), "short": graders.regex(r"^.{0,20}$")},
            "0.7 * exact + 0.3 * short",
            pass_threshold=0.7,
        )
        assert isinstance(g, FunctionGrader)
        assert graders.multi is multi
        grade = g(make_sample("It is 30 days, counted from the day of delivery."), {})
        assert grade.passed
        assert grade.score == pytest.approx(0.7)
        assert grade.grader == "multi"
        assert grade.reason == "'0.7 * exact + 0.3 * short' = 0.7 (exact=1, short=0), at least the pass threshold 0.7"
        assert grade.details["calculate_output"] == "0.7 * exact + 0.3 * short"
        assert grade.details["graders"]["exact"] == {
            "grader": "string_check",
            "passed": True,
            "score": 1.0,
            "reason": "answer contains '30 days' (any case)",
            "error": None,
        }
        assert grade.details["graders"]["short"]["passed"] is False
        failed = g(make_sample("a week"), {})
        assert not failed.passed
        assert failed.error is None
        assert failed.score == pytest.approx(0.3)
        assert failed.reason.endswith("below the pass threshold 0.7")

    def test_pass_threshold_is_inclusive(self) -> None:
        assert multi({"b": constant(0.5)}, "b", pass_threshold=0.5)(make_sample("x"), {}).passed
        assert not multi({"b": constant(0.5)}, "b", pass_threshold=0.51)(make_sample("x"), {}).passed
        assert not multi({"b": constant(0.5)}, "b")(make_sample("x"), {}).passed  # default 1.0

    def test_custom_and_named_sub_graders(self, registry: GraderRegistry) -> None:
        @grader("has-digits", pass_threshold=1.0)
        def has_digits(sample: Sample, item: Item) -> bool:
            return any(char.isdigit() for char in sample["output_text"])

        registry.register("has-digits", has_digits)

        length = python_grader("def grade(sample, item):\n    return min(1.0, len(sample['output_text']) / 10)\n")
        g = multi({"digits": named("has-digits"), "length": length}, "digits * length", pass_threshold=0.5)
        assert g(make_sample("order 12345"), {}).passed
        assert g(make_sample("order 12345"), {}).score == 1.0
        assert not g(make_sample("no digits here"), {}).passed

    def test_a_multi_inside_a_multi(self) -> None:
        inner = multi({"a": constant(1.0), "b": constant(0.5)}, "(a + b) / 2", name="inner")
        outer = multi({"inner": inner, "zero": constant(0.0)}, "max(inner, zero)", pass_threshold=0.75)
        grade = outer(make_sample("x"), {})
        assert (grade.passed, grade.score) == (True, 0.75)
        assert grade.details["graders"]["inner"]["grader"] == "inner"

    def test_unused_sub_graders_still_run(self) -> None:
        grade = multi({"a": constant(1.0), "extra": constant(0.25)}, "a")(make_sample("x"), {})
        assert grade.details["graders"]["extra"]["score"] == 0.25

    def test_spec(self) -> None:
        g = multi({"a": constant(1.0), "s": graders.string_check("x", "eq")}, "a*s", pass_threshold=0.5, name="both")
        assert g.name == "both"
        assert g.spec == {
            "type": "multi",
            "name": "both",
            "graders": {
                "a": {"type": "constant", "score": 1.0},
                "s": {"type": "string_check", "reference": "x", "operation": "eq", "negate": False},
            },
            "calculate_output": "a*s",
            "pass_threshold": 0.5,
        }


class TestSubGraderErrors:
    def test_an_errored_sub_grader_makes_the_grade_an_error(self) -> None:
        grade = multi({"a": constant(1.0), "judge": errored()}, "a + judge")(make_sample("x"), {})
        assert grade.error == "sub-grader 'judge' errored: judge refused"
        assert grade.details["graders"]["a"]["score"] == 1.0
        assert grade.details["graders"]["judge"]["error"] == "judge refused"

    def test_several_errored_sub_graders_are_all_named(self) -> None:
        grade = multi({"j1": errored("one"), "j2": errored("two")}, "j1 + j2")(make_sample("x"), {})
        assert grade.error == "sub-grader 'j1' errored (and 'j2'): one"

    def test_a_sub_grader_that_raises(self) -> None:
        def raising(sample: Sample, item: Item) -> Grade:
            raise ValueError("bad state")

        sub = FunctionGrader(name="flaky", spec={}, fn=raising)
        grade = multi({"f": sub}, "f")(make_sample("x"), {})
        assert grade.error == "sub-grader 'f' errored: grader raised ValueError: bad state"

    def test_a_sub_grader_that_returns_no_grade(self) -> None:
        sub = FunctionGrader(name="sloppy", spec={}, fn=lambda sample, item: 1.0)  # type: ignore[arg-type,return-value]
        grade = multi({"s": sub}, "s")(make_sample("x"), {})
        assert grade.error == "sub-grader 's' errored: grader returned float, not a Grade"

    def test_a_non_finite_sub_score(self) -> None:
        sub = FunctionGrader(
            name="odd", spec={}, fn=lambda s, i: Grade(passed=True, score=math.inf, reason="", grader="odd")
        )
        assert multi({"o": sub}, "o")(make_sample("x"), {}).error == "sub-grader 'o' gave the score inf"

    def test_a_python_sub_grader_that_raises_keeps_its_reason(self) -> None:
        boom = python_grader("def grade(sample, item):\n    return 1 / 0\n", name="boom")
        grade = multi({"boom": boom}, "boom")(make_sample("x"), {})
        assert grade.error == (
            "sub-grader 'boom' errored: ZeroDivisionError: division by zero (in grade, <python_grader boom> line 2)"
        )


class TestFormula:
    @pytest.mark.parametrize(
        ("formula", "expected"),
        [
            ("1 + 2 * 3", 7),
            ("(1 + 2) * 3", 9),
            ("10 - 4 - 3", 3),  # left-associative
            ("64 / 4 / 2", 8),
            ("2 ^ 3 ^ 2", 512),  # right-associative
            ("(2 ^ 3) ^ 2", 64),
            ("-2 ^ 2", -4),  # ^ binds tighter than unary minus
            ("(-2) ^ 2", 4),
            ("2 ^ -1", 0.5),
            ("-2 ^ -2", -0.25),
            ("2 * 3 ^ 2", 18),
            ("--2", 2),
            ("-+-2", 2),
            ("+a", 1),
            ("1 - -1", 2),
            ("neg ^ 2", 64),
            ("neg ^ (1 / 1)", -8),
            ("1e2", 100),
            ("1E+2 + 0", 100),
            ("2.5e-1", 0.25),
            (".5", 0.5),
            ("5.", 5),
            ("007", 7),
            ("a\n+\tb", 1.5),
            ("0.5 * a + 0.5 * b", 0.75),
            ("a * b / (a + b)", 1 / 3),
            ("a+a+a", 3),
        ],
    )
    def test_arithmetic(self, formula: str, expected: float) -> None:
        assert value(formula) == pytest.approx(expected)

    @pytest.mark.parametrize(
        ("formula", "expected"),
        [
            ("min(3, 1, 2)", 1),
            ("max(a)", 1),
            ("max(a, b, zero, neg)", 1),
            ("min(a, b) + max(a, b)", 1.5),
            ("abs(neg)", 8),
            ("abs(-0.5)", 0.5),
            ("floor(2.7)", 2),
            ("floor(-2.5)", -3),
            ("ceil(2.1)", 3),
            ("ceil(-2.1)", -2),
            ("exp(0)", 1),
            ("sqrt(16)", 4),
            ("sqrt(0)", 0),
            ("log(exp(3))", 3),
            ("log(1)", 0),
            ("sqrt(max(a, b) ^ 2)", 1),
            ("-sqrt(4) ^ 2", -4),
        ],
    )
    def test_functions(self, formula: str, expected: float) -> None:
        assert value(formula) == pytest.approx(expected)

    def test_the_documented_function_list(self) -> None:
        assert sorted(FUNCTIONS) == ["abs", "ceil", "exp", "floor", "log", "max", "min", "sqrt"]

    def test_long_flat_formulas_are_fine(self) -> None:
        formula = "+".join(["a"] * 4000)  # 7999 characters, evaluated by a loop (no RecursionError)
        assert value(formula) == 4000
        assert value("-" * 9999 + "a") == -1  # a run of signs is a loop, not recursion
        assert value("-" * 9998 + "a") == 1
        assert value("min(b" + ", a" * 3300 + ")") == 0.5

    def test_depth_limit_is_inclusive(self) -> None:
        assert value("(" * (MAX_DEPTH - 1) + "a" + ")" * (MAX_DEPTH - 1)) == 1
        assert "nested too deeply" in config_error("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)


class TestConfigErrors:
    def test_syntax_error_with_column_and_caret(self) -> None:
        assert config_error("a + * b") == (
            "multi: calculate_output at column 5: unexpected '*': expected a number, a sub-grader's name, "
            "a function or '('\n"
            "    a + * b\n"
            "        ^"
        )

    @pytest.mark.parametrize(
        ("formula", "column", "message"),
        [
            ("", 1, "the formula is empty"),
            ("   ", 1, "the formula is empty"),
            ("a +", 4, "the formula ends too early"),
            ("(a + b", 1, "this '(' is never closed"),
            ("min(a, b", 4, "this '(' is never closed"),
            ("a + b)", 6, "unexpected ')': expected an operator (+ - * / ^) or the end; it closes no '('"),
            ("a, b", 2, "; ',' only separates a function's arguments"),
            ("a b", 3, "unexpected 'b': expected an operator"),
            ("2a", 2, "unexpected 'a': expected an operator"),
            ("(a b)", 4, "unexpected 'b': expected ')' (or an operator)"),
            ("a ** 2", 3, "'**' is not an operator here: write powers with ^"),
            ("a // 2", 3, "'//' is not an operator here: use floor(a / b)"),
            ("a % 2", 3, "unexpected character '%': the operators are + - * / ^"),
            ("c", 1, "unknown name 'c'; sub-graders: a, b, neg, zero"),
            ("aa + b", 1, "unknown name 'aa' (did you mean 'a'?)"),
            ("sqrt + 1", 1, "sqrt is a function: write sqrt(...)"),
            ("a(1)", 1, "'a' is a sub-grader, not a function"),
            ("foo(a)", 1, "unknown function 'foo' (did you mean 'floor'?); functions: abs, ceil, exp, floor,"),
            ("pow(a, 2)", 1, "unknown function 'pow'"),
            ("min()", 1, "min() takes at least 1 argument, got 0"),
            ("sqrt(a, b)", 1, "sqrt() takes 1 argument, got 2"),
            ("log(a, 2)", 1, "log() takes 1 argument, got 2; for another base write log(x) / log(base)"),
            ("min(a,)", 7, "unexpected ')': expected a number"),
            ("1e400", 1, "the number 1e400 is too large for a float"),
            ("9" * 400, 1, "the number 99999999999999999999… (400 characters) is too large"),
            ("1_000", 2, "unexpected '_000'"),
            ("0x10", 2, "unexpected 'x10'"),
        ],
    )
    def test_errors_say_where(self, formula: str, column: int, message: str) -> None:
        error = config_error(formula)
        assert error.startswith(f"multi: calculate_output at column {column}: ")
        assert message in error

    def test_caret_points_at_the_column(self) -> None:
        error = config_error("min(a, b) + max(a b)")
        shown, caret = error.splitlines()[1:]
        assert shown[caret.index("^")] == "b"
        assert "column 19" in error

    def test_caret_in_a_long_formula_is_windowed(self) -> None:
        formula = "a + " * 1500 + "a ? b" + " + a" * 500
        error = config_error(formula)
        assert "column 6003" in error
        shown, caret = error.splitlines()[1:]
        assert len(shown) < 90
        assert shown.startswith("    …") and shown.endswith("…")
        assert shown[caret.index("^")] == "?"

    def test_a_deep_caller_stack_gives_no_recursion_error(self) -> None:
        # Nothing recurses any more (Python's parser gets its own headroom), so a formula at the
        # depth limit, with a long chain, parses and evaluates even with 60 frames left.
        nested = "(" * (MAX_DEPTH - 1) + "a" + ")" * (MAX_DEPTH - 1) + "+a" * 3000

        def at_depth(levels: int) -> str:
            if levels > 0:
                return at_depth(levels - 1)
            try:
                return f"{value(nested):g}"
            except GraderConfigError as exc:
                return str(exc)

        limit = sys.getrecursionlimit()
        room = limit - len(inspect.stack(0)) - 60
        assert at_depth(room) == "3001"
        assert at_depth(0) == "3001"
        assert sys.getrecursionlimit() == limit  # raised for ast.parse only, and put back

    def test_too_long(self) -> None:
        assert value("a" + " " * (MAX_FORMULA_LENGTH - 1)) == 1
        assert config_error("a" + " " * MAX_FORMULA_LENGTH) == (
            f"multi: calculate_output is {MAX_FORMULA_LENGTH + 1} characters long; the limit is {MAX_FORMULA_LENGTH}"
        )

    def test_formula_must_be_a_string(self) -> None:
        with pytest.raises(GraderConfigError, match="calculate_output must be a string formula, got int 1"):
            multi(SUBS, 1)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("key", "hint"),
        [
            ("order-id", ": rename it to 'order_id'"),
            ("1st", ": rename it to '_1st'"),
            ("two words", ": rename it to 'two_words'"),
            ("café", ": rename it to 'caf_'"),
            ("", ""),
        ],
    )
    def test_sub_grader_names_must_be_identifiers(self, key: str, hint: str) -> None:
        error = config_error("1", {key: constant(1.0)})
        assert error == (
            f"multi: sub-grader name {key!r} cannot appear in a formula; names are letters, digits and _ "
            f"and do not start with a digit{hint}"
        )

    def test_graders_must_be_a_non_empty_mapping_of_graders(self) -> None:
        with pytest.raises(GraderConfigError, match="non-empty mapping"):
            multi({}, "1")
        with pytest.raises(GraderConfigError, match="non-empty mapping"):
            multi([constant(1.0)], "1")  # type: ignore[arg-type]
        with pytest.raises(GraderConfigError, match="sub-grader 'a' is a float, not a grader"):
            multi({"a": 1.0}, "a")  # type: ignore[dict-item]

    @pytest.mark.parametrize("threshold", ["0.5", math.nan, None, False])
    def test_pass_threshold_must_be_a_finite_number(self, threshold: object) -> None:
        with pytest.raises(GraderConfigError, match="multi 'multi': pass_threshold must be a"):
            multi(SUBS, "a", pass_threshold=threshold)  # type: ignore[arg-type]


class TestEvaluationErrors:
    @pytest.mark.parametrize(
        ("formula", "reason"),
        [
            ("1 / 0", "formula '1 / 0' at column 3: division by zero (1 / 0)"),
            ("a / zero", "formula 'a / zero' at column 3: division by zero (1 / 0)"),
            ("a / (b - b)", "formula 'a / (b - b)' at column 3: division by zero (1 / 0)"),
            ("sqrt(-1)", "formula 'sqrt(-1)' at column 1: sqrt(-1) is undefined: sqrt of -1 (needs a number >= 0)"),
            ("sqrt(neg)", "at column 1: sqrt(-8) is undefined"),
            ("log(0)", "formula 'log(0)' at column 1: log(0) is undefined: log of 0 (needs a positive number)"),
            ("log(zero - 1)", "log(-1) is undefined"),
            ("0 ^ -1", "at column 3: 0 ^ -1 is undefined (0 to a negative power)"),
            ("neg ^ 0.5", "at column 5: -8 ^ 0.5 is undefined (a negative number to a fractional power)"),
            ("(-8) ^ (1/3)", "-8 ^ 0.333333 is undefined"),
            ("10 ^ 1000", "formula '10 ^ 1000' at column 4: 10 ^ 1000 overflows"),
            ("9^9^9^9", "at column 4: 9 ^ 3.8742e+08 overflows"),
            ("exp(1000)", "at column 1: exp(1000) overflows"),
            ("1e308 * 10", "at column 7: 1e+308 * 10 overflows (the result is inf)"),
            ("1e308 + 1e308", "1e+308 + 1e+308 overflows"),
            ("-1e308 - 1e308", "-1e+308 - 1e+308 overflows"),
            ("1e308 / 1e-10", "1e+308 / 1e-10 overflows"),
            ("floor(1e308) * 10", "overflows"),
        ],
    )
    def test_errors_are_grades(self, formula: str, reason: str) -> None:
        assert reason in evaluation_error(formula)

    def test_the_reason_keeps_the_sub_grades(self) -> None:
        grade = multi(SUBS, "a / zero")(make_sample("x"), {})
        assert grade.details["graders"]["zero"]["score"] == 0.0


HOSTILE = [
    "__import__('os').system('x')",
    "__import__",
    "__builtins__",
    "exec(a)",
    "eval(a)",
    "getattr(a, b)",
    "open(a)",
    "a.__class__",
    "a.__class__.__mro__[1].__subclasses__()",
    "(1).__class__",
    "1 .real",
    "a[0]",
    "a[::-1]",
    "lambda: 1",
    "lambda x: x",
    "(lambda: 0)()",
    "[x for x in a]",
    "{a: b}",
    "'a'",
    '"a" * 10',
    "f'{a}'",
    "b'x'",
    "a if b else zero",
    "a and b",
    "not a",
    "a == b",
    "a < b",
    "a; import os",
    "import os",
    "a # comment",
    "a = 1",
    "a := 1",
    "\\x61",
    "a\x00",
    "9^9^9^9",
    "9^9^9^9^9^9^9^9^9^9",
    "10^1000",
    "10^10^10",
    "2^1e308",
    "(-2)^1e308",
    "1e308^1e308",
    "exp(exp(exp(100)))",
    "(" * 10_000 + "1" + ")" * 10_000,
    "(" * 4_000 + "1" + ")" * 4_000,
    "(" * 5_000,
    ")" * 5_000,
    "2^" * 3_000 + "2",
    "-(" * 3_000 + "1" + ")" * 3_000,
    "sqrt(" * 2_000 + "1" + ")" * 2_000,
    "min(" + "a," * 4_999 + "a)",
    "a+" * 5_001 + "a",
    "1" * 10_001,
    "9" * 400,
    "1" + "0" * 5_000,
    "\u0430",  # Cyrillic a, looks like a
    "\uff41 + b",  # fullwidth a
    "\uff4d\uff49\uff4e(a)",  # fullwidth min
    "a\u200b+ b",  # zero-width space
    "a\u00a0+ b",  # no-break space
    "\u202ea + b",  # right-to-left override
    "\u0663 + a",  # Arabic-Indic digit three: isdigit(), but not ASCII
    "\U0001d7cf + a",  # mathematical bold digit one
    "a\u2212b",  # minus sign
    "a\u00d7b",  # multiplication sign
    "1/0",
    "sqrt(-1)",
    "log(0)",
    "0^-1",
    "zero^-1",
    "\ud800",  # lone surrogate
]


@pytest.mark.parametrize("formula", HOSTILE, ids=[f"hostile{index}" for index in range(len(HOSTILE))])
def test_hostile_formulas_are_refused_or_give_an_error_grade(formula: str) -> None:
    started = time.perf_counter()
    try:
        g = multi(SUBS, formula)
    except GraderConfigError as exc:
        assert str(exc).startswith("multi: calculate_output")
    else:
        grade = g(make_sample("x"), {})
        assert grade.error is not None, f"{formula[:40]!r} evaluated to {grade.score}"
        assert grade.reason.startswith("formula ")
    # Not a speed target: a guard that 9 ^ 9 ^ 9 ^ 9 and the like are refused, not computed for minutes.
    assert time.perf_counter() - started < 20


def test_the_formula_is_parsed_but_never_compiled_to_code_or_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # ast.parse is compile(..., PyCF_ONLY_AST), which builds a tree and no code; any other
    # compile, and any eval or exec, would be the formula reaching Python.
    import builtins

    real_compile = builtins.compile
    parsed: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec called")

    def tree_only(source: Any, filename: Any, mode: str, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError(f"compile({source!r}, mode={mode!r}) to a code object")
        tree = real_compile(source, filename, mode, flags, *args, **kwargs)
        assert isinstance(tree, ast.AST) and not isinstance(tree, types.CodeType)
        parsed.append(source)
        return tree

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(builtins, "compile", tree_only)
    g = multi(SUBS, "max(a, b) ^ 2 + sqrt(abs(neg)) / 2")
    score = g(make_sample("x"), {}).score
    monkeypatch.undo()
    assert score == pytest.approx(1 + math.sqrt(8) / 2)
    assert parsed == ["max ( a , b ) ** 0 + sqrt ( abs ( neg ) ) / 0"]  # numbers are read from the formula


@pytest.mark.parametrize(
    ("formula", "column", "message"),
    [
        # Python's grammar allows these; the formula language never did, and says so where they start.
        ("()", 2, "unexpected ')': expected a number, a sub-grader's name, a function or '('"),
        ("(a, b)", 3, "unexpected ',': expected ')' (or an operator)"),
        ("min((a, b))", 7, "unexpected ',': expected ')' (or an operator)"),
        ("a,", 2, "unexpected ',': expected an operator (+ - * / ^) or the end; ',' only separates"),
        ("min(*a)", 5, "unexpected '*': expected a number"),
        ("*a, b", 1, "unexpected '*': expected a number"),
        ("min(a, ^b)", 8, "unexpected '^': expected a number"),  # ** would unpack keywords
        ("min(^a)", 5, "unexpected '^': expected a number"),
        ("(min)(a)", 2, "min is a function: write min(...)"),
        ("(a)(b)", 4, "unexpected '(': expected an operator (+ - * / ^) or the end"),
        ("min(a)(b)", 7, "unexpected '(': expected an operator"),
        ("2(a)", 2, "unexpected '(': expected an operator"),
        ("(a b", 4, "unexpected 'b': expected ')' (or an operator)"),  # Python: '(' was never closed
        ("c + * b", 1, "unknown name 'c'"),  # reading order: the name comes first
        ("True", 1, "unknown name 'True'"),
        ("None + 1", 1, "unknown name 'None'"),
        ("a if b else zero", 3, "unexpected 'if': expected an operator"),
        ("not a", 1, "unknown name 'not'"),
        ("a not", 3, "unexpected 'not': expected an operator"),
        ("lambda", 1, "unknown name 'lambda'"),
        ("1j", 2, "unexpected 'j'"),
        ("1e5j", 4, "unexpected 'j'"),
        ("0b1", 2, "unexpected 'b1'"),
        ("0o7", 2, "unexpected 'o7'"),
        ("1e1_0", 4, "unexpected '_0'"),
        ("1 .real", 3, "unexpected character '.': attribute access is not supported"),
        ("...", 1, "unexpected character '.'"),
        ("a\f+ b", 2, "unexpected character '\\x0c'"),
        ("a \\\n+ b", 3, "unexpected character '\\\\': escapes are not supported"),
        ("(" * 150 + "a" + ")" * 150, 101, "nested too deeply (more than 100 levels)"),
        ("1^" * MAX_DEPTH + "1", 2 * MAX_DEPTH + 1, "nested too deeply (more than 100 levels)"),
        ("2^" * 3000 + "2", 201, "nested too deeply"),  # refused before Python's parser could overflow
        ("min(" * 60 + "2^" * 40 + "a" + ")" * 60, 321, "nested too deeply"),
    ],
)
def test_python_only_syntax_is_refused_where_it_starts(formula: str, column: int, message: str) -> None:
    error = config_error(formula)
    assert error.startswith(f"multi: calculate_output at column {column}: ")
    assert message in error


def test_what_python_would_read_differently_keeps_its_meaning() -> None:
    keywords = {"if": constant(1.0), "None": constant(2.0), "lambda": constant(4.0), "_": constant(8.0)}
    assert value("if + None * lambda - _", keywords) == 1 + 2 * 4 - 8
    assert value("min(if, None)", keywords) == 1
    assert value("007 + 00 + 0.50", SUBS) == 7.5  # leading zeros: a SyntaxError in Python
    assert value("0" * 5000 + "1") == 1  # past Python's 4300-digit limit for int literals
    assert "the number 10000000000000000000… (5001 characters) is too large" in config_error("1" + "0" * 5000)
    assert value("1^" * (MAX_DEPTH - 1) + "1") == 1
    assert value("a " + "- " * 4990 + "b") == 1.5  # a - (-(-...b)): 4990 signs, folded
    assert value("2^" + "-" * 3001 + "1") == 0.5


PIECES = [
    *["a", "b", "zero", "neg", "min", "max", "sqrt", "log", "foo", "if", "None", "_", "x1"],
    *["0", "1", "2", "007", ".5", "5.", "1e3", "1e-2", "1e400", "0x1", "1_0", "1j", "9" * 30],
    *["+", "-", "*", "/", "^", "**", "//", "%", "(", ")", ",", " ", "\n", ".", "[", "'", "=", ":", "\u00e9"],
]


@pytest.mark.parametrize("seed", range(10))
def test_random_formulas_are_refused_with_a_column_or_give_a_grade(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        formula = "".join(rng.choices(PIECES, k=rng.randint(1, 14)))
        try:
            g = multi(SUBS, formula)
        except GraderConfigError as exc:
            first, shown, caret = str(exc).split("\n")
            column = int(first.removeprefix("multi: calculate_output at column ").split(":")[0])
            assert 1 <= column <= len(formula) + 1, (formula, str(exc))
            assert shown.startswith("    ") and caret.strip() == "^"
            continue
        grade = g(make_sample("x"), {})
        assert grade.error is None or grade.reason.startswith("formula "), (formula, grade.reason)
