"""`simulate --quantizer`: Monte Carlo of fixed grids against their exact references, and the records."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from stecheck.config import RunConfig
from stecheck.engine.runner import run
from stecheck.records import SIMULATE_FIELDS
from tests.conftest import SEED, invoke
from tests.test_quantizer_exact import INPUTS, QUANTIZERS

Z = 5.0


def test_monte_carlo_agrees_with_exact_within_5_se() -> None:
    config = RunConfig(inputs=tuple(INPUTS), quantizers=tuple(QUANTIZERS), steps=(1e-2, 0.3), samples=200_000, seed=SEED)
    records = run(config).records
    assert len(records) == len(INPUTS) * len(QUANTIZERS) * 4
    checked = 0
    for rec in records:
        assert set(rec) == set(SIMULATE_FIELDS)
        assert rec["quantizer"] in QUANTIZERS and rec["rounding"] == "half-even" and rec["exact_note"] is None
        n = rec["samples"]
        assert abs(rec["mean_n"] - rec["exact_mean_n"]) <= Z * rec["mean_n_se"], rec
        assert abs(rec["var_n"] - rec["exact_var_n"]) <= Z * rec["var_n_se"], rec
        p = rec["exact_p_fd_zero"]
        assert abs(rec["p_fd_zero"] - p) <= Z * math.sqrt(p * (1 - p) / n) + 1e-12, rec
        if rec["mean_fd_se"] is None:
            assert rec["exact_mean_fd"] <= rec["mean_fd_upper"]
        else:
            assert abs(rec["mean_fd"] - rec["exact_mean_fd"]) <= Z * rec["mean_fd_se"] + 1e-12, rec
            checked += 1
    assert checked >= len(records) // 2


def test_fixed_grid_of_dorefa_levels_equals_dorefa_on_the_clipped_input() -> None:
    """fixed(3, 1/7) has DoReFa's levels j/7 on [0, 1] and clips as DoReFa's clip path: same exact fields."""
    common = dict(steps=(1e-3, 0.2), method="exact", seed=1)
    mine = run(RunConfig(inputs=("normal(0.3,0.4)",), quantizers=(f"fixed(3,{1 / 7!r})",), **common)).records
    dorefa = run(RunConfig(inputs=("clip(normal(0.3,0.4))",), bits=(3,), **common)).records
    for a, b in zip(mine, dorefa, strict=True):
        assert (a["fd"], a["h"]) == (b["fd"], b["h"])
        for key in ("exact_mean_n", "exact_var_n", "exact_mean_fd", "exact_p_fd_zero"):
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
        for x, y in zip(a["exact_fourier_abs"], b["exact_fourier_abs"]):
            assert x == pytest.approx(y, abs=1e-10)


def test_default_quantizer_records_are_dorefa_and_explicit_dorefa_is_the_same() -> None:
    common = dict(inputs=("normal(0.5,0.15)", "dorefa(normal(0,0.05),size=64)"), bits=(1, 3), steps=(1e-2,), samples=3000, seed=3)
    default = run(RunConfig(**common)).records
    assert [r["quantizer"] for r in default] == [f"dorefa({r['k']})" for r in default]
    assert all(set(r) == set(SIMULATE_FIELDS) for r in default)
    assert run(RunConfig(**common, quantizers=("dorefa",))).records == default
    only3 = run(RunConfig(**common, quantizers=("dorefa(3)",))).records
    assert only3 == [r for r in default if r["k"] == 3]


def test_dorefa_and_fixed_grid_cells_share_draws_and_are_thread_independent() -> None:
    config = RunConfig(inputs=("laplace(0.1,0.2)",), bits=(2,), quantizers=("dorefa", "fp(e2m1,scale=0.125)"), steps=(1e-2,),
                       samples=600_000, seed=9)
    one, two = run(config, threads=1).records, run(config, threads=2).records
    assert one == two
    assert [r["quantizer"] for r in one] == ["dorefa(2)"] * 2 + ["fp(e2m1,scale=0.125)"] * 2


def test_cli_quantizer_option_writes_the_field(runner: CliRunner, tmp_path) -> None:
    result = invoke(runner, "simulate", "--dist", "normal(0,0.3)", "-Q", "absmax(4,scale=0.1)", "-Q", "dorefa", "--bits", "2",
                    "--h", "1e-2", "--samples", "2000", "--quiet", "--out", str(tmp_path / "out"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    assert [r["quantizer"] for r in records] == ["dorefa(2)"] * 2 + ["absmax(4,scale=0.1)"] * 2
    header = (tmp_path / "out" / "records.csv").read_text().splitlines()[0]
    assert header.split(",") == list(SIMULATE_FIELDS)
    assert "| quantizer |" in (tmp_path / "out" / "records.md").read_text()


@pytest.mark.parametrize("argv,needle", [
    (("-Q", "absmax(4)"), "takes its scale from the data"),
    (("-Q", "fp(e4m3,scale=1)", "--rounding", "half-up"), "half-even"),
    (("-Q", "fixed(4,0.1)", "--dist", "clip(normal(0,1))"), "DoReFa's grid"),
])
def test_simulate_refuses_what_a_parametric_input_cannot_run(runner: CliRunner, argv, needle: str) -> None:
    args = ["simulate", "--quiet", "--samples", "100", "--no-save", *argv]
    if "--dist" not in argv:
        args += ["--dist", "normal(0,1)"]
    result = invoke(runner, *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and needle in result.stderr


def test_experiment_file_takes_a_quantizer_list(runner: CliRunner, tmp_path) -> None:
    (tmp_path / "q.toml").write_text("inputs = ['uniform(-0.5,0.5)']\nquantizer = ['fixed(3,0.125,zero=4)']\nbits = '2'\n"
                                     "h = [0.01]\nfd = ['forward']\nsamples = 20000\nseed = 5\n", encoding="utf-8")
    result = invoke(runner, "simulate", "--config", str(tmp_path / "q.toml"), "--no-save", "--quiet", "--format", "json")
    assert result.exit_code == 0, result.stderr
    (rec,) = json.loads(result.stdout)["records"]
    assert rec["quantizer"] == "fixed(3,0.125,zero=4)" and rec["k"] == 3
    # levels 0.125 (m - 4), m = 0..7: thresholds -0.4375 + 0.125 j, j = 0..6, all inside (-0.5, 0.5) with density 1,
    # and the grid clips above 0.375: E[D_h] = 7 * 0.125 = 0.875 for h = 0.01
    assert rec["exact_mean_fd"] == pytest.approx(0.875, abs=1e-12)
    assert abs(rec["mean_fd"] - 0.875) <= Z * rec["mean_fd_se"]
