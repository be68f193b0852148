"""Exact references of fixed-grid quantizers against 30-digit mpmath sums over the grid's cells.

The grid's levels are built here (integer codes, or the float format's values from its definition), and
every reference is computed with mpmath at 30 digits: ``E[D_h] = (1/h) sum_j gap_j [F(t_j - lo) - F(t_j - hi)]``
with closed-form CDFs, and ``E[n^p]`` as a sum over half-cells of ``int ((g_j - x) / u)^p f(x) dx`` by
``mpmath.quad``, ``u`` the gap on that side of the level ``g_j``; clipped mass has ``n = 0``.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from stecheck.core.distributions import parse_input
from stecheck.core.quantizers import parse_quantizer
from stecheck.core.quantizers.exact import grid_error_moments, grid_fd_table
from tests.test_quantizers import format_values

mp.mp.dps = 30

QUANTIZERS = {
    "fixed(3,0.25,zero=4)": 0.25 * (np.arange(0, 8) - 4.0),
    "absmax(4,scale=0.1)": 0.1 * np.arange(-7, 8.0),
    "affine(3,scale=0.2,zero=2)": 0.2 * (np.arange(0, 8) - 2.0),
    "fp(e4m3,scale=0.25)": 0.25 * format_values("e4m3"),
    "fp(e5m2,scale=0.5)": 0.5 * format_values("e5m2"),
    "fp(e2m1,scale=0.25)": 0.25 * format_values("e2m1"),
    "fp(e2m3,scale=0.1)": 0.1 * format_values("e2m3"),
    "fp(e3m2,scale=0.05)": 0.05 * format_values("e3m2"),
}


def law(spec: str):
    """``(cdf, pdf, support, kinks)`` in mpmath for the test inputs."""
    if spec == "normal(0.1,0.4)":
        mu, s = mp.mpf("0.1"), mp.mpf("0.4")
        return (lambda x: mp.ncdf(x, mu, s)), (lambda x: mp.npdf(x, mu, s)), (mu - 9 * s, mu + 9 * s), []
    if spec == "laplace(-0.05,0.3)":
        mu, b = mp.mpf("-0.05"), mp.mpf("0.3")
        cdf = lambda x: mp.exp((x - mu) / b) / 2 if x < mu else 1 - mp.exp(-(x - mu) / b) / 2  # noqa: E731
        return cdf, (lambda x: mp.exp(-abs(x - mu) / b) / (2 * b)), (mu - 40 * b, mu + 40 * b), [mu]
    a, b = mp.mpf("-0.7"), mp.mpf("0.9")
    return (lambda x: min(max((x - a) / (b - a), 0), 1)), (lambda x: 1 / (b - a)), (a, b), []


INPUTS = ["normal(0.1,0.4)", "laplace(-0.05,0.3)", "uniform(-0.7,0.9)"]
PLANS = [("forward", 1e-3), ("central", 1e-2), ("forward", 0.3)]


def reference(levels: np.ndarray, spec: str) -> tuple[mp.mpf, mp.mpf, list[mp.mpf]]:
    cdf, pdf, (lo_s, hi_s), kinks = law(spec)
    g = [mp.mpf(float(v)) for v in levels]
    t = [(g[j] + g[j + 1]) / 2 for j in range(len(g) - 1)]
    gaps = [g[j + 1] - g[j] for j in range(len(g) - 1)]
    fd = []
    for scheme, h in PLANS:
        h = mp.mpf(h)
        lo, hi = (mp.mpf(0), h) if scheme == "forward" else (-h / 2, h / 2)
        fd.append(mp.fsum(gap * (cdf(tj - lo) - cdf(tj - hi)) for gap, tj in zip(gaps, t)) / h)
    m1, m2 = mp.mpf(0), mp.mpf(0)
    for j, gj in enumerate(g):
        for a, b, u in ((t[j - 1] if j else None, gj, gaps[j - 1] if j else None),
                        (gj, t[j] if j < len(t) else None, gaps[j] if j < len(t) else None)):
            if a is None or b is None:
                continue  # beyond the extreme levels: clipped, n = 0
            a, b = max(a, lo_s), min(b, hi_s)
            if a >= b:
                continue
            cuts = [a] + [k for k in kinks if a < k < b] + [b]
            m1 += mp.quad(lambda x: (gj - x) / u * pdf(x), cuts)
            m2 += mp.quad(lambda x: ((gj - x) / u) ** 2 * pdf(x), cuts)
    return m1, m2 - m1 * m1, fd


@pytest.mark.slow
@pytest.mark.parametrize("quantizer", list(QUANTIZERS))
@pytest.mark.parametrize("spec", INPUTS)
def test_exact_fixed_grid_matches_mpmath(quantizer: str, spec: str) -> None:
    grid = parse_quantizer(quantizer).grid()
    assert grid is not None
    np.testing.assert_allclose(grid.levels_between(-1e9, 1e9), QUANTIZERS[quantizer], rtol=1e-15)
    inp = parse_input(spec)
    mean, var, fd = reference(QUANTIZERS[quantizer], spec)
    moments = grid_error_moments(inp, grid)
    assert moments is not None
    assert moments.mean == pytest.approx(float(mean), abs=1e-11)
    assert moments.var == pytest.approx(float(var), abs=1e-11)
    table = grid_fd_table(inp, grid, PLANS)
    for (got, _), want in zip(table, fd):
        assert got == pytest.approx(float(want), rel=1e-9, abs=1e-12)
