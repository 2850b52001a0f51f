"""The ``llm`` fixture: evals in plain pytest, without Gherkin.

::

    @pytest.mark.llmeval(samples=5, threshold=0.8, model="gpt-4.1-mini")
    def test_refund(llm):
        answer = llm.ask("How long do I have to get a refund?", system="You are a support bot.")
        answer.check(graders.string_check(reference="30 days", operation="ilike"))

``ask`` returns every sample's answer at once; ``check`` grades each sample with all the
graders and fails the test, with a table of the samples, when the pass rate is below
the threshold. Both halves are the case pipeline's (:mod:`pytest_llmeval._case.pipeline`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import pytest

from .._case import pipeline
from .._case.outcome import RECORD_KEY, conclude, fail, fails_test, keep
from .._case.spec import CaseSetupError, CaseSpec, resolve_model
from .._case.tools import ToolsError, tool_fields
from .._case.verdict import error_record, make_record, sample_record
from .._config.options import Settings
from .._config.parse import parse_samples
from .._core.records import EvalRecord, SampleRecord
from .._core.request import Generation, ToolCall
from ..graders._base import Grader, parse_json_answer
from .marker import base_spec, marked_case


class Answer(Sequence[str]):
    """Every sample's answer to one ``llm.ask``; a sequence of texts (errored samples are '')."""

    def __init__(self, llm: LLM, spec: CaseSpec, generations: list[Generation], where: str = "llm.ask") -> None:
        self._llm = llm
        self.spec = spec
        self._generations: list[Generation] | None = generations
        self._draw: Callable[[], list[Generation]] | None = None
        # Until check() grades it, an answer is owed a verdict (like an unawaited coroutine).
        llm.item.stash.setdefault(UNCHECKED_KEY, {})[id(self)] = where

    @classmethod
    def drawn_on_first_use(cls, llm: LLM, spec: CaseSpec, draw: Callable[[], list[Generation]]) -> Answer:
        """An answer whose samples are drawn when the test body first reads it.

        For a fixture whose draw failed at set-up: there pytest would report the failure
        without the case's record, and a missing API key would not stop the run; in the
        test body both are handled as for ``llm.ask``.
        """
        answer = cls(llm, spec, [], where="the 'answer' fixture")
        answer._generations, answer._draw = None, draw
        return answer

    @property
    def generations(self) -> list[Generation]:
        """One per sample: text or error, usage, latency, cached."""
        __tracebackhide__ = True
        if self._generations is None:
            assert self._draw is not None
            self._generations = self._draw()
        return self._generations

    @generations.setter
    def generations(self, value: list[Generation]) -> None:
        self._generations = value

    @property
    def texts(self) -> list[str]:
        return [g.text or "" for g in self.generations]

    @property
    def text(self) -> str:
        """The first sample's text (the only one when samples=1)."""
        return self.texts[0]

    @property
    def tool_calls(self) -> list[list[ToolCall]]:
        """Per sample, the functions the model called, in order, over every tool round: each with
        ``name``, ``arguments`` (parsed; None when not JSON), ``raw_arguments``, ``id``, ``result``."""
        return [list(g.tool_calls) for g in self.generations]

    @property
    def json(self) -> Any:
        """The first sample parsed as JSON (fenced blocks accepted); ValueError if it is not JSON."""
        ok, value, note = parse_json_answer(self.text)
        if not ok:
            raise ValueError(f"the answer is {note}: {self.text[:200]!r}")
        return value

    def __len__(self) -> int:
        return len(self.generations)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self.texts[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)

    def __str__(self) -> str:
        return self.text

    def check(self, *checks: Grader) -> EvalRecord:
        """Grade every sample with all ``checks``; fail the test when the case does not pass."""
        __tracebackhide__ = True
        self._llm.item.stash.get(UNCHECKED_KEY, {}).pop(id(self), None)
        self.spec.graders.extend(checks)
        runtime = self._llm.runtime
        samples = pipeline.sample_rounds(self.spec, runtime, first=self.generations)
        self.generations = self.generations + [_generation_of(s) for s in samples[len(self.generations) :]]
        record = make_record(self.spec, samples, runtime.engine.prices)
        return conclude(self._llm.item, record, runtime.settings)


