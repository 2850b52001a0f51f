"""pytest-llmeval: LLM evals as ordinary pytest tests.

::

    import pytest
    from pytest_llmeval import graders

    @pytest.mark.llmeval(samples=5, threshold=0.8, model="gpt-4.1-mini")
    def test_refund(llm):
        llm.ask("How long do I have to get a refund?").check(
            graders.string_check(reference="30 days", operation="ilike"))

Feature files use the step library instead (see docs/steps.md). Everything importable
from this module is public; the underscored modules are free to change.
"""

from __future__ import annotations

from . import graders
from ._case.targets import target
from ._case.tools import tool
from ._core.records import EvalRecord, GradeRecord, RunReport, SampleRecord
from ._core.version import VERSION
from ._python.llm import LLM, Answer
from .graders import Grade, Sample
from .graders._custom import grader

__version__ = VERSION

__all__ = [
    "LLM",
    "Answer",
    "EvalRecord",
    "Grade",
    "GradeRecord",
    "RunReport",
    "Sample",
    "SampleRecord",
    "__version__",
    "grader",
    "graders",
    "target",
    "tool",
]
