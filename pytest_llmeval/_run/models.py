"""Models side by side: every eval test parametrized over the repeated ``--llmeval-model``.

The check a team runs before switching to a fine-tuned model::

    pytest --llmeval-model gpt-4.1-mini --llmeval-model ft:gpt-4.1-mini:acme:support:7p4lURel

Which tests are evals is the front ends' to say (the plugin passes their predicates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from .._case.params import MODEL_FIXTURE
from .state import state_of

IsEval = Callable[[pytest.Metafunc], bool]


def generate_tests(metafunc: pytest.Metafunc, is_eval: Sequence[IsEval]) -> None:
    """With several models, parametrize every eval test over them (ids are the model names)."""
    models = state_of(metafunc.config).settings.models
    if len(models) < 2 or not any(check(metafunc) for check in is_eval):
        return
    if MODEL_FIXTURE not in metafunc.fixturenames:
        # The closure list is the items' fixture list too: the parameter reaches every item.
        metafunc.fixturenames.append(MODEL_FIXTURE)
    metafunc.parametrize(MODEL_FIXTURE, list(models), ids=list(models))
