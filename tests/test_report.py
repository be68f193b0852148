"""The one-page report: verdicts from the recorded standard errors, tables from records, figures, provenance."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import invoke
from plots_fixtures import SEED, VARIANTS_CONFIG, write_simulate, write_weights

from stecheck.plots.runs import plot_run
from stecheck.report import build_report, rejects


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    found = {
        "simulate": write_simulate(root / "small"),
        "variants": write_simulate(root / "variants", VARIANTS_CONFIG),
        "weights": write_weights(root / "weights"),
    }
    plot_run(found["simulate"], dpi=30)
    return found


def test_rejects_uses_the_recorded_standard_error():
    assert rejects(1.1, 1.0, 0.01) is True  # 10 SE away
    assert rejects(1.1, 1.0, 0.05) is False  # 2 SE away
    assert rejects(0.0, 1.0, 0.0) is True  # no noise: any gap is real
    assert rejects(1.0, 1.0, 0.0) is False
    assert rejects(None, 1.0, 0.1) is None


def _row(markdown: str, *cells: str) -> str:
    pattern = re.compile(r"^\| " + r" \| ".join(re.escape(c) for c in cells) + r" \|.*$", re.M)
    found = pattern.findall(markdown)
    assert len(found) == 1, (cells, found)
    return found[0]


def test_simulate_verdicts_and_tables(runs):
    text = build_report([runs["simulate"]], relative_to=runs["simulate"].parent).to_markdown()
    # onlevel(0.4): E[D_h] = 0 with zero variance at every k -> rejected everywhere; E[n] = 0 exactly
    assert _row(text, "`onlevel(0.4)`", "none", "1, 2, 3")
    # uniform(0,1): n is exactly uniform at every k -> E[D_h] = 1 and E[n] = 0 (20,000 samples, z = 5)
    assert _row(text, "`uniform(0,1)`", "none", "none")
    # normal(0.3,0.1): exact E[n] = -0.277 (k = 1), 0.032 (k = 2), -1e-5 (k = 3); exact E[D_h] at h = 0.1:
    # 1.36, 0.72, 1.000 -- each rejected value is over 10 SE away, each kept one within 1 SE
    assert _row(text, "`normal(0.3,0.1)`", "1, 2", "1, 2")
    # the key table shows the recorded values at the largest h <= 1/L
    assert "| `uniform(0,1)` | 2 | " in text and "| 0.1 | " in _row(text, "`uniform(0,1)`", "2")
    assert f"seed `{SEED}`" in text and "date 20" in text
    assert "![slope vs h](small/figures/slope_vs_h.png)" in text


def test_variants_and_weights_sections(runs):
    text = build_report([runs["variants"], runs["weights"]], relative_to=runs["variants"].parent).to_markdown()
    # stochastic rounding and dither: slope 1 at every point; half-even: slope 0 or 1/(L h) != 1 at every point
    assert _row(text, "2", "half-even", "11", "11")
    assert _row(text, "2", "stochastic", "11", "0")
    assert _row(text, "2", "dither", "11", "0")
    assert "`conv1.weight` | 1 | 0 | 1 |" in text  # E[D_h] = 0 is shown as recorded
    assert "No figures yet: run `stecheck plot" in text


def test_unknown_kind_is_listed_not_summarised(tmp_path):
    run_dir = tmp_path / "audit"
    run_dir.mkdir()
    (run_dir / "records.json").write_text('{"meta": {"command": "audit", "seed": "7"}, "records": [{"step": 1}]}')
    text = build_report([run_dir], relative_to=tmp_path).to_markdown()
    assert "1 records of kind `audit`: not summarised here." in text and "seed `7`" in text


def test_cli_report_markdown_and_html(runs, runner, tmp_path):
    md = tmp_path / "out" / "report.md"
    result = invoke(runner, "report", str(runs["simulate"]), "--out", str(md))
    assert result.exit_code == 0, result.stderr
    text = md.read_text()
    image = re.search(r"!\[slope vs h\]\(([^)]+)\)", text).group(1)
    assert (md.parent / image).resolve() == (runs["simulate"] / "figures" / "slope_vs_h.png").resolve()
    html_file = tmp_path / "report.html"
    result = invoke(runner, "report", str(runs["simulate"]), str(runs["weights"]), "--out", str(html_file))
    assert result.exit_code == 0, result.stderr
    page = html_file.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") == 3 and "<img src=" in page
    assert "<code>onlevel(0.4)</code>" in page and "`" not in page
    result = invoke(runner, "report", str(runs["weights"]))
    assert result.exit_code == 0 and result.stdout.startswith("# stecheck report")


def test_report_generation_date_is_stated(runs):
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    text = build_report([runs["weights"]], relative_to=runs["weights"], generated=when).to_markdown()
    assert "Generated 2026-01-02T03:04:05+00:00" in text


def test_report_rejects_other_file_types(runs, runner, tmp_path):
    result = invoke(runner, "report", str(runs["weights"]), "--out", str(tmp_path / "report.pdf"))
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "must end in .md or .html" in result.stderr
    assert not (tmp_path / "report.pdf").exists()
