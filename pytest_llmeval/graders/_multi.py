"""OpenAI's ``multi`` grader: named sub-graders combined by a formula over their scores.

::

    g = multi({"exact": string_check("30 days", "ilike"), "short": named("short")},
              "0.7 * exact + 0.3 * short", pass_threshold=0.7)
    g(make_sample("30 days."), {}).score       # 1.0 when both score 1

A formula is Python's expression grammar cut down to numbers, the sub-graders' names,
``+ - * / ^``, parentheses and eight functions, so :func:`ast.parse` builds its tree. It is
never compiled to code or run, only walked into a postfix program of float arithmetic, so
a formula read from an imported eval definition is as safe as a number. At set-up:

1. Its lexemes (the regexes the language always had) are checked in one pass for what
   Python's wider grammar would let through or report elsewhere: the characters, which
   lexeme may follow which, commas, parentheses, depth, names, numbers, argument counts.
2. They are joined into the text ``ast.parse(..., mode="eval")`` reads: ``^`` as ``**``
   (the same precedence and associativity: ``-2^2 == -4``, ``2^3^2 == 512``, ``2^-1 ==
   0.5``), numbers as ``0`` and keyword-named sub-graders as ``_`` (values and names are
   read from the user's text, so ``007`` and a sub-grader ``if`` keep their meaning), and
   runs of signs folded, as Python's parser would nest them.
3. The tree is held to a whitelist (BinOp ``+ - * / **``, UnaryOp ``+ -``, those numbers
   and names, FUNCTIONS called with positional arguments) and flattened by a loop, so a
   long chain ``a+a+...`` is not checked or evaluated by recursion.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import operator
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._base import (
    FunctionGrader,
    Grade,
    Grader,
    GraderConfigError,
    Item,
    Sample,
    check_threshold,
    exception_line,
    one_line,
    preview,
)

MAX_FORMULA_LENGTH = 10_000
"""Longest formula accepted, in characters."""
MAX_DEPTH = 100
"""Deepest nesting accepted: each parenthesis, function call or ``^`` is one level."""

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
"""What a sub-grader's name must look like to be used in a formula."""

