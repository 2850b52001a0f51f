"""The package keeps the shape docs/architecture.md draws, measured from its imports.

- the longest chain of the package's own imports is at most 9 modules;
- no module is over 600 lines;
- the front ends (_bdd, _python) import neither each other nor the run (_run);
  the run imports no front end (the plugin hands planners and predicates in);
- reports import nothing of the engine, the run or the front ends;
- only _engine/client.py imports openai;
- plugin.py holds hooks and fixtures of a few lines each.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_llmeval"
FRONT_ENDS = ("_bdd", "_python")


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


class _Imports(ast.NodeVisitor):
    """Every import of a module, at any depth (lazy ones too), except under TYPE_CHECKING."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module.split(".") if is_package else module.split(".")[:-1]
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package[: len(self.package) - node.level + 1]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            self.found.add(sub if sub in MODULES else target)


@cache
def imports(module: str) -> frozenset[str]:
    path = MODULES[module]
    visitor = _Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(visitor.found)


def own(module: str) -> set[str]:
    return {m for m in imports(module) if m in MODULES and m != module}


def longest_chain() -> list[str]:
    best: dict[str, list[str]] = {}

    def walk(module: str, stack: tuple[str, ...]) -> list[str]:
        if module in stack:
            raise AssertionError(f"import cycle: {' -> '.join((*stack, module))}")
        if module not in best:
            below = [walk(dep, (*stack, module)) for dep in own(module)]
            best[module] = [module, *max(below, key=len, default=[])]
        return best[module]

    return max((walk(m, ()) for m in MODULES), key=len)


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_longest_import_chain_is_at_most_nine_modules() -> None:
    chain = longest_chain()
    assert len(chain) <= 9, " -> ".join(chain)


def test_no_module_is_over_600_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not long


def test_front_ends_and_the_run_stay_apart() -> None:
    crossings = []
    for module in MODULES:
        for dep in own(module):
            here, there = area(module), area(dep)
            if here in FRONT_ENDS and there in (*FRONT_ENDS, "_run") and there != here:
                crossings.append(f"{module} -> {dep}")
            if here == "_run" and there in FRONT_ENDS:
                crossings.append(f"{module} -> {dep}")
    assert not crossings


def test_reports_import_no_engine_run_or_front_end() -> None:
    bad = [f"{m} -> {d}" for m in MODULES if area(m) == "_reports" for d in own(m)]
    bad = [b for b in bad if area(b.split(" -> ")[1]) in ("_engine", "_run", *FRONT_ENDS)]
    assert not bad


def test_only_the_client_imports_openai() -> None:
    users = sorted(m for m in MODULES if any(i == "openai" or i.startswith("openai.") for i in imports(m)))
    assert users == ["pytest_llmeval._engine.client"]


def test_plugin_holds_only_short_hooks_and_fixtures() -> None:
    tree = ast.parse((PACKAGE / "plugin.py").read_text(encoding="utf-8"))
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions
    long = [f.name for f in functions if (f.end_lineno or f.lineno) - f.lineno > 12]
    assert not long
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert not classes
