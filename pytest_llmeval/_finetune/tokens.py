"""Token counts of fine-tuning examples: exact where a tokenizer installs offline, else a labelled estimate.

``tiktoken`` downloads its encodings from the network the first time it is used, so it
cannot count offline. ``bpe-openai`` (``pip install "pytest-llmeval[finetune]"``) ships
OpenAI's ``o200k_base`` and ``cl100k_base`` files inside its wheel — byte for byte the
files tiktoken downloads (their SHA-256 match the hashes tiktoken checks) — so with it
installed the counts are exact. Without it, text is estimated at 4 bytes of UTF-8 per
token, and every line that prints a count says so.

A chat example is counted as OpenAI's cookbook counts one: 3 tokens per message, its role,
its content (and name), and 3 for the reply's priming. Images are counted with OpenAI's
published rule for gpt-4o (85 tokens, plus 170 per 512-pixel tile at high detail), which
is an estimate whatever the tokenizer.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TOKENS_PER_MESSAGE = 3
REPLY_PRIMING = 3
LOW_DETAIL = 85
PER_TILE = 170
UNKNOWN_IMAGE = LOW_DETAIL + PER_TILE * 4
"""An image whose size cannot be read (a URL): counted as a 1024 x 1024 image at high detail."""


@dataclass(frozen=True)
class Tokenizer:
    """Counts the tokens of a text; ``exact`` says whether the count is a real tokenizer's."""

    label: str
    """How a summary names it: ``o200k_base (bpe-openai)`` or ``estimated: ...``."""
    exact: bool
    count: Callable[[str], int]


def estimate() -> Tokenizer:
    """The fallback: 4 bytes of UTF-8 per token (English text; other scripts take more tokens per byte)."""
    return Tokenizer(
        label='estimated at 4 bytes per token (no tokenizer installed: pip install "pytest-llmeval[finetune]")',
        exact=False,
        count=lambda text: math.ceil(len(text.encode("utf-8")) / 4),
    )


def encoding_name(model: str) -> str:
    """The encoding of ``model``: ``cl100k_base`` for gpt-3.5 and gpt-4 (not 4o, 4.1), else ``o200k_base``."""
    base = model.split(":")[1] if model.startswith("ft:") else model
    if base.startswith("gpt-3.5") or (base.startswith("gpt-4") and not base.startswith(("gpt-4o", "gpt-4.1"))):
        return "cl100k_base"
    return "o200k_base"


def for_model(model: str) -> Tokenizer:
    """The exact tokenizer of ``model`` when bpe-openai is installed, else :func:`estimate`."""
    name = encoding_name(model)
    try:
        # It reads its encodings when imported, with a deprecated importlib.resources call: not our users' concern.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai  # type: ignore[import-untyped,import-not-found,unused-ignore]

            encoding = bpe_openai.get_encoding(name)
    except Exception:  # not installed, or a wheel without that encoding: estimate, and say so
        return estimate()

    def count(text: str) -> int:
        # Text that spells a special token (<|endoftext|>) is trained on as text.
        return len(encoding.encode(text, disallowed_special=()))

    return Tokenizer(
        label=f"{name} (bpe-openai {getattr(bpe_openai, '__version__', '')})".strip(), exact=True, count=count
    )


def chat_tokens(messages: Sequence[Mapping[str, Any]], tokenizer: Tokenizer) -> tuple[int, int]:
    """(tokens, images) of a conversation, counted as OpenAI's cookbook does."""
    total, images = REPLY_PRIMING, 0
    for message in messages:
        total += TOKENS_PER_MESSAGE + tokenizer.count(str(message.get("role", "")))
        if isinstance(message.get("name"), str):
            total += 1 + tokenizer.count(message["name"])
        content = message.get("content")
        if isinstance(content, str):
            total += tokenizer.count(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                if part.get("type") == "image_url":
                    images += 1
                    total += image_tokens(part.get("image_url"))
                elif isinstance(part.get("text"), str):
                    total += tokenizer.count(part["text"])
        if message.get("tool_calls") is not None:
            total += tokenizer.count(json.dumps(message["tool_calls"], ensure_ascii=False))
    return total, images


def image_tokens(image: Any) -> int:
    """Tokens of one image part: OpenAI's gpt-4o rule from its size (read from a data URL), an estimate."""
    if not isinstance(image, Mapping):
        return UNKNOWN_IMAGE
    if image.get("detail") == "low":
        return LOW_DETAIL
    size = _data_url_size(str(image.get("url", "")))
    if size is None:
        return UNKNOWN_IMAGE
    scale = min(1.0, 2048 / max(size))  # fit in 2048 x 2048
    width, height = size[0] * scale, size[1] * scale
    scale = min(1.0, 768 / min(width, height))  # then the short side to 768
    return LOW_DETAIL + PER_TILE * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def _data_url_size(url: str) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG data URL, or None."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1][:65536], validate=False)
    except (binascii.Error, ValueError):
        return None
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return (width, height) if width and height else None
        index += 2 + length
    return None
