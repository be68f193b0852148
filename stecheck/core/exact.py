"""Exact references for parametric inputs (THEORY.md, "Monte Carlo versus exact").

Every exact quantity is linear in the input distribution, so a mixture is handled part by part:
continuous parts through their CDF (finite sums over thresholds) or a composite Gauss-Legendre rule on
the quantization cells (partial moments), point masses by evaluating the quantizer at the point.

- ``E[count]`` of thresholds crossed by a finite difference, hence ``E[D_h] = E[count] / (L h)``:
  ``sum_j [F(t_j - lo) - F(t_j - hi)]`` for the window ``(r + lo, r + hi]``, ``t_j = (j + 1/2) / L``.
- ``E[n]``, ``E[n^2]`` and ``E[exp(2 pi i l n)]``: integrals of ``g(round(s) - s)`` against the density of
  ``s = L r``, cell by cell, on panels of at most 1/8 of a cell and 1/16 of the input's spread whose edges
  include the cell edges, the density's kinks (Laplace's centre) and the support's ends; 10-point
  Gauss-Legendre on each panel, Gauss-Jacobi on a panel at an algebraic endpoint singularity (beta with
  a or b != 1). Achieved accuracy, measured against 30-digit references for every family
  (experiments/accuracy.py, README "Accuracy of the exact fields"): about 1e-12 absolute; E[D_h] to
  about 1e-10 relative (the CDF differences ``F(t) - F(t - h)`` lose digits as ``h`` shrinks).
- Where that would take more than ``MAX_CELLS`` cells (a wide input at large k, heavy tails), unclipped
  inputs of the normal, Laplace, logistic, t and uniform families use the Fourier series of
  :mod:`stecheck.core.charfn` (closed-form characteristic functions, tail bounded below 1e-13).
- ``P(n <= x) = sum_j [F_s(j + 1/2) - F_s(j - x)]`` (half-up cells; ties have probability 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Final, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, special

from stecheck.cachedirs import configure_numba_cache

configure_numba_cache()  # before numba is imported: its cache goes to a per-user folder, not the package

from numba import njit  # noqa: E402

from stecheck.core.charfn import SymmetricLaw, series_crossings, series_moments, symmetric_law
from stecheck.core.distributions import Atom, Continuous, Distribution, InputSpec
from stecheck.core.quantize import DETERMINISTIC_ROUNDINGS, levels, round_scaled

__all__ = [
    "FOURIER_ORDERS",
    "ZERO_ULPS",
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
#: A sum within this many ulps of the sum of its absolute terms is 0 up to rounding (written as 0).
ZERO_ULPS: Final = 64
#: Mass left out in each tail of an unbounded distribution.
TAIL: Final = 1e-15
#: Beyond this many quantization cells an exact reference is not attempted (heavy tails, huge k).
MAX_CELLS: Final = 2_000_000
_GL_NODES: Final = 10
_JACOBI_NODES: Final = 24
#: Panels at a singular support end integrated with ``_JACOBI_NODES`` points (the end one by Gauss-Jacobi).
_NEAR_PANELS: Final = 4


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


@lru_cache(maxsize=2)
def _gauss_legendre(count: int = _GL_NODES) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, w = np.polynomial.legendre.leggauss(count)
    return 0.5 * x, 0.5 * w  # on [-1/2, 1/2], weights summing to 1


@lru_cache(maxsize=64)
def _gauss_jacobi(power: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes ``t_i`` in (0, 1) and weights ``v_i`` with ``sum v_i g(t_i) ~ int_0^1 t^power g(t) dt``.

    Gauss-Jacobi (``scipy.special.roots_jacobi``): exact for ``t^power`` times a polynomial of degree
    ``2 * _JACOBI_NODES - 1``, so an integrable endpoint singularity of the density costs nothing.
    """
    x, w = special.roots_jacobi(_JACOBI_NODES, 0.0, power)  # weight (1 + x)^power on [-1, 1]
    return 0.5 * (x + 1.0), w * 0.5 ** (power + 1.0)


def _end_panel(
    part: Continuous, scale: int, a: float, b: float, side: str, power: float
) -> tuple[NDArray, NDArray, NDArray]:
    """Centres, offsets and weights ``w_i f_s(s_i)`` over the panel ``[a, b]`` at the support's ``side`` end.

    The density is ``d^power`` times a smooth function there (``d`` the distance to the end); the
    Gauss-Jacobi rule integrates that factor exactly and the smooth rest is evaluated as ``f / d^power``
    at interior nodes, with ``f`` taken at the distance itself (:meth:`Continuous.pdf_from_end`).
    """
    t, v = _gauss_jacobi(power)
    width = b - a
    centre = float(np.rint(0.5 * (a + b)))
    offsets = (a - centre) + width * t if side == "lo" else (b - centre) - width * t
    weights = width * v * part.pdf_from_end(width * t / scale, side) / scale / t**power
    return np.full(t.size, centre), offsets, weights


