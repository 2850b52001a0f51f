"""The declarative Python form in real sessions: ``@pytest.mark.llmeval(prompt=...)`` and ``answer``.

A declared case is planned like a scenario: its requests go out before the first test,
together with every other planned request, once each (also across xdist workers), and
from the cache on a rerun.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback import RecordedRequest
from project import Project

FIRST_TEST_AT = """
    import os, time

    def pytest_runtest_setup(item):
        # One file per process: under xdist each worker starts its tests once its own share is in.
        worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
        path = os.path.join(os.path.dirname(__file__), f"first-test-at-{worker}")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(str(time.time()))
    """


def rows(project: Project, n: int) -> None:
    project.file(
        "data/rows.jsonl", "\n".join(json.dumps({"id": f"r{i}", "question": f"question {i}"}) for i in range(n))
    )


def echo(body: dict[str, Any]) -> str:
    """The loopback model's answer: the user message, so each case can check what it sent."""
    return f"you said: {body['messages'][-1]['content']}"


def messages_of(request: RecordedRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = request.body["messages"]
    return messages


DATASET_TEST = """
    import pytest
    from pytest_llmeval import graders

    @pytest.mark.llmeval(model="m", samples=2, system="Answer {id} briefly.", prompt="Q: {question}")
    @pytest.mark.llmeval_dataset("data/rows.jsonl")
    def test_declared(answer, case):
        assert len(answer) == 2
        answer.check(graders.string_check(reference=case["question"], operation="like"))
    """


def test_a_declared_dataset_is_generated_before_the_first_test(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, echo, latency=0.2)
    rows(project, 12)
    project.pytester.makeconftest(FIRST_TEST_AT)
    project.file("test_declared.py", DATASET_TEST)
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(passed=12)
    server = project.server
    assert server.total_requests == 24  # one per row and sample, also across workers
    sent = sorted((json.dumps(messages_of(r)), r.body.get("n", 1)) for r in server.requests)
    assert len({m for m, _ in sent}) == 12
    assert messages_of(server.requests[0])[0]["content"].startswith("Answer r")  # the system placeholder
    # Every request arrived before the tests started (under xdist: before the last worker's first test).
    starts = [float(p.read_text()) for p in project.path.glob("first-test-at-*")]
    assert starts and max(r.at for r in server.requests) <= max(starts)
    if not mode:
        assert max(r.at for r in server.requests) <= min(starts)
    assert server.peak_in_flight > 1  # generated concurrently, not one test after another
    cases = project.cases()
    assert sorted(cases) == sorted(f"test_declared[r{i}]" for i in range(12))
    assert {c["samples"] for c in cases.values()} == {2} and {c["verdict"] for c in cases.values()} == {"pass"}
    assert "requests: 24 planned, 0 from the cache, 24 sent" in result.stdout.str()

    again = project.run("--llmeval-cache=replay", "--llmeval-report=json", *mode)
    again.assert_outcomes(passed=12)
    assert server.total_requests == 24  # the rerun sent nothing
    assert {c["cache_hits"] for c in project.cases().values()} == {2}


def test_identical_prompts_across_tests_are_sent_once(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "30 days")
    project.file(
        "test_same.py",
        """
        import pytest
        from pytest_llmeval import graders

        REFUND = pytest.mark.llmeval(model="m", system="You are support.", prompt="How long for a refund?")

        @REFUND
        def test_one(answer):
            answer.check(graders.string_check(reference="30 days", operation="eq"))

        @REFUND
        def test_two(answer):
            answer.check(graders.string_check(reference="30", operation="like"))

        @pytest.mark.llmeval(model="m")
        def test_asked(llm):  # the same request from a test body: answered from this run's generation
            llm.ask("How long for a refund?", system="You are support.").check(
                graders.string_check(reference="30 days", operation="eq"))
        """,
    )
    project.run("--llmeval-cache=off", *mode).assert_outcomes(passed=3)
    assert project.server.total_requests == 1


def test_callable_prompt_and_system(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, echo)
    project.file("data/rows.csv", "id,word\nw1,apple\nw2,pear\n")
    project.file(
        "test_callable.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m", prompt=lambda case: case["word"].upper(),
                             system=lambda case: f"Shout {len(case['word'])} letters.")
        @pytest.mark.llmeval_dataset("data/rows.csv")
        def test_shout(answer, case):
            assert answer.text == "you said: " + case["word"].upper()
            answer.check(graders.string_check(reference=case["word"].upper(), operation="like"))
        """,
    )
    project.run("--llmeval-cache=off", *mode).assert_outcomes(passed=2)
    sent = sorted((messages_of(r)[0]["content"], messages_of(r)[1]["content"]) for r in project.server.requests)
    assert sent == [("Shout 4 letters.", "PEAR"), ("Shout 5 letters.", "APPLE")]


def test_callable_messages_are_sent_as_given(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, echo)
    project.file("data/rows.jsonl", '{"id": "t1", "item": "kettle"}\n')
    project.file(
        "test_turns.py",
        """
        import pytest
        from pytest_llmeval import graders

        def conversation(case):
            return [
                {"role": "system", "content": "You are Acme support."},
                {"role": "user", "content": f"My {case['item']} broke."},
                {"role": "assistant", "content": "Sorry! Refund or replacement?"},
                {"role": "user", "content": "A replacement, please."},
            ]

        @pytest.mark.llmeval(model="m", samples=3, messages=conversation, parameters={"temperature": 0.3},
                             response_format={"type": "json_object"})
        @pytest.mark.llmeval_dataset("data/rows.jsonl")
        def test_follow_up(answer, case):
            answer.check(graders.string_check(reference="replacement", operation="like"))
        """,
    )
    project.run("--llmeval-cache=off", "--llmeval-report=json", *mode).assert_outcomes(passed=1)
    assert project.server.total_requests == 3
    body = project.server.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "You are Acme support."},
        {"role": "user", "content": "My kettle broke."},
        {"role": "assistant", "content": "Sorry! Refund or replacement?"},
        {"role": "user", "content": "A replacement, please."},
    ]
    assert body["temperature"] == 0.3 and body["response_format"] == {"type": "json_object"}
    assert project.cases()["test_follow_up[t1]"]["samples"] == 3


def test_a_failing_check_shows_the_failure_table(project: Project, mode: list[str]) -> None:
    project.server.add_rule("refund", "Two weeks.", times=1)
    project.server.add_rule("refund", "30 days.")
    project.file(
        "test_fails.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m", samples=3, prompt="How long for a refund?")
        def test_refund(answer):
            answer.check(graders.string_check(reference="30 days", operation="like"))
        """,
    )
    result = project.run("--llmeval-cache=off", "--llmeval-report=json", *mode)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*case 'test_refund' on model 'm': pass rate 2/3 = 67% (95% CI *), threshold 100% -> FAIL*",
            "*'Two weeks.'*",
            "*failed: string_check: *",
        ]
    )
    case = project.cases()["test_refund"]
    assert (case["passes"], case["failures"], case["verdict"]) == (2, 1, "fail")
    assert project.server.total_requests == 3


