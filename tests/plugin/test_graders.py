"""Similarity, custom and combined graders from feature files and Python, in real sessions."""

from __future__ import annotations

from project import Project


def test_similarity_steps(project: Project, mode: list[str]) -> None:
    project.server.add_rule("refund", "You can get a refund within 30 days of delivery.")
    project.feature(
        """
        Feature: similar
          Scenario: fuzzy
            Given the model "m"
            When the user says "refund window?"
            Then the answer is similar to "You can get a refund within 30 days of delivery" by fuzzy_match at least 0.9

          Scenario: rouge too strict
            Given the model "m"
            When the user says "refund window again?"
            Then the answer is similar to "Refunds are accepted for a month" by rouge_l at least 0.8
        """
    )
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*failed: text_similarity: rouge_l 0.* < 0.80*"])


def test_cosine_uses_the_engine_and_the_cache(project: Project) -> None:
    project.server.add_rule("cat", "the cat sat on the mat")
    project.feature(
        """
        Feature: cosine
          Scenario: close enough
            Given the model "m"
            When the user says "where is the cat?"
            Then the answer is similar to "the cat sat on a mat" by cosine at least 0.7
        """
    )
    project.run("--llmeval-embedding-model=loopback-embed").assert_outcomes(passed=1)
    embeddings = [r for r in project.server.requests if r.path.endswith("/embeddings")]
    assert len(embeddings) == 2 and embeddings[0].body["model"] == "loopback-embed"
    project.server.reset()
    project.run("--llmeval-embedding-model=loopback-embed", "--llmeval-cache=replay").assert_outcomes(passed=1)
    assert project.server.total_requests == 0


def test_custom_grader_by_name_and_multi(project: Project, mode: list[str]) -> None:
    project.server.add_rule("order", "ORDER-12345")
    project.pytester.makeconftest(
        """
        import re
        import pytest_llmeval

        @pytest_llmeval.grader("order-id", pass_threshold=1.0)
        def order_id(sample, item):
            return 1.0 if re.fullmatch(r"ORDER-\\d{5}", sample["output_text"].strip()) else 0.0

        @pytest_llmeval.grader("broken")
        def broken(sample, item):
            return 1 / 0
        """
    )
    project.feature(
        """
        Feature: custom
          Scenario: named
            Given the model "m"
            When the user says "order?"
            Then the answer passes "order-id"

          Scenario: raises
            Given the model "m"
            When the user says "order please"
            Then the answer passes "broken"
        """
    )
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*error: broken: ZeroDivisionError: division by zero*"])
    assert project.cases()["raises"]["verdict"] == "error"


def test_unknown_grader_name(project: Project) -> None:
    project.feature(
        """
        Feature: custom
          Scenario: typo
            Given the model "m"
            When the user says "order?"
            Then the answer passes "ordr-id"
        """
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*eval.feature:5: Then the answer passes "ordr-id": no grader named*'])
    assert project.server.total_requests == 0


def test_multi_from_python(project: Project) -> None:
    project.server.add_rule(None, "You have 30 days for a refund.")
    project.pytester.makepyfile(
        test_m="""
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m")
        def test_combined(llm):
            llm.ask("refund?").check(
                graders.multi(
                    {
                        "fact": graders.string_check(reference="30 days", operation="like"),
                        "close": graders.text_similarity("You have 30 days to get a refund.", "fuzzy_match", 0.0),
                    },
                    "0.7 * fact + 0.3 * close",
                    pass_threshold=0.9,
                )
            )
        """
    )
    project.run("--llmeval-report=json").assert_outcomes(passed=1)
    (case,) = project.report()["cases"]
    assert case["sample_records"][0]["grades"][0]["score"] > 0.9
