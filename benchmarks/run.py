"""Speed benchmarks of the plan-and-generate engine against the loopback server.

Run from the repository root (after the README's install):

    .venv/bin/python benchmarks/run.py            # the engine benchmarks, prints a table
    .venv/bin/python benchmarks/run.py --only latency,xdist --n 500
    .venv/bin/python benchmarks/run.py --only new  # python-declared/ask, targets, retry-429, server-bucket

Each benchmark writes a throwaway project of feature-file cases (an Outline with N Examples
rows, exact-match grader), starts ``tests/support/loopback.py`` as its own process with a fixed
latency, runs pytest on the project in a subprocess and reads the server's counters.
Nothing here asserts: it prints figures, to be compared with the targets in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ROOT / "tests" / "support" / "loopback.py"
sys.path.insert(0, str(LOOPBACK.parent))
from loopback import body_share  # noqa: E402  (standard library only, like the server process)

#: The share rule of ``retry-429``: 20 % of the distinct requests get one 429 with Retry-After 1.
SHARE = 0.2
SHARE_429 = {"match": None, "fault": {"status": 429, "retry_after": 1}, "share": SHARE, "once": True}


@contextmanager
def loopback(
    latency: float, rpm: int | None = None, rules: Sequence[Mapping[str, Any]] = (), server_args: Sequence[str] = ()
) -> Iterator[str]:
    """A loopback server in its own process (so its CPU is not the plugin's); yields its URL.

    ``rules`` go before the catch-all rule that answers "ok"; ``server_args`` are extra CLI
    options (``--bucket-requests 600`` ...).
    """
    args = [sys.executable, str(LOOPBACK), "--port", "0", "--latency", str(latency), "--max-seconds", "900"]
    if rpm:
        args += ["--rpm", str(rpm)]
    args += server_args
    rules_file = Path(tempfile.mkstemp(suffix=".json")[1])
    rules_file.write_text(json.dumps([*rules, {"match": None, "reply": "ok"}]))
    args += ["--rules", str(rules_file)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("LOOPBACK_URL="):
            raise RuntimeError(f"loopback server did not start: {line!r}")
        yield line.removeprefix("LOOPBACK_URL=")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        rules_file.unlink(missing_ok=True)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats", timeout=10) as response:
        data: dict[str, int] = json.loads(response.read())
    return data


def logged_bodies(url: str) -> list[Any]:
    """The JSON bodies of the requests the server logged (``/_requests``)."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_requests", timeout=30) as response:
        return [entry["body"] for entry in json.loads(response.read())]


def reset(url: str) -> None:
    request = urllib.request.Request(url.removesuffix("/v1") + "/_stats".replace("_stats", "_reset"), method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def make_project(root: Path, n: int, bare: bool = False, given: str = 'Given the model "bench-model"') -> Path:
    """An Outline with ``n`` rows; ``bare`` makes the same scenarios with empty steps and no plugin."""
    project = root / ("bare" if bare else "plugin")
    (project / "features").mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"      | q{i} |" for i in range(n))
    (project / "features" / "bench.feature").write_text(
        textwrap.dedent(
            """\
            Feature: bench
              Scenario Outline: case
                {given}
                When the user says "question <q>"
                Then the answer equals "ok"

                Examples:
                  | q |
            """
        ).format(given=given)
        + rows
        + "\n"
    )
    (project / "test_bench.py").write_text("from pytest_bdd import scenarios\nscenarios('features')\n")
    if bare:
        (project / "conftest.py").write_text(
            textwrap.dedent(
                """\
                from pytest_bdd import given, parsers, then, when

                @given(parsers.re(r'the model "(?P<m>.*)"'))
                def _(m): pass

                @when(parsers.re(r'the user says "(?P<t>.*)"'))
                def _(t): pass

                @then(parsers.re(r'the answer equals "(?P<t>.*)"'))
                def _(t): pass
                """
            )
        )
    (project / "pytest.ini").write_text("[pytest]\n")
    return project


DEV_ONLY_PLUGINS = ("hypothesispytest",)
"""Pytest plugins that come with the test extra, not with the plugin's own install. Each
process would load them: hypothesis's adds about 0.25 s of import and 0.3 s of terminal
summary to every pytest process (the controller and each xdist worker), bare pytest-bdd's
runs too, and a user of the plugin does not have it."""


@dataclass
class Run:
    wall: float
    returncode: int
    rss_mb: float
    tail: str


