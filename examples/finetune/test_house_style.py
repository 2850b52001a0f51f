"""Binds features/house_style.feature: the suite of the fine-tuning loop (see ../README.md)."""

from pytest_bdd import scenarios

scenarios("features")
