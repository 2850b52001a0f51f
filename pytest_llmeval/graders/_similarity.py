"""OpenAI's ``text_similarity`` grader: a similarity score between answer and reference.

The metric names and ``pass_threshold`` are OpenAI's, so eval definitions brought from
the hosted dashboard keep their meaning here::

    g = text_similarity("The capital of France is Paris.", "fuzzy_match", 0.8)
    g({"output_text": "The capital of France is Paris", "output_json": None}, {}).passed   # True

The metrics come from the libraries that define them, not from code of ours, so a score
means what it means in papers and in other tools (all imported lazily: importing
pytest_llmeval never pays for them; ``pip install "pytest-llmeval[similarity]"``):

- ``fuzzy_match``: ``rapidfuzz.fuzz.ratio / 100``, the normalized Indel similarity of the
  two strings (character level, case-sensitive), with outer whitespace stripped like
  ``string_check``'s ``eq``. The grader docs (Azure OpenAI's fine-tuning guide) say
  only "fuzzy string match, using rapidfuzz", without naming the scorer; ``ratio`` is
  rapidfuzz's plain whole-string similarity, where the ``partial_``/``token_`` variants
  would forgive missing or reordered text.
- ``bleu``: NLTK's ``sentence_bleu``, BLEU-4 (uniform 1- to 4-gram weights) with Chen &
  Cherry's smoothing method 1, so an answer sharing no 4-gram with the reference is not
  scored 0, and ``auto_reweigh``, so an answer shorter than four tokens is scored on the
  n-grams it has (an exact one-word answer scores 1.0, not 0.18).
- ``gleu``: NLTK's ``sentence_gleu`` (Google-BLEU, 1- to 4-grams): min(precision, recall).
- ``meteor``: NLTK's ``meteor_score`` with its defaults (lower-casing, Porter stemming,
  WordNet synonyms). It needs NLTK's WordNet corpus, which is not on PyPI: NLTK
  downloads it (``python -m nltk.downloader wordnet omw-1.4``). Its absence is a
  GraderConfigError when the grader is built.
- ``rouge_1`` … ``rouge_5``, ``rouge_l``: Google's ``rouge-score`` (the reimplementation
  of ROUGE-1.5.5), F-measure of ``rouge1`` … ``rouge5`` / ``rougeL``. Stemming is off,
  as in plain ROUGE; tokens are rouge-score's own (lower-cased runs of letters and
  digits) except that non-ASCII letters are kept, where rouge-score would drop them
  and score two identical Greek or Chinese answers 0.
- ``cosine`` needs embeddings and a model: it is built by
  ``pytest_llmeval.graders._embeddings``.

BLEU, GLEU and METEOR work on tokens from ``nltk.tokenize.wordpunct_tokenize`` (runs of
word characters, and runs of punctuation), a regular expression that needs none of the
``punkt`` data that ``word_tokenize`` downloads.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ._base import FunctionGrader, Grade, GraderConfigError, Item, Sample, preview
from ._metrics import METRICS

_INSTALL = 'pip install "pytest-llmeval[similarity]"'
WORDNET_INSTALL = "python -m nltk.downloader wordnet omw-1.4"
"""The command that installs the WordNet data METEOR needs (it downloads from GitHub)."""

Scorer = Callable[[str, str], float]
"""``scorer(candidate, reference) -> score`` in 0..1."""


def text_similarity(reference: str, evaluation_metric: str, pass_threshold: float) -> FunctionGrader:
    """Pass when the answer's ``evaluation_metric`` score against ``reference`` is >= ``pass_threshold``.

    ``Grade.score`` is the metric's value (0..1), so reports can show how close a
    failing answer came. The metric's library is imported and checked here, so a
    missing package or missing WordNet data fails once, at set-up, with the command
    that fixes it.
    """
    if not isinstance(reference, str):
        raise GraderConfigError(
            f"text_similarity: reference must be a string, got {type(reference).__name__} {reference!r}"
        )
    if evaluation_metric not in METRICS:
        raise GraderConfigError(
            f"text_similarity: unknown evaluation_metric {evaluation_metric!r}; use one of {', '.join(METRICS)}"
        )
    threshold = _threshold(pass_threshold)
    if evaluation_metric == "cosine":
        return _cosine(reference, threshold)
    if not reference.strip():
        raise GraderConfigError("text_similarity: reference is empty; give the text the answer should resemble")
    score_of = _scorer(evaluation_metric)
    metric = evaluation_metric
    against = f"against {preview(reference, 60)}"

    def grade(sample: Sample, item: Item) -> Grade:
        answer = sample["output_text"]
        score = score_of(answer, reference)
        passed = score >= threshold
        comparison = _comparison(score, threshold, passed)
        reason = f"{metric} {comparison} {against}" + ("" if passed else f", got {preview(answer)}")
        return Grade(
            passed=passed,
            score=score,
            reason=reason,
            grader="text_similarity",
            details={"evaluation_metric": metric, "pass_threshold": threshold},
        )

    spec = {
        "type": "text_similarity",
        "reference": reference,
        "evaluation_metric": metric,
        "pass_threshold": threshold,
    }
    return FunctionGrader(name="text_similarity", spec=spec, fn=grade)


def similarity_score(metric: str, candidate: str, reference: str) -> float:
    """The ``metric`` score (0..1) of ``candidate`` against ``reference``: the grader's number.

    Raises :class:`GraderConfigError` for an unknown metric, for ``cosine`` (which needs
    an embeddings model, see :func:`text_similarity`), or when the metric's library or
    data is missing.
    """
    if metric == "cosine":
        raise GraderConfigError(
            "similarity_score: cosine is computed with embeddings from a model; "
            "use text_similarity(reference, 'cosine', pass_threshold)"
        )
    if metric not in METRICS:
        raise GraderConfigError(f"similarity_score: unknown metric {metric!r}; use one of {', '.join(METRICS[:-1])}")
    return _scorer(metric)(candidate, reference)


def _threshold(value: object) -> float:
    # bool is an int: True would silently mean 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise GraderConfigError(f"text_similarity: pass_threshold must be a number from 0 to 1, got {value!r}")
    return float(value)


def _cosine(reference: str, threshold: float) -> FunctionGrader:
    try:
        from ._embeddings import _cosine_grader  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise GraderConfigError(f"cosine needs pytest_llmeval.graders._embeddings ({exc})") from exc
    grader: FunctionGrader = _cosine_grader(reference, threshold)
    return grader


def _scorer(metric: str) -> Scorer:
    """Import the metric's library and return its scorer; a missing piece is a GraderConfigError."""
    if metric == "fuzzy_match":
        return _fuzzy_match()
    if metric == "bleu":
        return _bleu()
    if metric == "gleu":
        return _gleu()
    if metric == "meteor":
        return _meteor()
    return _rouge("rougeL" if metric == "rouge_l" else "rouge" + metric.removeprefix("rouge_"))