def run_pytest(project: Path, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, str(Path(__file__).resolve().parent / "_measure.py"), "-q", "-p", "no:cacheprovider"]
    for plugin in DEV_ONLY_PLUGINS:
        command += ["-p", f"no:{plugin}"]
    started = time.perf_counter()
    done = subprocess.run([*command, *args], cwd=project, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    rss = 0.0
    for line in done.stdout.splitlines():
        if line.startswith("PEAK_RSS_MB="):
            rss = float(line.split("=", 1)[1])
    tail = "\n".join(done.stdout.strip().splitlines()[-3:])
    if done.returncode not in (0,):
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    return Run(wall, done.returncode, rss, tail)


def plugin_args(url: str, concurrency: int, cache: str, cache_dir: Path) -> list[str]:
    return [
        f"--llmeval-base-url={url}",
        f"--llmeval-concurrency={concurrency}",
        f"--llmeval-cache={cache}",
        f"--llmeval-cache-dir={cache_dir}",
    ]


def bench_latency(tmp: Path, n: int, latency: float, concurrency: int, workers: int) -> dict[str, object]:
    project = make_project(tmp / f"lat-{workers}", n)
    extra = ["-n", str(workers)] if workers > 1 else ["-p", "no:xdist"]
    with loopback(latency) as url:
        run = run_pytest(project, *plugin_args(url, concurrency, "off", tmp / "cache-off"), *extra)
        server = stats(url)
    floor = n * latency / concurrency
    return {
        "benchmark": f"latency {latency * 1000:.0f} ms" + (f", -n {workers}" if workers > 1 else ""),
        "N": n,
        "latency_s": latency,
        "concurrency": concurrency,
        "wall_s": round(run.wall, 2),
        "floor_s": round(floor, 2),
        "wall/floor": round(run.wall / floor, 2) if floor else None,
        "peak_in_flight": server["peak_in_flight"],
        "requests": server["total_requests"],
        "exit": run.returncode,
    }


def bench_overhead(tmp: Path, n: int, concurrency: int) -> dict[str, object]:
    plugin = make_project(tmp / "overhead", n)
    bare = make_project(tmp / "overhead", n, bare=True)
    bare_run = run_pytest(bare, "-p", "no:llmeval", "-p", "no:xdist")
    with loopback(0.0) as url:
        run = run_pytest(plugin, *plugin_args(url, concurrency, "off", tmp / "cache-overhead"), "-p", "no:xdist")
        server = stats(url)
    return {
        "benchmark": "latency 0: plugin vs bare pytest-bdd",
        "N": n,
        "concurrency": concurrency,
        "bare_wall_s": round(bare_run.wall, 2),
        "plugin_wall_s": round(run.wall, 2),
        "extra_ms_per_case": round((run.wall - bare_run.wall) / n * 1000, 3),
        "peak_rss_mb": round(run.rss_mb, 1),
        "bare_peak_rss_mb": round(bare_run.rss_mb, 1),
        "requests": server["total_requests"],
        "exit": run.returncode,
    }


def bench_cached(tmp: Path, n: int) -> dict[str, object]:
    project = make_project(tmp / "cached", n)
    cache = tmp / "cache-record"
    with loopback(0.0) as url:
        first = run_pytest(project, *plugin_args(url, 64, "record", cache), "-p", "no:xdist")
        before = stats(url)["total_requests"]
        second = run_pytest(project, *plugin_args(url, 64, "record", cache), "-p", "no:xdist")
        after = stats(url)["total_requests"]
    return {
        "benchmark": "fully cached re-run",
        "N": n,
        "first_requests": before,
        "rerun_requests": after - before,
        "rerun_wall_s": round(second.wall, 2),
        "exit": max(first.returncode, second.returncode),
    }


def bench_rpm(tmp: Path, n: int, rpm: int) -> dict[str, object]:
    project = make_project(tmp / "rpm", n)
    with loopback(0.05, rpm=rpm) as url:
        started = time.perf_counter()
        run = run_pytest(
            project, *plugin_args(url, 64, "off", tmp / "cache-rpm"), f"--llmeval-rpm={rpm}", "-p", "no:xdist"
        )
        wall = time.perf_counter() - started
        server = stats(url)
    sent = server["total_requests"]
    limited = server.get("rate_limited", 0)
    answered = sent - limited
    return {
        "benchmark": f"server limit {rpm}/min",
        "N": n,
        "wall_s": round(run.wall, 2),
        "achieved_rpm": round(answered / wall * 60, 1),
        "achieved/limit": round(answered / wall * 60 / rpm, 3),
        "responses_429": limited,
        "share_429": round(limited / sent, 4) if sent else None,
        "answered": answered,
        "exit": run.returncode,
    }


# ------------------------------------------------------------------------ Python tests, targets, 429s

PYTHON_TESTS = {
    "ask": """\
import pytest
from pytest_llmeval import graders


@pytest.mark.llmeval_dataset("rows.jsonl")
def test_x(llm, case):
    llm.ask(f"question {case['q']}", model="bench-model").check(graders.string_check("ok", "eq"))
""",
    # The declarative form: the same request, written in the marker, planned before the tests.
    "declared": """\
import pytest
from pytest_llmeval import graders


@pytest.mark.llmeval(model="bench-model", prompt="question {q}")
@pytest.mark.llmeval_dataset("rows.jsonl")
def test_x(answer):
    answer.check(graders.string_check("ok", "eq"))
""",
}

#: The application a target benchmark evaluates: a module-level function, so registering it
#: another way (``--target-registration``) only changes the lines that register it.
TARGET_APPS = {
    "async": """\
import asyncio

import pytest
import pytest_llmeval


async def app(case):
    await asyncio.sleep({latency})
    return "ok"
""",
    "sync": """\
import time

import pytest
import pytest_llmeval


def app(case):
    time.sleep({latency})
    return "ok"
""",
}
TARGET_REGISTRATIONS = {
    "fixture": """

@pytest.fixture
def llmeval_targets():
    return {"app": app}
""",
    "decorator": """

pytest_llmeval.target("app")(app)
""",
}


def make_python_project(root: Path, n: int, style: str = "ask") -> Path:
    """``n`` Python tests: one ``llmeval_dataset`` row each, one request (``ask`` or declared), an exact-match check."""
    project = root / "python"
    project.mkdir(parents=True, exist_ok=True)
    rows = "".join(json.dumps({"id": f"r{i}", "q": f"q{i}"}) + "\n" for i in range(n))
    (project / "rows.jsonl").write_text(rows)
    (project / "test_bench.py").write_text(PYTHON_TESTS[style])
    (project / "pytest.ini").write_text("[pytest]\n")
    return project


def make_target_project(root: Path, n: int, kind: str, latency: float, registration: str) -> Path:
    """The feature-file Outline with ``Given the target "app"``; conftest.py holds the app and registers it."""
    project = make_project(root / f"target-{kind}", n, given='Given the target "app"')
    app = TARGET_APPS[kind].format(latency=latency)
    (project / "conftest.py").write_text(app + TARGET_REGISTRATIONS[registration])
    return project


def report_counts(report_dir: Path) -> dict[str, int | None]:
    """Cases by outcome from ``--llmeval-report=json`` (answered: every case whose verdict is not error)."""
    path = report_dir / "llmeval-report.json"
    if not path.exists():
        return {"cases": None, "answered": None, "errored": None, "passed": None}
    overall = json.loads(path.read_text())["overall"]
    return {
        "cases": overall["cases"],
        "answered": overall["cases"] - overall["errored"],
        "errored": overall["errored"],
        "passed": overall["passed"],
    }


def xdist_args(workers: int) -> list[str]:
    return ["-n", str(workers)] if workers > 1 else ["-p", "no:xdist"]


def bench_python_ask(
    tmp: Path, n: int, latency: float, concurrency: int, workers: int, style: str = "ask"
) -> dict[str, object]:
    project = make_python_project(tmp / f"python-{style}-{workers}", n, style)
    with loopback(latency) as url:
        run = run_pytest(project, *plugin_args(url, concurrency, "off", tmp / "cache-python"), *xdist_args(workers))
        server = stats(url)
    floor = n * latency / concurrency
    return {
        "benchmark": f"python {'llm.ask' if style == 'ask' else 'declared'}, latency {latency * 1000:.0f} ms"
        + (f", -n {workers}" if workers > 1 else ""),
        "N": n,
        "latency_s": latency,
        "concurrency": concurrency,
        "wall_s": round(run.wall, 2),
        "floor_s": round(floor, 2),
        "wall/floor": round(run.wall / floor, 2),
        "peak_in_flight": server["peak_in_flight"],
        "requests": server["total_requests"],
        "exit": run.returncode,
    }


def bench_target(
    tmp: Path, n: int, kind: str, latency: float, concurrency: int, registration: str
) -> dict[str, object]:
    """A target that takes ``latency`` seconds per call; no server, no network."""
    project = make_target_project(tmp, n, kind, latency, registration)
    report = tmp / f"report-target-{kind}"
    run = run_pytest(
        project,
        f"--llmeval-concurrency={concurrency}",
        "--llmeval-cache=off",
        f"--llmeval-cache-dir={tmp / 'cache-target'}",
        "--llmeval-report=json",
        f"--llmeval-report-dir={report}",
        "-p",
        "no:xdist",
    )
    floor = n * latency / concurrency
    return {
        "benchmark": f"{kind} target, {latency * 1000:.0f} ms per call",
        "N": n,
        "concurrency": concurrency,
        "registration": registration,
        "wall_s": round(run.wall, 2),
        "floor_s": round(floor, 2),
        "wall/floor": round(run.wall / floor, 2),
        **report_counts(report),
        "exit": run.returncode,
    }


def bench_retry_429(tmp: Path, n: int, latency: float, concurrency: int) -> dict[str, object]:
    """20 % of the distinct requests get one 429 (Retry-After 1) and succeed when retried."""
    project = make_project(tmp / "retry-429", n)
    report = tmp / "report-retry-429"
    with loopback(latency, rules=[SHARE_429]) as url:
        run = run_pytest(
            project,
            *plugin_args(url, concurrency, "off", tmp / "cache-retry-429"),
            "--llmeval-report=json",
            f"--llmeval-report-dir={report}",
            "-p",
            "no:xdist",
        )
        server = stats(url)
        bodies = {json.dumps(body, sort_keys=True): body for body in logged_bodies(url)}
    faulted = sum(1 for body in bodies.values() if body_share(body) < SHARE)
    return {
        "benchmark": "20 % of requests 429 once (Retry-After 1)",
        "N": n,
        "latency_s": latency,
        "concurrency": concurrency,
        "wall_s": round(run.wall, 2),
        "floor_s": round(n * latency / concurrency, 2),
        "requests": server["total_requests"],
        "responses_429": server["responses_429"],
        "faulted_bodies": faulted,
        **report_counts(report),
        "exit": run.returncode,
    }


def bench_server_bucket(
    tmp: Path, n: int, capacity: int, refill: float, latency: float, concurrency: int, workers: int
) -> dict[str, object]:
    """A server with an OpenAI-style request bucket and no ``--llmeval-rpm``: the engine must cope alone."""
    project = make_project(tmp / f"bucket-{workers}", n)
    report = tmp / f"report-bucket-{workers}"
    bucket = ["--bucket-requests", str(capacity), "--bucket-refill", str(refill)]
    with loopback(latency, server_args=bucket) as url:
        run = run_pytest(
            project,
            *plugin_args(url, concurrency, "off", tmp / f"cache-bucket-{workers}"),
            "--llmeval-report=json",
            f"--llmeval-report-dir={report}",
            *xdist_args(workers),
        )
        server = stats(url)
    sent, limited = server["total_requests"], server["responses_429"]
    return {
        "benchmark": f"server bucket {capacity}, {refill:g}/s" + (f", -n {workers}" if workers > 1 else ""),
        "N": n,
        "latency_s": latency,
        "concurrency": concurrency,
        "wall_s": round(run.wall, 2),
        "floor_s": round(max(0, n - capacity) / refill, 2),
        "requests": sent,
        "responses_429": limited,
        "share_429": round(limited / sent, 4) if sent else None,
        **report_counts(report),
        "exit": run.returncode,
    }


def bench_fixed_costs(tmp: Path, n: int) -> dict[str, object]:
    """What every run pays before the plugin sends a request: pytest with N trivial tests, and the SDK's import.

    The declared-Python target is 1.3 x floor + 3 s; these are the parts of the 3 s that
    no plugin code decides: pytest and its plugins starting (the controller and each
    xdist worker), N trivial tests run and reported, and ``import openai``, which every
    process that sends pays once (each xdist worker under ``-n 2``).
    """
    project = tmp / "fixed-costs"
    project.mkdir(parents=True, exist_ok=True)
    (project / "test_trivial.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_x(i):\n    assert i >= 0\n"
    )
    (project / "pytest.ini").write_text("[pytest]\n")
    imports = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import openai"], check=True)
        imports.append(time.perf_counter() - started)
    plain = run_pytest(project, *xdist_args(1))
    xdist = run_pytest(project, *xdist_args(2))
    # One test: what starting (and, under -n 2, spawning the workers) costs alone.
    start_plain = run_pytest(project, "test_trivial.py::test_x[0]", *xdist_args(1))
    start_xdist = run_pytest(project, "test_trivial.py::test_x[0]", *xdist_args(2))
    import_s = sorted(imports)[1]
    return {
        "benchmark": f"fixed costs: {n} trivial tests and import openai",
        "N": n,
        "import_openai_s": round(import_s, 2),
        "pytest_start_plain_s": round(start_plain.wall, 2),
        "pytest_start_n2_s": round(start_xdist.wall, 2),
        "pytest_plain_s": round(plain.wall, 2),
        "pytest_n2_s": round(xdist.wall, 2),
        # No run that sends can be faster than starting, importing the SDK, and the floor.
        "start_and_import_plain_s": round(start_plain.wall + import_s, 2),
        "start_and_import_n2_s": round(start_xdist.wall + import_s, 2),
        "exit": max(r.returncode for r in (plain, xdist, start_plain, start_xdist)),
    }


BENCHMARKS = ("latency", "xdist", "overhead", "cached", "rpm")
NEW_BENCHMARKS = (
    "fixed-costs",
    "python-declared",
    "python-ask",
    "target-async",
    "target-sync",
    "retry-429",
    "server-bucket",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated names from {BENCHMARKS + NEW_BENCHMARKS}, or 'new' / 'all' (default: {BENCHMARKS})",
    )
    parser.add_argument("--n", type=int, default=1000, help="cases for the latency/xdist/cached benchmarks")
    parser.add_argument("--overhead-n", type=int, default=10_000, help="cases for the overhead benchmark")
    parser.add_argument("--rpm-n", type=int, default=300)
    parser.add_argument(
        "--overhead-concurrency", type=int, default=32, help="concurrency at latency 0 (default: the plugin's default)"
    )
    parser.add_argument("--python-n", type=int, default=500, help="tests for the python-ask benchmark")
    parser.add_argument("--target-n", type=int, default=500, help="cases for the target-async/target-sync benchmarks")
    parser.add_argument("--retry-n", type=int, default=500, help="cases for the retry-429 benchmark")
    parser.add_argument("--bucket-n", type=int, default=900, help="cases for the server-bucket benchmark")
    parser.add_argument(
        "--target-registration",
        choices=sorted(TARGET_REGISTRATIONS),
        default="decorator",
        help="how the target benchmarks' conftest.py registers the app: the llmeval_targets fixture "
        "or @pytest_llmeval.target",
    )
    args = parser.parse_args()
    chosen: list[str] = []
    for name in args.only.split(","):
        groups = {"all": BENCHMARKS + NEW_BENCHMARKS, "new": NEW_BENCHMARKS}
        chosen += groups.get(name, (name,))
    unknown = sorted(set(chosen) - set(BENCHMARKS + NEW_BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; use {BENCHMARKS + NEW_BENCHMARKS}, 'new' or 'all'")
    results = Results()
    with tempfile.TemporaryDirectory(prefix="llmeval-bench-") as name:
        tmp = Path(name)
        if "latency" in chosen:
            results.append(bench_latency(tmp, args.n, 0.2, 64, 1))
        if "xdist" in chosen:
            results.append(bench_latency(tmp, args.n, 0.2, 64, 2))
        if "overhead" in chosen:
            results.append(bench_overhead(tmp, args.overhead_n, args.overhead_concurrency))
        if "cached" in chosen:
            results.append(bench_cached(tmp, args.n))
        if "rpm" in chosen:
            results.append(bench_rpm(tmp, args.rpm_n, 600))
        if "fixed-costs" in chosen:
            results.append(bench_fixed_costs(tmp, args.python_n))
        if "python-declared" in chosen:
            results.append(bench_python_ask(tmp, args.python_n, 0.2, 64, 1, "declared"))
            results.append(bench_python_ask(tmp, args.python_n, 0.2, 64, 2, "declared"))
        if "python-ask" in chosen:
            results.append(bench_python_ask(tmp, args.python_n, 0.2, 64, 1))
            results.append(bench_python_ask(tmp, args.python_n, 0.2, 64, 2))
        for kind in ("async", "sync"):
            if f"target-{kind}" in chosen:
                results.append(bench_target(tmp, args.target_n, kind, 0.2, 64, args.target_registration))
        if "retry-429" in chosen:
            results.append(bench_retry_429(tmp, args.retry_n, 0.2, 64))
        if "server-bucket" in chosen:
            results.append(bench_server_bucket(tmp, args.bucket_n, 600, 10.0, 0.05, 64, 1))
            results.append(bench_server_bucket(tmp, args.bucket_n, 600, 10.0, 0.05, 64, 2))
    print(f"# machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {_memory()}")


class Results(list[dict[str, object]]):
    """Prints each benchmark's JSON line as soon as it is in: some of them take minutes."""

    def append(self, result: dict[str, object]) -> None:
        super().append(result)
        print(json.dumps(result), flush=True)


def _memory() -> str:
    try:
        with open("/proc/meminfo") as handle:
            kb = int(handle.readline().split()[1])
        return f"{kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        return "memory unknown"


if __name__ == "__main__":
    main()
