"""Identity A (THEORY.md) sample by sample, and the accumulator against a plain per-sample pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stecheck.core.estimators import CellAccumulator, FDPlan, crossing_counts, make_plans
from stecheck.core.kernel import accumulate_chunk
from stecheck.core.quantize import levels, quantize, round_scaled
from tests.conftest import SEED


def direct_count(r: np.ndarray, k: int, rounding: str, scheme: str, h: float) -> np.ndarray:
    """(q(r + hi) - q(r + lo)) L, evaluated by the quantizer itself."""
    lo, hi = (0.0, h) if scheme == "forward" else (-h / 2, h / 2)
    scale = levels(k)
    return np.rint((quantize(r + hi, k, rounding) - quantize(r + lo, k, rounding)) * scale).astype(np.int64)


@settings(max_examples=400, deadline=None)
@given(
    r=st.floats(-2.0, 3.0, allow_nan=False),
    k=st.integers(1, 12),
    h=st.floats(1e-6, 2.0),
    scheme=st.sampled_from(["forward", "central"]),
    rounding=st.sampled_from(["half-even", "half-up"]),
)
def test_identity_a_holds_sample_by_sample(r: float, k: int, h: float, scheme: str, rounding: str) -> None:
    scale = levels(k)
    lo, hi = (0.0, h) if scheme == "forward" else (-h / 2, h / 2)
    # the identity is exact in real arithmetic; skip points within float noise of a threshold
    for end in (r + lo, r + hi, r):
        assume(abs((scale * end) % 1.0 - 0.5) > 1e-7)
    s = scale * np.array([r])
    n = round_scaled(s, rounding) - s
    plan = FDPlan(scheme, h, scale)
    assert crossing_counts(n, plan)[0] == direct_count(np.array([r]), k, rounding, scheme, h)[0]


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("rounding", ["half-even", "stochastic", "dither"])
@pytest.mark.parametrize("clip", [False, True])
def test_accumulator_matches_a_plain_per_sample_pass(k: int, rounding: str, clip: bool) -> None:
    rng = np.random.Generator(np.random.PCG64(SEED))
    x = rng.normal(0.45, 0.4, 20_000)
    u = rng.random(x.size)
    steps = [1e-4, 1e-2, 0.3, 1.7]
    scale = levels(k)
    plans = make_plans(["forward", "central"], steps, scale)
    acc = accumulate_chunk(x, scale, rounding, clip, plans, u)
    # plain reference: evaluate the (clipped, randomised) quantizer at both ends of each window
    v = scale * x + (0.0 if rounding == "half-even" else u - 0.5)

    def level(shift: float) -> np.ndarray:
        point = v + scale * shift
        m = np.rint(point) if rounding != "stochastic" else np.floor(point + 0.5)
        if clip:
            m = np.clip(m, 0, scale)
        return m

    for i, plan in enumerate(plans):
        lo, hi = (0.0, plan.h) if plan.scheme == "forward" else (-plan.h / 2, plan.h / 2)
        count = (level(hi) - level(lo)).astype(np.int64)
        assert acc.fd_sum[i] == count.sum(), plan
        assert acc.fd_sumsq[i] == (count * count).sum(), plan
        assert acc.fd_zero[i] == np.count_nonzero(count == 0), plan
    m0 = level(0.0)
    s_in = np.clip(scale * x, 0, scale) if clip else scale * x
    assert acc.power[0] == pytest.approx((m0 - s_in).sum(), abs=1e-6)
    assert acc.ste_count == (np.count_nonzero((x >= 0) & (x <= 1)) if clip else x.size)


@settings(max_examples=30, deadline=None)
@given(split=st.integers(1, 4999), k=st.integers(1, 8))
def test_merge_equals_one_pass(split: int, k: int) -> None:
    rng = np.random.Generator(np.random.PCG64(SEED + split))
    x = rng.uniform(-0.2, 1.2, 5000)
    scale = levels(k)
    plans = make_plans(["forward", "central"], [1e-3, 0.05, 0.7], scale)
    whole = accumulate_chunk(x, scale, "half-even", False, plans)
    parts = accumulate_chunk(x[:split], scale, "half-even", False, plans)
    parts.merge(accumulate_chunk(x[split:], scale, "half-even", False, plans))
    assert parts.count == whole.count
    np.testing.assert_array_equal(parts.hist, whole.hist)
    np.testing.assert_array_equal(parts.fd_sum, whole.fd_sum)
    np.testing.assert_array_equal(parts.fd_sumsq, whole.fd_sumsq)
    np.testing.assert_array_equal(parts.fd_zero, whole.fd_zero)
    np.testing.assert_allclose(parts.power, whole.power, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(parts.fourier, whole.fourier, rtol=1e-12, atol=1e-9)


def test_ks_statistic_agrees_with_scipy_within_stated_resolution() -> None:
    from scipy import stats

    rng = np.random.Generator(np.random.PCG64(SEED))
    n = rng.normal(0.0, 0.3, 50_000)
    n = n[np.abs(n) <= 0.5]
    acc = CellAccumulator([])
    acc.add_error(n)
    summary = acc.error_summary()
    exact = stats.kstest(n, stats.uniform(-0.5, 1.0).cdf).statistic
    assert summary.ks_stat <= exact + 1e-12
    assert exact <= summary.ks_stat + summary.ks_resolution + 1e-12
    chi = stats.chisquare(np.histogram(n, bins=64, range=(-0.5, 0.5))[0])
    assert summary.chi2_stat == pytest.approx(chi.statistic, rel=1e-9)