def _panel_nodes(
    part: Continuous, scale: int, edges_lo: NDArray, edges_hi: NDArray, count: int
) -> tuple[NDArray, NDArray, NDArray]:
    """Gauss-Legendre nodes on panels ``[edges_lo, edges_hi]``, each inside one cell, as centre + offset.

    The offset from the cell's centre ``c`` (an integer) is formed from ``edge - c``, exact by Sterbenz's
    lemma, so the rounding error ``-offset`` and the phases ``exp(-2 pi i l offset)`` keep full precision
    at ``s ~ 2^24`` (a node computed as ``s`` itself would carry an error of ``eps * s``).
    """
    x, w = _gauss_legendre(count)
    centre = np.rint(0.5 * (edges_lo + edges_hi))
    lo, hi = edges_lo - centre, edges_hi - centre
    width = hi - lo
    offsets = (0.5 * (lo + hi))[:, None] + width[:, None] * x[None, :]
    centres = np.broadcast_to(centre[:, None], offsets.shape)
    weights = (width[:, None] * w[None, :]) * _density_s(part, scale, centres, offsets)
    return centres.ravel(), offsets.ravel(), weights.ravel()


@lru_cache(maxsize=1024)
def _standardiser(part: Continuous, scale: int) -> tuple[tuple[float, ...], float, float, float]:
    """``(shapes, hi, lo, L sigma)``: the law's shapes, ``L loc = hi + lo`` exactly (a double-double from
    exact rationals), and ``L`` times its scale parameter."""
    shapes, loc, sigma = part.rv.dist._parse_args(*part.rv.args, **part.rv.kwds)
    exact = Fraction(scale) * Fraction(float(loc))
    hi = float(exact)
    return tuple(float(a) for a in shapes), hi, float(exact - Fraction(hi)), scale * float(sigma)


def _density_s(part: Continuous, scale: int, centres: NDArray, offsets: NDArray) -> NDArray:
    """The density of ``s = L r`` at ``c + d``, standardised as ``((c - L loc) + d) / (L sigma)``.

    ``c - L loc`` is formed before ``d`` is added, so the standardised point keeps the precision of ``d``
    even when the spread ``L sigma`` is a tiny fraction of ``s`` (``r = c / L + d / L`` in one double
    would lose ``eps |r| / sigma`` of it: 1e-7 at the narrowest scale, 2^-36).
    """
    shapes, hi, lo, sigma_s = _standardiser(part, scale)
    z = ((centres - hi) - lo + offsets) / sigma_s
    return part.rv.dist.pdf(z, *shapes) / sigma_s


