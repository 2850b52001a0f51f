"""What :func:`declared_case` makes of a test's ``@pytest.mark.llmeval(prompt=..., ...)``.

It is the one builder of a declared case, used by the planner and by the ``answer``
fixture alike, so these tests pin the request it builds and the one-line errors it
raises. Items are real (pytester collects a small module, with the plugin's dataset
parametrization), as in a run.
"""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from pytest_llmeval._case.spec import CaseSpec
from pytest_llmeval._python.declare import DeclarationError, declared_case, planned_case
from pytest_llmeval._python.marker import marked_case
from pytest_llmeval._run.state import state_of


def items(pytester: pytest.Pytester, source: str, *args: str) -> dict[str, pytest.Item]:
    module = pytester.getmodulecol(textwrap.dedent(source), configargs=("-p", "no:cacheprovider", *args))
    return {item.name: item for item in pytester.genitems([module])}


def declared(pytester: pytest.Pytester, source: str, *args: str) -> dict[str, CaseSpec | None]:
    """Every collected item's declared case, by test name."""
    return {
        name: declared_case(item, state_of(item.config).settings)
        for name, item in items(pytester, source, *args).items()
    }


def only(pytester: pytest.Pytester, marker: str, *, dataset: bool = False) -> CaseSpec:
    """The declared case of one test marked ``@pytest.mark.llmeval({marker})``."""
    source = f"import pytest\n\n@pytest.mark.llmeval({marker})\n"
    if dataset:
        source += '@pytest.mark.llmeval_dataset("rows.jsonl")\ndef test_x(answer, case):\n    pass\n'
    else:
        source += "def test_x(answer):\n    pass\n"
    (spec,) = declared(pytester, source).values()
    assert spec is not None
    return spec


def error(pytester: pytest.Pytester, marker: str, *, dataset: bool = False) -> str:
    with pytest.raises(DeclarationError) as excinfo:
        only(pytester, marker, dataset=dataset)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


ROWS = '{"id": "r1", "question": "What is 2+2?", "n": 7}\n'


def test_a_prompt_and_the_marker_settings_make_the_case(pytester: pytest.Pytester) -> None:
    spec = only(
        pytester,
        'model="m", samples=3, threshold=0.5, parameters={"temperature": 0.2}, judge_model="j", '
        'system="Be brief.", prompt="How long for a refund?", response_format={"type": "json_object"}',
    )
    assert (spec.case_id, spec.model, spec.samples, spec.threshold, spec.judge_model) == ("test_x", "m", 3, 0.5, "j")
    assert spec.messages() == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How long for a refund?"},
    )
    requests = spec.requests()
    assert [r.sample_index for r in requests] == [0, 1, 2]
    assert requests[0].params == {"temperature": 0.2}
    assert requests[0].response_format == {"type": "json_object"}
    assert spec.target is None and spec.graders == []


def test_placeholders_are_filled_from_the_row_with_format_map(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", rows=ROWS)
    spec = only(pytester, 'model="m", system="Case {id}: use {{braces}}.", prompt="{question} ({n:03d})"', dataset=True)
    assert spec.case_id == "test_x[r1]"
    assert spec.system == "Case r1: use {braces}."
    assert spec.user == "What is 2+2? (007)"
    assert spec.row == {"id": "r1", "question": "What is 2+2?", "n": 7}


def test_a_callable_prompt_and_system_get_the_row_as_a_dict(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", rows=ROWS)
    spec = only(
        pytester,
        'model="m", prompt=lambda case: case["question"].upper(), system=lambda case: f"{sorted(case)}"',
        dataset=True,
    )
    assert spec.user == "WHAT IS 2+2?"
    assert spec.system == "['id', 'n', 'question']"


def test_callable_messages_are_the_whole_list_sent_as_given(pytester: pytest.Pytester) -> None:
    turns = [
        {"role": "system", "content": "You are support."},
        {"role": "user", "content": "My kettle broke."},
        {"role": "assistant", "content": "Refund or replacement?"},
        {"role": "user", "content": "A replacement."},
    ]
    spec = only(pytester, f'model="m", messages=lambda case: {turns!r}')
    assert list(spec.messages()) == turns
    assert spec.system == "You are support." and spec.user == "A replacement."
    assert spec.history == turns[1:3]


def test_a_system_message_with_more_than_role_and_content_is_kept_whole(pytester: pytest.Pytester) -> None:
    turns = [{"role": "system", "content": "Hi", "name": "acme"}, {"role": "user", "content": "Hello"}]
    spec = only(pytester, f'model="m", messages=lambda case: {turns!r}')
    assert list(spec.messages()) == turns
    assert spec.system is None


def test_no_prompt_or_messages_declares_nothing(pytester: pytest.Pytester) -> None:
    found = declared(
        pytester,
        """
        import pytest

        @pytest.mark.llmeval(model="m", samples=2)
        def test_marked(answer):
            pass

        def test_unmarked(answer):
            pass
        """,
    )
    assert found == {"test_marked": None, "test_unmarked": None}


def test_a_missing_field_names_the_test_the_field_and_the_row(pytester: pytest.Pytester) -> None:
    pytester.makefile(".jsonl", rows=ROWS)
    message = error(pytester, 'model="m", prompt="Hello {email}"', dataset=True)
    assert message == (
        "test_a_missing_field_names_the_test_the_field_and_the_row.py::test_x[r1]: "
        "@pytest.mark.llmeval prompt: no field 'email' in the row (the row has: id, question, n)"
    )


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ('prompt="Hi {name}"', "@pytest.mark.llmeval prompt: no field 'name' in the row (the test has no dataset row)"),
        ('prompt="hi", system="{who.name}"', "@pytest.mark.llmeval system: no field 'who' in the row"),
        ('prompt="Return {}"', "a placeholder must name a field of the row, like {question}, not {}"),
        ('prompt="a } b"', "cannot fill the placeholders: Single '}' encountered in format string"),
        ('prompt=lambda case: case["x"]', "@pytest.mark.llmeval prompt: the callable raised KeyError: 'x'"),
        ("prompt=lambda case: 42", "@pytest.mark.llmeval prompt: the callable returned int; expected str"),
        ("prompt=42", "expected a string with {field} placeholders or a callable (case) -> str, got int"),
        ('system="Be brief."', "@pytest.mark.llmeval: system= needs prompt= (the user message), or give messages="),
        (
            'prompt="hi", messages=lambda case: []',
            "@pytest.mark.llmeval: messages= is the whole message list, so prompt= cannot be given with it",
        ),
        (
            'system="s", messages=lambda case: []',
            "@pytest.mark.llmeval: messages= is the whole message list, so system= cannot be given with it",
        ),
        ('messages=[{"role": "user", "content": "hi"}]', "messages: expected a callable (case) -> ..., got list"),
        ("messages=lambda case: []", "messages: expected a non-empty list of {role, content} messages, got []"),
        ('messages=lambda case: ["hi"]', "messages: message 0 is not a {role, content} dict: 'hi'"),
        (
            'messages=lambda case: [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]',
            "messages: the last message must be the user's, {'role': 'user', 'content': '...'}; got {'role': 'assi",
        ),
        ('prompt="hi", response_format="json"', "response_format= expects a dict such as {'type': 'json_object'}"),
    ],
)
def test_a_declaration_mistake_is_one_line_naming_the_test(
    pytester: pytest.Pytester, marker: str, problem: str
) -> None:
    message = error(pytester, f'model="m", {marker}')
    assert message.split(": ", 1)[0].endswith(".py::test_x")
    assert problem in message


