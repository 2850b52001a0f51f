"""Bounded pytest sessions in a subprocess, and what the reliability corpus checks after them.

In-process ``pytester`` runs cannot be bounded: a run that hangs hangs the suite, and a run that
must be interrupted or killed takes the outer session with it. These helpers start
``python -m pytest`` in a fresh process group, with a private temporary folder and none of the
outer run's xdist or OpenAI variables, and always end it: on time, after a signal, or killed
(with its whole group) when the bound is reached, which the result then says.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOISE = ("Traceback (most recent call last)", "INTERNALERROR", "_pytest/", "_pytest\\", "During handling of")
"""What a clear error never shows: Python tracebacks, pytest's internal errors and frames."""

ESC = "\x1b"

QUIET_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio")
"""Plugins a throwaway project does not need: hypothesis's alone adds about a second to every start."""

_DROPPED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST", "PY_COLORS", "FORCE_COLOR")


@dataclass
class Session:
    """One finished (or ended) pytest subprocess."""

    ret: int | None
    """The exit code; None when the process had to be killed at the time bound."""
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False
    signalled: int | None = None
    """The signal sent to it, if any."""
    signalled_at: float | None = None
    """Seconds after the start when the signal was sent."""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def noise(self) -> list[str]:
        """Lines of traceback noise in the output (empty when the output is clean)."""
        return [line for line in self.output.splitlines() if any(marker in line for marker in NOISE)]


_BASE_ENV = dict(os.environ)
"""The environment as it was at import, before any test (or pytester) changed it."""