_LEXEME = re.compile(
    r"(?P<space>[ \t\r\n]+)|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    rf"|(?P<name>{NAME_PATTERN.pattern})|(?P<op>(?!\*\*|//)[-+*/^])|(?P<punctuation>[(),])|(?P<refused>\*\*|//|.)",
    re.ASCII | re.DOTALL,
)
"""The old tokenizer's lexemes, unchanged: what a formula may contain is decided here."""

# Characters a Python-minded author might try, and why each is refused.
_HINTS = {
    **dict.fromkeys("'\"", "strings are not supported"),
    ".": "attribute access is not supported",
    **dict.fromkeys("[]", "subscripts are not supported"),
    ":": "lambdas and slices are not supported",
    "=": "comparisons and assignments are not supported",
    **dict.fromkeys("<>!", "comparisons are not supported"),
    **dict.fromkeys("{}", "only ( ) group"),
    "#": "comments are not supported",
    ";": "a formula is one expression",
    "\\": "escapes are not supported",
}

_OPERAND = "expected a number, a sub-grader's name, a function or '('"
_BINARY: Mapping[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}


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


class _FormulaError(Exception):
    """A problem at one column of the formula: a set-up error, or a value at evaluation."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # "number", "name", "op" (+ - * / ^), "(", ")" or ","
    text: str
    column: int  # 1-based, in the user's formula


@dataclass(frozen=True)
class _Step:
    """One instruction of the postfix program: push a number or a score, or apply an operation."""

    op: str  # "num", "var", "neg", "call", or a binary operator + - * / ^
    column: int
    value: float = 0.0
    name: str = ""
    arity: int = 0


_Program = tuple[_Step, ...]


@dataclass
class _Level:
    """The top of the formula, or an open '(': what ``_Formula.check`` must know of it."""

    index: int  # the '(' lexeme
    call: bool  # a function's '(' (after a name), where ',' may stand
    carets: int = 0  # the ^ exponents open in it
    commas: int = 0


_OPERAND_DUE = ("op", "(", ",")  # the lexemes an operand must follow
_TOO_DEEP = f"the formula is nested too deeply (more than {MAX_DEPTH} levels)"


def _refusal(text: str) -> str:
    if text == "**":
        return "'**' is not an operator here: write powers with ^ (2^3 is 8)"
    if text == "//":
        return "'//' is not an operator here: use floor(a / b)"
    if not text.isascii():
        return (
            f"unexpected character {text!r} (U+{ord(text):04X}): formulas use ASCII letters, digits, "
            "spaces and + - * / ^ ( ) ,"
        )
    return f"unexpected character {text!r}: {_HINTS.get(text, 'the operators are + - * / ^')}"


def _python_tree(python: str) -> ast.expr:
    """``ast.parse`` with room for a long chain such as ``a+a+...+a``.

    CPython 3.11 builds the ``ast`` objects recursively, three levels per frame left under
    the recursion limit, so a chain of a few thousand terms (well within MAX_FORMULA_LENGTH)
    would fail: the limit is raised, process-wide but only for this call, by enough for the
    longest chain a formula can hold (later CPythons bound this in C, higher). Nesting,
    which makes the parser itself recurse, has been capped at MAX_DEPTH before.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + MAX_FORMULA_LENGTH // 2)
    try:
        return ast.parse(python, mode="eval").body
    except (RecursionError, MemoryError):  # a guard, as a CPython with lower limits would fail
        raise GraderConfigError(
            "multi: calculate_output is too deeply nested or too long for Python's parser"
        ) from None
    finally:
        sys.setrecursionlimit(limit)


class _Formula:
    """One formula: its lexemes, the Python text ``ast.parse`` reads, and the checks on both."""

    def __init__(self, formula: str, names: frozenset[str]) -> None:
        self.formula, self.names = formula, names
        self.lexemes: list[_Lexeme] = []
        for match in _LEXEME.finditer(formula):
            kind, text, column = match.lastgroup or "refused", match.group(), match.start() + 1
            if kind == "refused":
                raise _FormulaError(_refusal(text), column)
            if kind != "space":
                self.lexemes.append(_Lexeme(text if kind == "punctuation" else kind, text, column))
        if not self.lexemes:
            raise _FormulaError("the formula is empty", 1)
        pieces: list[str] = []
        self.starts: dict[int, int] = {}  # where each piece of the Python text starts: its lexeme
        signs = second = offset = 0
        for index, lexeme in enumerate(self.lexemes):
            signs = signs + 1 if lexeme.text in ("+", "-") else 0
            if signs > 2:  # a later sign only flips the second: "a - - -b" reads "a - +b"
                pieces[second] = "-" if (pieces[second] == "-") != (lexeme.text == "-") else "+"
                continue
            second = len(pieces) if signs == 2 else second
            piece = "**" if lexeme.text == "^" else "0" if lexeme.kind == "number" else lexeme.text
            pieces.append("_" if keyword.iskeyword(piece) else piece)
            self.starts[offset] = index
            offset += len(pieces[-1]) + 1
        self.python = " ".join(pieces)

    def check(self) -> None:
        """Apply the formula's rules in one pass over its lexemes; raise the first one broken.

        Python's grammar is wider (``a, b`` is a tuple, ``*a`` and ``**a`` unpack, ``min(a,)``
        and ``(min)(a)`` are calls), reports ``(a b`` as a '(' never closed and knows no
        sub-graders; so what may follow what, commas, parentheses, depth, names, numbers and
        argument counts are checked here, in reading order, as the formula was before.
        """
        levels = [_Level(-1, call=False)]
        carets = 0  # the ^ exponents open, in all levels
        for index, lexeme in enumerate([*self.lexemes, _Lexeme("end", "", len(self.formula) + 1)]):
            before, level = self.lexemes[index - 1].kind if index else "(", levels[-1]
            if before in _OPERAND_DUE:  # an operand starts: each open '(' and each exponent is a level
                empty_call = lexeme.kind == ")" and before == "(" and level.call  # "min()": counted below
                if len(levels) + carets > MAX_DEPTH and not empty_call:
                    raise _FormulaError(_TOO_DEEP, lexeme.column)
                if not (empty_call or lexeme.kind in ("number", "name", "(") or lexeme.text in ("+", "-")):
                    what = "the formula ends too early" if lexeme.kind == "end" else f"unexpected {lexeme.text!r}"
                    raise _FormulaError(f"{what}: {_OPERAND}", lexeme.column)
            elif lexeme.kind == "end":
                break
            elif not (
                lexeme.kind == "op"
                or (lexeme.kind == "(" and before == "name")
                or (lexeme.kind == ")" and len(levels) > 1)
                or (lexeme.kind == "," and level.call)
            ):
                wanted = "')' (or an operator)" if len(levels) > 1 else "an operator (+ - * / ^) or the end"
                hint = {",": "; ',' only separates a function's arguments", ")": "; it closes no '('"}
                hint_text = hint.get(lexeme.kind, "") if len(levels) == 1 else ""
                raise _FormulaError(f"unexpected {lexeme.text!r}: expected {wanted}{hint_text}", lexeme.column)
            elif lexeme.kind == "," or lexeme.text in ("+", "-", "*", "/"):  # a binary operator ends exponents
                carets, level.carets, level.commas = carets - level.carets, 0, level.commas + (lexeme.kind == ",")
            if lexeme.text == "^":
                carets, level.carets = carets + 1, level.carets + 1
            elif lexeme.kind == "(":
                levels.append(_Level(index, call=before == "name"))
            elif lexeme.kind == ")":
                carets -= levels.pop().carets
                if level.call:
                    self.check_arity(self.lexemes[level.index - 1], 0 if before == "(" else level.commas + 1)
            elif lexeme.kind == "number" and not math.isfinite(float(lexeme.text)):
                text = lexeme.text
                shown = text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"
                raise _FormulaError(f"the number {shown} is too large for a float", lexeme.column)
            elif lexeme.kind == "name":
                self.check_name(lexeme, called=index + 1 < len(self.lexemes) and self.lexemes[index + 1].kind == "(")
        if len(levels) > 1:
            raise _FormulaError("this '(' is never closed", self.lexemes[levels[-1].index].column)

    def check_name(self, lexeme: _Lexeme, called: bool) -> None:
        name, functions, column = lexeme.text, ", ".join(FUNCTIONS), lexeme.column
        if called and name not in FUNCTIONS:
            if name in self.names:
                raise _FormulaError(f"{name!r} is a sub-grader, not a function; functions: {functions}", column)
            raise _FormulaError(f"unknown function {name!r}{_closest(name, FUNCTIONS)}; functions: {functions}", column)
        if not called and name not in self.names:
            if name in FUNCTIONS:
                raise _FormulaError(f"{name} is a function: write {name}(...)", column)
            known = ", ".join(sorted(self.names)) or "none"
            raise _FormulaError(f"unknown name {name!r}{_closest(name, self.names)}; sub-graders: {known}", column)

    @staticmethod
    def check_arity(name: _Lexeme, count: int) -> None:
        function = FUNCTIONS[name.text]
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            wanted = f"{'at least ' if function.max_args is None else ''}{function.min_args} argument"
            hint = "; for another base write log(x) / log(base)" if name.text == "log" and count > 1 else ""
            raise _FormulaError(f"{name.text}() takes {wanted}, got {count}{hint}", name.column)

    def program(self) -> _Program:
        """Check, parse, hold the tree to the whitelist and flatten it into a postfix program.

        A loop over an explicit stack, so neither a long chain nor a deep caller stack can
        make it recurse. Each node is matched to the lexeme it starts at: the user's column
        and text.
        """
        self.check()
        try:
            tree = _python_tree(self.python)
        except SyntaxError as exc:  # a guard: check() refused every syntax error already
            lexeme = self.lexemes[self.starts.get((exc.offset or 1) - 1, 0)]
            raise _FormulaError(f"unexpected {lexeme.text!r}: {exc.msg}", lexeme.column) from None
        steps: list[_Step] = []
        todo: list[ast.expr | _Step] = [tree]  # nodes to visit, and the steps that follow their operands
        while todo:
            node = todo.pop()
            if isinstance(node, _Step):
                steps.append(node)
                continue
            index = self.starts[node.col_offset]
            lexeme = self.lexemes[index]
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and lexeme.kind == "number":
                steps.append(_Step("num", lexeme.column, value=float(lexeme.text)))  # 007, 1e300: as written
            elif isinstance(node, ast.Name) and lexeme.kind == "name" and lexeme.text in self.names:
                steps.append(_Step("var", lexeme.column, name=lexeme.text))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
                if isinstance(node.op, ast.USub):
                    todo.append(_Step("neg", lexeme.column))
                todo.append(node.operand)
            elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
                sign = self.starts[node.right.col_offset] - 1  # the operator: before the right operand
                while self.lexemes[sign].kind == "(":  # and its opening parentheses
                    sign -= 1
                todo.extend([_Step(_BINARY[type(node.op)], self.lexemes[sign].column), node.right, node.left])
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and lexeme.text in FUNCTIONS:
                if node.keywords:  # positional arguments only
                    raise _FormulaError("unexpected keyword argument", lexeme.column)
                todo.extend([_Step("call", lexeme.column, name=lexeme.text, arity=len(node.args)), *node.args[::-1]])
            else:  # nothing else Python parses is in the formula language (a Starred argument, say)
                raise _FormulaError(f"unexpected {lexeme.text!r}", lexeme.column)
        return tuple(steps)


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


def parse_formula(formula: str, names: frozenset[str]) -> _Program:
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
        return _Formula(formula, names).program()
    except _FormulaError as exc:
        raise GraderConfigError(
            f"multi: calculate_output at column {exc.column}: {exc.message}\n{_pointing(formula, exc.column)}"
        ) from None


# --- evaluation ----------------------------------------------------------------------------


def _finite(value: float, what: str, column: int) -> float:
    if not math.isfinite(value):
        raise _FormulaError(f"{what} overflows (the result is {value!r})", column)
    return value


_ARITHMETIC: Mapping[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": math.pow,
}


def _binary(step: _Step, left: float, right: float) -> float:
    what = f"{left:g} {step.op} {right:g}"
    if step.op == "/" and right == 0:
        raise _FormulaError(f"division by zero ({what})", step.column)
    try:
        value = _ARITHMETIC[step.op](left, right)
    except OverflowError:
        raise _FormulaError(f"{what} overflows", step.column) from None
    except ValueError:  # math.pow's
        why = "0 to a negative power" if left == 0 else "a negative number to a fractional power"
        raise _FormulaError(f"{what} is undefined ({why})", step.column) from None
    return _finite(value, what, step.column)


def _call(step: _Step, args: Sequence[float]) -> float:
    function = FUNCTIONS[step.name]
    problem = function.domain(args) if function.domain is not None else None
    shown = f"{step.name}({', '.join(f'{arg:g}' for arg in args)})"
    if problem is not None:
        raise _FormulaError(f"{shown} is undefined: {problem}", step.column)
    try:
        value = float(function.fn(*args))
    except OverflowError:
        raise _FormulaError(f"{shown} overflows", step.column) from None
    except ValueError as exc:
        raise _FormulaError(f"{shown} is undefined: {exc}", step.column) from None
    return _finite(value, shown, step.column)


def _evaluate(program: _Program, scores: Mapping[str, float]) -> float:
    """Run the postfix program on a stack of floats: a loop, however long the formula."""
    stack: list[float] = []
    for step in program:
        if step.op == "num":
            stack.append(step.value)
        elif step.op == "var":
            stack.append(scores[step.name])
        elif step.op == "neg":
            stack[-1] = -stack[-1]
        elif step.op == "call":
            args = stack[len(stack) - step.arity :]
            del stack[len(stack) - step.arity :]
            stack.append(_call(step, args))
        else:
            right = stack.pop()
            stack[-1] = _binary(step, stack[-1], right)
    return stack[-1]


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
    - ``calculate_output`` is parsed now (see the module's docstring); a syntax error, an
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
    program = parse_formula(calculate_output, frozenset(subs))
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
            score = _evaluate(program, scores)
        except _FormulaError as exc:
            return Grade.errored(name, f"formula {shown_formula} at column {exc.column}: {exc.message}", **details)
        except (ArithmeticError, ValueError) as exc:  # not expected: a guard, not a path
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
