"""The response cache: one JSON file per answer, keyed by what changes the answer.

The key covers endpoint kind, base URL host, model, messages (a tool round's tool calls and
tool results among them), response format, sampling parameters (``tools`` and
``tool_choice`` among them), the sample's index and a format version — never headers, keys or org ids,
so an entry recorded by one person replays for another. Writes go to a temporary file
that is renamed into place, so several xdist workers may write at once and a crash
never leaves half an entry::

    cache = ResponseCache(Path(".llmeval-cache"), CacheMode.RECORD)
    entry = cache.get(key)                  # None on a miss or a damaged entry
    cache.put(key, material, generation)
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._config.options import CacheMode
from .._core.files import atomic_write_text
from .._core.request import KEY_FORMAT, Generation, Request

FORMAT_VERSION = KEY_FORMAT


def key_material(request: Request, base_url: str) -> dict[str, Any]:
    """Everything that can change an answer (see :meth:`ChatRequest.material`), for this server."""
    return request.material(_host(base_url))


@functools.lru_cache(maxsize=16)
def _host(base_url: str) -> str:
    """The server part of a key: a cache recorded against one server never answers for another."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def cache_key(material: dict[str, Any]) -> str:
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CacheDirError(Exception):
    """The cache folder cannot be created or written."""


@dataclass(frozen=True)
class Nearest:
    """The stored entry most like a request that missed, for a replay-miss message."""

    path: Path
    differences: list[str]


class ResponseCache:
    """Reads and writes answers under ``root`` according to ``mode``."""

    def __init__(self, root: Path, mode: CacheMode) -> None:
        self.root = root
        self.mode = mode
        self.damaged: list[str] = []
        """One line per damaged entry met this run (reported at the end)."""
        self._index: list[tuple[Path, dict[str, Any], str]] | None = None
        self._searches_left = NEAREST_SEARCHES

    @property
    def reads(self) -> bool:
        return self.mode in (CacheMode.RECORD, CacheMode.REPLAY)

    @property
    def writes(self) -> bool:
        return self.mode in (CacheMode.RECORD, CacheMode.REFRESH)

    def check_writable(self) -> None:
        """Fail before any request is sent if answers could not be stored."""
        if not self.writes:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise CacheDirError(f"cannot write to the cache folder {self.root}: {exc.strerror or exc}") from None

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Generation | None:
        """The stored answer, or None on a miss; a damaged entry is noted and treated as a miss."""
        if not self.reads:
            return None
        path = self.path_for(key)
        try:
            generation = Generation.load(json.loads(path.read_text(encoding="utf-8"))["response"], cached=True)
            empty = generation.text is None or not (generation.text.strip() or generation.tool_calls)
            if empty or generation.error is not None:
                raise ValueError("the entry holds no answer")  # as they are never stored, only a hand could
            return generation
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.damaged.append(f"{path}: {type(exc).__name__}: {exc}")
            return None

    def put(self, key: str, material: dict[str, Any], generation: Generation) -> None:
        """Store an answer atomically. Errors and refusals are never stored."""
        if not self.writes or generation.text is None:
            return
        entry = {
            "format": FORMAT_VERSION,
            "key": key,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request": material,
            "response": generation.dump(),
        }
        atomic_write_text(self.path_for(key), json.dumps(entry, indent=1, ensure_ascii=False, sort_keys=True))

    def nearest(self, material: dict[str, Any]) -> Nearest | None:
        """The stored entry whose request is most like ``material``, for a replay-miss message.

        The cache's requests are read once per run, and only the first
        :data:`NEAREST_SEARCHES` misses are searched: a run where everything misses (a
        changed base URL, say) would otherwise compare every miss with every entry.
        The first messages already show what differs.
        """
        if self._searches_left <= 0:
            return None
        self._searches_left -= 1
        if self._index is None:
            self._index = self._read_index()
        wanted = json.dumps(material, sort_keys=True, ensure_ascii=False)[:4000]
        best: tuple[float, Path, dict[str, Any]] | None = None
        for path, stored, text in self._index:
            # Same model first: a nearest entry for another model rarely explains a miss.
            bonus = 1.0 if stored.get("model") == material.get("model") else 0.0
            score = bonus + difflib.SequenceMatcher(None, wanted, text).quick_ratio()
            if best is None or score > best[0]:
                best = (score, path, stored)
        if best is None:
            return None
        return Nearest(path=best[1], differences=_differences(material, best[2]))

    def _read_index(self) -> list[tuple[Path, dict[str, Any], str]]:
        index = []
        if self.root.is_dir():
            for count, path in enumerate(self.root.glob("*/*.json")):
                if count >= NEAREST_SCAN:
                    break
                try:
                    stored = json.loads(path.read_text(encoding="utf-8"))["request"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if isinstance(stored, dict):
                    index.append((path, stored, json.dumps(stored, sort_keys=True, ensure_ascii=False)[:4000]))
        return index


NEAREST_SEARCHES = 20
"""Replay misses per run that get a nearest-entry search."""
NEAREST_SCAN = 5000
"""Cache entries a nearest-entry search reads at most."""


def _differences(wanted: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    lines = []
    for name in sorted(set(wanted) | set(stored)):
        if wanted.get(name) != stored.get(name):
            lines.append(f"{name}: wanted {_short(wanted.get(name))}, cached {_short(stored.get(name))}")
    return lines


def _short(value: Any, width: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."