def _require(module: str, metric: str) -> ModuleType:
    distribution = module.partition(".")[0].replace("_", "-")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GraderConfigError(
            f"text_similarity {metric}: the {distribution!r} package is not installed ({exc}); "
            f"install it with: {_INSTALL}"
        ) from exc


def _fuzzy_match() -> Scorer:
    fuzz = _require("rapidfuzz.fuzz", "fuzzy_match")

    def score(candidate: str, reference: str) -> float:
        # A trailing newline is not content: fuzz.ratio("Paris\n", "Paris") is 90.9.
        return float(fuzz.ratio(candidate.strip(), reference.strip())) / 100.0

    return score


def _tokenizer(metric: str) -> Callable[[str], list[str]]:
    tokenize: Callable[[str], list[str]] = _require("nltk.tokenize", metric).wordpunct_tokenize
    return tokenize


def _bleu() -> Scorer:
    tokenize = _tokenizer("bleu")
    bleu_score = _require("nltk.translate.bleu_score", "bleu")
    smoothing = bleu_score.SmoothingFunction().method1

    def score(candidate: str, reference: str) -> float:
        return float(
            bleu_score.sentence_bleu(
                [tokenize(reference)],
                tokenize(candidate),
                weights=(0.25, 0.25, 0.25, 0.25),
                smoothing_function=smoothing,
                auto_reweigh=True,
            )
        )

    return score


def _gleu() -> Scorer:
    tokenize = _tokenizer("gleu")
    gleu_score = _require("nltk.translate.gleu_score", "gleu")

    def score(candidate: str, reference: str) -> float:
        return float(gleu_score.sentence_gleu([tokenize(reference)], tokenize(candidate), min_len=1, max_len=4))

    return score


def _meteor() -> Scorer:
    tokenize = _tokenizer("meteor")
    meteor_score = _require("nltk.translate.meteor_score", "meteor")
    _ensure_wordnet()

    def score(candidate: str, reference: str) -> float:
        return float(meteor_score.meteor_score([tokenize(reference)], tokenize(candidate)))

    return score


def _ensure_wordnet() -> None:
    """Load NLTK's WordNet now, or say how to install it.

    NLTK loads corpora lazily, so without this check every sample would fail alike with
    NLTK's LookupError. Loading here, once, also keeps the first load out of grading
    threads (NLTK's lazy loader is not thread-safe).
    """
    nltk_data = _require("nltk.data", "meteor")
    wordnet = _require("nltk.corpus", "meteor").wordnet
    try:
        wordnet.get_version()  # any attribute access makes the lazy loader read the corpus
    except (LookupError, OSError) as exc:
        searched = ", ".join(str(path) for path in nltk_data.path)
        raise GraderConfigError(
            "text_similarity meteor: NLTK's WordNet corpus is not installed "
            f"({type(exc).__name__}; NLTK looked in {searched}). "
            f"Install it with: {WORDNET_INSTALL} "
            "(it downloads from GitHub; on a machine without that access, copy an nltk_data "
            "folder holding corpora/wordnet into one of those folders, or point NLTK_DATA at it)"
        ) from exc


class _RougeTokenizer:
    """rouge-score's default tokenizer (stemming off), keeping non-ASCII letters and digits.

    rouge-score lower-cases and keeps runs of ``[a-z0-9]``; this keeps runs of any letter
    or digit, so ASCII text gets exactly rouge-score's tokens while "été" stays a word
    instead of "t", and an answer in Greek or Chinese is not reduced to nothing.
    """

    _WORD = re.compile(r"[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self._WORD.findall(text.lower())


def _rouge(rouge_type: str) -> Scorer:
    rouge_scorer = _require("rouge_score.rouge_scorer", rouge_type)
    scorer: Any = rouge_scorer.RougeScorer([rouge_type], use_stemmer=False, tokenizer=_RougeTokenizer())

    def score(candidate: str, reference: str) -> float:
        # rouge-score's argument order is (target, prediction).
        return float(scorer.score(reference, candidate)[rouge_type].fmeasure)

    return score


def _comparison(score: float, threshold: float, passed: bool) -> str:
    """``0.83 >= 0.80``, with more digits when two would show a wrong order (0.80 < 0.80)."""
    sign = ">=" if passed else "<"
    for digits in (2, 3, 4, 6):
        shown_score, shown_threshold = f"{score:.{digits}f}", f"{threshold:.{digits}f}"
        if (float(shown_score) >= float(shown_threshold)) == passed:
            return f"{shown_score} {sign} {shown_threshold}"
    return f"{score!r} {sign} {threshold!r}"
