"""Import a ``"module:Name"`` string, as feature files and ini options name Python objects.

A step such as ``Then the answer validates as "models:Order"`` names a class in the
user's project, which is often beside the feature file rather than installed; so a
module that is not found on ``sys.path`` is looked for in ``base_dir`` too::

    Order = import_object("models:Order", base_dir=Path("features"))
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ._base import GraderConfigError

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
IMPORT_SPEC = re.compile(rf"(?P<module>{_DOTTED}):(?P<attr>{_DOTTED})")
"""What ``import_object`` accepts: ``package.module:Name`` or ``module:Outer.Inner``."""


def import_object(spec: str, base_dir: Path | None = None) -> Any:
    """Return the object that ``spec`` (``"module:Name"``) names.

    The normal import comes first, so an installed package wins over a same-named file
    in ``base_dir``. Only when the top-level module is missing is the import retried with
    ``base_dir`` at the front of ``sys.path``, which is put back as it was afterwards.
    Every failure is a :class:`GraderConfigError` that says what was searched.
    """
    match = IMPORT_SPEC.fullmatch(spec.strip())
    if match is None:
        raise GraderConfigError(
            f"cannot import {spec!r}: expected 'module:Name' with dotted Python names on both "
            "sides of one colon, e.g. 'myapp.models:Order'"
        )
    module_name, attr_path = match["module"], match["attr"]
    module = _import_module(spec, module_name, base_dir)
    obj: Any = module
    owner = f"module {module_name!r}"
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise GraderConfigError(f"cannot import {spec!r}: {owner} has no attribute {attr!r}") from None
        owner = repr(attr)
    return obj


def _import_module(spec: str, module_name: str, base_dir: Path | None) -> ModuleType:
    top_level = module_name.partition(".")[0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != top_level or base_dir is None:
            raise _not_found(spec, module_name, exc, base_dir) from exc
    except Exception as exc:
        raise _failed(spec, exc) from exc

    entry = str(base_dir)
    sys.path.insert(0, entry)
    # A finder may have cached base_dir's listing before the user's file was written.
    importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise _not_found(spec, module_name, exc, base_dir) from exc
    except Exception as exc:
        raise _failed(spec, exc) from exc
    finally:
        # Remove our entry only: the imported module may have changed sys.path itself.
        if entry in sys.path:
            sys.path.remove(entry)


def _not_found(spec: str, module_name: str, exc: ModuleNotFoundError, base_dir: Path | None) -> GraderConfigError:
    searched = "sys.path" if base_dir is None else f"sys.path and {base_dir}"
    if exc.name is not None and not (module_name == exc.name or module_name.startswith(exc.name + ".")):
        # The module exists but imports something that is not installed.
        return GraderConfigError(f"cannot import {spec!r}: {exc} (raised while importing {module_name!r})")
    return GraderConfigError(f"cannot import {spec!r}: {exc} (searched {searched})")


def _failed(spec: str, exc: Exception) -> GraderConfigError:
    return GraderConfigError(f"cannot import {spec!r}: {type(exc).__name__}: {exc}")
