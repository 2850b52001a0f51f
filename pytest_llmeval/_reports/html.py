"""The HTML report: one self-contained page to read a run in, from ``file://`` or a CI artifact.

::

    pytest --llmeval-report html          # llmeval-report/llmeval-report.html
    python -m pytest_llmeval report llmeval-report/llmeval-report.json --html run.html

Model output, dataset values and feature text are untrusted. The page therefore holds the
report as JSON in a ``<script type="application/json">`` block with every ``<``, ``>`` and
``&`` escaped (so no ``</script>`` in an answer can end the block), and the page's own
script (``assets/report.js``) puts every value on the page as text, never as HTML. A
Content-Security-Policy allows only that script (by its hash) and no remote resource, so
even a mistake in escaping would not run anything or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from .._core.records import RunReport
from .._verdicts.baseline import key_of
from .._verdicts.stats import wilson

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src '{script_hash}'; img-src data:">
<title>LLM eval results</title>
<style>
{css}
</style>
</head>
<body>
<noscript>This report needs JavaScript; the same data is in llmeval-report.json.</noscript>
<main id="app"></main>
<script type="application/json" id="llmeval-data">{data}</script>
<script>{script}</script>
</body>
</html>"""


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(value: Any) -> str:
    """JSON that cannot end the ``<script>`` block it sits in, nor be read as HTML.

    ``<``, ``>`` and ``&`` become ``\\u003c`` and friends: valid JSON escapes inside strings,
    and JSON has no such characters outside them. U+2028/U+2029 are escaped too, as old
    JavaScript parsers ended lines at them.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def page_data(report: RunReport) -> dict[str, Any]:
    """The report, and what the page shows beside it: group intervals, each case's baseline change."""
    changes: dict[str, Any] = {}
    if report.baseline is not None:
        changes = {c.key: c for c in report.baseline.changes}
    found = [changes.get(key_of(case)) for case in report.cases]
    intervals: dict[str, Any] = {
        "overall": wilson(report.overall.passed, report.overall.decided) if report.overall.decided else None
    }
    for group in report.groups:
        intervals[f"group:{group.group}"] = wilson(group.passed, group.decided) if group.decided else None
    return {
        "report": report.model_dump(mode="json"),
        "intervals": intervals,
        "changes": [None if c is None else c.change for c in found],
        "redefined": [c is not None and c.redefined for c in found],
    }


def html(report: RunReport) -> str:
    """The page for one run: summaries, comparisons, the baseline and every case, filterable."""
    script = _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    # The data goes in last: nothing in it is read as one of the page's own placeholders.
    head, tail = _PAGE.split("{data}")
    return (
        head.format(script_hash=f"sha256-{digest}", css=_asset("report.css"))
        + embed_json(page_data(report))
        + tail.replace("{script}", script)
    )
