"""Headless Chromium for the HTML report's tests: found, or installed as root, or the tests skip saying why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import Browser, Page, ensure_chromium, launched


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium per worker (installed with apt-get when missing and allowed)."""
    executable, why = ensure_chromium()
    if executable is None:
        pytest.skip(why)
    with launched(executable) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab, 1280 x 900."""
    tab = browser.new_page()
    yield tab
    tab.close()
