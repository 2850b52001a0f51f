"""The ``llm`` fixture: evals in plain pytest, without Gherkin.

::

    @pytest.mark.llmeval(samples=5, threshold=0.8, model="gpt-4.1-mini")
    def test_refund(llm):
        answer = llm.ask("How long do I have to get a refund?", system="You are a support bot.")
        answer.check(graders.string_check(reference="30 days", operation="ilike"))

``ask`` returns every sample's answer at once; ``check`` grades each sample with all the
graders and fails the test, with a table of the samples, when the pass rate is below
the threshold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import pytest

from .._bdd.scenario import MODEL_FIXTURE, relative, resolve_model, sample_plan, with_model
from .._case.case import CaseSetupError, CaseSpec, error_record, fail, failure_text, make_record, sample_record
from .._case.dataset import DatasetRow
from .._config.options import Settings, parse_samples, parse_threshold
from .._core.records import EvalRecord, SampleRecord
from .._core.request import Generation
from .._engine.client import MissingAPIKeyError
from .._engine.pricing import PriceTable
from .._run.session import RECORD_KEY, RunState, Target, _from_target, fails_test, sample_rounds, state_of, stop_run
from ..graders._base import Grader, parse_json_answer

_MARK_KEYS = {"samples", "threshold", "model", "parameters", "target", "judge_model"}


class Answer(Sequence[str]):
    """Every sample's answer to one ``llm.ask``; a sequence of texts (errored samples are '')."""

    def __init__(self, llm: LLM, spec: CaseSpec, generations: list[Generation]) -> None:
        self._llm = llm
        self.spec = spec
        self.generations = generations
        """One per sample: text or error, usage, latency, cached."""

    @property
    def texts(self) -> list[str]:
        return [g.text or "" for g in self.generations]

    @property
    def text(self) -> str:
        """The first sample's text (the only one when samples=1)."""
        return self.texts[0]

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
        self.spec.graders.extend(checks)
        samples = self._llm.grade(self.spec, self.generations)
        self.generations = self.generations + [_generation_of(s) for s in samples[len(self.generations) :]]
        record = make_record(self.spec, samples, self._llm.prices)
        self._llm.record(record)
        if fails_test(record, self._llm.settings):
            fail(failure_text(record))
        return record


