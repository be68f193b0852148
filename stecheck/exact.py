"""Exact references for parametric inputs (THEORY.md, "Monte Carlo versus exact").

Every exact quantity is linear in the input distribution, so a mixture is handled part by part:
continuous parts through their CDF (finite sums over thresholds) or a composite Gauss-Legendre rule on
the quantization cells (partial moments), point masses by evaluating the quantizer at the point.

- ``E[count]`` of thresholds crossed by a finite difference, hence ``E[D_h] = E[count] / (L h)``:
  ``sum_j [F(t_j - lo) - F(t_j - hi)]`` for the window ``(r + lo, r + hi]``, ``t_j = (j + 1/2) / L``.
- ``E[n]``, ``E[n^2]`` and ``E[exp(2 pi i l n)]``: integrals of ``g(round(s) - s)`` against the density of
  ``s = L r``, cell by cell, with panels no wider than the input's spread (exact to ~1e-10 for smooth
  densities, exact for piecewise-polynomial ones since panel edges include the support ends).
- ``P(n <= x) = sum_j [F_s(j + 1/2) - F_s(j - x)]`` (half-up cells; ties have probability 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate

from stecheck.cachedirs import configure_numba_cache

configure_numba_cache()  # before numba is imported: its cache goes to a per-user folder, not the package

from numba import njit  # noqa: E402

from stecheck.distributions import Atom, Continuous, Distribution, InputSpec
from stecheck.quantize import DETERMINISTIC_ROUNDINGS, levels, round_scaled

__all__ = [
    "FOURIER_ORDERS",
    "ErrorMoments",
    "fd_window",
    "exact_error_moments",
    "exact_mean_crossings",
    "exact_fd_table",
    "exact_mean_fd",
    "exact_p_fd_zero",
    "exact_cdf_n",
]

FOURIER_ORDERS: Final = 8
#: Mass left out in each tail of an unbounded distribution.
TAIL: Final = 1e-15
#: Beyond this many quantization cells an exact reference is not attempted (heavy tails, huge k).
MAX_CELLS: Final = 2_000_000
_GL_NODES: Final = 8


@dataclass(frozen=True)
class ErrorMoments:
    """Exact moments of the rounding error: ``E[n]``, ``Var(n)``, ``|E exp(2 pi i l n)|``, l = 1..8."""

    mean: float
    var: float
    fourier_abs: tuple[float, ...]


def fd_window(scheme: str, h: float) -> tuple[float, float]:
    """The window ``(lo, hi]`` whose thresholds a finite difference counts: ``q(r+hi) - q(r+lo)``."""
    if scheme == "forward":
        return 0.0, h
    if scheme == "central":
        return -0.5 * h, 0.5 * h
    raise ValueError(f"unknown finite-difference scheme {scheme!r}")


@lru_cache(maxsize=1)
def _gauss_legendre() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = np.polynomial.legendre.leggauss(_GL_NODES)
    return 0.5 * x, 0.5 * w  # on [-1/2, 1/2], weights summing to 1


def _continuous_nodes(part: Continuous, scale: int, lo: float, hi: float) -> tuple[NDArray, NDArray] | None:
    """Quadrature nodes ``s_i`` and weights ``w_i f_s(s_i)`` over ``L [lo, hi]`` for one part."""
    a, b = _support(part)
    a, b = max(a, lo), min(b, hi)
    if not a < b:
        return np.empty(0), np.empty(0)
    sa, sb = scale * a, scale * b
    # panels of at most 1/8 (the l = 8 Fourier term turns by pi) and 1/16 of the spread
    step = min(0.125, scale * part.spread() / 16.0)
    if (sb - sa) / step > MAX_CELLS:
        return None
    # panel edges: half-integers (cell edges), integers (stochastic rounding's kinks), a grid finer than
    # the spread, and the support ends
    halves = np.arange(math.floor(2 * sa), math.ceil(2 * sb) + 1) / 2.0
    grid = np.linspace(sa, sb, int(math.ceil((sb - sa) / step)) + 1)
    edges = np.unique(np.concatenate([halves[(halves > sa) & (halves < sb)], grid]))
    x, w = _gauss_legendre()
    width = np.diff(edges)
    mids = 0.5 * (edges[:-1] + edges[1:])
    nodes = (mids[:, None] + width[:, None] * x[None, :]).ravel()
    weights = (width[:, None] * w[None, :]).ravel() * part.pdf(nodes / scale) / scale
    return nodes, weights


def _error_at(s: NDArray, rounding: str) -> tuple[NDArray, NDArray]:
    """Per-point ``E[e]`` and ``E[e^2]`` of the error of quantizing ``s`` (over the rounding's own noise)."""
    if rounding in DETERMINISTIC_ROUNDINGS:
        n = round_scaled(s, rounding) - s
        return n, n * n
    frac = s - np.floor(s)
    return np.zeros_like(s), frac * (1.0 - frac)


def _fourier_sum(s: NDArray, w: NDArray) -> NDArray:
    """``sum_i w_i E exp(2 pi i l e)`` at points ``s``, l = 1..8.

    For any rounding to integers ``E exp(2 pi i l e) = exp(-2 pi i l s)``: the l-th power of one
    exponential (a few ulps from the direct one), accumulated in one compiled pass.
    """
    return _fourier_powers(np.exp(-2j * np.pi * np.asarray(s, dtype=np.float64)), np.asarray(w, dtype=np.float64))


@njit(nogil=True, cache=True)
def _fourier_powers(base: NDArray, w: NDArray) -> NDArray:  # pragma: no cover - compiled
    """``sum_i w_i base_i^l``, l = 1..FOURIER_ORDERS."""
    out = np.zeros(FOURIER_ORDERS, dtype=np.complex128)
    for i in range(base.size):
        z = base[i]
        p = w[i] * z
        for order in range(FOURIER_ORDERS):
            out[order] += p
            p *= z
    return out


@lru_cache(maxsize=1024)
def _parts_at(dist: Distribution, k: int) -> tuple[tuple[float, Continuous | Atom], ...]:
    """``dist.at_bits(k).parts()``, built once (grid-relative inputs build a new scipy law per k)."""
    return tuple(dist.at_bits(k).parts())


@lru_cache(maxsize=1024)
def _support(part: Continuous) -> tuple[float, float]:
    """``part.support(TAIL)``, computed once per part (a scipy ppf/isf call each)."""
    return part.support(TAIL)


def exact_error_moments(inp: InputSpec, k: int, rounding: str) -> ErrorMoments | None:
    """Exact ``E[e]``, ``Var(e)`` and Fourier magnitudes of the error ``e = L q(r) - L r``.

    For deterministic rounding ``e = n``; for stochastic rounding and dither ``E[e | s] = 0`` and
    ``E[e^2 | s] = frac(s) (1 - frac(s))``. Returns None where no exact value is computed (DoReFa
    weights, whose max is data-dependent; inputs needing more than ``MAX_CELLS`` cells).
    """
    if not inp.has_exact:
        return None
    scale = levels(k)
    lo, hi = (0.0, 1.0) if inp.path == "clip" else (-math.inf, math.inf)
    m1 = m2 = 0.0
    four = np.zeros(FOURIER_ORDERS, dtype=complex)
    for weight, part in _parts_at(inp.dist, k):
        if isinstance(part, Atom):
            points = [(1.0, float(np.clip(part.x, lo, hi)))]
        else:
            points = []
            if inp.path == "clip":
                points = [(float(part.cdf(np.array(0.0))), 0.0), (float(1.0 - part.cdf(np.array(1.0))), 1.0)]
            got = _continuous_nodes(part, scale, lo, hi)
            if got is None:
                return None
            s, w = got
            e1, e2 = _error_at(s, rounding)
            m1 += weight * float((w * e1).sum())
            m2 += weight * float((w * e2).sum())
            four += weight * _fourier_sum(s, w)
        for mass, r in points:
            s = np.array([scale * r])
            e1, e2 = _error_at(s, rounding)
            m1 += weight * mass * float(e1[0])
            m2 += weight * mass * float(e2[0])
            four += weight * mass * _fourier_sum(s, np.ones(1))
    return ErrorMoments(m1, max(m2 - m1 * m1, 0.0), tuple(float(v) for v in np.abs(four)))


def _atom_crossings(x: float, k: int, rounding: str, lo: float, hi: float, clip: bool) -> float:
    """Expected level change ``E[round(L r(x + hi)) - round(L r(x + lo))]`` at a point mass."""
    scale = levels(k)
    a, b = x + lo, x + hi
    if clip:
        a, b = min(max(a, 0.0), 1.0), min(max(b, 0.0), 1.0)
    if rounding in DETERMINISTIC_ROUNDINGS:
        return float(round_scaled(np.array([scale * b]), rounding)[0] - round_scaled(np.array([scale * a]), rounding)[0])
    return scale * (b - a)  # E_U SR(s) = s


def exact_mean_crossings(inp: InputSpec, k: int, rounding: str, scheme: str, h: float) -> float | None:
    """``E[count]``, the expected number of levels a finite difference of step ``h`` moves.

    Deterministic rounding: ``sum_j [F(t_j - lo) - F(t_j - hi)]`` over thresholds ``t_j`` (all j for
    the unclipped quantizer, ``j = 0..L-1`` for ``clip``). Stochastic rounding and dither:
    ``E_U SR(s) = s``, so ``L h`` unclipped and ``L int_0^1 [F(u - lo) - F(u - hi)] du`` clipped.
    """
    counts = _mean_crossings_many(inp, k, rounding, (fd_window(scheme, h),))
    return None if counts is None else float(counts[0])


#: Above this many CDF evaluations per part the windows are summed one at a time (bounded memory).
_BATCH_CELLS: Final = 1 << 20


def _mean_crossings_many(
    inp: InputSpec, k: int, rounding: str, windows: tuple[tuple[float, float], ...]
) -> NDArray[np.float64] | None:
    """:func:`exact_mean_crossings` for several windows ``(lo, hi]`` at once (one CDF call per part).

    The unclipped threshold range is the union over the windows: extra terms are differences of the
    CDF beyond ``TAIL``, below 1e-15 each.
    """
    if not inp.has_exact:
        return None
    scale = levels(k)
    lo = np.array([w[0] for w in windows])
    hi = np.array([w[1] for w in windows])
    clip = inp.path == "clip"
    total = np.zeros(len(windows))
    for weight, part in _parts_at(inp.dist, k):
        if isinstance(part, Atom):
            total += weight * np.array([_atom_crossings(part.x, k, rounding, a, b, clip) for a, b in windows])
            continue
        if rounding not in DETERMINISTIC_ROUNDINGS:
            if not clip:
                total += weight * scale * (hi - lo)
                continue
            for i, (a, b) in enumerate(windows):
                val, _ = integrate.quad(
                    lambda u, a=a, b=b: float(part.cdf(np.array(u - a)) - part.cdf(np.array(u - b))), 0.0, 1.0,
                    limit=200,
                )
                total[i] += weight * scale * val
            continue
        if clip:
            j = np.arange(scale)
        else:
            a, b = _support(part)
            j_lo = math.floor(scale * (a + lo.min()) - 1)
            j_hi = math.ceil(scale * (b + hi.max()) + 1)
            if j_hi - j_lo > MAX_CELLS:
                return None
            j = np.arange(j_lo, j_hi + 1)
        t = (j + 0.5) / scale
        if t.size * len(windows) <= _BATCH_CELLS:
            total += weight * np.sum(part.cdf(t[None, :] - lo[:, None]) - part.cdf(t[None, :] - hi[:, None]), axis=1)
        else:
            total += weight * np.array([np.sum(part.cdf(t - a) - part.cdf(t - b)) for a, b in windows])
    return total


def exact_fd_table(
    inp: InputSpec, k: int, rounding: str, plans: Sequence[tuple[str, float]]
) -> list[tuple[float | None, float | None]]:
    """``(E[D_h], P(D_h = 0))`` for every ``(scheme, h)`` of ``plans``, with one CDF pass per part.

    Equal to :func:`exact_mean_fd` and :func:`exact_p_fd_zero` plan by plan (up to the summation range,
    see :func:`_mean_crossings_many`); the engine fills the exact fields of a cell with it.
    """
    counts = _mean_crossings_many(inp, k, rounding, tuple(fd_window(s, h) for s, h in plans))
    if counts is None:
        return [(None, exact_p_fd_zero(inp, k, rounding, s, h)) for s, h in plans]
    scale = levels(k)
    out: list[tuple[float | None, float | None]] = []
    for (scheme, h), count in zip(plans, counts.tolist()):
        zero = min(max(1.0 - count, 0.0), 1.0) if scale * h <= 1.0 else exact_p_fd_zero(inp, k, rounding, scheme, h)
        out.append((count / (scale * h), zero))
    return out


def exact_mean_fd(inp: InputSpec, k: int, rounding: str, scheme: str, h: float) -> float | None:
    """Exact ``E[D_h] = E[count] / (L h)`` (THEORY.md: ``(Delta/h) sum_j [F(t_j) - F(t_j - h)]``)."""
    count = exact_mean_crossings(inp, k, rounding, scheme, h)
    return None if count is None else count / (levels(k) * h)


def exact_p_fd_zero(inp: InputSpec, k: int, rounding: str, scheme: str, h: float) -> float | None:
    """Exact ``P(D_h = 0)``.

    When ``L h <= 1`` a window of length h holds at most one threshold, so ``P(D_h = 0) = 1 - E[count]``.
    Wider windows always hold one unclipped (probability 0); clipped, ``P(x + lo >= t_{L-1}) +
    P(x + hi < t_0)`` for deterministic rounding.
    """
    if not inp.has_exact:
        return None
    scale = levels(k)
    if scale * h <= 1.0:
        count = exact_mean_crossings(inp, k, rounding, scheme, h)
        return None if count is None else min(max(1.0 - count, 0.0), 1.0)
    if inp.path != "clip":
        return 0.0
    if rounding not in DETERMINISTIC_ROUNDINGS:
        return None
    lo, hi = fd_window(scheme, h)
    t_first, t_last = 0.5 / scale, (scale - 0.5) / scale
    total = 0.0
    for weight, part in _parts_at(inp.dist, k):
        if isinstance(part, Atom):
            total += weight * float(_atom_crossings(part.x, k, rounding, lo, hi, True) == 0)
        else:
            total += weight * float(1.0 - part.cdf(np.array(t_last - lo)) + part.cdf(np.array(t_first - hi)))
    return total


def exact_cdf_n(inp: InputSpec, k: int, x: ArrayLike, rounding: str = "half-up") -> NDArray[np.float64]:
    """Exact ``P(n <= x)`` for the unclipped deterministic quantizer.

    ``F_n(x) = sum_j [F_s(j + 1/2) - F_s(j - x)]`` for continuous parts (half-up and half-even agree
    off ties, which have probability 0); point masses are evaluated directly.
    """
    if inp.path != "none" or rounding not in DETERMINISTIC_ROUNDINGS:
        raise ValueError("exact_cdf_n is defined for the unclipped deterministic quantizer")
    scale = levels(k)
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
    out = np.zeros_like(x)
    for weight, part in _parts_at(inp.dist, k):
        if isinstance(part, Atom):
            s = scale * part.x
            n = float(round_scaled(np.array([s]), rounding)[0] - s)
            out += weight * (n <= x)
            continue
        a, b = part.support(TAIL)
        j = np.arange(math.floor(scale * a) - 1, math.ceil(scale * b) + 2)
        upper = part.cdf((j + 0.5) / scale)
        lower = part.cdf((j[None, :] - np.clip(x, -0.5, 0.5)[..., None]) / scale)
        out += weight * np.sum(upper - lower, axis=-1)
    return np.clip(np.where(x >= 0.5, 1.0, np.where(x < -0.5, 0.0, out)), 0.0, 1.0).reshape(shape)
