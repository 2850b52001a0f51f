"""text_similarity: every metric against values published with the library that computes it.

Each expected number names its source. Where a library publishes no single-reference
example (BLEU with smoothing, ROUGE-3..5), the value is worked out by hand from the
metric's definition, and the arithmetic is in the comment.
"""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import pytest

from pytest_llmeval.graders import FunctionGrader, Grade, GraderConfigError, make_sample, text_similarity
from pytest_llmeval.graders._similarity import METRICS, WORDNET_INSTALL, _RougeTokenizer, similarity_score

LOCAL_METRICS = [metric for metric in METRICS if metric not in ("meteor", "cosine")]
"""Metrics computed here without extra data (meteor needs WordNet, cosine a model)."""

# NLTK's running example (nltk/translate/bleu_score.py, gleu_score.py, meteor_score.py docstrings).
HYP1 = "It is a guide to action which ensures that the military always obeys the commands of the party"
HYP2 = "It is to insure the troops forever hearing the activity guidebook that party direct"
REF1 = "It is a guide to action that ensures that the military will forever heed Party commands"


def grade_text(grader: FunctionGrader, text: str) -> Grade:
    return grader(make_sample(text), {})


def wordnet_installed() -> bool:
    from nltk.corpus import wordnet

    try:
        wordnet.get_version()
    except LookupError:
        return False
    return True


