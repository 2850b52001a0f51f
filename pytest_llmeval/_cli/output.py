"""What the commands print: errors on one line."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """An error's first line (a python criterion's syntax error adds the source line and a caret below)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
