"""Graders: callables ``grader(sample, item) -> Grade``, the same shape as OpenAI's graders.

Each factory returns a grader you can call alone, which is how to try one out::

    from pytest_llmeval import graders

    sample = graders.make_sample('{"sku": "A-1", "quantity": 3}')
    graders.json_pointer("/quantity", 3)(sample, {}).passed            # True
    graders.string_check("a-1", "ilike")(sample, {}).reason             # "answer contains 'a-1' (any case)"
    graders.json_schema("schemas/order.json")(sample, {})               # Grade(passed=..., reason=...)
    graders.tool_call("get_weather", arguments={"city": "Paris"})       # what the model did (output_tools)

A failing grade is a value, never an exception; a grader set up wrongly (a bad schema,
an unimportable model) raises :class:`GraderConfigError` when it is built.
"""

from __future__ import annotations

from ._base import FunctionGrader, Grade, Grader, GraderConfigError, Item, Sample, make_sample
from ._custom import named
from ._json import json_pointer, json_schema, valid_json
from ._judge import JudgeGrader, label_model, score_model
from ._multi import multi
from ._pydantic import pydantic_model
from ._python import python_grader
from ._similarity import text_similarity
from ._string import one_of, regex, string_check
from ._tools import no_tool_call, tool_call, tool_sequence

__all__ = [
    "FunctionGrader",
    "Grade",
    "Grader",
    "GraderConfigError",
    "Item",
    "JudgeGrader",
    "Sample",
    "json_pointer",
    "json_schema",
    "label_model",
    "make_sample",
    "multi",
    "named",
    "no_tool_call",
    "one_of",
    "pydantic_model",
    "python_grader",
    "regex",
    "score_model",
    "string_check",
    "text_similarity",
    "tool_call",
    "tool_sequence",
    "valid_json",
]
