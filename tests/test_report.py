"""The one-page report: verdicts from the recorded standard errors, tables from records, figures, provenance."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import invoke
from plots_fixtures import SEED, VARIANTS_CONFIG, write_simulate, write_weights

from stecheck.records import fmt
from stecheck.views.plots.runs import plot_run
from stecheck.views.report import build_report, rejects


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
    run_dir = tmp_path / "other"
    run_dir.mkdir()
    (run_dir / "records.json").write_text('{"meta": {"command": "other", "seed": "7"}, "records": [{"step": 1}]}')
    text = build_report([run_dir], relative_to=tmp_path).to_markdown()
    assert "1 records of kind `other`: not summarised here." in text and "seed `7`" in text


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
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") == 3 and '<img src="data:image/png;base64,' in page
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


# ---------------------------------------------------------------- the committed results, and the HTML page

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results"


def _committed_report():
    from stecheck.views.plots.runs import find_runs

    return build_report(find_runs([], root=COMMITTED), relative_to=ROOT)


def test_report_of_the_committed_results_has_the_audit_verdicts_and_the_phase_rule():
    import json

    text = _committed_report().to_markdown()
    assert "not summarised here" not in text
    assert "| step | claim | verdict | decisive numbers | condition |" in text
    audit = json.loads((COMMITTED / "audit" / "records.json").read_text())["records"]
    for rec in audit:  # every step, with its verdict
        assert re.search(rf"^\| {re.escape(str(rec['step']))} \| .* \| \*\*{re.escape(rec['verdict'])}\*\* \|", text, re.M), rec["step"]
    # the phase run is one section (its map/ and spot/ parts are not runs of their own), with the rule and figures
    assert text.count("## phase run") == 1 and "results/phase/map" not in text
    assert "**Rule of thumb**" in text
    rule = json.loads((COMMITTED / "phase" / "records.json").read_text())["records"]
    for family in dict.fromkeys(r["family"] for r in rule):
        first = next(r for r in rule if r["family"] == family)
        row = _row(text, f"`{family}`", fmt(first["sigma_s_star"]))
        assert row.count("|") == 2 + len({r["sd"] for r in rule}) + 1
    assert "![phase map](results/phase/phase_map.png)" in text and "![worst case](results/phase/worst_case.png)" in text
    # weights: the README's rule (|E[D_h] - 1| <= 0.05 and |12 Var(n) - 1| <= 0.05)
    assert "|E[D_h] - 1| <= 0.05 and |12 Var(n) - 1| <= 0.05" in text


def test_weights_verdicts_follow_the_readme_threshold(runs):
    import json

    from stecheck.views.plots.weights import weights_records

    records = json.loads((runs["weights"] / "records.json").read_text())["records"]
    chosen = weights_records(records)
    want = sum(abs(r["mean_fd"] - 1) <= 0.05 and abs(12 * r["var_n"] - 1) <= 0.05 for r in chosen if r.get("mean_fd") is not None)
    text = build_report([runs["weights"]], relative_to=runs["weights"].parent).to_markdown()
    assert f"it holds in **{want} of " in text


def _html_report(runs, tmp_path: Path) -> Path:
    page = tmp_path / "page" / "report.html"
    page.parent.mkdir()
    page.write_text(build_report([runs["simulate"], runs["weights"]], relative_to=page.parent).to_html())
    return page


def test_html_report_is_one_self_contained_file(runs, tmp_path):
    page = _html_report(runs, tmp_path).read_text()
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    # no other reference that a browser would fetch: no href/src to a file or URL, no CSS url(), no <link>
    assert not re.search(r'\s(?:src|href)="(?!data:)', page)
    assert "url(" not in page and "<link" not in page and "<script" not in page
    import base64

    first = base64.b64decode(sources[0].split(",", 1)[1])
    assert first == (runs["simulate"] / "figures" / "slope_vs_h.png").read_bytes()


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_html_report_renders_in_a_real_browser(runs, tmp_path):
    import subprocess

    import numpy as np
    from matplotlib import image

    page = _html_report(runs, tmp_path)
    shot = tmp_path / "shot.png"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
               "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()]
    subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    pixels = image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    grey = pixels.mean(axis=2)
    dark = grey < 0.5
    assert dark.mean() > 0.005  # text and table rules were drawn, not a blank page
    # the embedded figure shows: its colours (tab10 blue and orange lines, the STE's red) are on the page
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.3
    assert colourful.sum() > 200, colourful.sum()
    assert len(np.unique((pixels * 15).round().reshape(-1, 3), axis=0)) > 20
