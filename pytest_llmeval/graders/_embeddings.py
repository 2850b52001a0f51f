"""``cosine`` text similarity: embeddings of the answer and the reference, through the engine.

The embeddings come from ``--llmeval-embedding-model`` (default ``text-embedding-3-small``)
on the same client, engine and response cache as generations, so a replayed run needs no
network. For an offline model, point ``--llmeval-base-url`` at an OpenAI-compatible
server that serves embeddings (Ollama, vLLM, text-embeddings-inference) — see
docs/graders-similarity.md.
"""

from __future__ import annotations

import json
import math

from .._core.request import EmbeddingRequest
from ._base import FunctionGrader, Grade, Item, Sample
from ._context import current

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"


def _cosine_grader(reference: str, pass_threshold: float) -> FunctionGrader:
    def grade(sample: Sample, item: Item) -> Grade:
        context = current()
        if context is None:
            return Grade.errored("text_similarity", "cosine needs the engine: call it inside a pytest-llmeval test")
        model = context.embedding_model or DEFAULT_EMBEDDING_MODEL
        answer, wanted = context.engine.generate(
            [EmbeddingRequest(model, sample["output_text"]), EmbeddingRequest(model, reference)]
        )
        for outcome in (answer, wanted):
            if outcome.error is not None or outcome.text is None:
                return Grade.errored("text_similarity", f"cosine: embeddings from {model}: {outcome.error}")
        score = cosine(json.loads(answer.text or "[]"), json.loads(wanted.text or "[]"))
        if score is None:
            return Grade.errored("text_similarity", f"cosine: {model} returned vectors of different or zero length")
        passed = score >= pass_threshold
        relation = ">=" if passed else "<"
        reason = f"cosine {score:.3f} {relation} {pass_threshold:.2f} against {reference[:60]!r} ({model})"
        return Grade(
            passed=passed,
            score=score,
            reason=reason,
            grader="text_similarity",
            details={"evaluation_metric": "cosine", "pass_threshold": pass_threshold, "embedding_model": model},
        )

    spec = {
        "type": "text_similarity",
        "reference": reference,
        "evaluation_metric": "cosine",
        "pass_threshold": float(pass_threshold),
    }
    return FunctionGrader(name="text_similarity", spec=spec, fn=grade)


def cosine(a: list[float], b: list[float]) -> float | None:
    if not a or len(a) != len(b):
        return None
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0:
        return None
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm
