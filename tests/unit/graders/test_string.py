"""string_check, regex and one_of: pass, fail with a readable reason, and bad set-up."""

from __future__ import annotations

import json
import re

import pytest

from pytest_llmeval.graders import Grade, Grader, GraderConfigError, make_sample, one_of, regex, string_check


def grade_text(grader: Grader, text: str) -> Grade:
    return grader(make_sample(text), {})


class TestStringCheck:
    def test_eq_is_exact_as_openai_s(self) -> None:
        assert not grade_text(string_check("Paris", "eq"), "Paris ").passed
        assert not grade_text(string_check("30 days", "eq"), "30 days\n").passed
        assert grade_text(string_check("Paris", "eq"), "Paris").passed

    def test_eq_with_strip_strips_outer_whitespace_of_both_sides(self) -> None:
        grade = grade_text(string_check(" 30 days ", "eq", strip=True), "30 days\n")
        assert grade.passed
        assert grade.score == 1.0
        assert grade.grader == "string_check"
        assert grade.error is None

    def test_eq_failure_shows_expected_and_answer(self) -> None:
        grade = grade_text(string_check("30 days", "eq"), "thirty days\n")
        assert not grade.passed
        assert grade.score == 0.0
        assert grade.reason == "expected answer to equal '30 days', got 'thirty days\\n'"

    def test_eq_keeps_inner_whitespace_and_case(self) -> None:
        assert not grade_text(string_check("30 days", "eq"), "30  days").passed
        assert not grade_text(string_check("30 days", "eq"), "30 Days").passed

    def test_ne(self) -> None:
        assert grade_text(string_check("no", "ne"), "yes").passed
        assert grade_text(string_check("no", "ne"), "  no\n").passed  # exact: not the same string
        grade = grade_text(string_check("no", "ne", strip=True), "  no\n")
        assert not grade.passed
        assert "to differ from 'no'" in grade.reason

    def test_like_is_case_sensitive_substring(self) -> None:
        assert grade_text(string_check("30 days", "like"), "You have 30 days.").passed
        grade = grade_text(string_check("30 days", "like"), "You have 30 Days.")
        assert not grade.passed
        assert grade.reason == "expected answer to contain '30 days', got 'You have 30 Days.'"

    def test_ilike_ignores_case(self) -> None:
        grade = grade_text(string_check("30 days", "ilike"), "You have 30 DAYS.")
        assert grade.passed
        assert grade.reason == "answer contains '30 days' (any case)"

    @pytest.mark.parametrize(
        ("reference", "answer"),
        [("STRASSE", "Die Straße ist lang"), ("été", "UN ÉTÉ CHAUD"), ("ΣΟΦΟΣ", "σοφος")],
    )
    def test_ilike_uses_casefold(self, reference: str, answer: str) -> None:
        assert grade_text(string_check(reference, "ilike"), answer).passed

    def test_ilike_failure_says_any_case(self) -> None:
        grade = grade_text(string_check("refund", "ilike"), "No returns.")
        assert not grade.passed
        assert grade.reason == "expected answer to contain 'refund' (any case), got 'No returns.'"

    def test_negate_inverts_the_check(self) -> None:
        grader = string_check("sorry", "ilike", negate=True)
        assert grade_text(grader, "Here is your refund.").passed
        grade = grade_text(grader, "Sorry, no.")
        assert not grade.passed
        assert grade.reason == "expected answer not to contain 'sorry' (any case), got 'Sorry, no.'"
        assert grader.spec["negate"] is True

    def test_negated_pass_reason(self) -> None:
        grade = grade_text(string_check("x", "like", negate=True), "abc")
        assert grade.reason == "answer does not contain 'x'"

    def test_unknown_operation_lists_valid_ones(self) -> None:
        with pytest.raises(GraderConfigError, match="unknown operation 'contains'; use one of eq, ne, like, ilike"):
            string_check("x", "contains")  # type: ignore[arg-type]

    def test_reference_must_be_a_string(self) -> None:
        with pytest.raises(GraderConfigError, match="reference must be a string, got int"):
            string_check(30, "eq")  # type: ignore[arg-type]

    def test_long_answer_is_shortened_on_one_line(self) -> None:
        answer = "line\n" * 100
        grade = grade_text(string_check("refund", "like"), answer)
        assert "\n" not in grade.reason
        assert len(grade.reason) < 200
        assert "(500 chars)" in grade.reason

    def test_spec_is_json_and_names_the_settings(self) -> None:
        grader = string_check("30 days", "ilike")
        assert grader.name == "string_check"
        assert json.loads(json.dumps(grader.spec)) == {
            "type": "string_check",
            "reference": "30 days",
            "operation": "ilike",
            "negate": False,
        }

    def test_is_a_grader(self) -> None:
        assert isinstance(string_check("x", "eq"), Grader)


