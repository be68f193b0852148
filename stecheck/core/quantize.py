"""The k-bit quantizer of DoReFa-Net and its rounding variants (pure functions).

Notation (THEORY.md): ``L = 2**k - 1``, ``Delta = 1/L``, ``s = L r``,
``q(r) = round(L r) / L`` and the rounding error ``n = round(s) - s``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stecheck.errors import ConfigError

__all__ = [
    "MIN_BITS",
    "MAX_BITS",
    "DETERMINISTIC_ROUNDINGS",
    "ROUNDINGS",
    "levels",
    "check_bits",
    "check_rounding",
    "round_scaled",
    "quantize",
    "rounding_error",
    "stochastic_round",
    "dither_round",
    "dorefa_weight_transform",
    "clip_unit",
]

MIN_BITS: Final = 1
MAX_BITS: Final = 24
DETERMINISTIC_ROUNDINGS: Final = ("half-even", "half-up")
ROUNDINGS: Final = (*DETERMINISTIC_ROUNDINGS, "stochastic", "dither")


def check_bits(k: int) -> int:
    """Return ``k`` if it is a supported bit width (1..24), else raise :class:`ConfigError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not MIN_BITS <= k <= MAX_BITS:
        raise ConfigError(f"bit width k={k!r} is out of range: k must be an integer in {MIN_BITS}..{MAX_BITS}")
    return int(k)


def check_rounding(rounding: str) -> str:
    """Return ``rounding`` if it names a known rounding mode, else raise :class:`ConfigError`."""
    if rounding not in ROUNDINGS:
        raise ConfigError(f"unknown rounding {rounding!r}: expected one of {', '.join(ROUNDINGS)}")
    return rounding


def levels(k: int) -> int:
    """Number of steps ``L = 2**k - 1`` of the k-bit quantizer (there are ``L + 1`` levels)."""
    return (1 << check_bits(k)) - 1


def round_scaled(s: ArrayLike, rounding: str = "half-even") -> NDArray[np.float64]:
    """Round scaled inputs ``s`` to integers with a deterministic rounding mode.

    ``half-even`` is ``numpy.rint`` (as numpy, TensorFlow and PyTorch round);
    ``half-up`` is ``floor(s + 1/2)`` (the reference DoReFa code for a while).
    """
    s = np.asarray(s, dtype=np.float64)
    if rounding == "half-even":
        return np.rint(s)
    if rounding == "half-up":
        return np.floor(s + 0.5)
    raise ConfigError(f"rounding {rounding!r} is not deterministic: expected one of {', '.join(DETERMINISTIC_ROUNDINGS)}")


def quantize(r: ArrayLike, k: int, rounding: str = "half-even", clip: bool = False) -> NDArray[np.float64]:
    """DoReFa's ``quantize_k(r) = round((2^k - 1) r) / (2^k - 1)`` (Zhou et al. 2016, eq. 5).

    Parameters
    ----------
    r : array_like
        Real inputs.
    k : int
        Bit width, 1..24.
    rounding : {"half-even", "half-up"}
        Deterministic rounding mode.
    clip : bool
        If true, quantize ``clip(r, 0, 1)`` (DoReFa's activation path).
    """
    scale = levels(k)
    r = np.asarray(r, dtype=np.float64)
    if clip:
        r = clip_unit(r)
    return round_scaled(scale * r, rounding) / scale


def rounding_error(r: ArrayLike, k: int, rounding: str = "half-even") -> NDArray[np.float64]:
    """Rounding error ``n = round(L r) - L r`` in [-1/2, 1/2]; then ``q(r) = r + n / L``."""
    s = levels(k) * np.asarray(r, dtype=np.float64)
    return round_scaled(s, rounding) - s


def stochastic_round(s: ArrayLike, u: ArrayLike) -> NDArray[np.float64]:
    """Stochastic rounding ``SR(s) = floor(s + U)``, ``U ~ Uniform[0, 1)``.

    Equivalent to ``floor(s) + Bernoulli(s - floor(s))``, hence ``E[SR(s)] = s`` (Croci et al. 2022).
    """
    return np.floor(np.asarray(s, dtype=np.float64) + np.asarray(u, dtype=np.float64))


def dither_round(s: ArrayLike, v: ArrayLike) -> NDArray[np.float64]:
    """Uniformly dithered rounding ``round(s + V)``, ``V ~ Uniform[-1/2, 1/2)``; ``E[round(s + V)] = s``.

    DoReFa's gradient quantizer adds exactly this noise, ``N(k) = sigma / (2^k - 1)``.
    """
    return np.rint(np.asarray(s, dtype=np.float64) + np.asarray(v, dtype=np.float64))


def clip_unit(x: ArrayLike) -> NDArray[np.float64]:
    """``clip(x, 0, 1)``, DoReFa's activation range."""
    return np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)


def dorefa_weight_transform(w: ArrayLike, axis: int | None = None) -> NDArray[np.float64]:
    """DoReFa's weight transform ``r = tanh(w) / (2 max|tanh w|) + 1/2`` (Zhou et al. 2016, eq. 9).

    The maximum is taken over the whole tensor (``axis=None``) or along ``axis`` (one tensor per
    row when ``axis=-1``). A tensor whose ``max|tanh w|`` is 0 maps to the constant 1/2.
    """
    t = np.tanh(np.asarray(w, dtype=np.float64))
    peak = np.max(np.abs(t), axis=axis, keepdims=axis is not None)
    safe = np.where(peak > 0, peak, 1.0)
    return t / (2.0 * safe) + 0.5
