"""`weights --quantizer`: every field of a tensor's record against a plain numpy per-group computation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from stecheck.core.quantizers import parse_quantizer
from stecheck.weights.quantized import array_statistics
from tests.conftest import SEED, invoke

STEPS = (1e-3, 1e-2)


def weights(shape: tuple[int, int], nonfinite: bool = True) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(SEED))
    w = (rng.standard_t(4, size=shape) * 0.02).astype(np.float32)
    w[3, :] = 0.0  # an all-zero row: all-zero groups
    if nonfinite:
        w[5, 7], w[9, 100] = np.nan, np.inf  # left out of the population and of the scales
    return w


def groups_of(x: np.ndarray, size: int) -> list[np.ndarray]:
    """Index arrays (flat) of consecutive groups of ``size`` along each row, the last one possibly shorter."""
    rows, cols = x.shape
    flat = np.arange(x.size).reshape(rows, cols)
    return [flat[i, j : j + size] for i in range(rows) for j in range(0, cols, size)]


def reference(w: np.ndarray, groups: list[np.ndarray], grid: str, bits: int = 4) -> dict[str, object]:
    """Plain numpy, group by group: the scale, codes, n, D_h (scale fixed), STE and SQNR of every element."""
    x = w.astype(np.float64).ravel()
    ok = np.isfinite(x)
    x0 = np.where(ok, x, 0.0)
    n, q, step, ste = np.zeros_like(x0), np.zeros_like(x0), np.zeros_like(x0), np.ones(x0.size, dtype=bool)
    moved = {h: np.zeros_like(x0) for h in STEPS}
    for idx in groups:
        g = x0[idx]
        if grid == "absmax":
            top = 2 ** (bits - 1) - 1
            amax = np.abs(g).max()
            if amax == 0:
                continue
            s, z, lo, hi = amax / top, 0.0, -top, top
        elif grid == "affine":
            top = 2**bits - 1
            mn, mx = min(g.min(), 0.0), max(g.max(), 0.0)
            if mx == mn:
                continue
            s = (mx - mn) / top
            z, lo, hi = np.clip(np.rint(-mn / s), 0, top), 0, top
        else:  # fp(e4m3) with one scale: amax / 448
            amax = np.abs(g).max()
            s, z = amax / 448.0, 0.0
            y = np.clip(g / s, -448, 448)
            c = y.astype(ml_dtypes.float8_e4m3fn).astype(np.float64)
            values = np.unique(np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float64))
            values = values[np.isfinite(values)]
            j = np.clip(np.searchsorted(values, y, side="right") - 1, 0, values.size - 2)
            gap = values[j + 1] - values[j]
            n[idx], q[idx], step[idx] = (c - y) / gap, s * c, s * gap
            for h in STEPS:
                moved[h][idx] = s * np.clip((g + h) / s, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(np.float64)
            continue
        code = np.clip(np.rint(g / s) + z, lo, hi)
        n[idx] = code - np.clip(g / s + z, lo, hi)
        q[idx] = s * (code - z)
        step[idx] = s
        # inside the representable range [s (lo - z), s (hi - z)]: for absmax that is |x| <= max|x|, the whole group
        ste[idx] = np.abs(g) <= amax if grid == "absmax" else (g / s + z >= lo) & (g / s + z <= hi)
        for h in STEPS:
            moved[h][idx] = s * (np.clip(np.rint((g + h) / s) + z, lo, hi) - z)
    nv = n[ok]
    xv = x[ok]
    return {
        "mean_n": nv.mean(), "var_n": nv.var(), "var12_n": 12 * nv.var(), "p_n_zero": np.mean(np.abs(nv) < 1e-9),
        "ks_stat": stats.kstest(nv, "uniform", args=(-0.5, 1.0), method="exact" if nv.size <= 1000 else "asymp").statistic,
        "fourier_abs": [abs(np.mean(np.exp(2j * np.pi * l * nv))) for l in range(1, 9)],
        "mean_fd": [np.mean((moved[h] - q)[ok]) / h for h in STEPS], "ste": np.mean(ste[ok]),
        "sqnr_db": 10 * math.log10(xv.var() / np.mean((q - x0)[ok] ** 2)),
        "sqnr_uniform_db": 10 * math.log10(xv.var() / np.mean(step[ok] ** 2 / 12)),
    }


CASES = [
    ("absmax(4,group=128)", (64, 512), lambda w: groups_of(w, 128), "absmax"),
    ("absmax(4,group=128,ragged=last)", (40, 300), lambda w: groups_of(w, 128), "absmax"),
    ("absmax(8)", (600, 512), lambda w: groups_of(w, 512), "absmax"),  # per channel, rows across blocks of the scan
    ("affine(4,group=128)", (64, 512), lambda w: groups_of(w, 128), "affine"),
    ("fp(e4m3,axis=none)", (600, 512), lambda w: [np.arange(w.size)], "fp"),  # per tensor, across blocks of the scan
]


@pytest.mark.parametrize("fast", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("spec,shape,groups,grid", CASES)
def test_every_field_equals_numpy_per_group(spec: str, shape, groups, grid: str, fast: bool) -> None:
    w = weights(shape)
    q = parse_quantizer(spec)
    got = array_statistics(w, q, STEPS, fast=fast)
    want = reference(w, groups(w), grid, q.bits)
    assert got.count == np.isfinite(w).sum() and got.nonfinite == 2 and not got.degenerate
    for key in ("mean_n", "var_n", "p_n_zero", "ks_stat", "ste", "sqnr_db", "sqnr_uniform_db"):
        assert getattr(got, key) == pytest.approx(float(want[key]), rel=1e-9, abs=1e-12), key  # type: ignore[arg-type]
    np.testing.assert_allclose(got.fourier_abs, want["fourier_abs"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.mean_fd, want["mean_fd"], rtol=1e-9, atol=1e-12)
    if grid == "absmax":
        assert got.p_n_zero >= (len(groups(w)) - w.shape[1] // 128 - 1) / got.count  # every non-zero group's max


def test_weights_command_records_equal_the_reference(runner: CliRunner, tmp_path: Path) -> None:
    w = weights((64, 512))
    np.savez(tmp_path / "m.npz", w=w)
    result = invoke(runner, "weights", str(tmp_path / "m.npz"), "--quantizer", "absmax(4,group=128)", "--h", "1e-3", "--h", "1e-2",
                    "--format", "json", "--no-save", "--quiet")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    want = reference(w, groups_of(w, 128), "absmax")
    tensor = [r for r in records if r["kind"] == "tensor"]
    assert [(r["quantizer"], r["k"], r["h"], r["transform"]) for r in tensor] == [("absmax(4,group=128)", 4, h, "none") for h in STEPS]
    for i, rec in enumerate(tensor):
        for key in ("mean_n", "var_n", "var12_n", "p_n_zero", "ks_stat", "ste", "sqnr_db", "sqnr_uniform_db"):
            assert rec[key] == pytest.approx(float(want[key]), rel=1e-9, abs=1e-12), key  # type: ignore[arg-type]
        assert rec["mean_fd"] == pytest.approx(want["mean_fd"][i], rel=1e-9)  # type: ignore[index]
        assert rec["ks_pvalue"] == pytest.approx(stats.kstwobign.sf(rec["ks_stat"] * math.sqrt(rec["size"] - 2)), rel=1e-9)
        assert rec["claim_holds"] == (abs(rec["mean_fd"] - 1) <= 0.05 and abs(rec["var12_n"] - 1) <= 0.05)
    aggregate = [r for r in records if r["kind"] == "aggregate"]
    assert [r["quantizer"] for r in aggregate] == ["absmax(4,group=128)"] * 2
    assert aggregate[0]["mean_n"] == pytest.approx(tensor[0]["mean_n"])


def test_default_weights_records_are_dorefa(runner: CliRunner, tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", w=weights((8, 64), nonfinite=False))
    result = invoke(runner, "weights", str(tmp_path / "m.npz"), "--bits", "2-3", "--format", "json", "--no-save", "--quiet")
    records = json.loads(result.stdout)["records"]
    assert [r["quantizer"] for r in records] == [f"dorefa({r['k']})" for r in records]
    assert all(r["p_n_zero"] is None for r in records)


def test_group_not_dividing_a_tensor_is_one_error_line(runner: CliRunner, tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", w=weights((8, 100), nonfinite=False))
    result = invoke(runner, "weights", str(tmp_path / "m.npz"), "--quantizer", "absmax(4,group=32)", "--no-save", "--quiet")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "ragged=last" in result.stderr and "'w'" in result.stderr
