"""Exact references against closed forms and against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from stecheck.core.distributions import parse_input
from stecheck.core.exact import exact_cdf_n, exact_error_moments, exact_mean_fd, exact_p_fd_zero
from stecheck.core.quantize import levels
from tests.conftest import SEED


@pytest.mark.parametrize("k", [1, 2, 5, 8])
@pytest.mark.parametrize("scheme", ["forward", "central"])
def test_uniform_input_has_slope_one_for_every_small_step(k: int, scheme: str) -> None:
    inp = parse_input("uniform(0,1)")
    delta = 1 / levels(k)
    for h in (delta, delta / 3, 1e-5):
        assert exact_mean_fd(inp, k, "half-even", scheme, h) == pytest.approx(1.0, abs=1e-9)
    moments = exact_error_moments(inp, k, "half-even")
    assert moments.mean == pytest.approx(0.0, abs=1e-12)
    assert 12 * moments.var == pytest.approx(1.0, abs=1e-12)
    assert max(moments.fourier_abs) < 1e-9  # Gauss-Legendre error of the l = 8 term


@pytest.mark.parametrize("mu,sigma,k", [(0.5, 0.15, 1), (0.3, 0.1, 2), (0.37, 0.02, 3), (0.5, 0.15, 4)])
def test_normal_moments_match_fourier_series(mu: float, sigma: float, k: int) -> None:
    """THEORY.md: for s ~ N(mu_s, sigma_s), phi(2 pi l) = exp(2 pi i l mu_s - 2 pi^2 l^2 sigma_s^2)."""
    scale = levels(k)
    mu_s, sig_s = scale * mu, scale * sigma
    orders = np.arange(1, 200)
    phi = np.exp(2j * np.pi * orders * mu_s - 2 * np.pi**2 * orders**2 * sig_s**2)
    mean_n = np.sum((-1.0) ** orders * phi.imag / (np.pi * orders))
    slope_limit = 1 + 2 * np.sum((-1.0) ** orders * phi.real)
    inp = parse_input(f"normal({mu},{sigma})")
    moments = exact_error_moments(inp, k, "half-even")
    assert moments.mean == pytest.approx(mean_n, abs=1e-10)
    assert moments.fourier_abs == pytest.approx(np.abs(phi[:8]).tolist(), abs=1e-10)
    # E[D_h] -> 1 + 2 sum (-1)^l Re phi(2 pi l) as h -> 0; O(h^2) away at h = 1e-7 Delta (central)
    h = 1e-7 / scale
    assert exact_mean_fd(inp, k, "half-even", "central", h) == pytest.approx(slope_limit, rel=1e-6)


def test_mean_error_equals_expected_rounding_minus_mean() -> None:
    """E[n] = E[round(s)] - E[s] with E[round(s)] = sum_j j P(round(s) = j), a CDF sum."""
    for spec, k in [("normal(0.3,0.1)", 2), ("laplace(0.45,0.07)", 3), ("logistic(0.6,0.05)", 1)]:
        inp = parse_input(spec)
        scale = levels(k)
        rv = inp.dist.rv
        j = np.arange(-60 * scale, 60 * scale)
        expected_round = np.sum(j * (rv.cdf((j + 0.5) / scale) - rv.cdf((j - 0.5) / scale)))
        assert exact_error_moments(inp, k, "half-even").mean == pytest.approx(expected_round - scale * rv.mean(), abs=1e-9)


def test_counterexamples_have_zero_mean_error_and_extreme_slopes() -> None:
    for k in range(1, 9):
        delta = 1 / levels(k)
        level = parse_input("onlevel(0.4)")
        thresh = parse_input("onthreshold(0.1)")
        assert exact_error_moments(level, k, "half-even").mean == pytest.approx(0.0, abs=1e-12)
        assert exact_error_moments(thresh, k, "half-even").mean == pytest.approx(0.0, abs=1e-12)
        h = 0.05 * delta
        assert exact_mean_fd(level, k, "half-even", "forward", h) == pytest.approx(0.0, abs=1e-12)
        assert exact_mean_fd(thresh, k, "half-even", "forward", h) == pytest.approx(10.0, rel=1e-9)


def test_cdf_of_n_matches_monte_carlo() -> None:
    inp = parse_input("mix(0.6*normal(0.4,0.08),0.4*uniform(0.1,0.9))")
    k = 2
    rng = np.random.Generator(np.random.PCG64(SEED))
    r = inp.dist.draw(rng, 400_000)
    s = levels(k) * r
    n = np.rint(s) - s
    x = np.linspace(-0.5, 0.5, 21)
    empirical = (n[:, None] <= x[None, :]).mean(axis=0)
    exact = exact_cdf_n(inp, k, x)
    se = np.sqrt(exact * (1 - exact) / n.size)
    assert np.all(np.abs(empirical - exact) <= 5 * se + 1e-12)
    # the density of n at -1/2 is the small-h slope (identity A)
    h = 1e-6 / levels(k)
    assert exact_mean_fd(inp, k, "half-even", "forward", h) == pytest.approx(
        exact_cdf_n(inp, k, levels(k) * h - 0.5)[()] / (levels(k) * h), rel=1e-6
    )


def test_clip_slope_matches_clipped_ste_for_fine_grids() -> None:
    inp = parse_input("clip(normal(0.3,0.4))")
    f = stats.norm(0.3, 0.4).cdf
    # stochastic rounding: E[D_h] = (1/h) int_0^1 [F(u) - F(u - h)] du, checked by the trapezoid rule
    h = 0.05
    u = np.linspace(0, 1, 200_001)
    smooth = np.trapezoid(f(u) - f(u - h), u) / h
    assert exact_mean_fd(inp, 3, "stochastic", "forward", h) == pytest.approx(smooth, rel=1e-8)
    # deterministic rounding on a fine grid (k = 12) approaches the same smoothed slope within ~1/L
    assert exact_mean_fd(inp, 12, "half-even", "forward", h) == pytest.approx(smooth, abs=2 / levels(12))
    # and both approach the clipped STE, P(0 <= x <= 1), as h -> 0
    assert exact_mean_fd(inp, 3, "stochastic", "forward", 1e-6) == pytest.approx(f(1) - f(0), rel=1e-5)


def test_point_mass_is_evaluated_directly() -> None:
    # point(0.3) at k=8: s = 76.5 is a tie; half-even rounds down, so a forward step crosses
    inp = parse_input("point(0.3)")
    h = 1e-3
    assert exact_mean_fd(inp, 8, "half-even", "forward", h) == pytest.approx(1 / (255 * h))
    assert exact_mean_fd(inp, 8, "half-up", "forward", h) == 0.0
    assert exact_p_fd_zero(inp, 8, "half-up", "forward", h) == 1.0


def test_dorefa_has_no_exact_reference() -> None:
    inp = parse_input("dorefa(normal(0,0.05),size=64)")
    assert exact_mean_fd(inp, 2, "half-even", "forward", 1e-3) is None
    assert exact_error_moments(inp, 2, "half-even") is None
