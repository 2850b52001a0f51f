from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pytest_llmeval._config.options import CacheMode
from pytest_llmeval._core.files import atomic_write_text
from pytest_llmeval._core.records import Usage
from pytest_llmeval._core.request import ChatRequest, Generation
from pytest_llmeval._engine.cache import ResponseCache, cache_key, key_material

REQUEST = ChatRequest(
    model="gpt-4.1-mini",
    messages=({"role": "system", "content": "s"}, {"role": "user", "content": "u"}),
    params={"temperature": 0.2, "seed": 1},
)


def key(request: ChatRequest = REQUEST, base_url: str = "https://api.openai.com/v1") -> str:
    return cache_key(key_material(request, base_url))


def test_key_changes_with_what_changes_an_answer() -> None:
    base = key()
    assert key(ChatRequest(**{**REQUEST.__dict__, "model": "other"})) != base
    assert key(ChatRequest(**{**REQUEST.__dict__, "sample_index": 1})) != base
    assert key(ChatRequest(**{**REQUEST.__dict__, "params": {"temperature": 0.3, "seed": 1}})) != base
    assert key(ChatRequest(**{**REQUEST.__dict__, "response_format": {"type": "json_object"}})) != base
    assert key(base_url="http://127.0.0.1:11434/v1") != base


def test_key_ignores_what_does_not() -> None:
    reordered = ChatRequest(**{**REQUEST.__dict__, "params": {"seed": 1, "temperature": 0.2}})
    assert key(reordered) == key()
    # Credentials in a URL and its path/scheme never reach the key.
    assert key(base_url="https://user:secret@api.openai.com/v1") == key(base_url="http://api.openai.com/other")
    assert "secret" not in json.dumps(key_material(REQUEST, "https://user:secret@api.openai.com/v1"))


def test_put_get_roundtrip(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, CacheMode.RECORD)
    material = key_material(REQUEST, "https://api.openai.com/v1")
    k = cache_key(material)
    cache.put(k, material, Generation(text="hi", usage=Usage.of(3, 1), latency=0.5, finish_reason="stop"))
    hit = cache.get(k)
    assert hit is not None and hit.text == "hi" and hit.cached and hit.usage == Usage.of(3, 1)
    assert ResponseCache(tmp_path, CacheMode.OFF).get(k) is None
    assert ResponseCache(tmp_path, CacheMode.REFRESH).get(k) is None
    assert ResponseCache(tmp_path, CacheMode.REPLAY).get(k) is not None


def test_errors_are_not_stored(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, CacheMode.RECORD)
    cache.put("ab" * 32, {}, Generation.failed("HTTP 500"))
    assert not list(tmp_path.rglob("*.json"))


def test_replay_does_not_write(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, CacheMode.REPLAY)
    cache.put("ab" * 32, {}, Generation(text="x"))
    assert not list(tmp_path.rglob("*.json"))


def test_damaged_entries_are_noted_and_missed(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, CacheMode.RECORD)
    for k, text in [("a" * 64, "{broken"), ("b" * 64, '{"response": {}}'), ("c" * 64, "[]")]:
        path = cache.path_for(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        assert cache.get(k) is None
    assert len(cache.damaged) == 3


def test_nearest_prefers_same_model(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, CacheMode.RECORD)
    for request in [REQUEST, ChatRequest(**{**REQUEST.__dict__, "model": "x", "messages": ()})]:
        material = key_material(request, "https://api.openai.com/v1")
        cache.put(cache_key(material), material, Generation(text="t"))
    wanted = key_material(ChatRequest(**{**REQUEST.__dict__, "sample_index": 4}), "https://api.openai.com/v1")
    nearest = cache.nearest(wanted)
    assert nearest is not None
    assert nearest.differences == ["sample: wanted 4, cached 0"]


def test_atomic_write_under_concurrency(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    texts = [json.dumps({"n": i, "pad": "x" * 10_000}) for i in range(20)]
    threads = [threading.Thread(target=atomic_write_text, args=(target, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_nearest_is_searched_for_the_first_misses_only(tmp_path: Path) -> None:
    # A run where everything misses (a new base URL) must not compare every miss with every entry.
    from pytest_llmeval._engine.cache import NEAREST_SEARCHES

    cache = ResponseCache(tmp_path, CacheMode.REPLAY)
    writer = ResponseCache(tmp_path, CacheMode.RECORD)
    material = key_material(REQUEST, "https://api.openai.com/v1")
    writer.put(cache_key(material), material, Generation(text="t"))
    found = [cache.nearest(material) for _ in range(NEAREST_SEARCHES + 5)]
    assert all(n is not None for n in found[:NEAREST_SEARCHES])
    assert all(n is None for n in found[NEAREST_SEARCHES:])


def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "f.json", "{}")
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_an_entry_without_an_answer_is_a_damaged_miss(tmp_path: Path, text: object) -> None:
    cache = ResponseCache(tmp_path, CacheMode.RECORD)
    request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
    material = key_material(request, "http://h")
    key = cache_key(material)
    cache.put(key, material, Generation(text="real"))
    entry = json.loads(cache.path_for(key).read_text())
    entry["response"]["text"] = text  # edited by hand: no run stores such an entry
    cache.path_for(key).write_text(json.dumps(entry))
    assert cache.get(key) is None
    assert len(cache.damaged) == 1 and "holds no answer" in cache.damaged[0]