def test_declaration_mistakes_are_one_line_naming_the_test(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, "ok")
    rows(project, 1)
    project.file(
        "test_wrong.py",
        """
        import pytest
        from pytest_llmeval import graders

        OK = graders.string_check(reference="ok", operation="eq")

        @pytest.mark.llmeval(model="m", prompt="Hello {email}")
        @pytest.mark.llmeval_dataset("data/rows.jsonl")
        def test_missing_field(answer, case):
            answer.check(OK)

        @pytest.mark.llmeval(model="m", prompt="hi", messages=lambda case: [{"role": "user", "content": "hi"}])
        def test_both(answer):
            answer.check(OK)

        @pytest.mark.llmeval(model="m")
        def test_no_prompt(answer):
            answer.check(OK)

        @pytest.mark.llmeval(model="m", prompt="hi")
        def test_asks_instead(llm):
            llm.ask("hi").check(OK)

        @pytest.mark.llmeval(prompt="hi")
        def test_no_model(answer):
            answer.check(OK)
        """,
    )
    result = project.run("--llmeval-report=json", *mode)
    result.assert_outcomes(errors=4, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "test_wrong.py::test_missing_field[r0]: @pytest.mark.llmeval prompt: no field 'email' in the row "
            "(the row has: id, question)",
            "test_wrong.py::test_both: @pytest.mark.llmeval: messages= is the whole message list, "
            "so prompt= cannot be given with it",
            "test_wrong.py::test_no_prompt: the 'answer' fixture needs @pytest.mark.llmeval(prompt=\"...\") "
            "or messages=...",
            "test_wrong.py::test_asks_instead: @pytest.mark.llmeval: prompt= declares the case of the 'answer' "
            "fixture, but the test does not take it *",
            "test_wrong.py::test_no_model: no model: *",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert project.server.total_requests == 0  # nothing is planned or sent for a case that cannot run
    # A case that cannot run is recorded as an error, as with llm.ask.
    assert project.cases()["test_no_model"]["verdict"] == "error"


def test_a_missing_api_key_stops_the_run_once(project: Project, mode: list[str]) -> None:
    project.file(
        "test_key.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(model="m", prompt="hi")
        def test_one(answer):
            answer.check(graders.string_check(reference="ok", operation="eq"))

        @pytest.mark.llmeval(model="m", prompt="hello")
        def test_two(answer):
            answer.check(graders.string_check(reference="ok", operation="eq"))
        """,
    )
    result = project.run(*mode, base_url=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert output.count("OPENAI_API_KEY is not set") == 1, output
    assert "--llmeval-cache replay" in output
    assert project.server.total_requests == 0


def test_a_declared_case_runs_on_each_compared_model(project: Project, mode: list[str]) -> None:
    project.server.add_rule(None, lambda body: f"model {body['model']}")
    project.file(
        "test_models.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(prompt="Which model are you?", response_format={"type": "json_object"})
        def test_which(answer):
            answer.check(graders.string_check(reference="model", operation="like"))
        """,
    )
    result = project.run(
        "--llmeval-cache=off", "--llmeval-report=json", "--llmeval-model=a", "--llmeval-model=b", *mode
    )
    result.assert_outcomes(passed=2)
    assert sorted(r.body["model"] for r in project.server.requests) == ["a", "b"]
    assert sorted(project.cases()) == ["test_which@a", "test_which@b"]
    assert "requests: 2 planned, 0 from the cache, 2 sent" in result.stdout.str()


def test_a_declared_case_with_a_target_calls_the_target(project: Project) -> None:
    project.pytester.makeconftest(
        """
        import pytest

        def bot(case):
            return f"{case['input']} / {len(case['messages'])} messages / {case['row']['id']}"

        @pytest.fixture
        def llmeval_targets():
            return {"bot": bot}
        """
    )
    rows(project, 2)
    project.file(
        "test_target.py",
        """
        import pytest
        from pytest_llmeval import graders

        @pytest.mark.llmeval(target="bot", samples=2, system="Be kind.", prompt="Q: {question}")
        @pytest.mark.llmeval_dataset("data/rows.jsonl")
        def test_bot(answer, case):
            assert answer.texts == [f"Q: {case['question']} / 2 messages / {case['id']}"] * 2
            answer.check(graders.string_check(reference="Q:", operation="like"))
        """,
    )
    project.run("--llmeval-report=json").assert_outcomes(passed=2)
    assert project.server.total_requests == 0
    assert {c["samples"] for c in project.cases().values()} == {2}
