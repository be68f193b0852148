"""The compiled fast paths against the numpy reference paths, on random inputs (hypothesis).

- The one-pass scan (:mod:`stecheck.core.fastscan`) gives exactly the reference's integer statistics
  (histogram, zeros, crossing counts, hence KS, chi-square, E[D_h], P(D_h = 0)), the same extremes, power
  sums within float64 rounding (no float32 anywhere), and Fourier sums within the stated bound
  ``N (pi l w)^2 / 2`` of :func:`stecheck.core.fastscan.binned_fourier_bound`.
- The batched exact references equal the per-plan ones.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stecheck.config import default_config
from stecheck.core.distributions import parse_input
from stecheck.core.estimators import HIST_BINS, CellAccumulator, make_plans
from stecheck.core.exact import FOURIER_ORDERS, exact_fd_table, exact_mean_fd, exact_p_fd_zero
from stecheck.core.fastscan import bin_centres, binned_fourier_bound, binned_fourier_sums
from stecheck.core.kernel import accumulate_chunk
from stecheck.core.quantize import levels
from stecheck.engine.runner import run
from tests.conftest import SEED

#: Relative tolerance of float64 power sums whose summation order differs (sequential vs pairwise).
POWER_RTOL = 1e-12


@st.composite
def chunks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """Inputs mixing a random law with points on levels and thresholds (exact zeros and ties)."""
    k = draw(st.integers(1, 10))
    scale = levels(k)
    size = draw(st.integers(1, 3000))
    seed = draw(st.integers(0, 2**64 - 1))
    rng = np.random.Generator(np.random.PCG64(seed))
    mu = draw(st.floats(-0.5, 1.5))
    sigma = draw(st.floats(1e-4, 1.0))
    x = rng.normal(mu, sigma, size)
    grid = rng.integers(-2 * scale, 4 * scale, size) / (2.0 * scale)  # levels and thresholds of s = L x
    on_grid = rng.random(size) < draw(st.floats(0.0, 0.5))
    x = np.where(on_grid, grid, x)
    return x, rng.random(size), k


def _assert_same(fast: CellAccumulator, ref: CellAccumulator) -> None:
    assert fast.count == ref.count
    assert fast.zeros == ref.zeros
    assert fast.lowest == ref.lowest and fast.highest == ref.highest
    np.testing.assert_array_equal(fast.hist, ref.hist)
    np.testing.assert_array_equal(fast.fd_sum, ref.fd_sum)
    np.testing.assert_array_equal(fast.fd_sumsq, ref.fd_sumsq)
    np.testing.assert_array_equal(fast.fd_zero, ref.fd_zero)
    assert fast.ste_count == ref.ste_count
    # |sum e^p| <= N: float64 rounding of either order is far below POWER_RTOL * N
    np.testing.assert_allclose(fast.power, ref.power, rtol=0, atol=POWER_RTOL * max(ref.count, 1))
    bound = binned_fourier_bound(HIST_BINS, FOURIER_ORDERS) * ref.count
    gap = np.abs(fast.fourier_sums() - ref.fourier_sums())
    assert np.all(gap <= bound + 1e-9 * max(ref.count, 1)), (gap, bound)
    f, r = fast.error_summary(), ref.error_summary()
    assert (f.ks_stat, f.ks_resolution, f.chi2_stat, f.p_zero, f.hist) == (r.ks_stat, r.ks_resolution, r.chi2_stat, r.p_zero, r.hist)
    for i in range(len(ref.plans)):
        assert fast.slope_summary(i) == ref.slope_summary(i)


@settings(max_examples=150, deadline=None)
@given(
    data=chunks(),
    rounding=st.sampled_from(["half-even", "half-up", "stochastic", "dither"]),
    clip=st.booleans(),
    steps=st.lists(st.floats(1e-6, 1.5), min_size=1, max_size=8, unique=True),
)
def test_fast_chunk_equals_the_numpy_reference(
    data: tuple[np.ndarray, np.ndarray, int], rounding: str, clip: bool, steps: list[float]
) -> None:
    x, noise, k = data
    plans = make_plans(["forward", "central"], steps, levels(k))
    fast = accumulate_chunk(x, levels(k), rounding, clip, plans, noise, fast=True)
    ref = accumulate_chunk(x, levels(k), rounding, clip, plans, noise, fast=False)
    _assert_same(fast, ref)


@settings(max_examples=40, deadline=None)
@given(data=chunks(), split=st.floats(0.0, 1.0), steps=st.lists(st.floats(1e-5, 0.9), min_size=1, max_size=5))
def test_scans_into_one_accumulator_and_merges_equal_one_reference_pass(
    data: tuple[np.ndarray, np.ndarray, int], split: float, steps: list[float]
) -> None:
    x, _, k = data
    cut = int(split * x.size)
    plans = make_plans(["forward", "central"], steps, levels(k))
    twice = CellAccumulator(plans)
    twice.add_scan(x[:cut], levels(k), 1, crossings=True)
    twice.add_scan(x[cut:], levels(k), 1, crossings=True)
    merged = accumulate_chunk(x[:cut], levels(k), "half-even", False, plans)
    merged.merge(accumulate_chunk(x[cut:], levels(k), "half-even", False, plans))
    ref = accumulate_chunk(x, levels(k), "half-even", False, plans, fast=False)
    _assert_same(twice, ref)
    _assert_same(merged, ref)


def test_binned_fourier_error_stays_within_its_bound_at_the_worst_deviation() -> None:
    """Samples half a bin from their centre: never above the bound, and in one bin (no cancellation of the
    second-order terms) within 1% of it, so the bound is the right size."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    width = 2.0 / HIST_BINS
    bound = binned_fourier_bound(HIST_BINS, FOURIER_ORDERS)
    spread = rng.integers(HIST_BINS // 4, 3 * HIST_BINS // 4, 50_000)
    one_bin = np.full(1000, spread[0])
    for bins in (spread, one_bin):
        e = bin_centres(HIST_BINS)[bins] + 0.4999 * width
        acc = CellAccumulator([])
        acc.add_scan(e, 1, 0, crossings=False)
        exact = np.exp(2j * np.pi * np.arange(1, FOURIER_ORDERS + 1)[:, None] * e[None, :]).sum(axis=1)
        gap = np.abs(binned_fourier_sums(acc.hist, acc.hist_dev, FOURIER_ORDERS) - exact) / e.size
        assert np.all(gap <= bound)
    assert np.all(gap > 0.99 * bound)
    assert bound[-1] < 3e-7  # stated in the README: Fourier magnitudes within 3e-7 of the exact ones


def test_errors_outside_the_histogram_are_refused() -> None:
    for bad in ([0.2, 1.5], [-1.01, 0.0], [np.nan, 0.0]):
        with pytest.raises(ValueError, match="outside"):
            CellAccumulator([]).add_scan(np.array(bad), 1, 0, crossings=False)


def test_mixing_scanned_and_numpy_accumulators_is_refused() -> None:
    plans = make_plans(["forward"], [1e-3], 15)
    x = np.linspace(0.0, 1.0, 100)
    fast = accumulate_chunk(x, 15, "half-even", False, plans)
    with pytest.raises(ValueError, match="cannot merge"):
        fast.merge(accumulate_chunk(x, 15, "half-even", False, plans, fast=False))


def test_engine_records_agree_between_fast_and_reference_paths() -> None:
    cfg = replace(
        default_config(), inputs=("normal(0.5,0.15)", "clip(normal(0.3,0.4))", "onthreshold(0.1)"), bits=(1, 5),
        samples=300_000, seed=SEED, method="mc", roundings=("half-even", "dither"),
    )
    fast, ref = run(cfg, fast=True).records, run(cfg, fast=False).records
    bound = binned_fourier_bound(HIST_BINS, FOURIER_ORDERS)
    for a, b in zip(fast, ref):
        for key, value in b.items():
            if key == "fourier_abs":
                assert np.all(np.abs(np.subtract(a[key], value)) <= bound + 1e-12), key
            elif key in ("mean_n", "var_n", "var12_n", "mean_n_se", "var_n_se"):
                assert a[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
            else:
                assert a[key] == value, key


@settings(max_examples=60, deadline=None)
@given(
    mu=st.floats(-0.3, 1.3),
    sigma=st.floats(0.003, 0.6),
    k=st.integers(1, 8),
    rounding=st.sampled_from(["half-even", "half-up", "stochastic"]),
    path=st.sampled_from(["{}", "clip({})", "mix(0.6*{},0.4*point(0.37))"]),
)
def test_batched_exact_table_equals_the_per_plan_references(mu: float, sigma: float, k: int, rounding: str, path: str) -> None:
    inp = parse_input(path.format(f"normal({mu!r},{sigma!r})"))
    plans = [(s, h) for s in ("forward", "central") for h in (0.3, 1e-1, 1e-2, 1e-4)]
    for (scheme, h), (fd, zero) in zip(plans, exact_fd_table(inp, k, rounding, plans)):
        ref_fd = exact_mean_fd(inp, k, rounding, scheme, h)
        ref_zero = exact_p_fd_zero(inp, k, rounding, scheme, h)
        assert fd == pytest.approx(ref_fd, rel=1e-12, abs=1e-12 / h)
        assert (zero is None) == (ref_zero is None)
        if zero is not None:
            assert zero == pytest.approx(ref_zero, abs=1e-12)
        assert math.isfinite(fd)
