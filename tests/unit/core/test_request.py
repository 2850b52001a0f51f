"""Requests' key material and labels, and the Generation codec the cache and xdist share."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval._core.records import Usage
from pytest_llmeval._core.request import KEY_FORMAT, ChatRequest, EmbeddingRequest, Generation
from pytest_llmeval._engine.cache import cache_key

HOST = "api.openai.com"
CHAT = ChatRequest(
    model="gpt-4.1-mini",
    messages=({"role": "system", "content": "be brief"}, {"role": "user", "content": "capital of France?"}),
    params={"temperature": 0.2, "seed": 7},
    response_format={"type": "json_object"},
    sample_index=2,
)


# ---- ChatRequest.material ------------------------------------------------------------------


def test_chat_material_is_exactly_what_can_change_the_answer() -> None:
    assert CHAT.material(HOST) == {
        "format": KEY_FORMAT,
        "endpoint": "chat.completions",
        "host": HOST,
        "model": "gpt-4.1-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "capital of France?"}],
        "response_format": {"type": "json_object"},
        "params": {"seed": 7, "temperature": 0.2},
        "sample": 2,
    }


def test_chat_material_is_plain_json() -> None:
    material = CHAT.material(HOST)
    assert json.loads(json.dumps(material)) == material
    assert all(type(m) is dict for m in material["messages"])


def test_chat_material_params_are_in_sorted_order() -> None:
    # The cache key sorts keys anyway; the material itself is stored in cache entries and diffed.
    assert list(CHAT.material(HOST)["params"]) == ["seed", "temperature"]


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o"},
        {"messages": ({"role": "user", "content": "capital of Spain?"},)},
        {"params": {"temperature": 0.3, "seed": 7}},
        {"response_format": None},
        {"sample_index": 0},
    ],
)
def test_every_field_of_a_chat_request_is_in_the_material(change: dict[str, Any]) -> None:
    changed = ChatRequest(**{**CHAT.__dict__, **change})
    assert changed.material(HOST) != CHAT.material(HOST)


def test_the_host_is_in_the_material() -> None:
    assert CHAT.material("127.0.0.1:11434") != CHAT.material(HOST)
    assert CHAT.material("127.0.0.1:11434")["host"] == "127.0.0.1:11434"


def test_an_empty_response_format_is_no_response_format() -> None:
    assert ChatRequest(**{**CHAT.__dict__, "response_format": {}}).material(HOST)["response_format"] is None


def test_the_material_is_a_copy() -> None:
    # Callers may store or change the material; the frozen request must not change with it.
    material = CHAT.material(HOST)
    material["messages"][0]["content"] = "changed"
    material["params"]["seed"] = 0
    assert CHAT.messages[0]["content"] == "be brief"
    assert CHAT.params["seed"] == 7


# ---- EmbeddingRequest.material ----------------------------------------------------------------


def test_embedding_material_keeps_the_shape_recorded_caches_were_keyed_by() -> None:
    material = EmbeddingRequest(model="text-embedding-3-small", text="refund policy").material(HOST)
    assert material == {
        "format": KEY_FORMAT,
        "endpoint": "embeddings",
        "host": HOST,
        "model": "text-embedding-3-small",
        "messages": [],
        "response_format": None,
        "params": {"input": "refund policy"},
        "sample": 0,
    }
    assert KEY_FORMAT == 1  # bumping it is a deliberate choice to miss every recorded answer


def test_embedding_key_is_pinned() -> None:
    # The digest of an embedding recorded with key format 1: a change here misses every recorded embedding.
    material = EmbeddingRequest(model="text-embedding-3-small", text="refund policy").material(HOST)
    assert cache_key(material) == "e353f4e4b4599bfc43b1770d04473f4d35992ddb320ce7f370ed7063b84edb22"


def test_embedding_material_differs_by_text_model_and_host() -> None:
    base = EmbeddingRequest(model="e", text="a").material(HOST)
    assert EmbeddingRequest(model="e", text="b").material(HOST) != base
    assert EmbeddingRequest(model="f", text="a").material(HOST) != base
    assert EmbeddingRequest(model="e", text="a").material("localhost:8080") != base


def test_an_embedding_never_shares_a_key_with_a_chat_request() -> None:
    chat = ChatRequest(model="e", messages=(), params={"input": "a"})
    assert cache_key(chat.material(HOST)) != cache_key(EmbeddingRequest(model="e", text="a").material(HOST))


# ---- describe ---------------------------------------------------------------------------------


def test_describe_names_model_sample_and_the_last_user_message() -> None:
    request = ChatRequest(
        model="m",
        messages=(
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": "second"},
            {"role": "system", "content": "late system"},
        ),
        sample_index=3,
    )
    assert request.describe() == "model 'm', sample 3, user message 'second'"


def test_describe_shortens_long_messages_to_sixty_characters() -> None:
    text = "x" * 61
    shown = ChatRequest(model="m", messages=({"role": "user", "content": text},)).describe()
    assert shown == f"model 'm', sample 0, user message {'x' * 57 + '...'!r}"
    exact = ChatRequest(model="m", messages=({"role": "user", "content": "y" * 60},)).describe()
    assert exact.endswith(f"{'y' * 60!r}")


def test_describe_joins_content_parts_and_marks_images() -> None:
    parts = [
        {"type": "text", "text": "what is"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this?"},
    ]
    request = ChatRequest(model="m", messages=({"role": "user", "content": parts},))
    assert request.describe() == "model 'm', sample 0, user message 'what is [image] this?'"


def test_describe_without_a_user_message() -> None:
    request = ChatRequest(model="m", messages=({"role": "system", "content": "only system"},))
    assert request.describe() == "model 'm', sample 0, user message ''"


def test_describe_an_embedding() -> None:
    assert EmbeddingRequest(model="e", text="hello").describe() == "embeddings model 'e', text 'hello'"
    long = EmbeddingRequest(model="e", text="z" * 100).describe()
    assert long == f"embeddings model 'e', text {'z' * 57 + '...'!r}"


# ---- Generation.dump / load -------------------------------------------------------------------


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    """What a cache entry or a shared result file gives back."""
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def test_an_answer_round_trips() -> None:
    answer = Generation(
        text="Paris",
        usage=Usage.of(12, 3),
        latency=0.25,
        finish_reason="stop",
        response_model="gpt-4.1-mini-2025-04-14",
    )
    assert Generation.load(through_json(answer.dump())) == answer


def test_an_error_round_trips() -> None:
    failed = Generation.failed("rate limited (after 3 retries)", latency=1.5)
    data = failed.dump()
    assert data["error"] == "rate limited (after 3 retries)"
    assert data["text"] is None
    assert Generation.load(through_json(data)) == failed


def test_no_error_key_without_an_error() -> None:
    assert "error" not in Generation(text="ok").dump()


def test_the_cached_flag_comes_from_where_it_was_read_not_from_the_data() -> None:
    answer = Generation(text="ok", cached=True)
    assert "cached" not in answer.dump()
    assert Generation.load(answer.dump()).cached is False
    assert Generation.load(answer.dump(), cached=True).cached is True


def test_usage_total_is_derived_on_load() -> None:
    data = {"text": "ok", "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 999}}
    assert Generation.load(data).usage == Usage.of(5, 6)
    assert Generation.load(data).usage.total_tokens == 11


@pytest.mark.parametrize("usage", [None, {}, {"prompt_tokens": 4}])
def test_missing_usage_is_zero(usage: dict[str, int] | None) -> None:
    loaded = Generation.load({"text": "ok", "usage": usage})
    assert loaded.usage.completion_tokens == 0
    assert loaded.usage.prompt_tokens == (4 if usage else 0)


def test_latency_is_stored_to_a_tenth_of_a_millisecond() -> None:
    assert Generation(text="ok", latency=0.123456).dump()["latency"] == 0.1235
    assert Generation.load({"text": "ok", "latency": None}).latency == 0.0


def test_a_non_string_error_is_read_as_text() -> None:
    assert Generation.load({"text": None, "error": 503}).error == "503"


@pytest.mark.parametrize("text", [42, 1.5, ["Paris"], {"answer": "Paris"}, True])
def test_load_rejects_non_string_text(text: object) -> None:
    with pytest.raises(TypeError, match="not a string"):
        Generation.load({"text": text})


def test_load_rejects_damage_with_the_documented_errors() -> None:
    with pytest.raises(KeyError):
        Generation.load({"usage": {}})
    with pytest.raises(ValueError):
        Generation.load({"text": "ok", "usage": {"prompt_tokens": "many"}})
    with pytest.raises(ValueError):
        Generation.load({"text": "ok", "latency": "slow"})
