"""The engine against the exact references, its determinism, and the headline case."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from stecheck.config import default_config
from stecheck.engine.runner import run, simulate
from stecheck.records import SIMULATE_FIELDS, to_csv_text, to_json_text
from tests.conftest import SEED

Z = 5.0


def _within(value: float, exact: float, se: float | None, upper: float | None = None) -> bool:
    """Within Z standard errors; with no crossing observed (se None) the exact value must lie under the
    record's rule-of-three upper bound."""
    if se is None:
        assert upper is not None
        return value <= exact <= upper + 1e-9 * max(1.0, abs(exact))
    return abs(value - exact) <= Z * se + 1e-9 * max(1.0, abs(exact))


@pytest.fixture(scope="module")
def default_records() -> list[dict]:
    """The default experiment at 2e5 samples per input (every default cell), fixed seed."""
    cfg = replace(default_config(), samples=200_000, seed=SEED)
    return run(cfg, threads=2).records


@pytest.mark.slow
def test_monte_carlo_agrees_with_exact_for_every_default_cell(default_records: list[dict]) -> None:
    checked = 0
    for rec in default_records:
        if rec["exact_mean_fd"] is None:
            assert rec["dist"].startswith("dorefa(")
            continue
        checked += 1
        assert _within(rec["mean_fd"], rec["exact_mean_fd"], rec["mean_fd_se"], rec["mean_fd_upper"]), rec
        assert _within(rec["mean_n"], rec["exact_mean_n"], rec["mean_n_se"]), rec
        assert _within(rec["var_n"], rec["exact_var_n"], rec["var_n_se"]), rec
        p = rec["exact_p_fd_zero"]
        assert _within(rec["p_fd_zero"], p, (p * (1 - p) / rec["samples"]) ** 0.5), rec
    assert checked >= 8 * 8 * 2 * 5


def test_headline_case_mean_zero_slope_far_above_one(default_records: list[dict]) -> None:
    rec = next(
        r for r in default_records
        if r["dist"] == "normal(0.5,0.15)" and r["k"] == 1 and r["fd"] == "forward" and r["h"] == 1e-3
    )
    assert abs(rec["exact_mean_n"]) < 1e-12
    assert abs(rec["mean_n"]) < Z * rec["mean_n_se"]
    assert rec["exact_mean_fd"] > 2.5
    assert rec["mean_fd"] - Z * rec["mean_fd_se"] > 1.5


def _texts(threads: int) -> tuple[str, str]:
    result = run(replace(default_config(), inputs=("normal(0.5,0.15)", "clip(normal(0.3,0.4))", "onlevel(0.4)",
                                                   "dorefa(normal(0,0.05),size=1000)"),
                         bits=(1, 4), samples=700_000, seed=SEED, roundings=("half-even", "stochastic")), threads=threads)
    records = json.dumps(json.loads(to_json_text(result.meta, result.records))["records"])
    return records, to_csv_text(result.records, SIMULATE_FIELDS)


def test_records_are_byte_identical_with_one_or_two_threads() -> None:
    assert _texts(1) == _texts(2)


def test_results_depend_on_the_seed() -> None:
    a = simulate("normal(0.5,0.15)", bits=2, h=1e-3, fd="forward", samples=50_000, seed=1)
    b = simulate("normal(0.5,0.15)", bits=2, h=1e-3, fd="forward", samples=50_000, seed=2)
    c = simulate("normal(0.5,0.15)", bits=2, h=1e-3, fd="forward", samples=50_000, seed=1)
    assert a == c
    assert a[0]["mean_n"] != b[0]["mean_n"]


def test_record_contract_fields() -> None:
    recs = simulate("uniform(0,1)", bits="1-2", h=[1e-2, 1e-3], fd=["forward", "central"], samples=10_000, seed=3)
    assert len(recs) == 2 * 2 * 2
    for rec in recs:
        assert list(rec) == list(SIMULATE_FIELDS)
        assert len(rec["fourier_abs"]) == 8
        assert rec["ste"] == 1.0


def test_exact_only_method_fills_no_monte_carlo_fields() -> None:
    (rec,) = simulate("normal(0.5,0.15)", bits=1, h=1e-3, fd="forward", method="exact", seed=1)
    assert rec["mean_fd"] is None and rec["samples"] == 0
    assert rec["exact_mean_fd"] == pytest.approx(2.6596, abs=1e-4)


def test_point_masses_on_rounding_ties_match_the_quantizer() -> None:
    """At a point mass both window ends can be ties (r = 1/2, h = 2 at k = 1: s = 0.5 and 2.5); the count
    must be what the quantizer itself gives, for every rounding mode."""
    recs = simulate(["point(0.5)", "mix(0.5*point(0.3),0.5*normal(0.5,0.1))"], bits=[1, 8], h=[1e-3, 2.0],
                    fd=["forward", "central"], rounding=["half-even", "half-up", "stochastic"], samples=4000, seed=SEED)
    for rec in recs:
        assert _within(rec["mean_fd"], rec["exact_mean_fd"], rec["mean_fd_se"], rec["mean_fd_upper"]), rec
    tie = next(r for r in recs if r["dist"] == "point(0.5)" and r["k"] == 1 and r["rounding"] == "half-even"
               and r["fd"] == "forward" and r["h"] == 2.0)
    assert tie["mean_fd"] == 1.0  # round(2.5) - round(0.5) = 2 - 0 under half-to-even, over h = 2
