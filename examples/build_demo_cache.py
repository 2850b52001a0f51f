#!/usr/bin/env python3
"""Rebuild ``llmeval-cache/`` from ``demo_answers.json``, the hand-written answers of this demo.

    cd examples && python build_demo_cache.py

No model is called. The answers and the judges' verdicts in ``demo_answers.json`` were
written by hand (a few answers are deliberately wrong or weak, marked with a ``note``), and
this script records them with the plugin's own machinery:

1. It starts the loopback OpenAI-compatible server of the project's test suite
   (``../tests/support/loopback.py``, so it needs the repository checkout) and scripts it with the rules.
2. It runs this suite once in a subprocess with ``--llmeval-cache=refresh`` against that
   server, in one process (``-p no:xdist``), writing into a temporary cache folder. Every sample
   is one request, so every answer becomes one cache entry; so does every judge verdict and
   every embedding.
3. It "re-homes" every entry (see below), then replaces ``llmeval-cache/`` with the result.
4. It runs the suite once more in replay mode, as ``pytest`` would, and prints the summary.

The fine-tuning loop of ``finetune/`` (README.md, "The fine-tuning loop") is recorded the
same way, in a second run against the same server: :data:`LOOP_ARGS` (a base model and an
``ft:`` model side by side, two prompt variants), with the hand-written answers of
``finetune/answers.json``. Its rules also have ``model``, a regex the request's model must
match: the base model and the fine-tuned one answer the same question differently. That
suite fails on the base model on purpose, so its runs end with exit code 1; what must hold
is that no sample errored.

Why re-homing is needed: a cache key covers everything that can change an answer, and the
server that answered is one of those things -- the key includes the host of the base URL.
Entries recorded against the loopback server are keyed with ``127.0.0.1:<port>``, so a
normal run, which talks to ``api.openai.com``, would never find them (and the port differs on
every build). For each entry this script sets ``request["host"]`` to ``api.openai.com``,
recomputes the key from the request with ``pytest_llmeval._engine.cache.cache_key``, and stores the
entry under its new key. Nothing else in the request changes.

The format of ``demo_answers.json`` is the rules format of ``tests/support/loopback.py``
(``match``: a regex searched in the last user message, ``reply`` or ``json``, ``times``)
with three additions: ``system``, a regex the system message must contain as well (the same
question is answered differently for a guest and an Acme Plus member); ``candidate``, a
regex the judged answer must contain (see below); and ``note``, a comment. Give every rule
a ``times``: a request that no rule is left for is an error, and a rule that is not used up
is reported, so a changed feature file cannot go unnoticed.

Judges are requests too, and their verdicts are hand-written rules like the answers. A
judge request ends with the verdict instruction (``Give a score from 1 to 5, ...`` or
``Choose exactly one label: ...``), which is what ``match`` sees, and carries the answer it
grades as a JSON string between ``<candidate>`` tags: ``candidate`` is searched in that
message, so each verdict goes with the answer it was written for. The reply is the judge's
structured output, ``"json": {"reasoning": "...", "score": 4}`` (or ``"label": "calm"``).
Judges are keyed by the answer they grade, not by sample: two samples with the same answer
share one verdict, so such a rule has ``times: 1``.

Embeddings (for ``similar to ... by cosine``) are not in ``demo_answers.json``: the
loopback server's ``/v1/embeddings`` answers them with its own stand-in, a 64-number
bag-of-words vector (texts that share words point the same way). They are recorded and
re-homed like every other entry (``"endpoint": "embeddings"``, the vector as JSON text).

An entry whose request and answer did not change is kept as it was (its ``recorded_at``,
latency and token counts too), so a rebuild only changes the entries it has to.

Samples of one case are requested concurrently, so which sample gets which of the case's
answers depends on timing; the number of each answer per case does not (``times``). To keep
the shipped cache stable, the answers of a case are put back in the order of their rules in
``demo_answers.json``: the deliberately wrong answers, listed last, land on the last samples.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pytest_llmeval._core.files import atomic_write_text
from pytest_llmeval._engine.cache import cache_key

HERE = Path(__file__).resolve().parent
RULES = HERE / "demo_answers.json"
LOOP_RULES = HERE / "finetune" / "answers.json"
LOOP_ARGS = (
    "finetune",
    "--llmeval-model=gpt-4.1-mini",
    "--llmeval-model=ft:gpt-4.1-mini:acme:house-style:7p4lURel",
    "--llmeval-prompt-variant=current=",
    "--llmeval-prompt-variant=strict=finetune/prompts/house_style_strict.md",
)
"""The fine-tuning loop's run, as README.md gives it (the report folder aside)."""
CACHE = HERE / "llmeval-cache"
OPENAI_HOST = "api.openai.com"  # the host of the plugin's default base URL, https://api.openai.com/v1