def _continuous_nodes(
    part: Continuous, scale: int, lo: float, hi: float
) -> tuple[NDArray, NDArray, NDArray] | None:
    """Quadrature nodes ``s_i = c_i + d_i`` (integer cell centre, offset in [-1/2, 1/2]) and weights
    ``w_i f_s(s_i)`` over ``L [lo, hi]`` for one part.

    Panels end at the cell edges, at integers, at the density's kinks and at the support's ends, so the
    integrand is smooth on each panel; a panel that ends at a support end where the density is singular
    or not smooth (``end_powers``, beta) takes a Gauss-Jacobi rule (:func:`_end_panel`) and its
    neighbours a finer Gauss-Legendre rule, the others 10-point Gauss-Legendre.
    """
    a, b = _support(part)
    a, b = max(a, lo), min(b, hi)
    if not a < b:
        return np.empty(0), np.empty(0), np.empty(0)
    sa, sb = scale * a, scale * b
    # panels of at most 1/8 (the l = 8 Fourier term turns by pi) and 1/16 of the spread
    step = min(0.125, scale * part.spread() / 16.0)
    if (sb - sa) / step > MAX_CELLS:
        return None
    # panel edges: half-integers (cell edges), integers (stochastic rounding's kinks), a grid finer than
    # the spread, the density's kinks and the support ends
    halves = np.arange(math.floor(2 * sa), math.ceil(2 * sb) + 1) / 2.0
    grid = np.linspace(sa, sb, int(math.ceil((sb - sa) / step)) + 1)
    kinks = scale * np.asarray(part.kinks, dtype=np.float64)
    edges = np.unique(np.concatenate([halves[(halves > sa) & (halves < sb)], kinks[(kinks > sa) & (kinks < sb)], grid]))
    regular = np.ones(edges.size - 1, dtype=bool)
    extra = []
    lo_end, hi_end = part.rv.support()
    p_lo, p_hi = part.end_powers
    last = edges.size - 2
    for side, end, power, panel, at in (("lo", lo_end, p_lo, 0, edges[0]), ("hi", hi_end, p_hi, last, edges[-1])):
        if power != 0.0 and math.isfinite(end) and at == scale * end:
            # the end panel by Gauss-Jacobi, its neighbours (a singularity one panel away) by a finer rule
            near = np.arange(panel, panel + _NEAR_PANELS) if side == "lo" else np.arange(panel - _NEAR_PANELS + 1, panel + 1)
            near = near[(near >= 0) & (near <= last) & (near != panel)]
            regular[near] = False
            regular[panel] = False
            extra.append(_end_panel(part, scale, float(edges[panel]), float(edges[panel + 1]), side, power))
            extra.append(_panel_nodes(part, scale, edges[near], edges[near + 1], _JACOBI_NODES))
    idx = np.flatnonzero(regular)
    parts = [_panel_nodes(part, scale, edges[idx], edges[idx + 1], _GL_NODES)] + extra
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def _error_at(d: NDArray, rounding: str) -> tuple[NDArray, NDArray]:
    """Per-point ``E[e]`` and ``E[e^2]`` of the error of quantizing ``s = c + d`` (c an integer, |d| < 1/2,
    no tie; over the rounding's own noise): ``e = -d`` for deterministic rounding, else ``E[e | s] = 0``
    and ``E[e^2 | s] = frac(d) (1 - frac(d))``."""
    if rounding in DETERMINISTIC_ROUNDINGS:
        return -d, d * d
    frac = d - np.floor(d)
    return np.zeros_like(d), frac * (1.0 - frac)


