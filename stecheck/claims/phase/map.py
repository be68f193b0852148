"""Where the STE claim holds: E[D_h] and E[n] of a location-scale input over (sigma_s, mu_s mod 1).

For an input r from a location-scale family, the scaled input ``s = L r`` has centre ``mu_s`` and
standard deviation ``sigma_s = L sigma`` (``sigma`` the standard deviation of r), and every statistic
of the rounding error ``n = round(s) - s`` depends on ``sigma_s`` and the offset ``mu = mu_s mod 1``
only (0: centred on a level, 1/2: centred on a threshold). Throughout, **sigma is the standard
deviation** of the family (so ``t(df)`` needs ``df > 2``); the family's own scale parameter is
``scale = sigma / sd_of_unit`` (normal: sigma; Laplace: b = sigma / sqrt(2); logistic:
s = sigma sqrt(3) / pi; uniform: half-width a = sigma sqrt(3); t: s = sigma sqrt((df - 2) / df)).

The step ``eta = L h`` of the forward difference is measured in quantization steps, ``0 <= eta <= 1``;
``eta = 0`` is the limit ``h -> 0``, the derivative ``d/dmu E[q]`` of the expected quantizer output
with respect to a shift of the input.

Two independent evaluations (THEORY.md, "Monte Carlo versus exact" and "Fourier view"):

CDF sums over the thresholds ``j + 1/2`` (``F_s``, ``p_s`` the CDF and density of s)::

    E[D_eta] = (1/eta) sum_j [F_s(j + 1/2) - F_s(j + 1/2 - eta)]      (eta > 0)
    E[D_0]   = sum_j p_s(j + 1/2)                                       (the limit)
    E[n]     = sum_{j>=0} P(s > j + 1/2) - sum_{j<0} P(s <= j + 1/2) - mu_s

Fourier series (Sripad and Snyder 1977; Widrow and Kollar 2008). For a family symmetric about its
centre ``phi(u) = exp(i u mu_s) psi(u)`` with ``psi`` real; write ``psi_l = psi(2 pi l)``,
``beta = 2 pi mu + pi`` and ``alpha = 2 pi eta``, and let

    S(theta) = sum_{l>=1} psi_l sin(l theta) / l,      C(theta) = S'(theta) = sum_{l>=1} psi_l cos(l theta).

Then ``E[n] = S(beta) / pi`` and ``E[D_0] = 1 + 2 C(beta)`` (THEORY.md), and for ``eta > 0``,
from identity A, ``E[D_eta] = F_n(eta - 1/2) / eta`` with ``f_n(x) = sum_l phi(2 pi l) e^{2 pi i l x}``:

    E[D_eta] = 1 + 2 sum_{l>=1} (-1)^l Re[phi(2 pi l) (e^{i alpha l} - 1) / (i alpha l)]
             = 1 + (2 / alpha) [S(beta + alpha) - S(beta)],

whose per-term factor ``(e^{i alpha l} - 1) / (i alpha l) = e^{i alpha l / 2} sinc(alpha l / 2)``
tends to 1 as ``eta -> 0``. ``S`` and ``C`` are summed term by term for the normal, logistic and t
families (``psi`` decays exponentially; terms are kept until ``|psi_l| < 1e-18``) and in closed form
for the Laplace and uniform families, whose ``psi_l`` decay only like ``l^-2`` and ``l^-1``:

- Laplace, ``psi_l = A^2 / (l^2 + A^2)``, ``A = 1 / (2 pi b)`` (Gradshteyn and Ryzhik 1.445.1-2, 1.441.1),
  for ``0 <= x < 2 pi``: ``sum cos(l x) / (l^2 + A^2) = pi cosh(A (pi - x)) / (2 A sinh(A pi)) - 1 / (2 A^2)``
  and ``sum sin(l x) / (l (l^2 + A^2)) = [(pi - x) / 2 - pi sinh(A (pi - x)) / (2 sinh(A pi))] / A^2``.
- uniform, ``psi_l = sin(c l) / (c l)``, ``c = 2 pi a``: products to sums and the periodic Bernoulli
  polynomials ``sum sin(l x) / l = (pi - x) / 2`` (0 < x < 2 pi, 0 at x = 0) and
  ``sum cos(l x) / l^2 = pi^2 / 6 - pi x / 2 + x^2 / 4`` (0 <= x <= 2 pi).

At a jump of the density (the uniform family's ends) the Fourier series converges to the average of
the one-sided values; ``E[D_0]`` uses the same convention (density 1/2 of its inside value at the ends).

The rule of thumb: the smallest ``sigma_s*`` such that ``|E[D] - 1| <= tol`` for every offset and every
``sigma_s >= sigma_s*``. Beyond ``sigma_B`` an analytic bound holds (``|E[D_eta] - 1| <= 2 sum |psi_l|``,
decreasing in sigma for the normal, Laplace, logistic and t families since their psi is positive and
decreasing; ``|E[D_eta] - 1| <= 1 / (2 sqrt(3) sigma_s)`` for the uniform, as the window of eta <= 1
steps then sees floor or ceil of the width in thresholds); below it the worst case over offsets is
scanned on a fine grid and the last crossing is located by bisection.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from stecheck.core.distributions import format_number
from stecheck.errors import ConfigError, SpecError

__all__ = [
    "FAMILY_KINDS",
    "DEFAULT_FAMILIES",
    "Family",
    "PhaseMap",
    "Rule",
    "parse_family",
    "check_step",
    "check_tolerance",
    "sigma_grid",
    "offset_grid",
    "cdf_sums",
    "fourier_sums",
    "phase_map",
    "worst_case",
    "stability_bound",
    "rule_of_thumb",
    "min_bits",
]

FAMILY_KINDS: Final = ("normal", "laplace", "logistic", "uniform", "t(df)")
DEFAULT_FAMILIES: Final = ("normal", "laplace", "logistic", "uniform")
#: Mass left out in each tail by the CDF sums (heavier-tailed t: see ``Family.half_width``).
TAIL: Final = 1e-17
#: Fourier terms are kept while ``|psi_l|`` may exceed this.
PSI_CUTOFF: Final = 1e-18
#: Offsets per worst-case evaluation before local refinement.
WORST_OFFSETS: Final = 128
#: Rounds and points per round of the local zoom that refines a worst case over offsets.
ZOOM_LEVELS: Final = 3
ZOOM_POINTS: Final = 65
#: Relative spacing of the sigma scan behind the rule of thumb.
SCAN_STEP: Final = 5e-4

_SQRT3: Final = math.sqrt(3.0)
_SQRT2PI: Final = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Family:
    """A symmetric location-scale family, parametrised by its standard deviation.

    Parameters
    ----------
    kind : {"normal", "laplace", "logistic", "uniform", "t"}
    df : float, optional
        Degrees of freedom of the t family (> 2, so that the standard deviation exists).
    """

    kind: str
    df: float | None = None

    @property
    def name(self) -> str:
        """``normal``, ..., or ``t(df)``."""
        return f"t({format_number(self.df)})" if self.kind == "t" else self.kind

    def scale(self, sd: ArrayLike) -> NDArray[np.float64]:
        """The family's scale parameter for standard deviation ``sd``."""
        sd = np.asarray(sd, dtype=np.float64)
        if self.kind == "normal":
            return sd
        if self.kind == "laplace":
            return sd / math.sqrt(2.0)
        if self.kind == "logistic":
            return sd * _SQRT3 / math.pi
        if self.kind == "uniform":
            return sd * _SQRT3
        return sd * math.sqrt((self.df - 2.0) / self.df)  # type: ignore[operator]

    def half_width(self) -> float:
        """``z`` (in scale units) beyond which each tail holds less than ``TAIL`` (1e-11 for t)."""
        if self.kind == "normal":
            return float(-special.ndtri(TAIL))
        if self.kind == "laplace":
            return math.log(0.5 / TAIL)
        if self.kind == "logistic":
            return math.log(1.0 / TAIL)
        if self.kind == "uniform":
            return 1.0
        return float(-special.stdtrit(self.df, 1e-11))

    def cdf(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Standardised CDF (unit scale parameter)."""
        if self.kind == "normal":
            return special.ndtr(z)
        if self.kind == "laplace":
            return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(z, 0.0)))
        if self.kind == "logistic":
            return special.expit(z)
        if self.kind == "uniform":
            return np.clip(0.5 * (z + 1.0), 0.0, 1.0)
        return special.stdtr(self.df, z)

    def sf(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Standardised survival function ``1 - cdf(z) = cdf(-z)`` (symmetric families), accurate in the tail."""
        return self.cdf(-z)

    def pdf(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Standardised density (the uniform's is 1/4 at its ends: the midpoint convention)."""
        if self.kind == "normal":
            return np.exp(-0.5 * z * z) / _SQRT2PI
        if self.kind == "laplace":
            return 0.5 * np.exp(-np.abs(z))
        if self.kind == "logistic":
            return special.expit(z) * special.expit(-z)
        if self.kind == "uniform":
            az = np.abs(z)
            return np.where(az < 1.0, 0.5, np.where(az == 1.0, 0.25, 0.0))
        nu = float(self.df)  # type: ignore[arg-type]
        const = math.exp(special.gammaln(0.5 * (nu + 1)) - special.gammaln(0.5 * nu)) / math.sqrt(nu * math.pi)
        return const * (1.0 + z * z / nu) ** (-0.5 * (nu + 1))

    def psi(self, u: NDArray[np.float64], sd: ArrayLike) -> NDArray[np.float64]:
        """Characteristic function of the centred family, ``psi(u) = E exp(i u (X - mu))`` (real).

        normal ``exp(-sd^2 u^2 / 2)``; Laplace ``1 / (1 + b^2 u^2)``; logistic
        ``pi s u / sinh(pi s u)``; uniform ``sin(a u) / (a u)``; t(nu) with scale s,
        ``K_{nu/2}(x) x^{nu/2} / (Gamma(nu/2) 2^{nu/2 - 1})``, ``x = sqrt(nu) s |u|``.
        """
        x = np.abs(np.asarray(u, dtype=np.float64)) * self.scale(sd)
        if self.kind == "normal":
            return np.exp(-0.5 * x * x)
        if self.kind == "laplace":
            return 1.0 / (1.0 + x * x)
        if self.kind == "logistic":
            y = math.pi * x
            with np.errstate(invalid="ignore", divide="ignore"):
                out = 2.0 * y * np.exp(-y) / -np.expm1(-2.0 * y)
            return np.where(y == 0, 1.0, out)
        if self.kind == "uniform":
            return np.sinc(x / math.pi)
        nu = float(self.df)  # type: ignore[arg-type]
        y = math.sqrt(nu) * x
        with np.errstate(divide="ignore"):
            log = np.log(special.kve(0.5 * nu, y)) - y + 0.5 * nu * np.log(y) - special.gammaln(0.5 * nu) - (0.5 * nu - 1) * math.log(2.0)
        return np.where(y == 0, 1.0, np.exp(log))

    def terms(self, sd: float) -> int:
        """Number of Fourier terms after which ``|psi_l| < PSI_CUTOFF`` (direct families)."""
        cut = -math.log(PSI_CUTOFF)
        x = float(self.scale(sd))
        if self.kind == "normal":
            m = math.sqrt(2.0 * cut) / (2.0 * math.pi * x)
        elif self.kind == "logistic":
            m = (cut + 10.0) / (2.0 * math.pi**2 * x)  # psi < 2 y e^{-y}, y = 2 pi^2 s l
        else:
            nu = float(self.df)  # type: ignore[arg-type]
            m = (cut + 10.0 + 0.5 * nu * math.log(max(nu, 2.0))) / (2.0 * math.pi * math.sqrt(nu) * x)
        return int(math.ceil(m)) + 2

    def r_spec(self, centre: float, sd: float) -> str:
        """A :func:`stecheck.core.distributions.parse_input` spec of this family with centre and sd (r units)."""
        c, s = format_number(centre), format_number(float(self.scale(sd)))
        if self.kind == "uniform":
            a = float(self.scale(sd))
            return f"uniform({format_number(centre - a)},{format_number(centre + a)})"
        if self.kind == "t":
            return f"t({format_number(self.df)},{c},{s})"  # type: ignore[arg-type]
        return f"{self.kind}({c},{s})"


def parse_family(text: str) -> Family:
    """``normal``, ``laplace``, ``logistic``, ``uniform`` or ``t(df)`` with ``df > 2``."""
    name = text.strip().replace(" ", "")
    if name in ("normal", "laplace", "logistic", "uniform"):
        return Family(name)
    match = re.fullmatch(r"t\(([^()]+)\)", name)
    if match:
        try:
            df = float(match.group(1))
        except ValueError:
            raise SpecError(f"family {text!r}: df must be a number") from None
        if not (math.isfinite(df) and df > 2):
            raise SpecError(f"family {text!r}: df must be > 2 so that the standard deviation exists")
        return Family("t", df)
    raise SpecError(f"unknown family {text!r}: expected one of {', '.join(FAMILY_KINDS)}")


def check_step(eta: float) -> float:
    """``eta = L h`` in [0, 1] (0: the limit h -> 0), else :class:`ConfigError`."""
    if not (math.isfinite(eta) and 0.0 <= eta <= 1.0):
        raise ConfigError(f"step --h={eta!r} is in quantization steps and must be in [0, 1] (0: the limit h -> 0)")
    return float(eta)


def check_tolerance(tol: float) -> float:
    """A tolerance in (0, 1), else :class:`ConfigError` (|E[D] - 1| reaches 1 on a level)."""
    if not (math.isfinite(tol) and 0.0 < tol < 1.0):
        raise ConfigError(f"tolerance {tol!r} must be in (0, 1)")
    return float(tol)


def sigma_grid(lo: float, hi: float, count: int) -> NDArray[np.float64]:
    """``count`` log-spaced values of sigma_s from ``lo`` to ``hi``."""
    if not (0 < lo < hi and math.isfinite(hi)) or count < 2:
        raise ConfigError(f"sigma grid needs 0 < lo < hi and at least 2 points, got lo={lo}, hi={hi}, points={count}")
    return np.geomspace(lo, hi, count)


def offset_grid(count: int) -> NDArray[np.float64]:
    """``count`` offsets ``j / count`` in [0, 1) (0 and, for even counts, 1/2 included)."""
    if count < 2:
        raise ConfigError(f"offset grid needs at least 2 points, got {count}")
    return np.arange(count) / count


# ---------------------------------------------------------------- CDF sums


def cdf_sums(family: Family, sd: float, offsets: ArrayLike, eta: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(E[D_eta], E[n])`` at each offset for ``sigma_s = sd``, from sums over thresholds (module doc).

    Differences of CDF values use the survival function right of the centre, so that no term loses
    digits to ``1 - F``.
    """
    mu = np.atleast_1d(np.asarray(offsets, dtype=np.float64))
    scale = float(family.scale(sd))
    reach = family.half_width() * scale
    j = np.arange(math.floor(-reach) - 2, math.ceil(1.0 + reach) + 2)
    t = (j + 0.5)[None, :] - mu[:, None]
    z = t / scale
    if eta == 0.0:
        fd = np.sum(family.pdf(z), axis=1) / scale
    else:
        z0 = (t - eta) / scale
        right = t - 0.5 * eta > 0
        diff = np.where(right, family.sf(z0) - family.sf(z), family.cdf(z) - family.cdf(z0))
        fd = np.sum(diff, axis=1) / eta
    upper = np.where(j >= 0, family.sf(z), -family.cdf(z))
    mean_n = np.sum(upper, axis=1) - mu
    return fd, mean_n


# ---------------------------------------------------------------- Fourier series


def _wrap(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x mod 2 pi`` in [0, 2 pi)."""
    return np.mod(x, 2.0 * math.pi)


def _saw(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_{l>=1} sin(l x) / l = (pi - x) / 2`` on (0, 2 pi), 0 at multiples of 2 pi."""
    w = _wrap(x)
    return np.where(w == 0.0, 0.0, 0.5 * (math.pi - w))


def _bernoulli2(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_{l>=1} cos(l x) / l^2 = pi^2 / 6 - pi x / 2 + x^2 / 4`` on [0, 2 pi]."""
    w = _wrap(x)
    return math.pi**2 / 6.0 - 0.5 * math.pi * w + 0.25 * w * w


def _series(family: Family, sd: NDArray[np.float64], theta: NDArray[np.float64], want_c: bool) -> NDArray[np.float64]:
    """``S(theta)`` (or ``C(theta)`` when ``want_c``), shape ``(len(sd), len(theta))`` (module doc).

    The direct sums share one ``(theta x l)`` table of sines or cosines across every sigma: only
    ``psi_l`` depends on sigma.
    """
    sd = np.asarray(sd, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if family.kind == "laplace":
        big_a = (1.0 / (2.0 * math.pi * family.scale(sd)))[:, None]
        x = _wrap(theta)[None, :]
        denom = -np.expm1(-2.0 * math.pi * big_a)
        plus = (np.exp(-big_a * x) + np.exp(-big_a * (2.0 * math.pi - x))) / denom  # cosh(A(pi-x))/sinh(A pi)
        minus = (np.exp(-big_a * x) - np.exp(-big_a * (2.0 * math.pi - x))) / denom  # sinh(A(pi-x))/sinh(A pi)
        if want_c:
            return 0.5 * math.pi * big_a * plus - 0.5
        return 0.5 * (math.pi - x) - 0.5 * math.pi * minus
    if family.kind == "uniform":
        c = (2.0 * math.pi * family.scale(sd))[:, None]
        th = theta[None, :]
        if want_c:
            return (_saw(th + c) - _saw(th - c)) / (2.0 * c)
        return (_bernoulli2(th - c) - _bernoulli2(th + c)) / (2.0 * c)
    m = family.terms(float(np.min(sd)))
    ell = np.arange(1, m + 1, dtype=np.float64)
    psi = family.psi(2.0 * math.pi * ell[None, :], sd[:, None])
    angle = np.multiply.outer(theta, ell)
    if want_c:
        return psi @ np.cos(angle).T
    return (psi / ell) @ np.sin(angle).T


def _fourier_fd(family: Family, sd: NDArray[np.float64], offsets: NDArray[np.float64], eta: float) -> NDArray[np.float64]:
    """``E[D_eta]`` from the Fourier series, shape ``(len(sd), len(offsets))``."""
    beta = 2.0 * math.pi * np.asarray(offsets, dtype=np.float64) + math.pi
    if eta == 0.0:
        return 1.0 + 2.0 * _series(family, sd, beta, want_c=True)
    alpha = 2.0 * math.pi * eta
    return 1.0 + (2.0 / alpha) * (_series(family, sd, beta + alpha, want_c=False) - _series(family, sd, beta, want_c=False))


def fourier_sums(family: Family, sd: ArrayLike, offsets: ArrayLike, eta: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(E[D_eta], E[n])`` from the Fourier series (module doc), shape ``(len(sd), len(offsets))``.

    A scalar ``sd`` gives arrays over the offsets only.
    """
    scalar = np.ndim(sd) == 0
    sig = np.atleast_1d(np.asarray(sd, dtype=np.float64))
    mu = np.atleast_1d(np.asarray(offsets, dtype=np.float64))
    beta = 2.0 * math.pi * mu + math.pi
    fd = _fourier_fd(family, sig, mu, eta)
    mean_n = _series(family, sig, beta, want_c=False) / math.pi
    return (fd[0], mean_n[0]) if scalar else (fd, mean_n)


# ---------------------------------------------------------------- the map


@dataclass(frozen=True)
class PhaseMap:
    """E[D_eta] and E[n] over ``sigma x offset`` for one family, by both evaluations (arrays S x O)."""

    family: Family
    eta: float
    sigma: NDArray[np.float64]
    offset: NDArray[np.float64]
    mean_fd_cdf: NDArray[np.float64]
    mean_fd_fourier: NDArray[np.float64]
    mean_n_cdf: NDArray[np.float64]
    mean_n_fourier: NDArray[np.float64]

    def worst(self) -> NDArray[np.float64]:
        """``max over offsets |E[D] - 1|`` per sigma (grid offsets only; CDF-sum values)."""
        return np.max(np.abs(self.mean_fd_cdf - 1.0), axis=1)


def phase_map(family: Family, sigmas: ArrayLike, offsets: ArrayLike, eta: float) -> PhaseMap:
    """Evaluate :func:`cdf_sums` and :func:`fourier_sums` at every ``(sigma_s, offset)`` of the grid."""
    sig = np.asarray(sigmas, dtype=np.float64)
    off = np.asarray(offsets, dtype=np.float64)
    shape = (sig.size, off.size)
    out = {name: np.empty(shape) for name in ("fd_c", "n_c")}
    for i, sd in enumerate(sig):
        out["fd_c"][i], out["n_c"][i] = cdf_sums(family, float(sd), off, eta)
    fd_f, n_f = fourier_sums(family, sig, off, eta)
    return PhaseMap(family, eta, sig, off, out["fd_c"], fd_f, out["n_c"], n_f)


# ---------------------------------------------------------------- the rule of thumb


def _worst_offsets(eta: float) -> NDArray[np.float64]:
    """:data:`WORST_OFFSETS` grid offsets plus ``-eta/2`` and ``1/2 - eta/2`` (mod 1), the centres of symmetry
    of ``E[D_eta]`` over the offset for a symmetric family (the forward window ``(s, s + eta]`` is centred
    on ``s + eta/2``)."""
    extra = np.mod(np.array([-0.5 * eta, 0.5 - 0.5 * eta]), 1.0)
    return np.unique(np.concatenate([offset_grid(WORST_OFFSETS), extra]))


def worst_case(family: Family, sd: float, eta: float) -> tuple[float, float]:
    """``(max_mu |E[D_eta] - 1|, argmax mu)`` for ``sigma_s = sd``.

    The maximum over :func:`_worst_offsets` (0, 1/2 and the centres of symmetry included) is refined by
    :data:`ZOOM_LEVELS` rounds of zooming: each round evaluates :data:`ZOOM_POINTS` offsets across
    +-1 spacing around each of the three best offsets so far, shrinking the spacing by the same factor
    (final spacing ``(1/128) (2/64)^3``, about 2e-7).
    """
    sig = np.array([sd])
    offsets = _worst_offsets(eta)
    dev = np.abs(_fourier_fd(family, sig, offsets, eta)[0] - 1.0)
    spacing = 1.0 / WORST_OFFSETS
    for _ in range(ZOOM_LEVELS):
        centres = offsets[np.argsort(dev)[-3:]]
        local = np.linspace(-spacing, spacing, ZOOM_POINTS)
        offsets = np.concatenate([offsets[np.argsort(dev)[-3:]], np.mod(np.add.outer(centres, local).ravel(), 1.0)])
        dev = np.abs(_fourier_fd(family, sig, offsets, eta)[0] - 1.0)
        spacing *= 2.0 / (ZOOM_POINTS - 1)
    i = int(np.argmax(dev))
    return float(dev[i]), float(offsets[i])


def stability_bound(family: Family, sd: float, eta: float) -> float:
    """An upper bound on ``|E[D_eta] - 1|`` over all offsets, non-increasing in ``sigma_s = sd``.

    ``2 sum_l psi_l = 2 C(0)`` for the families with positive decreasing psi (each term of the series
    is at most ``psi_l`` in size: ``|sin(l(beta + alpha)) - sin(l beta)| <= min(2, l alpha)``);
    ``1 / (2 sqrt(3) sd)`` (one over the width in steps) for the uniform with ``eta <= 1``.
    """
    if family.kind == "uniform":
        return 1.0 / (2.0 * float(family.scale(sd)))
    return float(2.0 * _series(family, np.array([sd]), np.zeros(1), want_c=True)[0, 0])


@dataclass(frozen=True)
class Rule:
    """The rule of thumb for one family: ``|E[D] - 1| <= tolerance`` for every offset once ``sigma_s >= sigma_star``."""

    family: Family
    eta: float
    tolerance: float
    sigma_star: float
    worst_at_star: float
    sigma_bound: float
    scan_points: int


def rule_of_thumb(family: Family, eta: float, tolerance: float, sigma_lo: float = 0.05) -> Rule:
    """Smallest ``sigma_s*`` with ``max_mu |E[D_eta] - 1| <= tolerance`` for all ``sigma_s >= sigma_s*``.

    1. ``sigma_B``: bisection on the monotone :func:`stability_bound` (holds for all larger sigma).
    2. ``max_mu |E[D] - 1|`` on a log grid of relative spacing :data:`SCAN_STEP` over ``[sigma_lo, sigma_B]``
       (Fourier evaluation, :data:`WORST_OFFSETS` offsets); the last grid sigma that fails.
    3. Past it while the refined :func:`worst_case` still fails, then bisection on sigma between that
       point and the next, with the refined worst case.
    """
    tolerance = check_tolerance(tolerance)
    if eta == 1.0:  # a window of one full step always holds exactly one threshold: E[D_1] = 1
        return Rule(family, eta, tolerance, 0.0, 0.0, 0.0, 0)
    hi = 1.0
    while stability_bound(family, hi, eta) > tolerance:
        hi *= 2.0
    lo = hi / 2.0
    while stability_bound(family, lo, eta) <= tolerance:
        lo, hi = lo / 2.0, lo
    while hi / lo - 1.0 > 1e-6:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if stability_bound(family, mid, eta) > tolerance else (lo, mid)
    sigma_b = hi
    sigma_lo = min(sigma_lo, sigma_b / 2.0)
    while sigma_lo > 1e-3 and worst_case(family, sigma_lo, eta)[0] <= tolerance:
        sigma_lo /= 2.0
    count = int(math.ceil(math.log(sigma_b / sigma_lo) / SCAN_STEP)) + 1
    grid = np.geomspace(sigma_lo, sigma_b, count)
    offsets = _worst_offsets(eta)
    fails = np.concatenate([
        np.max(np.abs(_fourier_fd(family, part, offsets, eta) - 1.0), axis=1) > tolerance
        for part in np.array_split(grid, max(1, count // 1024))
    ])
    if not fails[0]:
        raise ConfigError(f"{family.name}: |E[D] - 1| <= {tolerance} already at sigma_s = {sigma_lo:.3g}; choose a smaller tolerance or step")
    last = int(np.flatnonzero(fails)[-1])
    # the scan saw grid offsets only: step on while the refined worst case still fails
    while last + 1 < count and worst_case(family, float(grid[last + 1]), eta)[0] > tolerance:
        last += 1
    a = float(grid[last])
    b = float(grid[last + 1]) if last + 1 < count else sigma_b
    while b / a - 1.0 > 1e-10:
        mid = math.sqrt(a * b)
        a, b = (mid, b) if worst_case(family, mid, eta)[0] > tolerance else (a, mid)
    return Rule(family, eta, tolerance, b, worst_case(family, b, eta)[0], sigma_b, count)


def min_bits(sigma_star: float, sd: ArrayLike) -> NDArray[np.int64]:
    """``k_min = ceil(log2(1 + sigma_s* / sd))``: the fewest bits with ``L sd >= sigma_s*`` (``L = 2^k - 1``)."""
    sd = np.asarray(sd, dtype=np.float64)
    return np.maximum(np.ceil(np.log2(1.0 + sigma_star / sd)), 1).astype(np.int64)