sys.path.insert(0, str(HERE.parent / "tests" / "support"))
from loopback import Fault, LoopbackServer, content_text, last_user_text, reply_from_spec  # noqa: E402


class DemoRules:
    """demo_answers.json on a loopback server, counting what each rule answered."""

    def __init__(self, paths: list[Path], server: LoopbackServer) -> None:
        self.specs: list[dict[str, Any]] = []
        for path in paths:
            specs = json.loads(path.read_text(encoding="utf-8"))
            for index, spec in enumerate(specs):
                if spec.get("times") is None:
                    raise SystemExit(f"{path.name}: rule {index} has no 'times' (every rule needs one)")
            self.specs += specs
        self.used = [0] * len(self.specs)
        self.unmatched: list[str] = []
        self._lock = threading.Lock()
        for index, spec in enumerate(self.specs):
            server.add_rule(self._matcher(spec), self._reply(index, spec), times=int(spec["times"]))
        server.add_rule(None, self._no_rule)

    @staticmethod
    def _matcher(spec: dict[str, Any]) -> Any:
        user = re.compile(spec["match"])
        system = re.compile(spec["system"]) if spec.get("system") else None
        model = re.compile(spec["model"]) if spec.get("model") else None
        candidate = re.compile(spec["candidate"]) if spec.get("candidate") else None

        def matches(body: dict[str, Any]) -> bool:
            if not user.search(last_user_text(body)):
                return False
            if model is not None and not model.search(str(body.get("model", ""))):
                return False
            messages = body.get("messages") or [{}]
            if system is not None:
                first = messages[0]
                if first.get("role") != "system" or not system.search(content_text(first.get("content"))):
                    return False
            if candidate is not None:
                judged = [text for text in map(_text_of, messages) if text.startswith("<candidate>")]
                return any(candidate.search(text) for text in judged)
            return True

        return matches

    def _reply(self, index: int, spec: dict[str, Any]) -> Any:
        reply = reply_from_spec(spec)

        def answer(body: dict[str, Any]) -> Any:
            with self._lock:
                self.used[index] += 1
            return reply

        return answer

    def _no_rule(self, body: dict[str, Any]) -> Any:
        text = last_user_text(body)
        with self._lock:
            self.unmatched.append(text)
        # 400 is not retried, and an error is never cached: the sample shows up as errored.
        return Fault.status(400, message=f"demo_answers.json has no (more) answers for: {text[:80]!r}")

    def rule_of(self, text: str) -> int:
        """Index of the first rule that answers with ``text`` (for the stable sample order)."""
        for index, spec in enumerate(self.specs):
            if reply_from_spec(spec).texts[0] == text:
                return index
        return len(self.specs)

    def problems(self) -> list[str]:
        lines = [f"no rule left for a request with user message {t[:80]!r}" for t in self.unmatched]
        for index, spec in enumerate(self.specs):
            if self.used[index] != spec["times"]:
                lines.append(
                    f"rule {index} (match {spec['match']!r}) answered {self.used[index]} of its {spec['times']} times"
                )
        return lines


def _text_of(message: Any) -> str:
    return content_text(message.get("content")) if isinstance(message, dict) else ""


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYTEST_ADDOPTS")}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=HERE, env=env, text=True, capture_output=True, check=False)