def _fourier_sum(d: NDArray, w: NDArray) -> NDArray:
    """``sum_i w_i E exp(2 pi i l e)`` at points ``s = c + d`` (c an integer), l = 1..8.

    For any rounding to integers ``E exp(2 pi i l e) = exp(-2 pi i l s) = exp(-2 pi i l d)``: the l-th
    power of one exponential (a few ulps from the direct one), accumulated in one compiled pass.
    """
    return _fourier_powers(np.exp(-2j * np.pi * np.asarray(d, dtype=np.float64)), np.asarray(w, dtype=np.float64))


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

    Values that are 0 up to the rounding of the sum are returned as exactly 0: ``E[e]`` when
    ``|E[e]| <= ZERO_ULPS * eps * sum_i |w_i e_i|`` and a Fourier magnitude when it is at most
    ``ZERO_ULPS * eps * sum_i |w_i|`` (``eps = 2^-52``, ``ZERO_ULPS = 64``: a few ulps of the sum of the
    absolute terms, far below the quadrature's accuracy of about 1e-12). So an input symmetric about a
    level or a threshold shows ``E[n] = 0``, not ``-2.5e-18``, on every machine.
    """
    if not inp.has_exact:
        return None
    scale = levels(k)
    lo, hi = (0.0, 1.0) if inp.path == "clip" else (-math.inf, math.inf)
    m1 = m2 = 0.0
    abs1 = abs0 = 0.0  # sums of the absolute terms of E[e] and of the Fourier sums
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
                series = None if inp.path == "clip" else _series_part(part, scale, rounding)
                if series is None:
                    return None
                mean, second, phi, terms = series
                m1 += weight * mean
                m2 += weight * second
                abs1 += weight * terms
                abs0 += weight
                four += weight * np.conj(phi)  # E exp(2 pi i l e) = E exp(-2 pi i l s)
                continue
            _, d, w = got
            e1, e2 = _error_at(d, rounding)
            m1 += weight * float((w * e1).sum())
            m2 += weight * float((w * e2).sum())
            abs1 += weight * float(np.abs(w * e1).sum())
            abs0 += weight * float(np.abs(w).sum())
            four += weight * _fourier_sum(d, w)
        for mass, r in points:
            s = np.array([scale * r])
            if rounding in DETERMINISTIC_ROUNDINGS:  # the point itself may sit on a tie
                e = round_scaled(s, rounding) - s
                e1, e2 = e, e * e
            else:
                e1, e2 = _error_at(s - np.floor(s), rounding)
            m1 += weight * mass * float(e1[0])
            m2 += weight * mass * float(e2[0])
            abs1 += weight * mass * abs(float(e1[0]))
            abs0 += weight * mass
            four += weight * mass * _fourier_sum(s - np.rint(s), np.ones(1))
    eps = float(np.finfo(np.float64).eps)
    if abs(m1) <= ZERO_ULPS * eps * abs1:
        m1 = 0.0
    mags = np.abs(four)
    mags[mags <= ZERO_ULPS * eps * abs0] = 0.0
    return ErrorMoments(m1, max(m2 - m1 * m1, 0.0), tuple(float(v) for v in mags))


@lru_cache(maxsize=1024)
def _law(part: Continuous) -> SymmetricLaw | None:
    """:func:`stecheck.core.charfn.symmetric_law` of a part, built once (its series are cached per law)."""
    return symmetric_law(part.rv)


def _series_part(part: Continuous, scale: int, rounding: str) -> tuple[float, float, NDArray, float] | None:
    """:func:`stecheck.core.charfn.series_moments` for a part of a family with a closed-form characteristic function."""
    law = _law(part)
    return None if law is None else series_moments(law, scale, rounding in DETERMINISTIC_ROUNDINGS)


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
                law = _law(part)
                counts = [None if law is None else series_crossings(law, scale, a_, b_) for a_, b_ in windows]
                if any(c is None for c in counts):
                    return None
                total += weight * np.array(counts, dtype=np.float64)
                continue
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
        if scale * h <= 1.0:
            zero = _p_zero_narrow(inp, k, rounding, fd_window(scheme, h), count)
        else:
            zero = exact_p_fd_zero(inp, k, rounding, scheme, h)
        out.append((count / (scale * h), zero))
    return out


def _p_zero_narrow(inp: InputSpec, k: int, rounding: str, window: tuple[float, float], count: float) -> float:
    """``P(D_h = 0)`` for ``L h <= 1`` given ``E[count]``: continuous parts ``1 - E[count | part]``, atoms directly.

    A window of length ``h <= Delta`` holds at most one threshold, so a continuous part's count is 0 or 1
    (ties have probability 0) and ``P(count = 0 | part) = 1 - E[count | part]``. At a point mass a window
    end can sit on a rounding tie, where the level change can be 0 or 2 (half-even), so point masses are
    evaluated one by one. Stochastic rounding and dither draw one ``U`` for both ends, so their level
    change is ``floor(v + L h) - floor(v)`` in {0, 1} with continuous ``v``: ``1 - E[count]`` for every part.
    """
    if rounding not in DETERMINISTIC_ROUNDINGS:
        return min(max(1.0 - count, 0.0), 1.0)
    lo, hi = window
    clip = inp.path == "clip"
    continuous_mass, zero = 1.0, 0.0
    for weight, part in _parts_at(inp.dist, k):
        if isinstance(part, Atom):
            moved = _atom_crossings(part.x, k, rounding, lo, hi, clip)
            continuous_mass -= weight
            count -= weight * moved
            zero += weight * float(moved == 0)
    return min(max(continuous_mass - count + zero, 0.0), 1.0)


def exact_mean_fd(inp: InputSpec, k: int, rounding: str, scheme: str, h: float) -> float | None:
    """Exact ``E[D_h] = E[count] / (L h)`` (THEORY.md: ``(Delta/h) sum_j [F(t_j) - F(t_j - h)]``)."""
    count = exact_mean_crossings(inp, k, rounding, scheme, h)
    return None if count is None else count / (levels(k) * h)


def exact_p_fd_zero(inp: InputSpec, k: int, rounding: str, scheme: str, h: float) -> float | None:
    """Exact ``P(D_h = 0)``.

    When ``L h <= 1`` a window of length h holds at most one threshold, so ``P(D_h = 0) = 1 - E[count]``
    for continuous parts; point masses are evaluated directly (:func:`_p_zero_narrow`).
    Wider windows always hold one unclipped (probability 0); clipped, ``P(x + lo >= t_{L-1}) +
    P(x + hi < t_0)`` for deterministic rounding.
    """
    if not inp.has_exact:
        return None
    scale = levels(k)
    if scale * h <= 1.0:
        count = exact_mean_crossings(inp, k, rounding, scheme, h)
        return None if count is None else _p_zero_narrow(inp, k, rounding, fd_window(scheme, h), count)
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
