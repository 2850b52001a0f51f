"""A case whose xdist worker died still gets a record: an error that says so.

A worker killed by the OOM killer (or a crashing extension) sends nothing more; xdist
reports its test as failed ("worker 'gw0' crashed while running ..."), but the case
would be missing from the reports and the baseline, and its pass rate would silently
leave the suite's. Before the tests, the first worker writes each planned case's
stand-in record into the run folder; the controller puts it in the crashed case's place.
A Python test whose case is only known when it runs (``llm.ask``) has no stand-in: pytest's
own failure is all there is of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .._case.spec import CaseSpec
from .._case.verdict import error_record
from .._core.files import atomic_write_text
from .._core.records import EvalRecord

FILE = "stand-ins.jsonl"


def write_stand_ins(folder: Path, specs: Iterable[CaseSpec]) -> None:
    """One line per planned case: its node id and its error record, should its worker die."""
    lines = [
        json.dumps({"nodeid": spec.nodeid, "record": error_record(spec, "").model_dump(mode="json")}) for spec in specs
    ]
    atomic_write_text(folder / FILE, "\n".join(lines) + "\n")


def stand_in(folder: Path | None, nodeid: str, crash: str) -> EvalRecord | None:
    """The record of the case at ``nodeid`` whose worker crashed, or None when none was planned."""
    if folder is None:
        return None
    try:
        text = (folder / FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        data = json.loads(line)
        if data["nodeid"] == nodeid:
            record = EvalRecord.model_validate(data["record"])
            reason = f"the xdist worker running this case crashed ({crash}); its samples are lost"
            return record.model_copy(update={"reason": reason})
    return None
