"""Prices per model, to turn token counts into dollars.

The built-in table is a convenience, not a source of truth: prices change, so a team
should keep its own (``llmeval_prices`` in the ini file or ``--llmeval-prices FILE``,
a JSON object ``{"model": {"input": USD per 1M tokens, "output": ...}}``) — its entries
replace the built-in ones model by model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Price:
    """US dollars per one million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


# OpenAI's list prices (standard tier) as published in 2025; override them for your account.
BUILT_IN: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "o3": Price(2.00, 8.00),
    "o4-mini": Price(1.10, 4.40),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    # Fine-tuned models are priced per base model.
    "ft:gpt-4.1": Price(3.00, 12.00),
    "ft:gpt-4.1-mini": Price(0.80, 3.20),
    "ft:gpt-4.1-nano": Price(0.20, 0.80),
    "ft:gpt-4o": Price(3.75, 15.00),
    "ft:gpt-4o-mini": Price(0.30, 1.20),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")

TRAINING: dict[str, float] = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-3.5-turbo": 8.00,
}
"""US dollars per one million *training* tokens of a supervised or DPO fine-tuning job, by
base model (OpenAI's 2025 list prices). Training is billed apart from inference, per token
of every example, every epoch; ``finetune validate --training-price`` overrides it."""


def training_price(model: str) -> float | None:
    """USD per 1M training tokens for fine-tuning ``model`` (a dated snapshot is its base's), or None."""
    base = model.split(":")[1] if model.startswith("ft:") else model
    return TRAINING.get(base, TRAINING.get(_SNAPSHOT.sub("", base)))


class PriceTableError(Exception):
    """A price file that cannot be used; the message names the file and the entry."""


class PriceTable:
    """Looks up a model's price: exact name, then ``ft:<base>``, then without a date suffix."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        prices = dict(BUILT_IN)
        if path is not None:
            prices.update(read_price_file(path))
        return cls(prices)

    def lookup(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        if model.startswith("ft:"):
            base = model.split(":")[1]
            return self.prices.get(f"ft:{base}") or self.prices.get(f"ft:{_SNAPSHOT.sub('', base)}")
        return self.prices.get(_SNAPSHOT.sub("", model))

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.lookup(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)


def read_price_file(path: Path) -> dict[str, Price]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceTableError(f"cannot read the price file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PriceTableError(f"{path}: the price file is not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise PriceTableError(f"{path}: the price file is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise PriceTableError(f"{path}: expected an object {{model: {{input, output}}}}")
    prices = {}
    for model, entry in data.items():
        try:
            prices[model] = Price(float(entry["input"]), float(entry.get("output", 0.0)))
            # NaN or infinite prices would make every spend NaN, and a budget that never stops.
            if not all(math.isfinite(p) and p >= 0 for p in (prices[model].input, prices[model].output)):
                raise ValueError("a price must be a finite number >= 0")
        except (TypeError, KeyError, ValueError, AttributeError):
            raise PriceTableError(
                f'{path}: entry {model!r} must be {{"input": USD per 1M tokens, "output": ...}}, got {entry!r}'
            ) from None
    return prices
