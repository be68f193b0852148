"""Exact fields of singular and kinked densities against 30-digit references written here (issue 13, item 1).

References: beta's characteristic function ``E exp(i u X) = 1F1(a; a+b; i u)`` (mpmath), Laplace's
``exp(i u mu) / (1 + b^2 u^2)`` summed in the Fourier series of THEORY.md (E[n], Var(n)), and the
per-cell integrals by mpmath's tanh-sinh quadrature, which handles the beta endpoint singularities.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from stecheck.core.distributions import parse_input
from stecheck.core.exact import exact_error_moments
from stecheck.core.quantize import levels

mp.mp.dps = 30


def beta_fourier(a: float, b: float, k: int) -> list[float]:
    """``|E exp(2 pi i l n)| = |phi_s(2 pi l)| = |1F1(a; a+b; 2 pi i l L)|``, l = 1..8."""
    scale = levels(k)
    return [float(abs(mp.hyp1f1(a, a + b, 2j * mp.pi * l * scale))) for l in range(1, 9)]


def beta_moments(a: float, b: float, k: int) -> tuple[float, float]:
    """``E[n]`` and ``Var(n)`` by tanh-sinh quadrature cell by cell (``n = j - s`` on cell j)."""
    scale = levels(k)
    norm = mp.beta(a, b)

    def density(x: mp.mpf) -> mp.mpf:
        return x ** (a - 1) * (1 - x) ** (b - 1) / norm

    m1 = m2 = mp.mpf(0)
    for j in range(scale + 1):
        lo, hi = max(mp.mpf(j) - 0.5, 0) / scale, min(mp.mpf(j) + 0.5, scale) / scale
        m1 += mp.quad(lambda x: (j - scale * x) * density(x), [lo, hi])
        m2 += mp.quad(lambda x: (j - scale * x) ** 2 * density(x), [lo, hi])
    return float(m1), float(m2 - m1 * m1)


@pytest.mark.parametrize(
    "a,b,k",
    [(0.05, 0.05, 1), (0.5, 0.5, 1), (0.05, 0.05, 3), (0.5, 0.5, 4), (0.3, 2.0, 2), (2.5, 0.7, 5), (1e-3, 1e-3, 2)],
)
def test_beta_fourier_matches_hypergeometric(a: float, b: float, k: int) -> None:
    """The issue's cases: beta(0.05,0.05) k=1 is 0.887215 (was 0.2245), beta(0.5,0.5) 0.304242 (was 0.2906)."""
    got = exact_error_moments(parse_input(f"beta({a},{b})"), k, "half-even")
    assert got is not None
    assert got.fourier_abs == pytest.approx(beta_fourier(a, b, k), abs=1e-9)


@pytest.mark.parametrize("a,b,k", [(0.05, 0.05, 1), (0.5, 0.5, 2), (0.3, 2.0, 1), (2.5, 0.7, 3)])
def test_beta_mean_and_variance_match_quadrature(a: float, b: float, k: int) -> None:
    got = exact_error_moments(parse_input(f"beta({a},{b})"), k, "half-even")
    assert got is not None
    mean, var = beta_moments(a, b, k)
    assert got.mean == pytest.approx(mean, abs=1e-10)
    assert got.var == pytest.approx(var, abs=1e-10)


def laplace_series(mu: float, b: float, k: int) -> tuple[float, float, np.ndarray]:
    """THEORY.md's Fourier view with ``phi(u) = exp(i u mu) / (1 + b^2 u^2)`` at ``u = 2 pi l L``.

    ``E[n] = sum (-1)^l Im phi / (pi l)``; ``E[n^2] = 1/12 + sum (-1)^l Re phi / (pi l)^2``. The terms fall
    as ``l^-3``: two million of them leave a tail below 1e-15.
    """
    scale = levels(k)
    l = np.arange(1, 2_000_001)
    u = 2 * np.pi * l * scale
    phi = np.exp(1j * u * mu) / (1 + (b * u) ** 2)
    sign = (-1.0) ** l
    mean = float(np.sum(sign * phi.imag / (np.pi * l)))
    second = 1 / 12 + float(np.sum(sign * phi.real / (np.pi * l) ** 2))
    return mean, second - mean * mean, np.abs(phi[:8])


@pytest.mark.parametrize("mu,b,k", [(0.123, 1.0, 2), (0.37, 0.3, 1), (0.45, 0.02, 4), (0.6, 0.004, 3)])
def test_laplace_kink_inside_a_cell(mu: float, b: float, k: int) -> None:
    """laplace(0.123,1) k=2 was off by 9e-7 in E[n] (the centre's kink inside a Gauss-Legendre panel)."""
    got = exact_error_moments(parse_input(f"laplace({mu},{b})"), k, "half-even")
    assert got is not None
    mean, var, four = laplace_series(mu, b, k)
    assert got.mean == pytest.approx(mean, abs=1e-12)
    assert got.var == pytest.approx(var, abs=1e-12)
    assert np.asarray(got.fourier_abs) == pytest.approx(four, abs=1e-12)
