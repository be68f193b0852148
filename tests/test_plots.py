"""Figures from records: plotted data equal the records, files are written, bad results dirs fail cleanly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from matplotlib.figure import Figure
from plots_fixtures import VARIANTS_CONFIG, write_simulate, write_weights

from stecheck.core.quantize import levels
from stecheck.records import read_run
from stecheck.views.plots.runs import MAX_NOISE_FIGURES, find_runs, noise_inputs, plan_figures, plot_run
from stecheck.views.plots.simulate import against_k, fourier_spectrum, noise_histograms, slope_vs_h
from stecheck.views.plots.style import save_figure
from stecheck.views.plots.variants import is_variants_run, point_value, rounding_variants
from stecheck.views.plots.weights import heatmap_matrices, sqnr_vs_k, weights_heatmaps


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    return {
        "simulate": write_simulate(root / "small"),
        "variants": write_simulate(root / "variants", VARIANTS_CONFIG),
        "weights": write_weights(root / "weights"),
    }


def by_gid(fig: Figure, gid: str) -> list:
    """Every artist of ``fig`` with this gid."""
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


def one(fig_or_ax, gid: str):
    found = [a for a in fig_or_ax.get_children() if a.get_gid() == gid] if not isinstance(fig_or_ax, Figure) else by_gid(fig_or_ax, gid)
    assert len(found) == 1, (gid, len(found))
    return found[0]


def test_noise_histograms_show_the_recorded_histogram_and_statistics(runs):
    _, records = read_run(runs["simulate"])
    fig = noise_histograms(records, ["normal(0.3,0.1)", "onlevel(0.4)"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2 * 3
    cells = {(r["dist"], r["k"]): r for r in records if r["dist"] in ("normal(0.3,0.1)", "onlevel(0.4)")}
    assert len(cells) == 6
    for (dist, k), rec in cells.items():
        patch = one(fig, f"hist:{dist}:{k}")
        density, edges = patch.get_data().values, patch.get_data().edges
        counts = np.asarray(rec["hist_n"], dtype=float)
        np.testing.assert_array_equal(density, counts * counts.size / rec["samples"])
        np.testing.assert_allclose(edges, np.linspace(-0.5, 0.5, counts.size + 1))
        ax = patch.axes
        text = " ".join(t.get_text() for t in ax.texts)
        assert f"12 Var(n) = {rec['var12_n']:.3g}" in text and f"KS D = {rec['ks_stat']:.2g}" in text
        uniform = one(ax, "ref:uniform")
        assert list(uniform.get_ydata()) == [1.0, 1.0]
    # the density integrates to the fraction of errors inside [-1/2, 1/2] (all of them here)
    assert math.isclose(float(np.sum(density * np.diff(edges))), 1.0)
    save_figure(fig, runs["simulate"] / "check" / "noise")


def test_slope_vs_h_lines_equal_records(runs):
    _, records = read_run(runs["simulate"])
    fig = slope_vs_h(records)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split()[2] for ax in panels] == ["1", "2", "3"]
    for ax, k in zip(panels, (1, 2, 3)):
        assert ax.get_xscale() == "log"
        for dist in ("uniform(0,1)", "normal(0.3,0.1)", "onlevel(0.4)"):
            recs = sorted((r for r in records if r["dist"] == dist and r["k"] == k and r["fd"] == "forward"), key=lambda r: r["h"])
            line = one(ax, f"mc:{dist}")
            np.testing.assert_array_equal(line.get_xdata(), [r["h"] for r in recs])
            np.testing.assert_array_equal(line.get_ydata(), [r["mean_fd"] for r in recs])
            np.testing.assert_array_equal(one(ax, f"exact:{dist}").get_ydata(), [r["exact_mean_fd"] for r in recs])
            band = one(ax, f"band:{dist}").get_paths()[0].vertices[:, 1]
            top = np.array([r["mean_fd_upper"] if r["mean_fd_se"] is None else r["mean_fd"] + 1.96 * r["mean_fd_se"] for r in recs])
            assert np.isclose(band.max(), top.max())
        assert list(one(ax, "ref:ste").get_ydata()) == [1.0, 1.0]
        assert list(one(ax, "ref:zero").get_ydata()) == [0.0, 0.0]


def test_against_k_lines_equal_records(runs):
    _, records = read_run(runs["simulate"])
    fig = against_k(records)
    for dist in ("uniform(0,1)", "normal(0.3,0.1)"):
        cells = sorted((r for r in records if r["dist"] == dist and r["fd"] == "forward" and r["h"] == 1e-3), key=lambda r: r["k"])
        np.testing.assert_array_equal(one(fig, f"mean_n:{dist}").get_ydata(), [r["mean_n"] for r in cells])
        np.testing.assert_array_equal(one(fig, f"mean_fd:{dist}").get_ydata(), [r["mean_fd"] for r in cells])
        np.testing.assert_array_equal(one(fig, f"mean_fd:{dist}").get_xdata(), [1, 2, 3])


def test_fourier_spectrum_lines_equal_records(runs):
    _, records = read_run(runs["simulate"])
    fig = fourier_spectrum(records)
    for rec in records:
        line = one(fig, f"fourier:{rec['dist']}:{rec['k']}")
        np.testing.assert_array_equal(line.get_ydata(), rec["fourier_abs"])
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 9))
    noise = by_gid(fig, "ref:noise")[0]
    assert noise.get_ydata()[0] == pytest.approx(1 / math.sqrt(20_000))


def test_weights_heatmaps_and_sqnr_equal_records(runs):
    _, records = read_run(runs["weights"])
    tensors, bits, slope, spread = heatmap_matrices(records)
    assert tensors == ["conv1.weight", "layer1.0.conv.weight", "fc.weight"] and bits == [1, 2, 3, 4]
    fig = weights_heatmaps(records)
    shown_slope = one(fig, "heat:log10_mean_fd").get_array()
    shown_spread = one(fig, "heat:var12_minus_1").get_array()
    for rec in records:
        i, j = tensors.index(rec["tensor"]), bits.index(rec["k"])
        if rec["mean_fd"] > 0:
            assert shown_slope[i, j] == pytest.approx(math.log10(rec["mean_fd"]))
        else:
            assert shown_slope.mask[i, j]  # log10(0) is left blank, not invented
        assert shown_spread[i, j] == pytest.approx(12 * rec["var_n"] - 1)
    fig2 = sqnr_vs_k(records)
    for tensor in tensors:
        recs = sorted((r for r in records if r["tensor"] == tensor), key=lambda r: r["k"])
        np.testing.assert_array_equal(one(fig2, f"sqnr:{tensor}").get_ydata(), [r["sqnr_db"] for r in recs])
        np.testing.assert_array_equal(one(fig2, f"predicted:{tensor}").get_ydata(), [r["sqnr_uniform_db"] for r in recs])


def test_variants_curves_equal_records(runs):
    _, records = read_run(runs["variants"])
    assert is_variants_run(records) and point_value("point(0.3)") == 0.3 and point_value("clip(point(0.3))") is None
    fig = rounding_variants(records)
    scale = levels(2)
    for rounding in ("half-even", "stochastic", "dither"):
        recs = sorted((r for r in records if r["rounding"] == rounding), key=lambda r: point_value(r["dist"]))
        r = np.array([point_value(x["dist"]) for x in recs])
        line_q = one(fig, f"expected_q:2:{rounding}")
        np.testing.assert_array_equal(line_q.get_xdata(), r)
        np.testing.assert_allclose(line_q.get_ydata(), r + np.array([x["mean_n"] for x in recs]) / scale, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(one(fig, f"slope:2:{rounding}").get_ydata(), [x["mean_fd"] for x in recs])
    # half-even on a point: E[q(r)] is the quantizer itself, q(0.3) = round(0.9)/3 = 1/3 exactly
    q = one(fig, "expected_q:2:half-even").get_ydata()
    assert q[3] == pytest.approx(1 / 3)


def test_plot_run_writes_every_planned_figure(runs, tmp_path):
    expected = {
        "simulate": {"slope_vs_h", "mean_and_slope_vs_k", "fourier", "noise"},
        "variants": {"variants"},
        "weights": {"weights_heatmap", "weights_sqnr"},
    }
    for kind, run_dir in runs.items():
        paths = plot_run(run_dir, tmp_path / kind, formats=("png", "svg"), dpi=40)
        assert {p.stem for p in paths} == expected[kind]
        assert {p.suffix for p in paths} == {".png", ".svg"}
        for path in paths:
            assert path.is_file() and path.stat().st_size > 1000
        assert not list((tmp_path / kind).glob(".*"))  # no temporary files left behind


def test_noise_figures_go_to_the_least_uniform_inputs():
    records = [{"dist": f"d{i}", "hist_n": [1], "ks_stat": ks} for i, ks in enumerate((0.1, 0.5, 0.01, 0.3, 0.2, 0.05))]
    assert noise_inputs(records) == ["d1", "d3", "d4", "d0"][:MAX_NOISE_FIGURES]
    assert noise_inputs([{"dist": "x", "hist_n": None, "ks_stat": 1.0}]) == []


def test_unknown_run_kind_is_skipped(tmp_path):
    run_dir = tmp_path / "audit"
    run_dir.mkdir()
    (run_dir / "records.json").write_text(json.dumps({"meta": {"command": "audit"}, "records": [{"step": 1}]}))
    assert plan_figures({"command": "audit"}, [{"step": 1}]) == []
    assert plot_run(run_dir) == []
    assert not (run_dir / "figures").exists()


def test_cli_plot_prints_paths(runs, runner, tmp_path):
    result = invoke(runner, "plot", str(runs["weights"]), "--out", str(tmp_path / "figs"), "--dpi", "40")
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.split()
    assert sorted(Path(p).name for p in printed) == ["weights_heatmap.png", "weights_sqnr.png"]
    assert all(Path(p).is_file() for p in printed)


def test_cli_plot_without_arguments_plots_every_run_under_results(runs, runner, tmp_path, monkeypatch):
    root = tmp_path / "results"
    write_weights(root / "w")
    (root / "other").mkdir()  # not a run: no records.json
    monkeypatch.chdir(tmp_path)
    assert find_runs([]) == [Path("results/w")]
    result = invoke(runner, "plot", "--dpi", "30")
    assert result.exit_code == 0, result.stderr
    assert (root / "w" / "figures" / "weights_heatmap.png").is_file()


def _one_line_error(result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["plot", "report"])
def test_missing_results_dir_is_a_one_line_error(runner, tmp_path, command):
    assert "does not exist" in _one_line_error(invoke(runner, command, str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    assert "records.json is missing" in _one_line_error(invoke(runner, command, str(tmp_path / "empty")))


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read"),
        ('{"records": []}', "malformed"),
        ('{"meta": {"command": "simulate"}, "records": [{"dist": "uniform(0,1)", "k": 1}]}', "lacks field(s)"),
        ('{"meta": {"command": "simulate"}, "records": []}', "no records"),
        ('{"meta": {"command": "weights"}, "records": [7]}', "not an object"),
    ],
)
@pytest.mark.parametrize("command", ["plot", "report"])
def test_malformed_results_dir_is_a_one_line_error_and_writes_nothing(runner, tmp_path, content, message, command):
    run_dir = tmp_path / "bad"
    run_dir.mkdir()
    (run_dir / "records.json").write_text(content)
    out = tmp_path / ("figs" if command == "plot" else "report.md")
    assert message in _one_line_error(invoke(runner, command, str(run_dir), "--out", str(out)))
    assert not out.exists() and not (run_dir / "figures").exists()


def test_no_results_at_all_is_a_one_line_error(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "no results directory" in _one_line_error(invoke(runner, "plot"))
    (tmp_path / "results").mkdir()
    assert "no run under" in _one_line_error(invoke(runner, "plot"))


def test_unwritable_out_is_a_one_line_error(runs, runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "cannot write" in _one_line_error(invoke(runner, "plot", str(runs["weights"]), "--out", str(blocker / "sub")))


def test_parallel_jobs_write_the_same_files(runs, tmp_path):
    one_job = plot_run(runs["simulate"], tmp_path / "one", formats=("svg",), dpi=30)
    two_jobs = plot_run(runs["simulate"], tmp_path / "two", formats=("svg",), dpi=30, jobs=2)
    assert [p.name for p in one_job] == [p.name for p in two_jobs]
    for a, b in zip(one_job, two_jobs):
        assert a.read_bytes() == b.read_bytes()  # SVG with a fixed hash salt and no date: byte-identical


def test_bad_jobs_or_dpi_is_a_one_line_error(runs, runner, tmp_path):
    assert "job count" in _one_line_error(invoke(runner, "plot", str(runs["weights"]), "-j", "0", "--out", str(tmp_path / "x")))
    assert "dpi" in _one_line_error(invoke(runner, "plot", str(runs["weights"]), "--dpi", "-3", "--out", str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()