class TestKnownValues:
    def test_fuzzy_match_is_rapidfuzz_ratio(self) -> None:
        # rapidfuzz README, "Simple Ratio": fuzz.ratio("this is a test", "this is a test!") -> 96.55172413793103
        assert similarity_score("fuzzy_match", "this is a test!", "this is a test") == pytest.approx(0.9655172413793103)
        # rapidfuzz README, "Token Sort Ratio": fuzz.ratio("fuzzy wuzzy was a bear", "wuzzy fuzzy was a bear")
        # -> 90.9090909090909 (plain ratio does not forgive the swapped words)
        assert similarity_score("fuzzy_match", "wuzzy fuzzy was a bear", "fuzzy wuzzy was a bear") == pytest.approx(
            0.909090909090909
        )

    def test_fuzzy_match_is_case_sensitive_and_ignores_outer_whitespace(self) -> None:
        assert similarity_score("fuzzy_match", "  Paris\n", "Paris") == 1.0
        assert similarity_score("fuzzy_match", "paris", "Paris") == pytest.approx(0.8)  # 1 - 2 edits / 10 chars

    def test_bleu_single_reference_from_nltk_corpus_bleu_docstring(self) -> None:
        # nltk/translate/bleu_score.py, corpus_bleu docstring:
        #   score1 = sentence_bleu([ref1a, ref1b, ref1c], hyp1)   -> 0.5045...  (sentence_bleu docstring)
        #   score2 = sentence_bleu([ref2a], hyp2)
        #   (score1 + score2) / 2                                 -> 0.6223...
        # so score2 is in [2 * 0.6223 - 0.5046, 2 * 0.6224 - 0.5045) = [0.7400, 0.7403). No n-gram
        # precision is zero here, so smoothing method 1 changes nothing.
        score = similarity_score(
            "bleu",
            "he read the book because he was interested in world history",
            "he was interested in world history because he read the book",
        )
        assert 0.7400 <= score < 0.7403

    def test_bleu_smoothing_method1_when_no_4gram_matches(self) -> None:
        # By hand (Papineni et al. 2002; Chen & Cherry 2014 method 1 adds epsilon = 0.1 to a zero count):
        # "a cat sat on the mat" vs "the cat sat on a mat": p1 = 6/6, p2 = 2/5, p3 = 1/4, p4 = (0 + 0.1)/3,
        # equal lengths so BP = 1; BLEU = (1 * 0.4 * 0.25 * 0.1/3) ** (1/4) = 0.24028...
        expected = (1.0 * 0.4 * 0.25 * (0.1 / 3)) ** 0.25
        assert similarity_score("bleu", "a cat sat on the mat", "the cat sat on a mat") == pytest.approx(expected)

    def test_bleu_short_answer_is_reweighted_but_pays_the_brevity_penalty(self) -> None:
        # auto_reweigh: a 3-token answer uses weights (1/3, 1/3, 1/3); all precisions are 1, and
        # BP = exp(1 - ref_len / hyp_len) = exp(1 - 6/3) = e**-1 (Papineni et al. 2002).
        assert similarity_score("bleu", "the cat sat", "the cat sat on the mat") == pytest.approx(0.36787944117144233)
        assert similarity_score("bleu", "Paris", "Paris") == 1.0

    def test_bleu_is_zero_without_any_common_word(self) -> None:
        # nltk/test/bleu.doctest: "If the candidate has no alignment to any of the references, the BLEU score is 0."
        assert (
            similarity_score("bleu", "John loves Mary", "The candidate has no alignment to any of the references") == 0
        )

    @pytest.mark.parametrize(
        ("candidate", "reference", "low", "high"),
        [
            # nltk/translate/gleu_score.py, sentence_gleu docstring: sentence_gleu([ref], hyp) -> 0.0909...
            ("the the the the the the the", "the cat is on the mat", 0.0909, 0.0910),
            # same docstring: sentence_gleu([ref1], hyp1) -> 0.4393... and sentence_gleu([ref1], hyp2) -> 0.1206...
            (HYP1, REF1, 0.4393, 0.4394),
            (HYP2, REF1, 0.1206, 0.1207),
        ],
    )
    def test_gleu_from_nltk_docstring(self, candidate: str, reference: str, low: float, high: float) -> None:
        assert low <= similarity_score("gleu", candidate, reference) < high

    @pytest.mark.parametrize(
        ("metric", "reference", "candidate", "expected"),
        [
            # rouge_score/rouge_scorer_test.py (rouge-score 0.1.2): testRouge1, testRouge2,
            # testRougeLConsecutive, testRougeLNonConsecutive. score(target, prediction): the target is our reference.
            ("rouge_1", "testing one two", "testing", 1 / 2),
            ("rouge_2", "testing one two", "testing one", 2 / 3),
            ("rouge_l", "testing one two", "testing one", 4 / 5),
            ("rouge_l", "testing one two", "testing two", 4 / 5),
            # rouge-score README example, scorer.score('The quick brown fox jumps over the lazy dog',
            # 'The quick brown dog jumps on the log.'); the README prints no numbers, so by hand:
            # rouge1 shares the (twice), quick, brown, dog, jumps: P = 6/8, R = 6/9, F = 12/17;
            # rougeL LCS "the quick brown jumps the" = 5: F = 2 * 5 / (8 + 9) = 10/17.
            (
                "rouge_1",
                "The quick brown fox jumps over the lazy dog",
                "The quick brown dog jumps on the log.",
                12 / 17,
            ),
            (
                "rouge_l",
                "The quick brown fox jumps over the lazy dog",
                "The quick brown dog jumps on the log.",
                10 / 17,
            ),
        ],
    )
    def test_rouge_from_rouge_score_tests_and_readme(
        self, metric: str, reference: str, candidate: str, expected: float
    ) -> None:
        assert similarity_score(metric, candidate, reference) == pytest.approx(expected)

    @pytest.mark.parametrize(("n", "expected"), [(1, 5 / 6), (2, 4 / 5), (3, 3 / 4), (4, 2 / 3), (5, 1 / 2)])
    def test_rouge_n_up_to_5(self, n: int, expected: float) -> None:
        # By hand (Lin 2004): six words with the last one changed share 6 - n of the 7 - n n-grams on each
        # side, so precision = recall = F = (6 - n) / (7 - n).
        score = similarity_score(f"rouge_{n}", "one two three four five seven", "one two three four five six")
        assert score == pytest.approx(expected)

    def test_rouge_l_of_the_changed_word_example(self) -> None:
        assert similarity_score("rouge_l", "one two three four five seven", "one two three four five six") == (
            pytest.approx(5 / 6)
        )

    def test_meteor_from_nltk_examples(self) -> None:
        if not wordnet_installed():
            pytest.skip(f"NLTK's WordNet is not installed ({WORDNET_INSTALL})")
        # nltk/translate/meteor_score.py, single_meteor_score docstring: -> 0.6944
        assert round(similarity_score("meteor", HYP1, REF1), 4) == 0.6944
        # nltk/test/meteor.doctest, "Tests based on wikipedia examples": -> 0.5 and 0.9654
        assert similarity_score("meteor", "on the mat sat the cat", "The cat sat on the mat") == 0.5
        assert round(similarity_score("meteor", "The cat was sat on the mat", "The cat sat on the mat"), 4) == 0.9654


