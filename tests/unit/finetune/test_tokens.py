"""Token counts: the real tokenizer where bpe-openai is installed, else a labelled estimate; images by OpenAI's rule."""

from __future__ import annotations

import base64
import struct

import pytest

from pytest_llmeval._finetune import tokens


def _png(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return "data:image/png;base64," + base64.b64encode(header).decode()


def _jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    return "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + app0 + sof).decode()


def test_the_estimate_is_four_bytes_a_token_and_says_so() -> None:
    estimate = tokens.estimate()
    assert not estimate.exact and "estimated" in estimate.label
    assert [estimate.count(t) for t in ("", "abcd", "abcde", "é" * 4)] == [0, 1, 2, 2]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4.1-mini", "o200k_base"),
        ("gpt-4o", "o200k_base"),
        ("ft:gpt-4o-mini:acme:support:abc", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("ft:gpt-3.5-turbo:acme::x", "cl100k_base"),
    ],
)
def test_each_model_has_its_encoding(model: str, encoding: str) -> None:
    assert tokens.encoding_name(model) == encoding


def test_with_bpe_openai_the_counts_are_the_real_tokenizers() -> None:
    pytest.importorskip("bpe_openai")
    o200k, cl100k = tokens.for_model("gpt-4.1-mini"), tokens.for_model("gpt-4")
    assert o200k.exact and o200k.label.startswith("o200k_base (bpe-openai")
    # The token ids tiktoken gives for these texts, counted.
    assert o200k.count("Hello, world!") == 4 and cl100k.count("Hello, world!") == 4
    assert o200k.count("<|endoftext|>") > 1  # text that spells a special token is text


def test_a_chat_is_counted_as_openais_cookbook_counts_one() -> None:
    count = tokens.estimate()
    messages = [
        {"role": "system", "content": "abcdabcd"},  # 3 + role 2 + 2
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "abcd"}]},  # 3 + 1 + 1 + 1 + 1
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},  # 3 + 3 + json 4
    ]
    assert tokens.chat_tokens(messages, count) == (3 + 7 + 7 + 10, 0)


@pytest.mark.parametrize(
    ("url", "detail", "expected"),
    [
        (_png(512, 512), "high", 85 + 170 * 1),
        (_png(1024, 1024), "auto", 85 + 170 * 4),  # scaled to 768 x 768: 2 x 2 tiles
        (_png(2048, 4096), "high", 1105),  # OpenAI's own example: 1024 x 2048, then 768 x 1536: 6 tiles
        (_png(4096, 1024), "auto", 85 + 170 * 4),  # 2048 x 512, never scaled up: 4 x 1 tiles
        (_jpeg(600, 300), None, 85 + 170 * 2),
        (_png(4000, 4000), "low", 85),
        ("https://example.com/cat.png", "auto", tokens.UNKNOWN_IMAGE),
    ],
)
def test_images_follow_openais_tile_rule(url: str, detail: str | None, expected: int) -> None:
    image = {"url": url, **({"detail": detail} if detail else {})}
    assert tokens.image_tokens(image) == expected
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}]
    assert tokens.chat_tokens(messages, tokens.estimate())[1] == 1
