"""The names of OpenAI's ``text_similarity`` metrics, in a module of their own: the eval import
checks a definition against them without importing the similarity libraries' glue."""

from __future__ import annotations

METRICS = (
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
    "cosine",
)
"""OpenAI's ``evaluation_metric`` values, all accepted by :func:`text_similarity`."""
