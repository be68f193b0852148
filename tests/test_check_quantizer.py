"""`check` with a `quantizer` field: parsing, one-line errors (exit 2), and bounds that hold (exit 0) or fail (exit 1).

The values a bound is checked against are computed here independently: plain numpy per group for absmax
on a weight tensor, and the threshold sum E[D_h] = (1/h) sum_j gap_j [F(t_j) - F(t_j - h)] with scipy's
normal CDF for a fixed grid on a distribution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from stecheck.claims.check.bounds import BoundsError, parse_bounds
from tests.conftest import SEED, invoke

H = 1e-3


def weights_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    w = (np.random.Generator(np.random.PCG64(SEED)).standard_normal((48, 64)) * 0.05).astype(np.float32)
    path = tmp_path / "w.npy"
    np.save(path, w)
    return path, w


def absmax_reference(w: np.ndarray, group: int, bits: int) -> dict[str, float]:
    """Plain numpy, group by group along rows: n = rint(y) - y with y = x / max|x| * top (no clipping: |y| <= top)."""
    top = 2 ** (bits - 1) - 1
    x = w.astype(np.float64).reshape(w.shape[0], -1, group)
    amax = np.abs(x).max(axis=-1, keepdims=True)
    y = x / amax * top
    n = np.rint(y) - y
    moved = np.rint((x + H) / amax * top)
    fd = (amax / top) * (moved - np.rint(y)) / H
    return {"p_n_zero": float(np.mean(n == 0)), "mean_n": float(n.mean()), "mean_fd": float(fd.mean())}


def exact_fd_fixed(sigma: float, step: float, top: int, h: float) -> float:
    """E[D_h] of the symmetric grid step * {-top..top} (saturating) for x ~ Normal(0, sigma): thresholds at the midpoints."""
    t = step * (np.arange(-top, top) + 0.5)
    return float(step / h * np.sum(stats.norm.cdf(t / sigma) - stats.norm.cdf((t - h) / sigma)))


def _toml(bounds: list[dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        return json.dumps(v) if not isinstance(v, list) else "[" + ", ".join(json.dumps(x) for x in v) + "]"

    return "\n".join("[[bound]]\n" + "\n".join(f"{k} = {value(v)}" for k, v in b.items()) + "\n" for b in bounds)


def test_a_quantizer_sets_the_bit_width_and_is_canonical() -> None:
    doc = {"bound": [{"name": "q", "weights": "w.npy", "quantizer": "absmax(4, group=32)", "statistic": "p_n_zero",
                      "interval": [0.0, 1.0]}]}
    (bound,) = parse_bounds(doc, "b.toml")
    assert (bound.k, bound.quantizer, bound.cell_quantizer) == (4, "absmax(4,group=32)", "absmax(4,group=32)")
    doc["bound"][0].update(quantizer="dorefa(3)", statistic="mean_n")
    (bound,) = parse_bounds(doc, "b.toml")
    assert (bound.k, bound.quantizer, bound.cell_quantizer) == (3, "dorefa", "dorefa(3)")
    doc["bound"][0].update(quantizer="dorefa", k="2-3")
    assert [b.cell_quantizer for b in parse_bounds(doc, "b.toml")] == ["dorefa(2)", "dorefa(3)"]


BASE: dict[str, Any] = {"name": "q", "source": "normal(0,0.3)", "statistic": "exact_mean_fd", "h": H, "within": 0.01,
                        "target": 1.0}
BAD = [
    ({"quantizer": "gptq(4)"}, "quantizer", "unknown quantizer 'gptq'"),
    ({"quantizer": "absmax(33,scale=0.1)"}, "quantizer", "bits=33 must be an integer in 2..32"),
    ({"quantizer": "absmax(4,scale=0)"}, "quantizer", "scale=0 must be a number > 0"),
    ({"quantizer": "absmax(4,group=0)"}, "quantizer", "group=0 must be an integer"),
    ({"quantizer": "absmax(4,group=32)"}, "quantizer", "takes its scale from the data"),
    ({"quantizer": "absmax(4,scale=0.1)", "source": "clip(normal(0.3,0.4))"}, "quantizer", "defined for DoReFa's grid"),
    ({"quantizer": "absmax(4,scale=0.1)", "k": 3}, "k", "has bit width 4: give k = 4 or leave k out"),
    ({"quantizer": 4}, "quantizer", "is not a non-empty text"),
    ({"quantizer": "fixed(4,0.1,zero=8)", "rounding": "stochastic"}, "rounding", 'use rounding = "half-even"'),
    ({"quantizer": "nvfp4", "source": None, "weights": "w.npy", "transform": "absmax", "statistic": "mean_fd"},
     "transform", "transform is DoReFa's only"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_a_bad_quantizer_is_one_error_naming_the_bound_and_the_field(changes: dict[str, Any], field: str, message: str) -> None:
    bound = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    with pytest.raises(BoundsError) as info:
        parse_bounds({"bound": [bound]}, "b.toml")
    text = str(info.value)
    assert text.startswith(f"b.toml: bound 'q', field {field!r}: ") and message in text and "\n" not in text


def test_a_bad_quantizer_in_a_bounds_file_exits_2_with_one_line(runner, tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(_toml([{**BASE, "quantizer": "fp(e9m9,scale=1)"}]), encoding="utf-8")
    out = tmp_path / "out.json"
    result = invoke(runner, "check", str(path), "--format", "json", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and "field 'quantizer'" in result.stderr
    assert "unknown format 'e9m9'" in result.stderr and not out.exists()


def test_a_quantizer_that_does_not_fit_a_tensor_exits_2(runner, tmp_path: Path) -> None:
    path, _ = weights_file(tmp_path)
    bounds = tmp_path / "b.toml"
    bounds.write_text(_toml([{"name": "q", "weights": str(path), "quantizer": "absmax(4,group=48)", "statistic": "mean_n",
                              "within": 0.1, "target": 0.0}]), encoding="utf-8")
    result = invoke(runner, "check", str(bounds), "--quiet")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "bound 'q', field 'quantizer'" in result.stderr and "ragged=last" in result.stderr


def test_weights_bounds_under_a_quantizer_hold_and_fail_on_the_reference_values(runner, tmp_path: Path) -> None:
    path, w = weights_file(tmp_path)
    ref = absmax_reference(w, 32, 4)
    assert ref["p_n_zero"] >= 1 / 32  # every group's largest |w| is on the top level
    holding = [
        {"name": "p_n_zero", "weights": str(path), "quantizer": "absmax(4,group=32)", "statistic": "p_n_zero",
         "within": 1e-12, "target": ref["p_n_zero"]},
        {"name": "E[n]", "weights": str(path), "quantizer": "absmax(4,group=32)", "statistic": "mean_n",
         "within": 1e-12, "target": ref["mean_n"]},
        {"name": "E[D_h]", "weights": str(path), "quantizer": "absmax(4,group=32)", "k": 4, "h": H, "statistic": "mean_fd",
         "within": 1e-9, "target": ref["mean_fd"]},
    ]
    bounds = tmp_path / "hold.toml"
    bounds.write_text(_toml(holding), encoding="utf-8")
    result = invoke(runner, "check", str(bounds), "--format", "json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    assert [r["quantizer"] for r in records] == ["absmax(4,group=32)"] * 3 and all(r["k"] == 4 for r in records)
    assert [r["passed"] for r in records] == [True] * 3
    # violated: the point masses of data-dependent scales keep p_n_zero at or above 1/32
    failing = holding + [{"name": "no point masses", "weights": str(path), "quantizer": "absmax(4,group=32)",
                          "statistic": "p_n_zero", "interval": [0.0, 1 / 32 - 1e-9]}]
    bounds.write_text(_toml(failing), encoding="utf-8")
    result = invoke(runner, "check", str(bounds), "--quiet")
    assert result.exit_code == 1
    assert "3 of 4 bounds hold, 1 failed" in result.stdout and "absmax(4,group=32)" in result.stdout


def test_a_fixed_grid_on_a_distribution_against_the_threshold_sum(runner, tmp_path: Path) -> None:
    exact = exact_fd_fixed(0.3, 0.1, 7, H)
    assert 0.9 < exact < 1.0  # the grid saturates at 0.7: mass beyond the outer thresholds crosses none
    bound = {"name": "E[D_h] exact", "source": "normal(0,0.3)", "quantizer": "absmax(4,scale=0.1)", "statistic": "exact_mean_fd",
             "h": H, "within": 1e-9, "target": exact}
    mc = {"name": "E[D_h] Monte Carlo", "source": "normal(0,0.3)", "quantizer": "absmax(4,scale=0.1)", "statistic": "mean_fd",
          "h": H, "within_se": 5, "target": "exact", "samples": 200000, "seed": str(SEED)}
    path = tmp_path / "b.toml"
    path.write_text(_toml([bound, mc]), encoding="utf-8")
    result = invoke(runner, "check", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    assert records[0]["value"] == pytest.approx(exact, abs=1e-9) and records[0]["quantizer"] == "absmax(4,scale=0.1)"
    path.write_text(_toml([{**bound, "expect": "outside"}]), encoding="utf-8")
    result = invoke(runner, "check", str(path), "--quiet")
    assert result.exit_code == 1 and "normal(0,0.3) / absmax(4,scale=0.1)" in result.stdout
