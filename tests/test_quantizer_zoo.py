"""The "does the STE claim hold for the quantizer you use?" table, figure, report section and README section.

A small weights run with DoReFa and two other quantizers is scanned by the CLI into a temporary results
folder; the table, the figure and the README section are generated from its records, and every printed
value is checked against the records (the generators compute nothing). Hand-written records check the
verdict column both ways and the notes on fields a record does not carry.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from stecheck.records import fmt, read_run
from stecheck.views.plots.quantizers import quantizer_panels, quantizer_specs
from stecheck.views.plots.runs import plan_figures, plot_run
from stecheck.views.quantizers import COLUMNS, quantizer_rows, quantizer_table, verdict_matrix
from tests.conftest import SEED, invoke

ROOT = Path(__file__).resolve().parents[1]
QUANTIZERS = ("absmax(4,group=32)", "fp(e4m3,axis=none)")
BITS = (2, 6)


def _section():
    spec = importlib.util.spec_from_file_location("quantizers_section", ROOT / "experiments" / "readme_sections" / "quantizers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """``results/weights-quantizers/tiny/`` of a scan of two tensors under DoReFa k = 2, 6 and two quantizers."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("results")
    rng = np.random.Generator(np.random.PCG64(SEED))
    source = root / "tiny.npz"
    np.savez(source, **{"layer1.weight": (rng.standard_normal((64, 128)) * 0.05).astype(np.float32),
                        "layer2.weight": (rng.laplace(size=(32, 96)) * 0.02).astype(np.float32)})
    out = root / "weights-quantizers" / "tiny"
    args = ["weights", str(source), "-k", "2", "-k", "6", "-Q", "dorefa"]
    for spec in QUANTIZERS:
        args += ["-Q", spec]
    result = invoke(CliRunner(), *args, "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    return root


def _aggregates(run: Path) -> dict[str, dict]:
    _, records = read_run(run)
    return {r["quantizer"]: r for r in records if r["kind"] == "aggregate"}


def test_the_table_has_one_row_per_quantizer_with_the_records_values(results: Path) -> None:
    run = results / "weights-quantizers" / "tiny"
    meta, records = read_run(run)
    table = quantizer_table([("tiny", meta, records)])
    lines = table.splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    body = [line for line in lines[2:] if line.startswith("| tiny |")]
    expected = [f"dorefa({k})" for k in BITS] + list(QUANTIZERS)
    assert [line.split(" | ")[1].strip("`") for line in body] == expected  # DoReFa by k, then the run's order
    aggregates = _aggregates(run)
    verdicts = set()
    for line in body:
        cells = [c.strip() for c in line.strip("| ").split(" | ")]
        rec = aggregates[cells[1].strip("`")]
        assert cells[2] == "2"  # two tensors scanned
        assert cells[3] == fmt(rec["mean_n"], 2) and cells[4] == fmt(rec["var12_n"], 3) and cells[5] == fmt(rec["ks_stat"], 2)
        assert cells[6] == fmt(rec["mean_fd"], 3) and cells[7] == fmt(rec["ste"], 3)
        assert cells[8] == fmt(rec["p_n_zero"], 2)
        assert cells[9] == f"{fmt(rec['sqnr_db'], 3)} ({fmt(rec['sqnr_uniform_db'], 3)})"
        assert cells[10] == fmt(rec["share_holds"], 2)
        assert cells[11] == ("**holds**" if rec["claim_holds"] else "fails")
        verdicts.add(cells[11])
    assert "fails" in verdicts  # DoReFa at k = 2 on normal weights: 12 Var(n) far from 1
    # absmax over groups of 32: each group's largest |w| lands on the top level, so at least 1/32 of n is 0
    assert aggregates["absmax(4,group=32)"]["p_n_zero"] >= 1 / 32
    # DoReFa's records carry no p_n_zero: printed '-' and said below the table, not filled in
    assert aggregates["dorefa(2)"]["p_n_zero"] is None
    assert "`p_n_zero` is not recorded for `dorefa(2)`, `dorefa(6)` (`-`)." in table


def _record(quantizer: str, k: int, mean_fd: float | None, var_n: float, holds: bool | None, **extra) -> dict:
    rec = {"source": "m", "kind": "aggregate", "tensor": "(all)", "quantizer": quantizer, "k": k, "h": 1e-3, "size": 10,
           "degenerate": False, "mean_n": 0.01, "var_n": var_n, "var12_n": 12 * var_n, "ks_stat": 0.1, "mean_fd": mean_fd,
           "ste": 1.0, "p_n_zero": 0.25, "sqnr_db": 20.0, "sqnr_uniform_db": 19.5, "share_holds": 0.5, "claim_holds": holds}
    rec.update(extra)
    return rec


def test_the_verdict_is_the_records_and_missing_values_are_named() -> None:
    records = [
        _record("affine(4,group=128)", 4, 1.01, 1 / 12, True),
        _record("nvfp4", 4, 0.5, 0.05, False, sqnr_db=None, sqnr_uniform_db=None),
        _record("dorefa(3)", 3, 2.0, 0.15, False, p_n_zero=None),
        _record("absmax(4)", 4, 1.0, 1 / 12, True, h=1e-2),  # another h: not the smallest, left out
    ]
    rows = quantizer_rows("m", records)
    assert [row.quantizer for row in rows] == ["dorefa(3)", "affine(4,group=128)", "nvfp4"]
    assert [row.cells()[-1] for row in rows] == ["fails", "**holds**", "fails"]
    assert rows[2].cells()[9] == "-" and rows[1].cells()[9] == "20 (19.5)"
    table = quantizer_table([("m", {}, records)])
    assert "`p_n_zero` is not recorded for `dorefa(3)` (`-`)." in table
    assert "the SQNR is not recorded for `nvfp4` (`-`)." in table
    other = [dict(r, source="n", claim_holds=not r["claim_holds"], mean_fd=0.75) for r in records[:2]]
    matrix = verdict_matrix([("m", {}, records), ("n", {}, other)]).splitlines()
    assert matrix[0] == "| quantizer | m | n |"
    assert matrix[2:] == ["| `dorefa(3)` | fails (2, 1.8) | - |", "| `affine(4,group=128)` | **holds** (1.01, 1) | fails (0.75, 1) |",
                          "| `nvfp4` | fails (0.5, 0.6) | **holds** (0.75, 0.6) |"]
    # a quantizer first seen in a later model sorts by its place in that model's own order
    late = [dict(records[2], source="p"), dict(records[0], source="p", quantizer="absmax(8,axis=none)"), dict(records[1], source="p")]
    order = [line.split(" | ")[0] for line in verdict_matrix([("m", {}, records), ("p", {}, late)]).splitlines()[2:]]
    assert order == ["| `dorefa(3)`", "| `affine(4,group=128)`", "| `absmax(8,axis=none)`", "| `nvfp4`"]


def test_the_figure_has_a_row_per_quantizer_drawn_from_the_records(results: Path) -> None:
    run = results / "weights-quantizers" / "tiny"
    meta, records = read_run(run)
    stems = [p.stem for p in plan_figures(meta, records)]
    assert stems == ["weights_heatmap", "weights_sqnr", "weights_quantizers"]
    fig = quantizer_panels(records)
    assert isinstance(fig, Figure)
    specs = quantizer_specs(records)
    assert specs == [f"dorefa({k})" for k in BITS] + list(QUANTIZERS)
    axes = fig.axes[:4]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == specs
    assert [ax.get_xlabel() for ax in axes] == ["E[D_h] (dimensionless, log scale)", "12 Var(n) (dimensionless)", "SQNR gap (dB)",
                                                 "p_n_zero (share of weights, log scale)"]
    aggregates = _aggregates(run)
    source = records[0]["source"]
    for ax, key in zip(axes, ("mean_fd", "var12_n", "sqnr_gap", "p_n_zero")):
        (points,) = [c for c in ax.collections if c.get_gid() == f"aggregate:{key}:{source}"]
        xy = points.get_offsets()
        for x, y in np.asarray(xy):
            rec = aggregates[specs[int(round(y))]]
            want = rec["sqnr_db"] - rec["sqnr_uniform_db"] if key == "sqnr_gap" else rec[key]
            assert x == pytest.approx(want, rel=1e-12)
        drawn = {specs[int(round(y))] for _, y in np.asarray(xy)}
        assert drawn == ({*QUANTIZERS} if key == "p_n_zero" else set(specs))  # DoReFa carries no p_n_zero


def test_a_dorefa_only_weights_run_keeps_its_figures() -> None:
    records = [dict(_record(f"dorefa({k})", k, 1.0, 1 / 12, True), kind="tensor", tensor="t", transform="dorefa") for k in (1, 2)]
    assert [p.stem for p in plan_figures({"command": "weights"}, records)] == ["weights_heatmap", "weights_sqnr"]
    others = [dict(r, quantizer="nvfp4") for r in records]
    assert [p.stem for p in plan_figures({"command": "weights"}, others)] == ["weights_quantizers"]


def test_the_readme_section_and_the_report_show_the_table_and_figure(results: Path, tmp_path: Path) -> None:
    from stecheck.views.report import build_report

    section = _section()
    assert section.render(tmp_path) == ""  # no run: an empty section
    run = results / "weights-quantizers" / "tiny"
    written = plot_run(run)
    assert (run / "figures" / "weights_quantizers.png") in written
    text = section.render(results)
    meta, records = read_run(run)
    assert quantizer_table([("tiny", meta, records)]) in text
    assert "![tiny: E[D_h]" in text and "weights-quantizers/tiny/figures/weights_quantizers.png" in text
    for spec in ("dorefa", *QUANTIZERS):
        assert f"- `{spec}`" in text
    report = build_report([run], results).to_markdown()
    aggregates = _aggregates(run)
    holding = sum(bool(r["claim_holds"]) for r in aggregates.values())
    assert f"holds for **{holding} of {len(aggregates)}** quantizers" in report
    assert f"| `fp(e4m3,axis=none)` | 2 | {fmt(aggregates['fp(e4m3,axis=none)']['mean_n'], 2)} |" in report
    assert "figures/weights_quantizers.png" in report


def test_regenerate_writes_the_zoo_runs_and_the_readme_has_its_markers() -> None:
    """regenerate.sh runs the script's quantizer lines (read back and executed with a stub stecheck) before plot."""
    import subprocess

    script = (ROOT / "experiments" / "regenerate.sh").read_text()
    lines = script.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("groups=("))
    last = next(i for i in range(first, len(lines)) if lines[i] == "done")
    block = "\n".join(lines[first:last + 1])
    stub = 'stecheck() { printf "%s\\n" "$*"; }\n'
    calls = subprocess.run(["bash", "-c", stub + block], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(calls) == 7  # every zoo model
    specs = ["dorefa", "absmax(4,group=32,axis=none,ragged=last)", "absmax(4,group=128,axis=none,ragged=last)",
             "affine(4,group=128,axis=none,ragged=last)", "fp(e4m3,axis=none)", "mx(fp4,axis=none,ragged=last)",
             "nvfp4(axis=none,ragged=last)"]
    for call in calls:
        assert call.startswith("weights zoo:") and "-k 2-8" in call and all(f"-Q {spec}" in call for spec in specs)
        model = call.split()[1][len("zoo:"):]
        assert f"--out results/weights-quantizers/{model} --quiet" in call
        assert ("-Q absmax(8) " if model == "all-minilm-l6-v2" else "-Q absmax(8,axis=none) ") in call
    assert script.index("results/weights-quantizers") < script.index("stecheck plot")
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- begin:quantizers -->") == readme.count("<!-- end:quantizers -->") == 1


def test_groups_along_rows_of_a_tensor_larger_than_a_chunk() -> None:
    """Groups of 128 along rows of 384 over 2^18 elements (blocks of whole groups inside long rows) equal the
    same groups taken as runs of consecutive weights, on the compiled and the numpy path."""
    from stecheck.core.quantizers import parse_quantizer
    from stecheck.weights.quantized import array_statistics

    w = np.random.Generator(np.random.PCG64(SEED)).standard_normal((1024, 384)).astype(np.float32)
    rows = parse_quantizer("absmax(4,group=128)")
    runs = parse_quantizer("absmax(4,group=128,axis=none,ragged=last)")
    for fast in (True, False):
        st = array_statistics(w, rows, (1e-3,), fast=fast)
        flat = array_statistics(w, runs, (1e-3,), fast=fast)
        assert st.p_n_zero is not None and st.p_n_zero >= 1 / 128  # each group's max lands on the top level
        for field in ("mean_n", "var_n", "p_n_zero", "ks_stat", "ste", "sqnr_db"):
            assert getattr(st, field) == pytest.approx(getattr(flat, field), rel=1e-12, abs=1e-15), field
        assert st.mean_fd == pytest.approx(flat.mean_fd, rel=1e-12)


SIM_QUANTIZERS = ("absmax(4,scale=0.1)", "fp(e4m3,scale=0.01)")


@pytest.fixture(scope="module")
def simulate_run(tmp_path_factory) -> Path:
    """A simulate run of two inputs under DoReFa (k = 2) and two fixed-grid quantizers, Monte Carlo and exact."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("sim") / "run"
    args = ["simulate", "-d", "normal(0,0.3)", "-d", "laplace(0,0.2)", "-k", "2", "-Q", "dorefa", "--h", "1e-3", "--h", "1e-2",
            "-n", "20000", "--seed", "7", "--method", "both", "--out", str(out), "--quiet"]
    for spec in SIM_QUANTIZERS:
        args += ["-Q", spec]
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.output
    return out


def test_a_simulate_run_with_two_quantizers_gets_one_panel_per_quantizer(simulate_run: Path, tmp_path: Path) -> None:
    from stecheck.views.plots.style import save_figure

    meta, records = read_run(simulate_run)
    planned = plan_figures(meta, records)
    assert [p.stem for p in planned][-1] == "quantizer_slope"
    assert "slope_vs_h" in [p.stem for p in planned]
    fig = dict((p.stem, p) for p in planned)["quantizer_slope"].draw()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [f"quantizer {spec}" for spec in SIM_QUANTIZERS]
    for ax, spec in zip(visible, SIM_QUANTIZERS):
        for dist in ("normal(0,0.3)", "laplace(0,0.2)"):
            recs = sorted((r for r in records if r["quantizer"] == spec and r["dist"] == dist and r["fd"] == "forward"),
                          key=lambda r: r["h"])
            lines = {line.get_gid(): line for line in ax.get_lines()}
            assert list(lines[f"mc:{spec}:{dist}"].get_ydata()) == [r["mean_fd"] for r in recs]
            assert list(lines[f"exact:{spec}:{dist}"].get_ydata()) == [r["exact_mean_fd"] for r in recs]
            assert list(lines[f"mc:{spec}:{dist}"].get_xdata()) == [r["h"] for r in recs]
    # the DoReFa figures of a run with other quantizers are those of its DoReFa records alone, byte for byte
    dorefa = [r for r in records if r["quantizer"].startswith("dorefa")]
    alone = {p.stem: p for p in plan_figures(meta, dorefa)}
    assert "quantizer_slope" not in alone
    mixed = {p.stem: p for p in planned}
    for stem in alone:
        (a,) = save_figure(alone[stem].draw(), tmp_path / f"alone_{stem}", ("png",), dpi=30, tight=False)
        (b,) = save_figure(mixed[stem].draw(), tmp_path / f"mixed_{stem}", ("png",), dpi=30, tight=False)
        assert a.read_bytes() == b.read_bytes(), stem


def test_the_report_of_a_simulate_run_tabulates_its_quantizers(simulate_run: Path) -> None:
    from stecheck.views.report import build_report

    _, records = read_run(simulate_run)
    text = build_report([simulate_run], simulate_run.parent).to_markdown()
    cells = [r for r in records if r["quantizer"] in SIM_QUANTIZERS and r["h"] == 1e-3 and r["fd"] == "forward"]
    assert len(cells) == 4
    for r in cells:
        row = (f"| `{r['dist']}` | `{r['quantizer']}` | {fmt(r['mean_n'])} ± {fmt(r['mean_n_se'], 2)} | {fmt(r['var12_n'])} | "
               f"{fmt(r['mean_fd'])} ± {fmt(r['mean_fd_se'], 2)} | {fmt(r['exact_mean_fd'])} | {fmt(r['ste'])} |")
        assert row in text
    assert "input x quantizer cells" in text