class LLM:
    """Asks the model for the current test's case (see the module docstring)."""

    def __init__(self, request: pytest.FixtureRequest, state: RunState) -> None:
        self._request = request
        self._state = state
        item = request.node
        marker = item.get_closest_marker("llmeval")
        options: dict[str, Any] = dict(marker.kwargs) if marker else {}
        unknown = set(options) - _MARK_KEYS
        if unknown:
            fail(f"{item.nodeid}: unknown llmeval marker argument(s) {sorted(unknown)}; use {sorted(_MARK_KEYS)}")
        try:
            self.samples, self.adaptive_max = sample_plan(options.get("samples"), state.settings)
            self.threshold = parse_threshold(str(options.get("threshold", state.settings.threshold)))
        except ValueError as exc:
            fail(f"{item.nodeid}: @pytest.mark.llmeval: {exc}")
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        side_by_side = params.get(MODEL_FIXTURE)
        self.side_by_side = side_by_side if isinstance(side_by_side, str) else None
        self.model = resolve_model(state.settings, options.get("model"), side_by_side=self.side_by_side)
        self.parameters: dict[str, Any] = dict(options.get("parameters") or {})
        self.target: str | None = options.get("target")
        self.judge_model: str | None = options.get("judge_model")
        self.row: dict[str, Any] = {}
        base = item.name
        row = params.get("_llmeval_row")
        if isinstance(row, DatasetRow):
            self.row = dict(row.row)
            base = f"{getattr(item, 'originalname', item.name)}[{row.case_id}]"
        if self.side_by_side is not None:
            model = self.side_by_side
            base = base.replace(f"-{model}]", "]").replace(f"[{model}-", "[").replace(f"[{model}]", "")
        self.case_id = with_model(base, self.side_by_side)

    def ask(
        self,
        prompt: str,
        *,
        system: str | None = None,
        history: Sequence[Mapping[str, Any]] = (),
        model: str | None = None,
        samples: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        **parameters: Any,
    ) -> Answer:
        """Send ``prompt`` (with ``system`` and earlier turns) once per sample; return all answers."""
        __tracebackhide__ = True
        item = self._request.node
        path = Path(str(item.path))
        spec = CaseSpec(
            case_id=self.case_id,
            nodeid=item.nodeid,
            group=relative(path, self._request.config.rootpath),
            base_dir=path.parent,
            row=self.row,
            model=resolve_model(self._state.settings, model, self.model, side_by_side=self.side_by_side),
            samples=parse_samples(str(samples)) if samples is not None else self.samples,
            adaptive_max=None if samples is not None else self.adaptive_max,
            strict_stats=self._state.settings.strict_stats,
            side_by_side=self.side_by_side,
            threshold=self.threshold,
            system=system,
            history=[dict(m) for m in history],
            user=prompt,
            params={**self.parameters, **parameters},
            response_format=dict(response_format) if response_format is not None else None,
            target=self.target,
        )
        problem = missing_key = None
        try:
            if spec.target is not None:
                targets: Mapping[str, Target] = self._request.getfixturevalue("llmeval_targets")
                generations = _from_target(spec, targets)
            else:
                generations = self._state.engine.generate(spec.requests())
        except CaseSetupError as exc:
            problem = f"{item.nodeid}: {exc}"
        except MissingAPIKeyError as exc:
            missing_key = str(exc)
        if missing_key is not None:
            stop_run(item, missing_key)
        if problem is not None:
            self.record(error_record(spec, problem))
            fail(problem)
        answer = Answer(self, spec, generations)
        # Until check() is called the case is recorded ungraded, so an errored request still shows.
        ungraded = [sample_record(i, g, []) for i, g in enumerate(generations)]
        self.record(make_record(spec, ungraded, self.prices))
        return answer

    def grade(self, spec: CaseSpec, generations: list[Generation]) -> list[SampleRecord]:
        """Grade the answers (drawing more rounds for an adaptive case) through the run's engine."""
        spec.judge_model = spec.judge_model or self.judge_model
        targets = self._request.getfixturevalue("llmeval_targets") if spec.target is not None else None
        return sample_rounds(self._state, spec, targets, first=generations)

    @property
    def settings(self) -> Settings:
        return self._state.settings

    @property
    def prices(self) -> PriceTable:
        return self._state.engine.prices

    def record(self, record: EvalRecord) -> None:
        self._request.node.stash[RECORD_KEY] = record


def _generation_of(sample: SampleRecord) -> Generation:
    """The answer of a sample drawn in a later adaptive round, for ``Answer.texts``."""
    return Generation(text=sample.answer, error=sample.error if sample.answer is None else None, cached=sample.cached)


def make_llm(request: pytest.FixtureRequest) -> LLM:
    return LLM(request, state_of(request.config))


def case_row(request: pytest.FixtureRequest, row: object) -> dict[str, Any]:
    """The dataset row of the current test (see the ``llmeval_dataset`` marker)."""
    if not isinstance(row, DatasetRow):
        fail(f"{request.node.nodeid}: the 'case' fixture needs @pytest.mark.llmeval_dataset(\"path\")")
    return dict(row.row)


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests marked ``llmeval_dataset`` (paths relative to the test module)."""
    from .._bdd.scenario import ROW_FIXTURE, dataset_params

    marker = metafunc.definition.get_closest_marker("llmeval_dataset")
    if marker is None:
        return
    if not marker.args or not isinstance(marker.args[0], str | Path):
        fail(f'{metafunc.definition.nodeid}: use @pytest.mark.llmeval_dataset("path")')
    if ROW_FIXTURE not in metafunc.fixturenames:
        fail(f"{metafunc.definition.nodeid}: @pytest.mark.llmeval_dataset needs the test to take the 'case' fixture")
    path = Path(str(metafunc.definition.path)).parent / marker.args[0]
    where = f"{metafunc.definition.nodeid}: llmeval_dataset({str(marker.args[0])!r})"
    metafunc.parametrize(ROW_FIXTURE, dataset_params(path, where))
