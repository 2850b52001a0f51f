"""OpenAI's ``multi`` grader: named sub-graders combined by a formula over their scores.

::

    g = multi({"exact": string_check("30 days", "ilike"), "short": named("short")},
              "0.7 * exact + 0.3 * short", pass_threshold=0.7)
    g(make_sample("30 days."), {}).score       # 1.0 when both score 1

The formula is parsed once, here, by a small recursive-descent parser over numbers, the
sub-graders' names, ``+ - * / ^``, parentheses and eight functions. It is never handed
to ``eval``: a formula cannot reach Python, only arithmetic on floats, so a formula read
from an imported eval definition is as safe as a number.

Grammar (``^`` binds tighter than unary minus and is right-associative, as in
mathematics and Python's ``**``: ``-2^2 == -4``, ``2^3^2 == 512``, ``2^-1 == 0.5``)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("-" | "+")* power
    power   := primary ("^" unary)?
    primary := NUMBER | NAME | FUNCTION "(" expr ("," expr)* ")" | "(" expr ")"
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._base import FunctionGrader, Grade, Grader, GraderConfigError, Item, Sample, one_line, preview
from ._custom import check_threshold, exception_line

MAX_FORMULA_LENGTH = 10_000
"""Longest formula accepted, in characters."""
MAX_DEPTH = 100
"""Deepest nesting accepted: each parenthesis, function call or ``^`` is one level."""

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
"""What a sub-grader's name must look like to be used in a formula."""

_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SPACE = re.compile(r"[ \t\r\n]+")
_OPERATORS = "+-*/^"

# Characters a Python-minded author might try, and why each is refused.
_HINTS = {
    "'": "strings are not supported",
    '"': "strings are not supported",
    ".": "attribute access is not supported",
    "[": "subscripts are not supported",
    "]": "subscripts are not supported",
    ":": "lambdas and slices are not supported",
    "%": "the operators are + - * / ^",
    "=": "comparisons and assignments are not supported",
    "<": "comparisons are not supported",
    ">": "comparisons are not supported",
    "!": "comparisons are not supported",
    "&": "the operators are + - * / ^",
    "|": "the operators are + - * / ^",
    "~": "the operators are + - * / ^",
    "@": "the operators are + - * / ^",
    "{": "only ( ) group",
    "}": "only ( ) group",
    "#": "comments are not supported",
    ";": "a formula is one expression",
    "\\": "escapes are not supported",
}


@dataclass(frozen=True)
class _Function:
    fn: Callable[..., float]
    min_args: int
    max_args: int | None
    domain: Callable[[Sequence[float]], str | None] | None = None


def _positive(what: str) -> Callable[[Sequence[float]], str | None]:
    def check(args: Sequence[float]) -> str | None:
        return f"{what} of {args[0]:g} (needs a positive number)" if args[0] <= 0 else None

    return check


def _not_negative(args: Sequence[float]) -> str | None:
    return f"sqrt of {args[0]:g} (needs a number >= 0)" if args[0] < 0 else None


FUNCTIONS: Mapping[str, _Function] = {
    "abs": _Function(abs, 1, 1),
    "ceil": _Function(lambda x: float(math.ceil(x)), 1, 1),
    "exp": _Function(math.exp, 1, 1),
    "floor": _Function(lambda x: float(math.floor(x)), 1, 1),
    "log": _Function(math.log, 1, 1, _positive("log")),
    "max": _Function(lambda *args: max(args), 1, None),
    "min": _Function(lambda *args: min(args), 1, None),
    "sqrt": _Function(math.sqrt, 1, 1, _not_negative),
}
"""The formula's functions: ``log`` is the natural logarithm; ``min``/``max`` take 1 or more."""


# --- syntax tree -------------------------------------------------------------------------
# Sums and products are flat chains, not nested binary nodes, so that a long formula
# ("a+a+a+...") is evaluated by a loop and the tree is only as deep as the nesting.