def clean_env(tmpdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a subprocess session: no xdist worker or OpenAI variables, a private TMPDIR."""
    env = {
        name: value
        for name, value in _BASE_ENV.items()
        if not name.startswith(("PYTEST_XDIST", "OPENAI_")) and name not in _DROPPED_ENV
    }
    tmpdir.mkdir(parents=True, exist_ok=True)
    env.update({"TMPDIR": str(tmpdir), "TEMP": str(tmpdir), "TMP": str(tmpdir), "COLUMNS": "200"})
    env.update(extra or {})
    return env


def run_pytest(
    cwd: Path,
    *args: str,
    timeout: float = 90.0,
    env: Mapping[str, str] | None = None,
    tmpdir: Path | None = None,
    interrupt: tuple[int, float] | None = None,
    interrupt_when: Callable[[], bool] | None = None,
) -> Session:
    """Run ``python -m pytest ARGS`` in ``cwd`` and always end it within ``timeout`` seconds.

    ``interrupt=(signal, seconds)`` sends the signal that long after the start (SIGINT to the
    process group, as a terminal's Ctrl-C does; any other signal to the main process, as a CI
    runner does), or as soon as ``interrupt_when()`` is true, whichever comes first. The
    process gets the rest of ``timeout`` to end by itself; then it is killed with its group
    and ``timed_out`` is set.
    """
    tmp = tmpdir if tmpdir is not None else cwd / ".session-tmp"
    environment = clean_env(tmp, env)
    out_path, err_path = cwd / ".session-stdout", cwd / ".session-stderr"
    command = [sys.executable, "-m", "pytest", *QUIET_PLUGINS, *args]
    start = time.monotonic()
    signalled_at: float | None = None
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
        timed_out = False
        try:
            if interrupt is not None:
                signum, after = interrupt
                while process.poll() is None and time.monotonic() - start < after:
                    if interrupt_when is not None and interrupt_when():
                        break
                    time.sleep(0.01)
                if process.poll() is None:
                    signalled_at = time.monotonic() - start
                    if signum == signal.SIGINT:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(process.pid, signum)
                    else:
                        process.send_signal(signum)
            process.wait(timeout=max(0.1, timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Whatever happened, nothing this session started outlives it (xdist workers included).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    elapsed = time.monotonic() - start
    return Session(
        ret=None if timed_out else process.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        elapsed=elapsed,
        timed_out=timed_out,
        signalled=interrupt[0] if interrupt is not None and signalled_at is not None else None,
        signalled_at=signalled_at,
    )


# ------------------------------------------------------------------------------------- projects


def write(root: Path, relative: str, text: str | bytes) -> Path:
    """Write a file of a throwaway project (text is dedented; bytes are written as given)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def bdd_project(root: Path, feature: str, *, name: str = "eval") -> Path:
    """A project with one feature file bound by ``scenarios('features')``."""
    write(root, "test_bdd_scenarios.py", "from pytest_bdd import scenarios\nscenarios('features')\n")
    return write(root, f"features/{name}.feature", feature)


def jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# ------------------------------------------------------------------------------ what is on disk


@dataclass
class CacheState:
    """The response cache folder as found after a run."""

    entries: dict[Path, dict[str, Any]] = field(default_factory=dict)
    """Every ``*.json`` entry that parses, by path."""
    unparsable: list[Path] = field(default_factory=list)
    strays: list[Path] = field(default_factory=list)
    """Files that are not entries: temporary files left by an interrupted write."""

    def user_messages(self) -> set[str]:
        """The user message of every entry (the last user turn of its request)."""
        found: set[str] = set()
        for entry in self.entries.values():
            for message in reversed(entry.get("request", {}).get("messages", [])):
                if message.get("role") == "user":
                    found.add(str(message.get("content")))
                    break
        return found


def cache_state(folder: Path) -> CacheState:
    state = CacheState()
    if not folder.exists():
        return state
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        if path.suffix != ".json" or path.name.startswith("."):
            state.strays.append(path)
            continue
        try:
            state.entries[path] = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            state.unparsable.append(path)
    return state


def run_folders(tmpdir: Path) -> list[Path]:
    """``llmeval-run-*`` folders left in a session's temporary folder."""
    return sorted(tmpdir.glob("llmeval-run-*")) if tmpdir.exists() else []


def files_under(root: Path, *, skip: Iterable[str] = ()) -> Iterator[Path]:
    """Every file below ``root`` (skipping folders named in ``skip``)."""
    skipped = set(skip)
    for path in sorted(root.rglob("*")):
        if path.is_file() and not skipped.intersection(path.relative_to(root).parts):
            yield path


def lines_with(text: str, pattern: str) -> list[str]:
    """The lines of ``text`` that match the regex ``pattern``."""
    compiled = re.compile(pattern)
    return [line for line in text.splitlines() if compiled.search(line)]


# ---------------------------------------------------------------------- once per outer session

Compute = Callable[[Path], dict[str, Any]]
SHARED: dict[str, tuple[str, Compute]] = {}
"""Sessions run once per outer session: fixture name -> (session name, compute)."""


USED_BY: dict[str, list[str]] = {}
"""Fixtures that read shared sessions through others: fixture name -> the shared fixtures it reads."""


def shared(fixture: str, name: str, compute: Compute, *, used_by: Iterable[str] = ()) -> None:
    """Declare that tests using ``fixture`` (or one of ``used_by``) read ``compute``'s result, run once as ``name``."""
    SHARED[fixture] = (name, compute)
    for other in used_by:
        USED_BY.setdefault(other, []).append(fixture)


def _compute(root: Path, name: str, compute: Compute, result: Path) -> dict[str, Any]:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        data = compute(folder)
    except Exception as exc:  # every worker that asks must see the same failure, not compute again
        data = {"__error__": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"}
    result.write_text(json.dumps(data))
    return data


def once(root: Path, name: str, compute: Compute, *, block: bool = True) -> dict[str, Any] | None:
    """``compute(folder)`` once for all xdist workers of the outer session; its JSON result for each.

    ``root`` is a folder every worker shares (the parent of the workers' basetemp). The first
    to ask computes under a file lock; the others wait for the lock and read the result. With
    ``block=False`` a session someone else is computing is left to them (None is returned).
    """
    root.mkdir(parents=True, exist_ok=True)
    result = root / f"{name}.json"
    with (root / f"{name}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            if result.exists():
                data: dict[str, Any] = json.loads(result.read_text())
                return data
            return _compute(root, name, compute, result)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def result_of(root: Path, fixture: str) -> dict[str, Any]:
    """The result of the shared session behind ``fixture`` (computed now, or waited for)."""
    name, compute = SHARED[fixture]
    data = once(root, name, compute)
    assert data is not None
    if "__error__" in data:
        raise AssertionError(f"the shared session {name!r} failed:\n{data['__error__']}")
    return data


def prewarm(root: Path, fixtures: Iterable[str]) -> threading.Thread:
    """Start computing the shared sessions behind ``fixtures`` in the background, in the order given.

    Each xdist worker runs one such thread; a session another worker (or a test) is already
    computing is skipped, so the workers split the sessions between them while their tests run.
    """
    names = [SHARED[f] for f in fixtures if f in SHARED]

    def work() -> None:
        for name, compute in names:
            once(root, name, compute, block=False)

    thread = threading.Thread(target=work, name="reliability-prewarm", daemon=True)
    thread.start()
    return thread