class TestTokenization:
    @pytest.mark.parametrize(
        "text",
        [
            "The quick brown dog jumps on the log.",
            "Refunds: within 30 days (see §4.2)! E-mail us_now at help@example.com",
            "  tabs\tand\nnewlines, 'quotes' and \"double quotes\" -- dashes ",
        ],
    )
    def test_rouge_tokens_are_rouge_scores_own_on_ascii_text(self, text: str) -> None:
        from rouge_score import tokenizers

        ascii_text = text.encode("ascii", "ignore").decode()
        assert _RougeTokenizer().tokenize(ascii_text) == tokenizers.DefaultTokenizer(use_stemmer=False).tokenize(
            ascii_text
        )

    @pytest.mark.parametrize("text", ["Ένα καλοκαίρι στην Αθήνα", "退款期限为三十天", "un été très chaud"])
    def test_rouge_keeps_non_ascii_words(self, text: str) -> None:
        # rouge-score's own tokenizer drops every non-ASCII letter, which scores these 0 against themselves.
        assert similarity_score("rouge_1", text, text) == 1.0
        assert similarity_score("rouge_l", text, text) == 1.0

    def test_rouge_ignores_case_and_punctuation_but_does_not_stem(self) -> None:
        assert similarity_score("rouge_1", "REFUND, within days!", "refund within days") == 1.0
        # Stemming is off, as in plain ROUGE: "refunds" is not "refund".
        assert similarity_score("rouge_1", "refunds", "refund") == 0.0

    def test_bleu_splits_punctuation_without_punkt(self) -> None:
        # wordpunct_tokenize: "days." is two tokens, so the full stop is matched like a word.
        assert similarity_score("bleu", "within 30 days.", "within 30 days.") == 1.0
        assert similarity_score("bleu", "within 30 days", "within 30 days.") < 1.0


class TestGrader:
    @pytest.mark.parametrize("metric", LOCAL_METRICS)
    def test_identical_text_scores_one(self, metric: str) -> None:
        text = "You can return any item within 30 days of delivery for a full refund."
        grade = grade_text(text_similarity(text, metric, 1.0), text)
        assert grade.passed
        assert grade.score == 1.0
        assert grade.error is None
        assert grade.grader == "text_similarity"

    @pytest.mark.parametrize("metric", LOCAL_METRICS)
    def test_unrelated_text_scores_low(self, metric: str) -> None:
        grade = grade_text(text_similarity("The refund window is 30 days.", metric, 0.5), "Bonjour, je suis là.")
        assert not grade.passed
        assert 0.0 <= grade.score < 0.5

    def test_passes_at_the_threshold_and_fails_just_above(self) -> None:
        # fuzz.ratio("abce", "abcd") = 1 - 2 edits / 8 chars = 0.75 exactly.
        assert grade_text(text_similarity("abcd", "fuzzy_match", 0.75), "abce").passed
        grade = grade_text(text_similarity("abcd", "fuzzy_match", 0.7500001), "abce")
        assert not grade.passed
        assert grade.score == 0.75
        # Two decimals would print "0.75 < 0.75": the reason shows the digits that differ.
        assert grade.reason == "fuzzy_match 0.75 < 0.7500001 against 'abcd', got 'abce'"

    def test_reason_when_passing(self) -> None:
        grade = grade_text(text_similarity("this is a test", "fuzzy_match", 0.8), "this is a test!")
        assert grade.reason == "fuzzy_match 0.97 >= 0.80 against 'this is a test'"
        assert grade.details == {"evaluation_metric": "fuzzy_match", "pass_threshold": 0.8}

    def test_reason_when_failing_shows_the_answer(self) -> None:
        grade = grade_text(text_similarity("the cat sat on the mat", "bleu", 0.5), "the cat sat")
        assert not grade.passed
        assert grade.reason == "bleu 0.37 < 0.50 against 'the cat sat on the mat', got 'the cat sat'"

    def test_more_digits_when_two_would_hide_the_order(self) -> None:
        grade = grade_text(text_similarity("abcd", "fuzzy_match", 0.751), "abce")
        assert grade.reason.startswith("fuzzy_match 0.750 < 0.751 ")

    def test_spec(self) -> None:
        grader = text_similarity("30 days", "rouge_l", 1)
        assert grader.name == "text_similarity"
        assert grader.spec == {
            "type": "text_similarity",
            "reference": "30 days",
            "evaluation_metric": "rouge_l",
            "pass_threshold": 1.0,
        }
        assert isinstance(grader.spec["pass_threshold"], float)

    def test_empty_answer_scores_zero(self) -> None:
        for metric in LOCAL_METRICS:
            grade = grade_text(text_similarity("30 days", metric, 0.0), "")
            assert grade.score == 0.0, metric
            assert grade.passed  # a threshold of 0 accepts anything

    def test_short_answers_and_rouge_n(self) -> None:
        # ROUGE-N counts n-grams: a one-word answer has no bigram to match, even against itself.
        assert similarity_score("rouge_2", "Paris", "Paris") == 0.0
        assert similarity_score("rouge_1", "Paris", "Paris") == 1.0