@dataclass(frozen=True)
class _Num:
    value: float


@dataclass(frozen=True)
class _Var:
    name: str


@dataclass(frozen=True)
class _Neg:
    operand: _Node


@dataclass(frozen=True)
class _Chain:
    first: _Node
    rest: tuple[tuple[str, int, _Node], ...]  # (operator, column, operand)


@dataclass(frozen=True)
class _Pow:
    base: _Node
    exponent: _Node
    column: int


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    column: int


_Node = _Num | _Var | _Neg | _Chain | _Pow | _Call


# --- tokens and parser -------------------------------------------------------------------

_Kind = Literal["number", "name", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    text: str
    column: int  # 1-based


class _FormulaError(Exception):
    """A problem at one column of the formula: a set-up error, or a value at evaluation."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def _tokenize(formula: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(formula):
        char = formula[pos]
        column = pos + 1
        space = _SPACE.match(formula, pos)
        if space:
            pos = space.end()
            continue
        number = _NUMBER.match(formula, pos)
        if number:
            tokens.append(_Token("number", number.group(), column))
            pos = number.end()
            continue
        name = NAME_PATTERN.match(formula, pos)
        if name:
            tokens.append(_Token("name", name.group(), column))
            pos = name.end()
            continue
        if formula.startswith("**", pos):
            raise _FormulaError("'**' is not an operator here: write powers with ^ (2^3 is 8)", column)
        if formula.startswith("//", pos):
            raise _FormulaError("'//' is not an operator here: use floor(a / b)", column)
        if char in _OPERATORS:
            tokens.append(_Token("op", char, column))
        elif char in "(),":
            tokens.append(_Token(char, char, column))  # type: ignore[arg-type]
        elif not char.isascii():
            raise _FormulaError(
                f"unexpected character {char!r} (U+{ord(char):04X}): formulas use ASCII letters, digits, "
                "spaces and + - * / ^ ( ) ,",
                column,
            )
        else:
            hint = _HINTS.get(char, "the operators are + - * / ^")
            raise _FormulaError(f"unexpected character {char!r}: {hint}", column)
        pos += 1
    tokens.append(_Token("end", "", len(formula) + 1))
    return tokens


def _describe(token: _Token) -> str:
    return "the end of the formula" if token.kind == "end" else repr(token.text)


class _Parser:
    def __init__(self, formula: str, names: frozenset[str]) -> None:
        self.tokens = _tokenize(formula)
        self.index = 0
        self.names = names
        self.depth = 0
        self.used: set[str] = set()

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> _Node:
        if self.token.kind == "end":
            raise _FormulaError("the formula is empty", 1)
        node = self.expression()
        rest = self.tokens[self.index]  # not self.token: mypy keeps its narrowing from above
        if rest.kind != "end":
            hint = {",": "; ',' only separates a function's arguments", ")": "; it closes no '('"}.get(rest.kind, "")
            raise _FormulaError(
                f"unexpected {_describe(rest)}: expected an operator (+ - * / ^) or the end{hint}", rest.column
            )
        return node

    def expression(self) -> _Node:
        return self._chain("+-", self.term)

    def term(self) -> _Node:
        return self._chain("*/", self.unary)

    def _chain(self, operators: str, operand: Callable[[], _Node]) -> _Node:
        first = operand()
        rest: list[tuple[str, int, _Node]] = []
        while self.token.kind == "op" and self.token.text in operators:
            op = self.advance()
            rest.append((op.text, op.column, operand()))
        return _Chain(first, tuple(rest)) if rest else first

    def unary(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _FormulaError(f"the formula is nested too deeply (more than {MAX_DEPTH} levels)", self.token.column)
        negate = False
        while self.token.kind == "op" and self.token.text in "+-":
            negate ^= self.advance().text == "-"
        node = self.power()
        self.depth -= 1
        return _Neg(node) if negate else node

    def power(self) -> _Node:
        base = self.primary()
        if self.token.kind == "op" and self.token.text == "^":
            op = self.advance()
            return _Pow(base, self.unary(), op.column)
        return base

    def primary(self) -> _Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            value = float(token.text)
            if not math.isfinite(value):
                shown = token.text if len(token.text) <= 24 else f"{token.text[:20]}… ({len(token.text)} characters)"
                raise _FormulaError(f"the number {shown} is too large for a float", token.column)
            return _Num(value)
        if token.kind == "name":
            self.advance()
            if self.token.kind == "(":
                return self.call(token)
            if token.text not in self.names:
                raise _FormulaError(self._unknown_name(token.text), token.column)
            self.used.add(token.text)
            return _Var(token.text)
        if token.kind == "(":
            self.advance()
            node = self.expression()
            self.expect_close(token)
            return node
        expected = "expected a number, a sub-grader's name, a function or '('"
        if token.kind == "end":
            raise _FormulaError(f"the formula ends too early: {expected}", token.column)
        raise _FormulaError(f"unexpected {_describe(token)}: {expected}", token.column)

    def call(self, name: _Token) -> _Node:
        function = FUNCTIONS.get(name.text)
        if function is None:
            raise _FormulaError(self._unknown_function(name.text), name.column)
        opening = self.advance()
        args: list[_Node] = []
        if self.token.kind != ")":
            args.append(self.expression())
            while self.token.kind == ",":
                self.advance()
                args.append(self.expression())
        self.expect_close(opening)
        if len(args) < function.min_args or (function.max_args is not None and len(args) > function.max_args):
            wanted = (
                f"at least {function.min_args} argument"
                if function.max_args is None
                else f"{function.min_args} argument"
            )
            hint = "; for another base write log(x) / log(base)" if name.text == "log" and len(args) > 1 else ""
            raise _FormulaError(f"{name.text}() takes {wanted}, got {len(args)}{hint}", name.column)
        return _Call(name.text, tuple(args), name.column)

    def expect_close(self, opening: _Token) -> None:
        if self.token.kind == ")":
            self.advance()
            return
        if self.token.kind == "end":
            raise _FormulaError("this '(' is never closed", opening.column)
        raise _FormulaError(f"unexpected {_describe(self.token)}: expected ')' (or an operator)", self.token.column)

    def _unknown_name(self, name: str) -> str:
        if name in FUNCTIONS:
            return f"{name} is a function: write {name}(...)"
        known = ", ".join(sorted(self.names)) or "none"
        return f"unknown name {name!r}{_closest(name, self.names)}; sub-graders: {known}"

    def _unknown_function(self, name: str) -> str:
        functions = ", ".join(FUNCTIONS)
        if name in self.names:
            return f"{name!r} is a sub-grader, not a function; functions: {functions}"
        return f"unknown function {name!r}{_closest(name, FUNCTIONS)}; functions: {functions}"


def _closest(name: str, known: Mapping[str, object] | frozenset[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _pointing(formula: str, column: int, width: int = 72) -> str:
    """The formula on one line with a caret under ``column``, windowed when long."""
    flat = re.sub(r"[\t\r\n]", " ", formula)
    start = 0
    if len(flat) > width:
        start = max(0, min(column - 1 - width // 2, len(flat) - width))
    shown = flat[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(flat) else ""
    return f"    {prefix}{shown}{suffix}\n    {' ' * (len(prefix) + column - 1 - start)}^"


def parse_formula(formula: str, names: frozenset[str]) -> _Node:
    """Parse ``formula`` over the sub-grader ``names``; a GraderConfigError says where it fails."""
    if not isinstance(formula, str):
        raise GraderConfigError(
            f"multi: calculate_output must be a string formula, got {type(formula).__name__} {formula!r}"
        )
    if len(formula) > MAX_FORMULA_LENGTH:
        raise GraderConfigError(
            f"multi: calculate_output is {len(formula)} characters long; the limit is {MAX_FORMULA_LENGTH}"
        )
    try:
        return _Parser(formula, names).parse()
    except _FormulaError as exc:
        raise GraderConfigError(
            f"multi: calculate_output at column {exc.column}: {exc.message}\n{_pointing(formula, exc.column)}"
        ) from None
    except RecursionError:  # only when called from an already deep stack
        raise GraderConfigError(f"multi: calculate_output is nested too deeply (limit {MAX_DEPTH})") from None


# --- evaluation ----------------------------------------------------------------------------


def _finite(value: float, what: str, column: int) -> float:
    if not math.isfinite(value):
        raise _FormulaError(f"{what} overflows (the result is {value!r})", column)
    return value


def _evaluate(node: _Node, scores: Mapping[str, float]) -> float:
    if isinstance(node, _Num):
        return node.value
    if isinstance(node, _Var):
        return scores[node.name]
    if isinstance(node, _Neg):
        return -_evaluate(node.operand, scores)
    if isinstance(node, _Chain):
        total = _evaluate(node.first, scores)
        for op, column, operand in node.rest:
            right = _evaluate(operand, scores)
            if op == "+":
                total = _finite(total + right, f"{total:g} + {right:g}", column)
            elif op == "-":
                total = _finite(total - right, f"{total:g} - {right:g}", column)
            elif op == "*":
                total = _finite(total * right, f"{total:g} * {right:g}", column)
            else:
                if right == 0:
                    raise _FormulaError(f"division by zero ({total:g} / {right:g})", column)
                total = _finite(total / right, f"{total:g} / {right:g}", column)
        return total
    if isinstance(node, _Pow):
        base = _evaluate(node.base, scores)
        exponent = _evaluate(node.exponent, scores)
        what = f"{base:g} ^ {exponent:g}"
        try:
            value = math.pow(base, exponent)
        except OverflowError:
            raise _FormulaError(f"{what} overflows", node.column) from None
        except ValueError:
            why = "0 to a negative power" if base == 0 else "a negative number to a fractional power"
            raise _FormulaError(f"{what} is undefined ({why})", node.column) from None
        return _finite(value, what, node.column)
    args = [_evaluate(arg, scores) for arg in node.args]
    function = FUNCTIONS[node.name]
    problem = function.domain(args) if function.domain is not None else None
    shown = f"{node.name}({', '.join(f'{arg:g}' for arg in args)})"
    if problem is not None:
        raise _FormulaError(f"{shown} is undefined: {problem}", node.column)
    try:
        value = float(function.fn(*args))
    except OverflowError:
        raise _FormulaError(f"{shown} overflows", node.column) from None
    except ValueError as exc:
        raise _FormulaError(f"{shown} is undefined: {exc}", node.column) from None
    return _finite(value, shown, node.column)


def multi(
    graders: Mapping[str, Grader],
    calculate_output: str,
    *,
    pass_threshold: float = 1.0,
    name: str = "multi",
) -> FunctionGrader:
    """Run each named sub-grader, then combine their scores with ``calculate_output``.

    - ``graders`` maps names to graders. A name must be ``[A-Za-z_][A-Za-z0-9_]*`` so the
      formula can say it: rename ``"order-id"`` to ``"order_id"``. Sub-graders the
      formula does not use are still run and shown in the details.
    - ``calculate_output`` is parsed now (see the module's grammar); a syntax error, an
      unknown name or function, a formula over 10,000 characters or nested over 100
      levels is a :class:`GraderConfigError` with the column and a caret.
    - The grade's score is the formula's value; the sample passes when it is at least
      ``pass_threshold``. ``details["graders"]`` holds each sub-grade.
    - A sub-grader that errors (or raises) makes the whole grade an error naming it; so
      does a formula that cannot be computed for these scores (division by zero,
      ``sqrt``/``log`` outside their domain, a result too large for a float).
    """
    if not isinstance(graders, Mapping) or not graders:
        raise GraderConfigError(f"multi: graders must be a non-empty mapping of names to graders, got {graders!r}")
    if not isinstance(name, str) or not name:
        raise GraderConfigError(f"multi: name must be a non-empty string, got {name!r}")
    for key, sub in graders.items():
        if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key):
            suggestion = re.sub(r"\W", "_", key, flags=re.ASCII) if isinstance(key, str) else None
            if suggestion and suggestion[0].isdigit():
                suggestion = "_" + suggestion
            hint = f": rename it to {suggestion!r}" if suggestion and NAME_PATTERN.fullmatch(suggestion) else ""
            raise GraderConfigError(
                f"multi: sub-grader name {key!r} cannot appear in a formula; names are letters, digits "
                f"and _ and do not start with a digit{hint}"
            )
        if not isinstance(sub, Grader):
            raise GraderConfigError(
                f"multi: sub-grader {key!r} is a {type(sub).__name__}, not a grader called as grader(sample, item)"
            )
    threshold = check_threshold(f"multi {name!r}", pass_threshold)
    subs = dict(graders)
    tree = parse_formula(calculate_output, frozenset(subs))
    shown_formula = preview(one_line(calculate_output, 120), 80)

    def grade(sample: Sample, item: Item) -> Grade:
        grades = {key: _run(key, sub, sample, item) for key, sub in subs.items()}
        details: dict[str, Any] = {
            "calculate_output": calculate_output,
            "graders": {
                key: {"grader": g.grader, "passed": g.passed, "score": g.score, "reason": g.reason, "error": g.error}
                for key, g in grades.items()
            },
        }
        errored = [key for key, g in grades.items() if g.error is not None]
        if errored:
            first = errored[0]
            more = f" (and {', '.join(map(repr, errored[1:]))})" if errored[1:] else ""
            return Grade.errored(name, f"sub-grader {first!r} errored{more}: {grades[first].reason}", **details)
        scores = {key: g.score for key, g in grades.items()}
        bad = [key for key, score in scores.items() if not math.isfinite(score)]
        if bad:
            return Grade.errored(name, f"sub-grader {bad[0]!r} gave the score {scores[bad[0]]!r}", **details)
        try:
            score = _evaluate(tree, scores)
        except _FormulaError as exc:
            return Grade.errored(name, f"formula {shown_formula} at column {exc.column}: {exc.message}", **details)
        except (RecursionError, ArithmeticError, ValueError) as exc:  # not expected: a guard, not a path
            return Grade.errored(name, f"formula {shown_formula}: {exception_line(exc)}", **details)
        inputs = ", ".join(f"{key}={value:g}" for key, value in scores.items())
        passed = score >= threshold
        verdict = "at least" if passed else "below"
        reason = one_line(f"{shown_formula} = {score:g} ({inputs}), {verdict} the pass threshold {threshold:g}")
        return Grade(passed=passed, score=score, reason=reason, grader=name, details=details)

    spec = {
        "type": "multi",
        "name": name,
        "graders": {key: _spec(sub) for key, sub in subs.items()},
        "calculate_output": calculate_output,
        "pass_threshold": threshold,
    }
    return FunctionGrader(name=name, spec=spec, fn=grade)


def _run(key: str, sub: Grader, sample: Sample, item: Item) -> Grade:
    label = getattr(sub, "name", key)
    try:
        grade = sub(sample, item)
    except Exception as exc:
        return Grade.errored(label, f"grader raised {exception_line(exc)}")
    if not isinstance(grade, Grade):
        return Grade.errored(label, f"grader returned {type(grade).__name__}, not a Grade")
    return grade


def _spec(sub: Grader) -> Mapping[str, Any]:
    spec = getattr(sub, "spec", None)
    return spec if isinstance(spec, Mapping) else {"type": type(sub).__name__, "name": sub.name}
