"""Exact finite sums and a stratified estimator behind the audit's positive rows (pure: no I/O).

- :func:`expected_level`: ``E[m(s)]``, the expected integer level of a rounding at a fixed scaled point
  ``s = L r``, as a finite sum over the levels the rounding can return, each weighted by the probability
  the noise sends ``s`` there (exact rationals). Stochastic rounding ``floor(s + U)`` and dither
  ``rint(s + U - 1/2)``, ``U ~ Uniform[0, 1)``; deterministic roundings return one level with probability 1.
- :func:`expected_slope`: the finite difference of the expected quantizer output,
  ``(E[q(r + hi)] - E[q(r + lo)]) / h`` with ``E[q(x)] = E[m(L x)] / L``, from two such sums -- computed,
  not the value ``1`` the positive rows claim.
- :func:`stratified_slope`: a Monte Carlo estimate of the same difference with common random numbers
  and stratified noise, whose standard error is about ``1 / (N L h)`` instead of ``1 / sqrt(N L h)``.
- :func:`density_limit`: ``lim_{h -> 0} E[D_h]`` of the forward difference for a continuous input,
  ``Delta sum_j p(t_j^-)`` (the derivative at 0 of the exact CDF sum ``(Delta/h) sum_j [F(t_j) - F(t_j - h)]``;
  THEORY.md), evaluated from the density at the thresholds, independently of any Fourier series.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Final

import numpy as np
from numpy.typing import NDArray

from stecheck.core.distributions import Continuous, parse_input
from stecheck.core.exact import fd_window
from stecheck.core.quantize import DETERMINISTIC_ROUNDINGS, levels
from stecheck.errors import ConfigError

__all__ = [
    "MAX_LIMIT_THRESHOLDS",
    "MAX_SLOPE_SAMPLES",
    "SLOPE_REPLICATES",
    "SLOPE_STREAM",
    "LevelFn",
    "expected_level",
    "expected_slope",
    "stratified_slope",
    "slope_noise",
    "density_limit",
]

#: Independent stratified replicates behind one Monte Carlo slope (the standard error has this many - 1 df).
SLOPE_REPLICATES: Final = 32
#: At most this many noise draws (memory: three float64 arrays of this size per slope); more samples add nothing.
MAX_SLOPE_SAMPLES: Final = 1 << 22
#: Spawn key of the noise stream of the randomised-rounding rows (distinct from the algebraic steps' key).
SLOPE_STREAM: Final = 0xA0D18
#: Thresholds beyond this tail probability are left out of :func:`density_limit` (density below ~1e-13).
_LIMIT_TAIL: Final = 1e-15
#: At most this many thresholds per :func:`density_limit` (memory: 8 bytes each, a few arrays).
MAX_LIMIT_THRESHOLDS: Final = 1 << 22

#: ``m(s, u)``: the integer level a rounding returns for scaled inputs ``s`` and uniform noise ``u``.
LevelFn = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]


def _interval(a: Fraction, b: Fraction, lo: Fraction, hi: Fraction) -> Fraction:
    """Length of ``[a, b) ∩ [lo, hi)``."""
    return max(Fraction(0), min(b, hi) - max(a, lo))


def expected_level(s: Fraction, rounding: str) -> Fraction:
    """``E[m(s)]`` for a rounding at the scaled point ``s``: ``sum_j j P(m(s) = j)``, exactly.

    - ``stochastic``: ``m = floor(s + U)``, ``U ~ Uniform[0, 1)``, so ``m = j`` when ``U`` lies in
      ``[j - s, j + 1 - s)``; the sum runs over ``j = floor(s), floor(s) + 1``.
    - ``dither``: ``m = rint(s + V)``, ``V = U - 1/2``, so ``m = j`` when ``V`` lies in
      ``(j - 1/2 - s, j + 1/2 - s)`` (ties have probability 0); ``j = floor(s) - 1 .. floor(s) + 2``.
    - ``half-even`` / ``half-up``: the one level ``round(s)``, ties to even or up.

    Parameters
    ----------
    s : Fraction
        The scaled input ``L r`` as an exact rational.
    rounding : str
        One of ``half-even``, ``half-up``, ``stochastic``, ``dither``.
    """
    base = math.floor(s)
    if rounding == "stochastic":
        return sum((j * _interval(j - s, j + 1 - s, Fraction(0), Fraction(1)) for j in (base, base + 1)), Fraction(0))
    if rounding == "dither":
        half = Fraction(1, 2)
        return sum((j * _interval(j - half - s, j + half - s, -half, half) for j in range(base - 1, base + 3)), Fraction(0))
    if rounding in DETERMINISTIC_ROUNDINGS:
        frac = s - base
        if frac != Fraction(1, 2):
            return Fraction(base + (frac > Fraction(1, 2)))
        return Fraction(base + 1 if rounding == "half-up" or base % 2 else base)
    raise ConfigError(f"unknown rounding {rounding!r}")


def expected_slope(r: float, k: int, h: float, rounding: str, scheme: str = "forward") -> Fraction:
    """``(E[q(r + hi)] - E[q(r + lo)]) / h`` exactly, ``E[q(x)] = E[m(L x)] / L`` (:func:`expected_level`).

    ``(lo, hi)`` is ``(0, h)`` (forward) or ``(-h/2, h/2)`` (central); ``r`` and ``h`` are taken as the
    exact rationals their floats denote. For stochastic rounding and dither ``E[m(s)] = s``, so the slope
    is 1 at every r; for deterministic rounding it is ``Delta/h`` times the number of thresholds crossed.
    """
    scale = levels(k)
    lo, hi = (Fraction(x) for x in fd_window(scheme, h))
    x = Fraction(r)
    upper = expected_level(scale * (x + hi), rounding)
    lower = expected_level(scale * (x + lo), rounding)
    return (upper - lower) / (scale * (hi - lo))


def slope_noise(seed: int, samples: int, replicates: int = SLOPE_REPLICATES) -> NDArray[np.float64]:
    """Stratified uniform noise, shape ``(replicates, n)``, ``n = ceil(samples / replicates)``.

    Row b holds ``U_bi = (i + V_bi) / n`` with ``V_bi ~ Uniform[0, 1)`` iid, so each ``U_bi`` is
    Uniform[0, 1) and each row covers [0, 1) evenly. From ``SeedSequence(seed, spawn_key=(SLOPE_STREAM,))``.
    At most :data:`MAX_SLOPE_SAMPLES` draws in all (a memory bound; the standard error is then already
    far below any difference the rows decide).
    """
    if replicates < 2:
        raise ConfigError(f"replicates={replicates} must be at least 2 (the standard error needs them)")
    n = max(1, -(-min(samples, MAX_SLOPE_SAMPLES) // replicates))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(SLOPE_STREAM,))))
    return (np.arange(n) + rng.random((replicates, n))) / n


def stratified_slope(level: LevelFn, r: float, k: int, h: float, noise: NDArray[np.float64],
                     scheme: str = "forward") -> tuple[float, float]:
    """Monte Carlo ``(mean, SE)`` of ``(q(r + hi) - q(r + lo)) / h`` over the rounding noise.

    Common random numbers (the same ``U`` at both ends) and stratified noise (:func:`slope_noise`): each
    replicate's mean is unbiased, and the estimate is their average with standard error
    ``sd(replicate means) / sqrt(replicates)``. For stochastic rounding a level change happens when ``U``
    falls in a set of measure ``L h``; stratification fixes the count of such ``U`` to within the two
    boundary strata, so the standard error is about ``1 / (n L h sqrt(replicates))``.

    Parameters
    ----------
    level : callable
        ``m(s, u)``, the rounding's integer level for a scaled input ``s`` (a 0-d array) and the noise
        ``u``, broadcasting ``s`` against ``u``.
    r, k, h, scheme
        Point, bit width, step and ``forward`` / ``central``.
    noise : ndarray, shape (replicates, n)
        From :func:`slope_noise`.
    """
    scale = levels(k)
    lo, hi = fd_window(scheme, h)
    upper = level(np.asarray(scale * (r + hi)), noise)
    lower = level(np.asarray(scale * (r + lo)), noise)
    per = np.mean(np.broadcast_to(upper - lower, noise.shape), axis=1) / (scale * (hi - lo))
    return float(np.mean(per)), float(np.std(per, ddof=1) / math.sqrt(per.size))


def density_limit(spec: str, k: int) -> float:
    """``lim_{h -> 0} E[D_h] = Delta sum_j p(t_j^-)`` (forward, unclipped) for a continuous input.

    The forward window ``(r, r + h]`` holds the threshold ``t_j`` when ``r`` lies in ``[t_j - h, t_j)``, so
    the limit takes the density's left limit at each threshold, evaluated at the float just below
    ``t_j`` (equal to ``p(t_j)`` where the density is continuous). Thresholds run over the support up to
    a tail of 1e-15 on each side; accurate to about 1e-12 for the audit's smooth inputs.
    """
    inp = parse_input(spec)
    parts = inp.dist.at_bits(k).parts()
    if inp.path != "none" or len(parts) != 1 or not isinstance(parts[0][1], Continuous):
        raise ConfigError(f"the h -> 0 limit needs one continuous unclipped input, got {spec!r}")
    rv = parts[0][1].rv
    scale = levels(k)
    a, b = float(rv.ppf(_LIMIT_TAIL)), float(rv.isf(_LIMIT_TAIL))
    first, last = math.floor(scale * a) - 1, math.ceil(scale * b) + 1
    if last - first > MAX_LIMIT_THRESHOLDS:
        raise ConfigError(f"{spec} at k={k} spans {last - first:,} thresholds; the h -> 0 limit sums at most "
                          f"{MAX_LIMIT_THRESHOLDS:,} (memory bound): use a lighter-tailed input or a smaller k")
    j = np.arange(first, last + 1)
    t = (j + 0.5) / scale
    return float(np.sum(rv.pdf(np.nextafter(t, -np.inf)))) / scale
