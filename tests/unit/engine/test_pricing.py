from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmeval._engine.pricing import BUILT_IN, Price, PriceTable, PriceTableError


def test_lookup_exact_fine_tuned_and_snapshot() -> None:
    table = PriceTable(BUILT_IN)
    assert table.lookup("gpt-4.1-mini") == BUILT_IN["gpt-4.1-mini"]
    assert table.lookup("ft:gpt-4.1-mini:acme:support:7p4lURel") == BUILT_IN["ft:gpt-4.1-mini"]
    assert table.lookup("ft:gpt-4.1-mini-2025-04-14:acme::abc:ckpt-step-10") == BUILT_IN["ft:gpt-4.1-mini"]
    assert table.lookup("gpt-4.1-mini-2025-04-14") == BUILT_IN["gpt-4.1-mini"]
    assert table.lookup("llama3") is None


def test_cost() -> None:
    assert Price(2.0, 8.0).cost(1_000_000, 500_000) == 6.0
    assert PriceTable({}).cost("x", 1, 1) is None


def test_file_replaces_built_in_prices(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"gpt-4.1-mini": {"input": 1, "output": 2}, "llama3": {"input": 0}}')
    table = PriceTable.load(path)
    assert table.lookup("gpt-4.1-mini") == Price(1.0, 2.0)
    assert table.lookup("llama3") == Price(0.0, 0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops", r"prices\.json:1: not valid JSON"),
        ("[1]", r"expected an object"),
        ('{"m": {"output": 1}}', r"entry 'm' must be"),
    ],
)
def test_bad_price_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(PriceTableError, match=message):
        PriceTable.load(path)
