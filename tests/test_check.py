"""Evaluating bounds: the condition logic, reading records, grouping, determinism and calibration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from stecheck.claims.check.bounds import BoundsError, parse_bounds
from stecheck.claims.check.evaluate import condition_holds, evaluate, plan_runs, verdict
from tests.conftest import SEED, SEED_B


def bounds_of(*tables: dict[str, Any], **defaults: Any):
    return parse_bounds({"defaults": defaults, "bound": list(tables)}, "t.toml")


def bound(**fields: Any):
    base = {"name": "b", "source": "uniform(0,1)", "k": 2, "statistic": "mean_n", "samples": 100, "seed": 1}
    return bounds_of({**base, **fields})[0]


# ------------------------------------------------------------ the condition


def test_interval_is_closed_and_outside_negates_it() -> None:
    b = bound(interval=[0.0, 1.0])
    assert [condition_holds(b, v, None, None) for v in (-1e-9, 0.0, 0.5, 1.0, 1.1)] == [False, True, True, True, False]
    out = bound(interval=[0.0, 1.0], expect="outside")
    assert [condition_holds(out, v, None, None) for v in (-1e-9, 0.0, 1.1)] == [True, False, True]
    assert condition_holds(bound(interval=[0.0, math.inf]), 1e300, None, None)


def test_within_and_within_se_bands() -> None:
    b = bound(within=0.1, target=1.0)
    assert condition_holds(b, 1.09, None, 1.0) and condition_holds(b, 0.91, None, 1.0)
    assert not condition_holds(b, 1.1000001, None, 1.0) and not condition_holds(b, 0.8999999, None, 1.0)
    z = bound(within_se=2, target=0.0)
    assert condition_holds(z, 0.2, 0.1, 0.0) and not condition_holds(z, -0.2001, 0.1, 0.0)
    assert condition_holds(z, 0.0, 0.0, 0.0) and not condition_holds(z, 1e-12, 0.0, 0.0)  # SE 0: exact agreement
    beyond = bound(within_se=2, target=0.0, expect="outside")
    assert condition_holds(beyond, -0.3, 0.1, 0.0) and not condition_holds(beyond, 0.1, 0.1, 0.0)


def test_nan_fails_whatever_is_expected() -> None:
    for expect in ("inside", "outside"):
        assert not condition_holds(bound(interval=[0, 1], expect=expect), math.nan, None, None)


# ------------------------------------------------------------ reading records


RECORD = {
    "k": 2, "rounding": "half-even", "fd": "forward", "h": 1e-3, "samples": 100, "seed": "1",
    "mean_n": 0.01, "mean_n_se": 0.02, "var_n": 0.09, "var_n_se": 0.001, "exact_var_n": 1 / 12,
    "mean_fd": 1.4, "mean_fd_se": 0.1, "exact_mean_fd": 1.25, "fourier_abs": [0.1, 0.2, 0.3],
    "exact_fourier_abs": [0.0, 0.0, 0.0], "exact_mean_n": None,
}


def test_verdict_reads_value_se_and_the_exact_target() -> None:
    v = verdict(bound(statistic="mean_fd", h=1e-3, target="exact", within_se=2), RECORD)
    assert (v["value"], v["se"], v["target"], v["passed"]) == (1.4, 0.1, 1.25, True)
    assert v["condition"] == "within 2 SE of exact" and v["seed"] == "1" and v["file"] == "t.toml"
    v = verdict(bound(statistic="mean_fd", h=1e-3, target="exact", within_se=1), RECORD)
    assert v["passed"] is False


def test_verdict_scales_var12_and_indexes_fourier_orders() -> None:
    v = verdict(bound(statistic="var12_n", target="exact", within_se=5), RECORD)
    assert v["value"] == pytest.approx(1.08) and v["se"] == pytest.approx(0.012) and v["target"] == pytest.approx(1.0)
    assert v["passed"] is False  # |1.08 - 1| = 6.7 SE
    v = verdict(bound(statistic="fourier_abs[2]", interval=[0, 0.25]), RECORD)
    assert v["value"] == 0.2 and v["passed"] is True and v["statistic"] == "fourier_abs[2]"


def test_a_missing_value_is_an_error_naming_the_bound() -> None:
    with pytest.raises(BoundsError, match=r"bound 'b' \(k=2\), field 'statistic'"):
        verdict(bound(statistic="exact_mean_n", within=1e-9, target=0.0), RECORD)
    with pytest.raises(BoundsError, match=r"field 'target': no exact value"):
        verdict(bound(statistic="mean_n", within=0.1, target="exact"), RECORD)


# ------------------------------------------------------------ grouping


def test_bounds_sharing_source_samples_and_seed_share_one_run() -> None:
    bs = bounds_of(
        {"name": "a", "k": "1-2", "statistic": "mean_n", "target": 0.0, "within_se": 5},
        {"name": "b", "k": 4, "statistic": "mean_fd", "h": 0.01, "fd": "central", "target": "exact", "within_se": 5},
        {"name": "c", "k": 4, "statistic": "mean_fd", "target": 1.0, "within_se": 5, "seed": 2},
        {"name": "d", "k": 3, "statistic": "exact_mean_n", "target": 0.0, "within": 1e-9},
        source="uniform(0,1)", samples=1000, seed=1, h=1e-3,
    )
    groups = plan_runs(bs)
    assert [g.members for g in groups] == [(0, 1, 2), (3,), (4,)]
    first = groups[0].config
    assert (first.bits, first.steps, first.schemes, first.method) == ((1, 2, 4), (0.01,), ("central",), "both")
    assert groups[1].config.method == "mc" and groups[1].config.seed == 2
    assert groups[2].config.method == "exact"


def test_verdicts_do_not_depend_on_grouping_or_on_the_run() -> None:
    tables = [
        {"name": "n", "k": "1-3", "statistic": "mean_n", "target": 0.0, "within_se": 5},
        {"name": "fd", "k": 2, "statistic": "mean_fd", "h": 0.05, "target": 1.0, "within_se": 5},
        {"name": "fdc", "k": 3, "statistic": "mean_fd", "h": 0.01, "fd": "central", "target": "exact", "within_se": 5},
    ]
    common = {"source": "normal(0.4,0.2)", "samples": 30_000, "seed": SEED}
    together = evaluate(bounds_of(*tables, **common)).verdicts
    again = evaluate(bounds_of(*tables, **common)).verdicts
    alone = [v for t in tables for v in evaluate(bounds_of(t, **common)).verdicts]
    assert together == again
    assert [(v["bound"], v["k"], v["value"], v["se"], v["passed"]) for v in together] == [
        (v["bound"], v["k"], v["value"], v["se"], v["passed"]) for v in alone
    ]
    assert all(v["seed"] == str(SEED) for v in together)


def test_a_false_bound_fails_and_a_counterexample_stays_one() -> None:
    """normal(0.5,0.15) at k = 1: E[n] = 0 exactly, but E[D_h] = 2.66 (README headline)."""
    common = {"source": "normal(0.5,0.15)", "k": 1, "samples": 100_000, "seed": SEED_B, "h": 1e-3}
    claim = {"name": "STE", "statistic": "mean_fd", "target": 1.0, "within_se": 5}
    counter = {**claim, "name": "counterexample", "expect": "outside"}
    mean_zero = {"name": "E[n]", "statistic": "exact_mean_n", "target": 0.0, "within": 1e-9}
    result = evaluate(bounds_of(claim, counter, mean_zero, **common))
    assert [v["passed"] for v in result.verdicts] == [False, True, True]
    assert not result.passed
    assert result.runs[0]["seed"] == str(SEED_B)


# ------------------------------------------------------------ calibration

#: z of the calibration bound: 2 (1 - Phi(1.5)) = 13.4% nominal failures. The failure count's Fisher
#: information about a scale error c of the standard error, (dp/dc)^2 / (p (1 - p)) with
#: p = 2 (1 - Phi(z c)), is largest near z = 1.5 (1.30 per run, against 1.08 at z = 1 and z = 2).
CAL_Z = 1.5
CAL_RUNS = 400
CAL_ALPHA = 1e-3


def _binomial_power(runs: int, p_true: float, p_nominal: float, alpha: float) -> float:
    """Probability that ``binomtest(X, runs, p_nominal)`` rejects at ``alpha`` when X ~ Bin(runs, p_true)."""
    xs = np.arange(runs + 1)
    reject = np.array([stats.binomtest(int(x), runs, p_nominal).pvalue < alpha for x in xs])
    return float(stats.binom.pmf(xs, runs, p_true)[reject].sum())


def test_calibration_design_is_sensitive_and_not_flaky() -> None:
    """400 runs at alpha = 1e-3 detect a standard error off by 25% either way with probability > 0.9."""
    p0 = 2 * stats.norm.sf(CAL_Z)
    assert _binomial_power(CAL_RUNS, p0, p0, CAL_ALPHA) < CAL_ALPHA
    for c in (0.75, 1.25):
        assert _binomial_power(CAL_RUNS, 2 * stats.norm.sf(CAL_Z * c), p0, CAL_ALPHA) > 0.9


@pytest.mark.slow
def test_within_se_bounds_that_are_true_fail_at_the_nominal_rate() -> None:
    """uniform(0,1): n is exactly uniform, so E[n] = 0, 12 Var(n) = 1 and (identity A) E[D_h] = 1 with
    L h = 1/2 (D_h = 2 Bernoulli(1/2)). A within_se bound at z = 1.5 on each, over 400 independent seeds,
    must fail about 2 (1 - Phi(1.5)) of the time: a binomial test at alpha = 1e-3 (fixed seeds, so the
    outcome is the same on every run)."""
    scale = 7  # k = 3
    common = {"source": "uniform(0,1)", "k": 3, "samples": 2000, "h": 0.5 / scale}
    tables = []
    for i, seed in enumerate(np.random.SeedSequence(SEED).generate_state(CAL_RUNS, dtype=np.uint64)):
        for stat, target in (("mean_n", 0.0), ("var12_n", 1.0), ("mean_fd", 1.0)):
            tables.append({**common, "name": f"{stat} #{i}", "statistic": stat, "target": target,
                           "within_se": CAL_Z, "seed": int(seed)})
    result = evaluate(bounds_of(*tables))
    assert len(result.runs) == CAL_RUNS
    p0 = 2 * stats.norm.sf(CAL_Z)
    for stat in ("mean_n", "var12_n", "mean_fd"):
        failed = sum(not v["passed"] for v in result.verdicts if v["statistic"] == stat)
        test = stats.binomtest(failed, CAL_RUNS, p0)
        assert test.pvalue > CAL_ALPHA, (stat, failed, CAL_RUNS * p0, test.pvalue)


# ------------------------------------------------------------ weights sources


def test_weights_bounds_read_exact_tensor_statistics(tmp_path) -> None:
    from stecheck.core.quantize import dorefa_weight_transform, rounding_error

    rng = np.random.Generator(np.random.PCG64(SEED))
    fc = rng.normal(0.0, 0.05, size=(64, 32))
    conv = rng.laplace(0.0, 0.02, size=(8, 4, 3, 3))
    path = tmp_path / "model.npz"
    np.savez(path, fc=fc, conv=conv, bias=rng.normal(size=16))
    common = {"weights": str(path), "samples": None, "seed": None}
    bs = bounds_of(
        {"name": "fc E[n]", "tensor": "^fc$", "k": "2-3", "statistic": "mean_n", "interval": [-1, 1]},
        {"name": "all E[D_h]", "k": 8, "statistic": "mean_fd", "h": 1e-3, "target": 1.0, "within": 0.5},
        {"name": "per tensor SQNR", "tensor": ".", "k": 8, "statistic": "sqnr_db", "interval": [-math.inf, 0.0], "expect": "outside"},
        **common,
    )
    result = evaluate(bs)
    fc_rows = [v for v in result.verdicts if v["bound"] == "fc E[n]"]
    for row in fc_rows:  # the value is the tensor's own E[n], computed here directly
        n = rounding_error(dorefa_weight_transform(fc), row["k"])
        assert row["value"] == pytest.approx(float(n.mean()), abs=1e-12)
        assert row["source"] == f"{path} [fc]" and row["samples"] == fc.size and row["se"] is None
    assert [v["source"] for v in result.verdicts if v["bound"] == "per tensor SQNR"] == [f"{path} [{t}]" for t in ("fc", "conv", "bias")]
    aggregate = [v for v in result.verdicts if v["bound"] == "all E[D_h]"]
    assert len(aggregate) == 1 and aggregate[0]["samples"] == fc.size + conv.size  # the 1-D bias is left out
    assert result.passed
    assert [r["method"] for r in result.runs] == ["weights (dorefa)"] * 3


def test_a_weights_pattern_selecting_nothing_names_the_bound(tmp_path) -> None:
    path = tmp_path / "model.npz"
    np.savez(path, fc=np.linspace(-1, 1, 64).reshape(8, 8))
    bs = bounds_of({"name": "x", "weights": str(path), "tensor": "conv", "k": 2, "statistic": "mean_n", "interval": [-1, 1]})
    with pytest.raises(BoundsError, match=r"bound 'x', field 'tensor': no tensor is selected"):
        evaluate(bs)
    missing = bounds_of({"name": "y", "weights": str(tmp_path / "none.npz"), "k": 2, "statistic": "mean_n", "interval": [-1, 1]})
    with pytest.raises(BoundsError, match=r"bound 'y', field 'weights': .*does not exist"):
        evaluate(missing)