class TestRegex:
    def test_search_anywhere(self) -> None:
        grade = grade_text(regex(r"ORDER-\d{5}"), "Your order is ORDER-12345.")
        assert grade.passed
        assert grade.reason == r"answer matches /ORDER-\d{5}/ at 'ORDER-12345'"
        assert grade.details["match"] == "ORDER-12345"
        assert grade.details["span"] == [14, 25]

    def test_failure_shows_pattern_and_answer(self) -> None:
        grade = grade_text(regex(r"ORDER-\d{5}"), "no order\nhere")
        assert not grade.passed
        assert grade.reason == r"expected answer to match /ORDER-\d{5}/, got 'no order\nhere'"

    def test_anchors_demand_the_whole_answer(self) -> None:
        grader = regex(r"\A\d+\Z")
        assert grade_text(grader, "123").passed
        assert not grade_text(grader, "123 apples").passed

    def test_flags(self) -> None:
        assert not grade_text(regex("yes"), "YES").passed
        grader = regex("yes", flags=re.IGNORECASE)
        assert grade_text(grader, "YES").passed
        assert grader.spec == {"type": "regex", "pattern": "yes", "flags": int(re.IGNORECASE)}

    def test_unicode(self) -> None:
        assert grade_text(regex(r"\bcafé\b"), "un café noir").passed

    def test_invalid_pattern_is_a_config_error(self) -> None:
        with pytest.raises(GraderConfigError, match=r"regex: invalid pattern '\(unclosed': missing \)"):
            regex("(unclosed")

    def test_pattern_must_be_text(self) -> None:
        with pytest.raises(GraderConfigError, match="pattern must be a string"):
            regex(b"abc")  # type: ignore[arg-type]

    def test_unprintable_pattern_is_shown_as_repr(self) -> None:
        grade = grade_text(regex("a\nb"), "ab")
        assert grade.reason == r"expected answer to match 'a\nb', got 'ab'"


class TestOneOf:
    def test_exact_match_after_strip(self) -> None:
        grader = one_of(["positive", " negative ", "neutral"])
        assert grade_text(grader, "negative\n").passed
        grade = grade_text(grader, " positive")
        assert grade.passed
        assert grade.reason == "answer is 'positive', one of ['positive', 'negative', 'neutral']"

    def test_failure_lists_options_and_answer(self) -> None:
        grade = grade_text(one_of(["yes", "no"]), "maybe")
        assert not grade.passed
        assert grade.reason == "expected one of ['yes', 'no'], got 'maybe'"

    def test_case_matters(self) -> None:
        assert not grade_text(one_of(["yes", "no"]), "Yes").passed

    def test_many_options_are_elided(self) -> None:
        grade = grade_text(one_of([str(n) for n in range(12)]), "x")
        assert "… (12 options)" in grade.reason
        assert "'5'" not in grade.reason

    def test_empty_options_is_a_config_error(self) -> None:
        with pytest.raises(GraderConfigError, match="options is empty"):
            one_of([])

    def test_a_bare_string_is_a_config_error(self) -> None:
        with pytest.raises(GraderConfigError, match="must be a list of strings"):
            one_of("yes")

    def test_spec_holds_the_stripped_options(self) -> None:
        assert one_of([" a ", "b"]).spec == {"type": "one_of", "options": ["a", "b"]}
