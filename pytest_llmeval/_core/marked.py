"""Finding functions a decorator marked, in the modules of one project: how a run learns its
``@pytest_llmeval.grader`` and ``@pytest_llmeval.target`` functions without a global registry.

A decorator sets an attribute on the function; a :class:`MarkedFunctions` looks through the
modules imported from under the project's root (conftest files, test modules and what
they import) and any module it is shown (plugins), and reports each marked function once::

    found = MarkedFunctions(rootpath, "__llmeval_target__", on_found=register)
    found.search_project()          # again later: only modules imported since are read
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any


class MarkedFunctions:
    """The functions carrying ``attribute`` in a project's modules; ``on_found(mark, fn)`` for each."""

    def __init__(self, root: Path, attribute: str, on_found: Callable[[Any, Callable[..., Any]], None]) -> None:
        self.root = root.resolve()
        self.attribute = attribute
        self.on_found = on_found
        self._seen: dict[str, ModuleType] = {}
        """Modules looked at already, by name (a module imported again is looked at again)."""

    def search(self, module: ModuleType) -> None:
        """Report every marked function in ``module``'s namespace."""
        try:
            values = list(vars(module).values())
        except TypeError:
            return
        for value in values:
            mark = mark_of(value, self.attribute)
            if mark is not None:
                self.on_found(mark, value)

    def search_all(self, modules: Iterable[object]) -> None:
        """Search every module among ``modules`` (pytest's plugins: conftest files, ``-p`` modules)."""
        for module in modules:
            if isinstance(module, ModuleType):
                self.search(module)

    def search_project(self) -> None:
        """Search the modules imported from under ``root`` since the last search."""
        for name, module in list(sys.modules.items()):
            if not isinstance(module, ModuleType) or self._seen.get(name) is module:
                continue
            self._seen[name] = module
            if _inside(module, self.root):
                self.search(module)


def mark_of(value: object, attribute: str) -> Any:
    """The mark ``value`` itself carries (not its class's, nor a proxy's ``__getattr__``), or None."""
    try:
        namespace = vars(value)
    except TypeError:
        return None
    return namespace.get(attribute) if isinstance(namespace, dict) and callable(value) else None


def _inside(module: ModuleType, root: Path) -> bool:
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return False
    return os.path.realpath(filename).startswith(str(root) + os.sep)