class TestConfigErrors:
    def test_unknown_metric_lists_the_valid_ones(self) -> None:
        with pytest.raises(GraderConfigError, match="unknown evaluation_metric 'rouge'; use one of fuzzy_match, bleu"):
            text_similarity("x", "rouge", 0.5)
        with pytest.raises(GraderConfigError, match="rouge_l, cosine"):
            text_similarity("x", "ROUGE_L", 0.5)

    @pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), True, "0.5", None])
    def test_threshold_outside_0_to_1(self, threshold: Any) -> None:
        with pytest.raises(GraderConfigError, match="pass_threshold must be a number from 0 to 1"):
            text_similarity("x", "bleu", threshold)

    def test_reference_must_be_text(self) -> None:
        with pytest.raises(GraderConfigError, match="reference must be a string, got int 30"):
            text_similarity(30, "bleu", 0.5)  # type: ignore[arg-type]
        with pytest.raises(GraderConfigError, match="reference is empty"):
            text_similarity("  \n", "bleu", 0.5)

    def test_similarity_score_rejects_unknown_metric_and_cosine(self) -> None:
        with pytest.raises(GraderConfigError, match="unknown metric 'bleu4'"):
            similarity_score("bleu4", "a", "a")
        with pytest.raises(GraderConfigError, match="cosine is computed with embeddings"):
            similarity_score("cosine", "a", "a")

    def test_meteor_without_wordnet_names_the_install_command(self) -> None:
        if wordnet_installed():
            pytest.skip("NLTK's WordNet is installed here")
        with pytest.raises(GraderConfigError) as info:
            text_similarity("The cat sat on the mat", "meteor", 0.5)
        message = str(info.value)
        assert "WordNet corpus is not installed" in message
        assert "python -m nltk.downloader wordnet omw-1.4" in message
        assert "NLTK_DATA" in message
        with pytest.raises(GraderConfigError, match="WordNet"):
            similarity_score("meteor", "a", "a")

    @pytest.mark.parametrize(
        ("metric", "module"),
        [("fuzzy_match", "rapidfuzz"), ("bleu", "nltk"), ("meteor", "nltk"), ("rouge_3", "rouge_score")],
    )
    def test_missing_library_names_the_extra(self, monkeypatch: pytest.MonkeyPatch, metric: str, module: str) -> None:
        # None in sys.modules makes the import fail, as if the package were not installed.
        for name in [name for name in sys.modules if name == module or name.startswith(module + ".")]:
            monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(GraderConfigError, match=r'pip install "pytest-llmeval\[similarity\]"'):
            text_similarity("x", metric, 0.5)


class TestCosine:
    def test_cosine_is_built_by_the_embeddings_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[tuple[str, float]] = []
        built = FunctionGrader(
            name="text_similarity",
            spec={"type": "text_similarity", "evaluation_metric": "cosine"},
            fn=lambda sample, item: Grade.check("text_similarity", True, "fake cosine"),
        )

        def _cosine_grader(reference: str, pass_threshold: float) -> FunctionGrader:
            calls.append((reference, pass_threshold))
            return built

        fake = types.ModuleType("pytest_llmeval.graders._embeddings")
        fake._cosine_grader = _cosine_grader  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "pytest_llmeval.graders._embeddings", fake)
        assert text_similarity("30 days", "cosine", 1) is built
        assert calls == [("30 days", 1.0)]

    def test_cosine_threshold_is_checked_first(self) -> None:
        with pytest.raises(GraderConfigError, match="pass_threshold"):
            text_similarity("x", "cosine", 2)

    def test_cosine_without_the_embeddings_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "pytest_llmeval.graders._embeddings", None)
        with pytest.raises(GraderConfigError, match=r"cosine needs pytest_llmeval\.graders\._embeddings"):
            text_similarity("x", "cosine", 0.5)


def test_importing_graders_does_not_import_the_metric_libraries() -> None:
    code = (
        "import sys, pytest_llmeval, pytest_llmeval.graders; "
        "print(sorted(m for m in ('nltk', 'rapidfuzz', 'rouge_score') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