class LLM:
    """Asks the model for the current test's case (see the module docstring)."""

    def __init__(self, request: pytest.FixtureRequest, runtime: pipeline.Runtime) -> None:
        self.item: pytest.Item = request.node
        self.runtime = runtime
        self.case = marked_case(self.item, runtime.settings)
        self.row: dict[str, Any] = dict(self.case.row)
        """The graders' ``item``: the dataset row (an OpenAI eval item replaces it)."""

    @property
    def case_id(self) -> str:
        return self.case.case_id

    @property
    def model(self) -> str | None:
        return self.case.model

    def ask(
        self,
        prompt: str,
        *,
        system: str | None = None,
        history: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        samples: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | str | Path | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        tool_results: Mapping[str, Any] | None = None,
        **parameters: Any,
    ) -> Answer:
        """Send ``prompt`` (with ``system`` and earlier turns) once per sample; return all answers.

        ``tools`` (an OpenAI tools array, or a JSON file next to the test) are offered to the
        model; a call is answered from ``tool_results`` (name -> result) or a
        ``@pytest_llmeval.tool`` function, and the model asked again (see docs/tools.md).
        """
        __tracebackhide__ = True
        problem = None
        try:
            offered = tool_fields(tools, tool_choice, tool_results, Path(str(self.item.path)).parent)
        except ToolsError as exc:
            problem = f"llm.ask at {_caller()}: {exc}"
        if problem is not None:
            fail(problem)
        spec = self.spec(
            model=resolve_model(self.runtime.settings, model, self.case.model, side_by_side=self.case.side_by_side),
            samples=parse_samples(str(samples)) if samples is not None else self.case.samples,
            adaptive_max=None if samples is not None else self.case.adaptive_max,
            system=system,
            history=[dict(m) for m in history],
            user=prompt,
            params={**self.case.parameters, **parameters},
            response_format=dict(response_format) if response_format is not None else None,
            target=self.case.target,
            **offered,
        )
        return Answer(self, spec, self.draw(spec), where=f"llm.ask at {_caller()}")

    def draw(self, spec: CaseSpec) -> list[Generation]:
        """Every sample of ``spec``, kept as the test's (ungraded) record; a set-up problem fails the test.

        ``ask`` and the ``answer`` fixture both draw here, so a case is recorded the same
        way however it was written.
        """
        __tracebackhide__ = True
        problem = None
        try:
            generations = pipeline.draw(spec, self.runtime)
        except CaseSetupError as exc:
            problem = f"{self.item.nodeid}: {exc}"
        if problem is not None:
            keep(self.item, error_record(spec, problem))
            fail(problem)
        # Until check() is called the case is recorded ungraded, so an errored request still shows.
        ungraded = [sample_record(i, g, []) for i, g in enumerate(generations)]
        keep(self.item, make_record(spec, ungraded, self.runtime.engine.prices))
        return generations

    def spec(self, **fields: Any) -> CaseSpec:
        """A case of this test: its id, row, threshold and judge, with ``fields`` on top."""
        return base_spec(self.item, self.case, self.runtime.settings, **{"row": self.row, **fields})


UNCHECKED_KEY = pytest.StashKey[dict[int, str]]()


def unchecked(item: pytest.Item) -> str | None:
    """What a test that ended without grading its answers must be told, or None."""
    left = item.stash.get(UNCHECKED_KEY, {})
    if not left:
        return None
    places = "; ".join(sorted(set(left.values())))
    return (
        f"{item.nodeid}: {places}: the answer was never checked, so nothing graded it: "
        "call .check(...) on it (or give --llmeval-unchecked=warn)"
    )


def after_test(item: pytest.Item, settings: Settings) -> None:
    """After the test body: an answer nobody checked fails the test (or warns, if asked)."""
    __tracebackhide__ = True
    message = unchecked(item)
    record = item.stash.get(RECORD_KEY, None)
    if message is None or (record is not None and fails_test(record, settings)):
        return  # a case that fails anyway shows its own table
    if settings.unchecked == "warn":
        warnings.warn(UncheckedAnswerWarning(message), stacklevel=1)
    else:
        fail(message)


class UncheckedAnswerWarning(UserWarning):
    """An ``llm.ask`` answer that no ``check`` graded."""


def _caller() -> str:
    """``test_x.py:12``: where the test called ``ask`` (the first frame outside this package)."""
    frame = sys._getframe(2)
    package = str(Path(__file__).resolve().parent.parent)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "?"
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"


def _generation_of(sample: SampleRecord) -> Generation:
    """The answer of a sample drawn in a later adaptive round, for ``Answer.texts``."""
    calls = tuple(ToolCall.load(c.model_dump()) for c in sample.tool_calls)
    return Generation(
        text=sample.answer,
        error=sample.error if sample.answer is None else None,
        cached=sample.cached,
        tool_calls=calls,
    )
