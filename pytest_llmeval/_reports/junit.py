"""JUnit XML properties: each eval test case in ``--junitxml`` carries its numbers.

::

    pytest --junitxml=junit.xml      # <property name="llmeval_pass_rate" value="0.8"/> ...

The properties ride on ``report.user_properties``, the list ``record_property`` fills, so
they cross xdist with the report and pytest's own writer puts them in the file. They are
added by the plugin, not through the ``record_property`` fixture, so pytest's warning that
the fixture does not suit ``junit_family=xunit2`` is never raised; pytest writes the
``<properties>`` element for every family.

The baseline status is known only when every case has run (a case is regressed after the
Holm adjustment over all shared cases), after pytest built each ``<testcase>``: it is added
to those elements at the end of the session, before pytest writes the file. That step reads
pytest's ``LogXML`` object (``_pytest.junitxml``), private API isolated in
:func:`add_baseline_status`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import pytest

from .._core.records import BaselineComparison, EvalRecord
from .._verdicts.baseline import key_of

CASE_PROPERTY = "llmeval_case"
"""The case key (group :: case id :: model): how the end of the session finds a case's element."""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def properties(record: EvalRecord) -> list[tuple[str, str]]:
    """The properties of one case, in the order the docs list them."""
    low, high = record.interval if record.interval is not None else (None, None)
    return [
        (CASE_PROPERTY, key_of(record)),
        ("llmeval_pass_rate", _number(record.pass_rate)),
        ("llmeval_ci_low", _number(low)),
        ("llmeval_ci_high", _number(high)),
        ("llmeval_samples", str(record.samples)),
        ("llmeval_passes", str(record.passes)),
        ("llmeval_errors", str(record.errors)),
        ("llmeval_model", record.model),
        ("llmeval_verdict", record.verdict),
        ("llmeval_cost_usd", _number(record.cost_usd)),
    ]


def wanted(config: pytest.Config) -> bool:
    """True when the run writes JUnit XML (xdist hands the option to the workers too)."""
    return bool(getattr(config.option, "xmlpath", None))


def add_properties(item: pytest.Item, report: pytest.TestReport) -> None:
    """Give the test's reports the case's properties, as ``record_property`` would.

    Appended to the item's list, which the call report holds and the teardown report will
    copy: pytest's writer reads the properties from whichever report closes the test case.
    """
    data: Mapping[str, Any] | None = getattr(report, "llmeval_record", None)
    if data is None or not wanted(item.config):
        return
    item.user_properties.extend(properties(EvalRecord.model_validate(data)))


def add_baseline_status(config: pytest.Config, comparison: BaselineComparison) -> int:
    """Add ``llmeval_baseline`` (the case's change, and ``redefined``) to every written case.

    Returns how many test cases got it. Private API: if pytest's writer changed shape, no
    element is found and the status is missing rather than wrong.
    """
    try:
        from _pytest.junitxml import xml_key

        writer = config.stash.get(xml_key, None)
        reporters = list(writer.node_reporters_ordered) if writer is not None else []
    except (ImportError, AttributeError):
        return 0
    status = {c.key: c.change + (",redefined" if c.redefined else "") for c in comparison.changes}
    done = 0
    for reporter in reporters:
        try:
            element = reporter.to_xml()
        except Exception:  # an unfinished reporter; not ours to fix
            continue
        if not isinstance(element, ET.Element):
            continue
        found = element.find("properties")
        if found is None:
            continue
        key = next((p.get("value") for p in found if p.get("name") == CASE_PROPERTY), None)
        if key in status:
            found.append(ET.Element("property", name="llmeval_baseline", value=status[key]))
            done += 1
    return done