def test_declaring_keys_without_taking_answer_fails_the_llm_fixture(pytester: pytest.Pytester) -> None:
    (item,) = items(
        pytester,
        'import pytest\n\n@pytest.mark.llmeval(model="m", prompt="hi", system="s")\ndef test_x(llm):\n    pass\n',
    ).values()
    with pytest.raises(pytest.fail.Exception) as excinfo:
        marked_case(item, state_of(item.config).settings)
    assert str(excinfo.value.msg) == (
        f"{item.nodeid}: @pytest.mark.llmeval: prompt= and system= declare the case of the "
        "'answer' fixture, but the test does not take it (llm.ask has its own prompt, system= and response_format=)"
    )


def test_the_planner_plans_exactly_the_declared_case(pytester: pytest.Pytester) -> None:
    found = items(
        pytester,
        """
        import pytest

        @pytest.mark.llmeval(model="m", samples="auto:12", prompt="hi")
        def test_planned(answer):
            pass

        @pytest.mark.llmeval(model="m", prompt="hi")
        def test_asks(llm, answer):
            pass
        """,
    )
    for item in found.values():
        settings = state_of(item.config).settings
        planned, built = planned_case(item, settings), declared_case(item, settings)
        assert planned is not None and planned == built
    planned = planned_case(found["test_planned"], state_of(found["test_planned"].config).settings)
    assert planned is not None and (planned.samples, planned.adaptive_max) == (5, 12)  # the first round


def test_the_planner_leaves_what_it_cannot_plan_to_the_test(pytester: pytest.Pytester) -> None:
    found = items(
        pytester,
        """
        import pytest

        @pytest.mark.llmeval(model="m")
        def test_no_prompt(answer):
            pass

        @pytest.mark.llmeval(prompt="hi")
        def test_no_model(answer):
            pass

        @pytest.mark.llmeval(model="m", prompt="{missing}")
        def test_missing_field(answer):
            pass

        @pytest.mark.llmeval(model="m", prompt="hi", samples=0)
        def test_bad_marker(answer):
            pass

        @pytest.mark.llmeval(model="m", prompt="hi")
        def test_not_declared(llm):
            pass

        def test_plain():
            pass
        """,
    )
    assert {name: planned_case(item, state_of(item.config).settings) for name, item in found.items()} == dict.fromkeys(
        found
    )


def test_a_target_case_differs_only_in_its_target(pytester: pytest.Pytester) -> None:
    found = declared(
        pytester,
        """
        import pytest

        @pytest.mark.llmeval(model="m", prompt="hi {{x}}", system="s", target="rag")
        def test_target(answer):
            pass

        @pytest.mark.llmeval(model="m", prompt="hi {{x}}", system="s")
        def test_model(answer):
            pass
        """,
    )
    target, model = found["test_target"], found["test_model"]
    assert target is not None and model is not None and target.target == "rag"
    assert dataclasses.replace(target, target=None, case_id=model.case_id, nodeid=model.nodeid) == model
