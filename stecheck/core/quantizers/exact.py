"""Exact references for a fixed grid (THEORY.md, "Other quantizers: any grid").

For levels ``g_0 < g_1 < ...`` with round-to-nearest thresholds ``t_j = (g_j + g_{j+1}) / 2`` and an input with
CDF ``F`` (continuous parts; point masses are evaluated directly):

- ``E[D_h] = (1/h) sum_j (g_{j+1} - g_j) [F(t_j - lo) - F(t_j - hi)]`` for the window ``(x + lo, x + hi]``
  (forward: ``lo = 0, hi = h``; central: ``-+h/2``);
- ``P(D_h = 0)``: the mass of the x whose window holds no threshold,
  ``F(t_0 - hi) + sum_j max(0, F(t_j - hi) - F(t_{j-1} - lo)) + 1 - F(t_last - lo)``, for every h;
- ``E[n]``, ``Var(n)`` and ``|E exp(2 pi i l n)|``, l = 1..8, with ``n = (q(x) - clamp(x)) / u(x)``: the grid is
  cut into segments of equal gap (one for an integer grid, one per binade and sign for a float format),
  on each of which ``n`` is DoReFa's rounding error with ``L = 1 / gap``; each segment is integrated with
  the quadrature of :mod:`stecheck.core.exact` (panels inside cells, Gauss-Legendre, Gauss-Jacobi at
  singular support ends). Mass outside ``[g_0, g_last]`` is clipped and has ``n = 0``.

Thresholds and levels are taken only over the input's support less ``TAIL`` in each tail, as in
:mod:`stecheck.core.exact`; beyond :data:`~stecheck.core.exact.MAX_CELLS` levels there the references are
not computed (None).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.core.distributions import Atom, Continuous, InputSpec
from stecheck.core.exact import FOURIER_ORDERS, MAX_CELLS, ZERO_ULPS, ErrorMoments, _continuous_nodes, _fourier_sum, _support, fd_window
from stecheck.core.quantizers.quantizer import FixedGrid, code_error

__all__ = ["grid_fd_table", "grid_error_moments", "grid_thresholds"]


def grid_thresholds(grid: FixedGrid, a: float, b: float) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """``(t_j, gap_j)`` of the levels covering ``[a, b]`` (x units), or None beyond ``MAX_CELLS`` levels."""
    if grid.count_between(a, b) > MAX_CELLS:
        return None
    codes = grid.base.levels_between(a / grid.sigma + grid.zero, b / grid.sigma + grid.zero)
    mids = 0.5 * (codes[:-1] + codes[1:])
    return grid.sigma * (mids - grid.zero), grid.sigma * np.diff(codes)


def _no_crossing(part: Continuous, t: NDArray[np.float64], lo: float, hi: float) -> float:
    """``P(no threshold in (x + lo, x + hi])`` for a continuous part (thresholds ``t`` sorted)."""
    if t.size == 0:
        return 1.0
    upper = part.cdf(t - hi)  # the window holds t_j iff t_j - hi <= x < t_j - lo
    lower = part.cdf(t - lo)
    inner = np.maximum(upper[1:] - lower[:-1], 0.0).sum() if t.size > 1 else 0.0
    return float(upper[0] + inner + 1.0 - lower[-1])


def grid_fd_table(inp: InputSpec, grid: FixedGrid, plans: Sequence[tuple[str, float]]) -> list[tuple[float | None, float | None]]:
    """``(E[D_h], P(D_h = 0))`` of every ``(scheme, h)`` (see the module docstring); None where not computed."""
    windows = [fd_window(scheme, h) for scheme, h in plans]
    reach = max(max(abs(lo), abs(hi)) for lo, hi in windows)
    mean = np.zeros(len(plans))
    zero = np.zeros(len(plans))
    for weight, part in inp.dist.parts():
        if isinstance(part, Atom):
            for i, ((lo, hi), (_, h)) in enumerate(zip(windows, plans)):
                up, down = grid.quantize(np.array([part.x + hi, part.x + lo]))
                mean[i] += weight * (up - down) / h
                zero[i] += weight * float(up == down)
            continue
        a, b = _support(part)
        got = grid_thresholds(grid, a - reach, b + reach)
        if got is None:
            return [(None, None)] * len(plans)
        t, gap = got
        for i, ((lo, hi), (_, h)) in enumerate(zip(windows, plans)):
            mean[i] += weight * float(np.sum(gap * (part.cdf(t - lo) - part.cdf(t - hi)))) / h
            zero[i] += weight * _no_crossing(part, t, lo, hi)
    return [(float(m), float(min(max(z, 0.0), 1.0))) for m, z in zip(mean, zero)]


def _segments(grid: FixedGrid, a: float, b: float) -> list[tuple[float, float, float]] | None:
    """``(x_lo, x_hi, gap)``: maximal runs of levels covering ``[a, b]`` with one gap (x units)."""
    if grid.count_between(a, b) > MAX_CELLS:
        return None
    codes = grid.base.levels_between(a / grid.sigma + grid.zero, b / grid.sigma + grid.zero)
    if codes.size < 2:
        return []
    gaps = np.diff(codes)  # exact: integer codes, or values of a float format
    cuts = np.flatnonzero(gaps[1:] != gaps[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [gaps.size]])
    to_x = lambda c: grid.sigma * (float(c) - grid.zero)  # noqa: E731
    return [(to_x(codes[s]), to_x(codes[e]), grid.sigma * float(gaps[s])) for s, e in zip(starts, ends)]


def grid_error_moments(inp: InputSpec, grid: FixedGrid) -> ErrorMoments | None:
    """Exact ``E[n]``, ``Var(n)`` and ``|E exp(2 pi i l n)|`` (see the module docstring); None where not computed.

    Values that are 0 up to the rounding of their sums are written as 0, as in
    :func:`stecheck.core.exact.exact_error_moments`.
    """
    m1 = m2 = abs1 = abs0 = 0.0
    four = np.zeros(FOURIER_ORDERS, dtype=complex)
    for weight, part in inp.dist.parts():
        if isinstance(part, Atom):
            n = float(code_error(grid.base, np.array([part.x / grid.sigma + grid.zero]))[0])
            m1 += weight * n
            m2 += weight * n * n
            abs1 += weight * abs(n)
            abs0 += weight
            four += weight * np.exp(2j * np.pi * n * np.arange(1, FOURIER_ORDERS + 1))
            continue
        a, b = _support(part)
        segments = _segments(grid, a, b)
        if segments is None:
            return None
        clipped = float(part.cdf(np.array(grid.lo)) + (1.0 - part.cdf(np.array(grid.hi))))
        four += weight * clipped  # n = 0 where clipped
        abs0 += weight * clipped
        for x_lo, x_hi, gap in segments:
            got = _continuous_nodes(part, 1.0 / gap, x_lo, x_hi)
            if got is None:
                return None
            _, d, w = got
            m1 += weight * float((w * -d).sum())
            m2 += weight * float((w * d * d).sum())
            abs1 += weight * float(np.abs(w * d).sum())
            abs0 += weight * float(np.abs(w).sum())
            four += weight * _fourier_sum(d, w)
    eps = float(np.finfo(np.float64).eps)
    if abs(m1) <= ZERO_ULPS * eps * abs1:
        m1 = 0.0
    mags = np.abs(four)
    mags[mags <= ZERO_ULPS * eps * abs0] = 0.0
    return ErrorMoments(m1, max(m2 - m1 * m1, 0.0), tuple(float(v) for v in mags))
