"""Prompt variants side by side: every eval test parametrized over the repeated ``--llmeval-prompt-variant``.

The check a team runs before changing a prompt::

    pytest --llmeval-prompt-variant current= --llmeval-prompt-variant terse=prompts/terse.md

Parametrized before the models (:mod:`.models`), so a grid's test ids read
``[terse-gpt-4.1-mini]`` and its case ids ``case@terse@gpt-4.1-mini``. Which tests are
evals is the front ends' to say (the plugin passes their predicates).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from .._case.params import VARIANT_FIXTURE
from .models import IsEval
from .state import state_of


def generate_tests(metafunc: pytest.Metafunc, is_eval: Sequence[IsEval]) -> None:
    """With several variants, parametrize every eval test over their names (one variant swaps without)."""
    variants = state_of(metafunc.config).settings.prompt_variants
    if len(variants) < 2 or not any(check(metafunc) for check in is_eval):
        return
    if VARIANT_FIXTURE not in metafunc.fixturenames:
        # The closure list is the items' fixture list too: the parameter reaches every item.
        metafunc.fixturenames.append(VARIANT_FIXTURE)
    names = [v.name for v in variants]
    metafunc.parametrize(VARIANT_FIXTURE, names, ids=names)
