"""Bind every feature file under features/ to pytest: each scenario (x Examples row x dataset row) is a test.

All steps used in the feature files come from pytest-llmeval's step library.
"""

from pytest_bdd import scenarios

scenarios("features")
