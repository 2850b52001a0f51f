"""Speed benchmarks of the plan-and-generate engine against the loopback server.

Run from the repository root (after the README's install):

    .venv/bin/python benchmarks/run.py            # every benchmark, prints a table
    .venv/bin/python benchmarks/run.py --only latency,xdist --n 500

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ROOT / "tests" / "support" / "loopback.py"


@contextmanager
def loopback(latency: float, rpm: int | None = None) -> Iterator[str]:
    """A loopback server in its own process (so its CPU is not the plugin's); yields its URL."""
    args = [sys.executable, str(LOOPBACK), "--port", "0", "--latency", str(latency), "--max-seconds", "900"]
    if rpm:
        args += ["--rpm", str(rpm)]
    rules = Path(tempfile.mkstemp(suffix=".json")[1])
    rules.write_text(json.dumps([{"match": None, "reply": "ok"}]))
    args += ["--rules", str(rules)]
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
        rules.unlink(missing_ok=True)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats", timeout=10) as response:
        data: dict[str, int] = json.loads(response.read())
    return data


def reset(url: str) -> None:
    request = urllib.request.Request(url.removesuffix("/v1") + "/_stats".replace("_stats", "_reset"), method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def make_project(root: Path, n: int, bare: bool = False) -> Path:
    """An Outline with ``n`` rows; ``bare`` makes the same scenarios with empty steps and no plugin."""
    project = root / ("bare" if bare else "plugin")
    (project / "features").mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"      | q{i} |" for i in range(n))
    (project / "features" / "bench.feature").write_text(
        textwrap.dedent(
            """\
            Feature: bench
              Scenario Outline: case
                Given the model "bench-model"
                When the user says "question <q>"
                Then the answer equals "ok"

                Examples:
                  | q |
            """
        )
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


@dataclass
class Run:
    wall: float
    returncode: int
    rss_mb: float
    tail: str


def run_pytest(project: Path, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, str(Path(__file__).resolve().parent / "_measure.py"), "-q", "-p", "no:cacheprovider"]
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


BENCHMARKS = ("latency", "xdist", "overhead", "cached", "rpm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--n", type=int, default=1000, help="cases for the latency/xdist/cached benchmarks")
    parser.add_argument("--overhead-n", type=int, default=10_000, help="cases for the overhead benchmark")
    parser.add_argument("--rpm-n", type=int, default=300)
    parser.add_argument(
        "--overhead-concurrency", type=int, default=32, help="concurrency at latency 0 (default: the plugin's default)"
    )
    args = parser.parse_args()
    chosen = args.only.split(",")
    results = []
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
    for result in results:
        print(json.dumps(result))
    print(f"# machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {_memory()}")


def _memory() -> str:
    try:
        with open("/proc/meminfo") as handle:
            kb = int(handle.readline().split()[1])
        return f"{kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        return "memory unknown"


if __name__ == "__main__":
    main()
