"""How reports and errors name files: relative to the rootdir when inside it."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=1024)
def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it, else as given (cached: every row asks)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
