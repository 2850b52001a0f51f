from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from pytest_llmeval._core.counters import Counters
from pytest_llmeval._core.records import Usage
from pytest_llmeval._core.request import Generation
from pytest_llmeval._engine.share import SharedRun


def test_every_key_has_exactly_one_owner(tmp_path: Path) -> None:
    workers = [SharedRun(tmp_path, i, 3) for i in range(3)]
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(500)]
    for key in keys:
        assert sum(w.owns(key) for w in workers) == 1
    shares = [sum(w.owns(k) for k in keys) for w in workers]
    assert min(shares) > len(keys) / 3 * 0.8


def test_publish_and_wait(tmp_path: Path) -> None:
    owner, other = SharedRun(tmp_path, 0, 2), SharedRun(tmp_path, 1, 2)
    key = "0" * 64
    owner.publish(key, Generation(text="hi", usage=Usage.of(1, 2)))
    found = other.wait_for(key)
    assert found is not None and found.text == "hi" and found.usage == Usage.of(1, 2)


def test_errors_are_shared_too(tmp_path: Path) -> None:
    SharedRun(tmp_path, 0, 1).publish("a" * 64, Generation.failed("HTTP 500"))
    found = SharedRun(tmp_path, 0, 1).lookup("a" * 64)
    assert found is not None and found.error == "HTTP 500"


def test_finished_owner_without_the_answer_is_not_waited_for(tmp_path: Path) -> None:
    owner, other = SharedRun(tmp_path, 0, 2), SharedRun(tmp_path, 1, 2)
    owner.heartbeat(Counters(done=0, spent=0.5), done=True)  # a counter named "done" must not hide the flag
    started = time.monotonic()
    assert other.wait_for("0" * 64) is None
    assert time.monotonic() - started < 10  # not the wait for a live owner: it would wait far longer


def test_dead_owner_is_not_waited_for(tmp_path: Path) -> None:
    owner, other = SharedRun(tmp_path, 0, 2), SharedRun(tmp_path, 1, 2)
    owner.heartbeat(Counters())
    state = json.loads((tmp_path / "workers" / "0.json").read_text())
    state["at"] -= 3600
    (tmp_path / "workers" / "0.json").write_text(json.dumps(state))
    assert other.wait_for("0" * 64, limit=5) is None


def test_totals(tmp_path: Path) -> None:
    a, b = SharedRun(tmp_path, 0, 2), SharedRun(tmp_path, 1, 2)
    a.heartbeat(Counters(done=3, spent=0.25), done=True)
    b.heartbeat(Counters(done=4, spent=0.5))
    assert a.totals().done == 7 and a.totals().spent == 0.75
    assert a.totals(exclude_self=True).spent == 0.5
    assert not a.all_done()


def test_a_line_still_being_written_is_not_read(tmp_path: Path) -> None:
    owner, other = SharedRun(tmp_path, 0, 1), SharedRun(tmp_path, 0, 1)
    key, later = "0" * 64, "1" * 64
    owner.publish(key, Generation(text="first"))
    log = tmp_path / "results" / "0.jsonl"
    whole = log.read_bytes()
    log.write_bytes(whole + b'{"key": "' + later.encode() + b'", "outc')  # cut mid-line
    assert other.lookup(later) is None
    found = other.lookup(key)
    assert found is not None and found.text == "first"
    log.write_bytes(whole)  # the writer goes on where it was
    owner.publish(later, Generation(text="second"))
    found = other.lookup(later)
    assert found is not None and found.text == "second"


def test_a_damaged_line_is_skipped_and_the_rest_is_read(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    good = json.dumps({"key": "1" * 64, "outcome": Generation(text="ok").dump()})
    (tmp_path / "results" / "0.jsonl").write_text('{"key": "' + "0" * 64 + '", "outcome": 3}\nnot json\n' + good + "\n")
    reader = SharedRun(tmp_path, 0, 1)
    assert reader.lookup("0" * 64) is None
    found = reader.lookup("1" * 64)
    assert found is not None and found.text == "ok"


def test_outcomes_are_read_from_the_owner_named(tmp_path: Path) -> None:
    # A tool round's answer lives with the owner of the round's first request, not its own hash.
    workers = [SharedRun(tmp_path, i, 2) for i in range(2)]
    key = "0" * 64  # owned by worker 0 by its hash
    workers[1].publish(key, Generation(text="from 1"))
    found = workers[0].wait_for(key, limit=1, owner=1)
    assert found is not None and found.text == "from 1"
