"""A grader built wrong in a Python test reads as one line at the test's own line.

``graders.multi({...}, "a.__class__")`` raises while the test body runs; pytest would
print the plugin's frames down to the parser, which say nothing to the author. The line
of their test and the message do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .._core.paths import relative
from ..graders import GraderConfigError


def shorten_config_error(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Replace the traceback of a GraderConfigError raised from the test's own file with one line."""
    excinfo = call.excinfo
    if excinfo is None or not excinfo.errisinstance(GraderConfigError) or not isinstance(item, pytest.Function):
        return
    own = Path(item.path)
    for entry in reversed(excinfo.traceback):
        if Path(entry.path) == own:
            where = relative(own, Path(item.config.rootpath))
            report.longrepr = f"{where}:{entry.lineno + 1}: {excinfo.value}"
            return