def previous_entries() -> dict[str, dict[str, Any]]:
    """The shipped entries by key, so that an unchanged answer keeps its file byte for byte."""
    entries = {}
    for path in CACHE.glob("*/*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            entries[entry["key"]] = entry
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return entries


def rehome(recorded: Path, rules: DemoRules, target: Path) -> int:
    """Write every recorded entry into ``target`` keyed for api.openai.com; return the count."""
    previous = previous_entries()
    cases: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(recorded.glob("*/*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        request = entry["request"]
        case = json.dumps({k: v for k, v in request.items() if k not in ("sample", "host")}, sort_keys=True)
        cases[case].append(entry)
    count = 0
    for entries in cases.values():
        entries.sort(key=lambda e: e["request"]["sample"])
        # Samples of a case are interchangeable draws: put their answers in the rules' order.
        responses = sorted((e["response"] for e in entries), key=lambda r: rules.rule_of(r["text"]))
        for entry, response in zip(entries, responses, strict=True):
            entry["request"]["host"] = OPENAI_HOST
            entry["response"] = response
            entry["key"] = key = cache_key(entry["request"])
            before = previous.get(key)
            if before is not None and (before["request"], before["response"]["text"]) == (
                entry["request"],
                response["text"],
            ):
                entry = before  # same request, same answer: keep recorded_at, latency and usage
            text = json.dumps(entry, indent=1, ensure_ascii=False, sort_keys=True)
            if re.search(r"sk-[A-Za-z0-9]|authorization|api[_-]key", text, re.IGNORECASE):
                raise SystemExit(f"refusing to write an entry that looks like it holds a credential: {key}")
            atomic_write_text(target / key[:2] / f"{key}.json", text)
            count += 1
    return count


def kind_of(entry: dict[str, Any]) -> str:
    """``answers``, ``judge verdicts`` or ``embeddings``: what a cache entry holds."""
    request = entry["request"]
    if request.get("endpoint") == "embeddings":
        return "embeddings"
    schema = (request.get("response_format") or {}).get("json_schema") or {}
    return "judge verdicts" if schema.get("name") in ("score_model", "label_model") else "answers"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="llmeval-demo-") as tmp_name:
        tmp = Path(tmp_name)
        with LoopbackServer(max_seconds=300) as server:
            # The loop's rules first: they name a model and a prompt, and must not lose a request to a demo rule.
            rules = DemoRules([LOOP_RULES, RULES], server)
            record = (
                "-p",
                "no:xdist",
                "--llmeval-cache=refresh",
                f"--llmeval-base-url={server.url}",
                f"--llmeval-cache-dir={tmp / 'recorded'}",
            )
            result = run_pytest(*record, f"--llmeval-report-dir={tmp / 'report'}")
            loop = run_pytest(*record, f"--llmeval-report-dir={tmp / 'loop-report'}", *LOOP_ARGS)
            requests = server.total_requests
        problems = rules.problems()
        loop_errors = _errored(tmp / "loop-report")
        if problems or result.returncode != 0 or loop_errors != 0:
            for run in (result, loop):
                print(run.stdout[-6000:], run.stderr[-3000:], sep="\n")
            print("\n".join(["recording failed:", *problems]) if problems else "recording run failed")
            return 1
        fresh = tmp / "llmeval-cache"
        count = rehome(tmp / "recorded", rules, fresh)
        if count != requests:
            print(f"recorded {requests} requests but found {count} cache entries")
            return 1
        shutil.rmtree(CACHE, ignore_errors=True)
        shutil.copytree(fresh, CACHE)
        kinds = Counter(kind_of(json.loads(path.read_text(encoding="utf-8"))) for path in CACHE.glob("*/*.json"))
        print(f"wrote {count} entries to {CACHE}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))

        # Verify as a user would run it: replay mode from pytest.ini, answers from llmeval-cache/ only.
        result = run_pytest(f"--llmeval-report-dir={tmp / 'verify-report'}")
        lines = result.stdout.splitlines()
        start = next((i for i, line in enumerate(lines) if re.fullmatch(r"=+ llmeval =+", line)), 0)
        print("\n".join(lines[start:]))
        if result.returncode != 0:
            print(result.stderr)
            print("the replay run failed: see above")
            return result.returncode
        loop = run_pytest(f"--llmeval-report-dir={tmp / 'verify-loop'}", *LOOP_ARGS)
        lines = loop.stdout.splitlines()
        start = next((i for i, line in enumerate(lines) if re.fullmatch(r"=+ llmeval =+", line)), 0)
        print("\n".join(lines[start:]))
        if _errored(tmp / "verify-loop") != 0:
            print(loop.stderr)
            print("the fine-tuning loop's replay run has errors: see above")
            return 1
        return 0


def _errored(report_dir: Path) -> int:
    """Cases that errored in a run's JSON report (a missing report counts as one)."""
    try:
        report = json.loads((report_dir / "llmeval-report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 1
    return int(report["overall"]["errored"])


if __name__ == "__main__":
    sys.exit(main())
