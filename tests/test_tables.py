"""Terminal tables never cut a number: at 80, 120 and 200 columns every cell shown is whole."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console

import stecheck
from stecheck.cli.render import SIMULATE_CAPTION, simulate_columns
from stecheck.cli.tables import Column, fit, print_table
from stecheck.cli.weights import print_summary
from tests.conftest import SEED

WIDTHS = (80, 120, 200)
NUMBER = re.compile(r"^-?\d")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    # long specs, every default step, both schemes: the widest table the simulate command makes
    return stecheck.simulate(["mix(0.7*normal(0.5,0.1),0.3*uniform(0,1))", "clip(normal(0.3,0.4))", "onthreshold(0.1)"],
                             bits="1,8", samples=5000, seed=SEED)


def render(columns: list[Column], width: int, wide: bool = False) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    print_table(console, "stecheck simulate: adhoc (seed 1234567890123456789)", columns, wide, SIMULATE_CAPTION)
    return console.export_text()


def cells_of(text: str) -> list[str]:
    """Every table cell of the rendered text (between box-drawing bars), stripped."""
    return [cell.strip() for line in text.splitlines() if line.startswith(("│", "┃")) for cell in re.split("[│┃]", line)[1:-1]]


@pytest.mark.parametrize("width", WIDTHS)
def test_simulate_table_keeps_every_number_whole(records, width: int) -> None:
    columns = simulate_columns(records)
    text = render(columns, width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    shown, hidden = fit(columns, width)
    rendered = set(cells_of(text))
    for col in shown:
        if col.text:
            continue
        for cell in col.cells:  # a number cell is on one line, whole
            assert cell in rendered, (col.header, cell, width)
    assert "input" in [c.header for c in shown] and "E[n] ± SE" in [c.header for c in shown]
    for col in hidden:
        assert col.header in " ".join(text.split())  # the caption names what is not shown


def test_wide_shows_every_column_without_cutting(records) -> None:
    columns = simulate_columns(records)
    text = render(columns, 80, wide=True)
    assert "…" not in text
    rendered = set(cells_of(text))
    for col in columns:
        if not col.text:
            assert set(col.cells) <= rendered, col.header


@pytest.mark.parametrize("width", WIDTHS)
def test_weights_tables_keep_every_number_whole(width: int) -> None:
    from stecheck.weights import scan
    from stecheck.weights.tensors import TensorRef, array_reader

    rng = np.random.default_rng(SEED)
    arrays = {f"encoder.layer.{i}.attention.output.dense.weight": rng.normal(0, 0.05, (64, 32)).astype(np.float32) for i in range(3)}
    tensors = [TensorRef(name, a.shape, a.dtype, array_reader(a)) for name, a in arrays.items()]
    records = scan("test", tensors, tuple(range(1, 9)), (1e-3,), "dorefa")
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    print_summary(console, records, "stecheck weights: test (dorefa)")
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for token in " ".join(cells_of(text)).split():
        if NUMBER.match(token) and ":" in token:
            k, value = token.split(":", 1)
            assert re.fullmatch(r"\d+", k) and re.fullmatch(r"-?[\d.]+(e[-+]\d+)?", value), token


@pytest.mark.parametrize("width", WIDTHS)
def test_audit_table_never_cuts_a_number(width: int) -> None:
    import json
    from pathlib import Path

    from stecheck.cli.audit import _numbers, audit_table

    records = json.loads((Path(__file__).resolve().parents[1] / "results" / "audit" / "records.json").read_text())["records"]
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(audit_table(records, "stecheck audit", width))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    bars = 7 if width >= 160 else (6 if width >= 100 else 5)
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert rows and all(line.count("│") == bars and line.endswith("│") for line in rows)  # no column cropped
    column = " ".join(line.split("│")[4 if bars == 5 else 5] for line in rows)  # the numbers column
    words = set(column.split())
    for rec in records:  # every number of the decisive-numbers column is on one line, whole
        for word in _numbers(rec).split():
            if NUMBER.match(word):
                assert word in words, (rec["step"], word, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_check_table_never_cuts_a_number(width: int) -> None:
    import json
    from pathlib import Path

    from stecheck.cli.check import verdict_table
    from stecheck.records import fmt

    records = json.loads((Path(__file__).resolve().parents[1] / "results" / "check" / "bounds.json").read_text())["records"]
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(verdict_table(records, "stecheck check: experiments/bounds.toml", width))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    cells = set(cells_of(text))
    for rec in records:
        assert fmt(rec["value"]) in cells and rec["k"] is not None


@pytest.mark.parametrize("width", WIDTHS)
def test_phase_tables_never_cut_a_number(width: int) -> None:
    import json
    from pathlib import Path

    from stecheck.cli.phase import rule_table, spot_table

    root = Path(__file__).resolve().parents[1] / "results" / "phase"
    spots = json.loads((root / "spot" / "records.json").read_text())["records"]
    rules = json.loads((root / "records.json").read_text())["records"]
    for table in (spot_table(spots, width), rule_table(rules, None)):
        console = Console(width=width, record=True, color_system=None, file=io.StringIO())
        console.print(table)
        text = console.export_text()
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
