"""Parsing option, tag and marker values: one message shape for every bad number.

Each parser raises ``ValueError`` with what was expected; the caller adds where the
value came from (an option, a tag, a marker argument).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _number(value: str, convert: Callable[[str], T], ok: Callable[[T], bool], expected: str) -> T:
    """Parse ``value`` with ``convert`` and check it, with one message for both failures."""
    try:
        number = convert(value)
    except ValueError:
        number = None
    if number is None or not ok(number):
        raise ValueError(f"expected {expected}, got {value!r}")
    return number


def positive_int(value: str) -> int:
    return _number(value, int, lambda n: n >= 1, "a whole number >= 1")


def non_negative_int(value: str) -> int:
    return _number(value, int, lambda n: n >= 0, "a whole number >= 0")


def positive_seconds(value: str) -> float:
    return _number(value, float, lambda n: 0 < n < float("inf"), "a number of seconds > 0")


def boolean(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def probability(value: str) -> float:
    return _number(value, float, lambda n: 0 < n < 1, "a number between 0 and 1 (exclusive)")


def positive_number(value: str) -> float:
    return _number(value, float, lambda n: 0 < n < float("inf"), "a number > 0")


def parse_threshold(value: str) -> float:
    """A pass-rate threshold: a fraction 0 to 1, or a percentage such as ``80%``."""
    text = value.strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"expected a threshold between 0 and 1 (or 0%-100%), got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"expected a threshold between 0 and 1 (or 0%-100%), got {value!r}")
    return number


def parse_samples(value: str) -> int:
    """A sample count as written in a tag or marker."""
    return positive_int(value)


def parse_sample_spec(value: str) -> tuple[int | None, int | None]:
    """``N`` → (N, None); ``auto`` → (None, None); ``auto:MAX`` → (None, MAX) — adaptive sampling."""
    text = str(value).strip().lower()
    if text == "auto":
        return None, None
    if text.startswith("auto:"):
        try:
            return None, positive_int(text.removeprefix("auto:"))
        except ValueError:
            raise ValueError(f"expected auto:MAX with a whole number MAX >= 1, got {value!r}") from None
    try:
        return positive_int(text), None
    except ValueError:
        raise ValueError(f"expected a whole number >= 1, auto, or auto:MAX, got {value!r}") from None


def parse_shard(value: str) -> tuple[int, int]:
    """``I/N`` (1-based): this job runs shard I of N."""
    index, _, total = value.strip().partition("/")
    try:
        i, n = int(index), int(total)
    except ValueError:
        raise ValueError(f"expected I/N such as 1/4, got {value!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"expected I/N with 1 <= I <= N, got {value!r}")
    return i, n
