"""Closed-form characteristic functions and the Fourier (Poisson-summation) form of the exact references.

For the symmetric location-scale families ``X = c + Y`` (normal, Laplace, logistic, Student t, uniform)
``E exp(i u X) = exp(i u c) psi(u)`` with a real ``psi``:

- normal ``exp(-sigma^2 u^2 / 2)``; Laplace ``1 / (1 + b^2 u^2)``; logistic ``pi s u / sinh(pi s u)``;
- Student t ``(sqrt(df) s |u|)^(df/2) K_{df/2}(sqrt(df) s |u|) / (Gamma(df/2) 2^(df/2 - 1))``;
- uniform on ``[c - w/2, c + w/2]``: ``sin(u w / 2) / (u w / 2)``.

With ``phi_s(2 pi l)``, the characteristic function of ``s = L r`` at the integers (THEORY.md, Fourier view):

- ``E[n] = sum_{l>=1} (-1)^l Im phi_s(2 pi l) / (pi l)``, ``E[n^2] = 1/12 + sum (-1)^l Re phi_s(2 pi l) / (pi l)^2``
  (deterministic rounding); ``E[frac(s)(1 - frac(s))] = 1/6 - sum Re phi_s(2 pi l) / (pi l)^2`` (stochastic
  rounding and dither);
- the expected number of thresholds ``j + 1/2`` in ``(s + a, s + b]`` (Poisson summation of
  ``g(x) = F_s(x - a) - F_s(x - b)``): ``(b - a) + 2 sum_{l>=1} (-1)^l Re[(e^{-2 pi i l a} - e^{-2 pi i l b})
  conj(phi_s(2 pi l)) / (2 pi i l)]``.

The series are summed to ``TERMS`` terms; with ``u |psi(u)|`` non-increasing beyond the last term (uniform:
the envelope ``2 / (u w)``) the tail is at most ``|psi(2 pi M L)| / pi`` for the moments and twice that
for the count, and a value is returned only when that bound is below ``SERIES_TOL``. These are the
references used where the quadrature or the threshold sum would need more than ``MAX_CELLS`` cells (a wide
input at large k, heavy tails), where ``psi`` has decayed: the series then converge in a few terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from typing import Callable, Final

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["SERIES_TOL", "TERMS", "SymmetricLaw", "symmetric_law", "series_moments", "series_crossings"]

#: Largest tail bound accepted for a series value.
SERIES_TOL: Final = 1e-13
#: Terms summed.
TERMS: Final = 1 << 18


@dataclass(frozen=True)
class SymmetricLaw:
    """``X = centre + Y`` with ``E exp(i u Y) = psi(u)`` real; ``envelope(u)`` bounds ``|psi|`` beyond u."""

    centre: Fraction
    psi: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    envelope: Callable[[float], float]


def symmetric_law(rv) -> SymmetricLaw | None:  # noqa: ANN001 - a frozen scipy.stats distribution
    """The closed form for a frozen scipy law of a supported family, else None."""
    name = rv.dist.name
    args = [float(a) for a in rv.args]
    if name == "norm":
        mu, sd = args
        psi = lambda u: np.exp(-0.5 * (sd * u) ** 2)  # noqa: E731
        return SymmetricLaw(Fraction(mu), psi, lambda u: float(psi(np.array(u))))
    if name == "laplace":
        mu, b = args
        psi = lambda u: 1.0 / (1.0 + (b * u) ** 2)  # noqa: E731
        return SymmetricLaw(Fraction(mu), psi, lambda u: float(psi(np.array(u))))
    if name == "logistic":
        mu, s = args

        def psi_logistic(u: NDArray[np.float64]) -> NDArray[np.float64]:
            x = np.pi * s * np.abs(u)
            with np.errstate(invalid="ignore"):
                return np.where(x > 0, 2 * x * np.exp(-x) / -np.expm1(-2 * x), 1.0)

        return SymmetricLaw(Fraction(mu), psi_logistic, lambda u: float(psi_logistic(np.array(u))))
    if name == "t":
        df, mu, s = args
        v = df / 2

        def psi_t(u: NDArray[np.float64]) -> NDArray[np.float64]:
            x = math.sqrt(df) * s * np.abs(np.asarray(u, dtype=np.float64))
            with np.errstate(divide="ignore", invalid="ignore"):
                log_mag = np.log(special.kve(v, x)) - x + v * np.log(x) - special.gammaln(v) - (v - 1) * math.log(2)
            # kve is NaN at huge arguments, where exp(-x) has long underflowed
            return np.where(x == 0, 1.0, np.where(x > 1e4 + 10 * v, 0.0, np.exp(log_mag)))

        return SymmetricLaw(Fraction(mu), psi_t, lambda u: float(psi_t(np.array(u))))
    if name == "uniform" and not rv.args:
        loc, width = float(rv.kwds["loc"]), float(rv.kwds["scale"])
        return SymmetricLaw(
            Fraction(loc) + Fraction(width) / 2,
            lambda u: np.sinc(np.asarray(u) * width / (2 * np.pi)),
            lambda u: min(1.0, 2.0 / (u * width)),
        )
    return None


@lru_cache(maxsize=64)
def _phi_s(law: SymmetricLaw, scale: int) -> tuple[NDArray[np.complex128], NDArray[np.float64], float]:
    """``phi_s(2 pi l)`` for l = 1..TERMS (phase from the exact ``frac(L centre)``), l, and the tail envelope."""
    l = np.arange(1, TERMS + 1, dtype=np.float64)
    shift = float((law.centre * scale) % 1)
    phi = np.exp(2j * np.pi * ((l * shift) % 1.0)) * law.psi(2 * np.pi * scale * l)
    return phi, l, law.envelope(2 * np.pi * scale * TERMS)


def series_moments(
    law: SymmetricLaw, scale: int, deterministic: bool
) -> tuple[float, float, NDArray, float] | None:
    """``(E[e], E[e^2], phi_s(2 pi l) for l = 1..8, sum of |terms| of E[e])`` from the series, or None when
    the tail is too large."""
    phi, l, tail = _phi_s(law, scale)
    if tail / math.pi > SERIES_TOL:
        return None
    sign = np.where(l % 2 == 0, 1.0, -1.0)
    if deterministic:
        mean = float(np.sum(sign * phi.imag / (np.pi * l)))
        second = 1.0 / 12.0 + float(np.sum(sign * phi.real / (np.pi * l) ** 2))
        # the scale of E[e] for the zero-up-to-rounding rule: sum |phi_s| / (pi l) (the phases' own
        # rounding puts a few ulps of each |phi_s| into Im phi_s)
        return mean, second, phi[:8], float(np.sum(np.abs(phi) / (np.pi * l)))
    second = 1.0 / 6.0 - float(np.sum(phi.real / (np.pi * l) ** 2))
    return 0.0, second, phi[:8], 0.0


def series_crossings(law: SymmetricLaw, scale: int, lo: float, hi: float) -> float | None:
    """Expected thresholds in ``(s + L lo, s + L hi]`` by Poisson summation, or None (tail too large)."""
    phi, l, tail = _phi_s(law, scale)
    if 2 * tail / math.pi > SERIES_TOL:
        return None
    a, b = Fraction(lo) * scale, Fraction(hi) * scale
    ea = np.exp(-2j * np.pi * ((l * float(a % 1)) % 1.0))
    eb = np.exp(-2j * np.pi * ((l * float(b % 1)) % 1.0))
    sign = np.where(l % 2 == 0, 1.0, -1.0)
    terms = sign * ((ea - eb) * np.conj(phi) / (2j * np.pi * l)).real
    return float(b - a) + 2.0 * float(np.sum(terms))
