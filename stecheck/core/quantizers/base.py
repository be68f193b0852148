"""Base grids: the levels a quantizer rounds to, in units of its scale (pure functions).

A quantizer with scale ``sigma`` maps ``x`` to ``sigma * B(x / sigma)``, where ``B`` rounds to the nearest
level of a base grid (ties to even) and saturates at the extreme levels:

- :class:`IntegerBase`: the integer codes ``m`` in ``[code_lo, code_hi]`` (absmax: ``[-(2^(b-1) - 1), 2^(b-1) - 1]``;
  affine and fixed: ``[0, 2^b - 1]``, the zero point being added to the scaled input by the quantizer).
  ``B(y) = clamp(rint(y), code_lo, code_hi)`` (numpy's ``rint`` rounds half to even).
- :class:`FloatBase`: the finite values of a small floating-point format, taken from ml_dtypes
  (``float8_e4m3fn``, ``float8_e5m2``, ``float6_e2m3fn``, ``float6_e3m2fn``, ``float4_e2m1fn``).
  ``B(y) = cast(clip(y, -max, max))``: ml_dtypes' round-to-nearest-even cast after clipping to the largest
  finite value.

Saturation and NaN: every format saturates here (a value beyond the largest finite one maps to it), the
convention of the OCP MX specification v1.0 for its element formats, of NVFP4 and of the saturating FP8
casts of PyTorch and Transformer Engine. A bare ml_dtypes cast differs only there: E4M3FN returns NaN on
overflow, E5M2 returns infinity, and the FP6/FP4 formats (no NaN or infinity encodings) saturate. NaN
inputs stay NaN (a bare cast to FP6/FP4 would turn NaN into -0, which has no NaN to hold it).

The local step ``u(y)`` is the gap between the two consecutive levels around ``y`` (THEORY.md, "Other
quantizers"): 1 for integer grids; for a float format ``2^(e - p)`` on the binade ``[2^e, 2^(e+1))`` with
``p`` mantissa bits, and the subnormal spacing below the smallest normal. Every level is an integer
multiple of :attr:`unit` (1, or the smallest subnormal), so level changes count exactly in units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["FP_FORMATS", "IntegerBase", "FloatBase", "Base", "fp_dtype"]

#: Element formats: name -> ml_dtypes type name.
FP_FORMATS: Final = {
    "e4m3": "float8_e4m3fn",
    "e5m2": "float8_e5m2",
    "e2m3": "float6_e2m3fn",
    "e3m2": "float6_e3m2fn",
    "e2m1": "float4_e2m1fn",
}


def fp_dtype(name: str) -> np.dtype:
    """The numpy dtype of an element format of :data:`FP_FORMATS` (ml_dtypes, imported here)."""
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, FP_FORMATS[name]))


@dataclass(frozen=True)
class IntegerBase:
    """The integer codes ``m`` in ``[code_lo, code_hi]``."""

    code_lo: int
    code_hi: int

    @property
    def lo(self) -> float:
        """Lowest level."""
        return float(self.code_lo)

    @property
    def hi(self) -> float:
        """Highest level."""
        return float(self.code_hi)

    @property
    def unit(self) -> float:
        """Every level is an integer multiple of this."""
        return 1.0

    @property
    def max_gap(self) -> float:
        """Largest gap between consecutive levels."""
        return 1.0

    def round(self, y: NDArray[np.float64]) -> NDArray[np.float64]:
        """``clamp(rint(y), lo, hi)``."""
        return np.clip(np.rint(y), self.lo, self.hi)

    def local_step(self, y: NDArray[np.float64]) -> NDArray[np.float64]:
        """The gap around ``y``: 1 everywhere."""
        return np.ones_like(np.asarray(y, dtype=np.float64))

    def levels_between(self, a: float, b: float) -> NDArray[np.float64]:
        """The levels in ``[a, b]`` plus the nearest one outside on each side (when there is one)."""
        first = max(self.lo, math.floor(a) - 1.0)
        last = min(self.hi, math.ceil(b) + 1.0)
        if first > last:
            first = last = self.lo if b < self.lo else self.hi
        return np.arange(first, last + 1.0)

    def count_between(self, a: float, b: float) -> int:
        """How many levels :meth:`levels_between` would return (without building them)."""
        first = max(self.lo, math.floor(a) - 1.0)
        last = min(self.hi, math.ceil(b) + 1.0)
        return int(max(last - first, 0.0)) + 1


@dataclass(frozen=True)
class FloatBase:
    """The finite values of the element format ``name`` (a key of :data:`FP_FORMATS`)."""

    name: str

    @cached_property
    def dtype(self) -> np.dtype:
        return fp_dtype(self.name)

    @cached_property
    def _finfo(self) -> object:
        import ml_dtypes

        return ml_dtypes.finfo(self.dtype)

    @cached_property
    def mantissa_bits(self) -> int:
        return int(self._finfo.nmant)  # type: ignore[attr-defined]

    @cached_property
    def bits(self) -> int:
        return int(self._finfo.bits)  # type: ignore[attr-defined]

    @cached_property
    def hi(self) -> float:
        """Largest finite value."""
        return float(self._finfo.max)  # type: ignore[attr-defined]

    @property
    def lo(self) -> float:
        return -self.hi

    @cached_property
    def unit(self) -> float:
        """Smallest subnormal: every value of the format is an integer multiple of it."""
        return float(self._finfo.smallest_subnormal)  # type: ignore[attr-defined]

    @cached_property
    def smallest_normal(self) -> float:
        return float(self._finfo.smallest_normal)  # type: ignore[attr-defined]

    @cached_property
    def emax(self) -> int:
        """Exponent of the largest finite value (``max = m 2^emax``, ``1 <= m < 2``)."""
        return math.frexp(self.hi)[1] - 1

    @property
    def max_gap(self) -> float:
        return 2.0 ** (self.emax - self.mantissa_bits)

    @cached_property
    def levels(self) -> NDArray[np.float64]:
        """All finite values, sorted, -0 and +0 merged (every bit pattern cast by ml_dtypes)."""
        values = np.arange(256, dtype=np.uint8).view(self.dtype).astype(np.float64)
        return np.unique(values[np.isfinite(values)] + 0.0)

    def round(self, y: NDArray[np.float64]) -> NDArray[np.float64]:
        """ml_dtypes' round-to-nearest-even cast of ``clip(y, -max, max)``; NaN stays NaN."""
        y = np.asarray(y, dtype=np.float64)
        out = np.clip(y, -self.hi, self.hi).astype(self.dtype).astype(np.float64)
        return np.where(np.isnan(y), np.nan, out) + 0.0

    def local_step(self, y: NDArray[np.float64]) -> NDArray[np.float64]:
        """``2^(e - p)`` for ``|y|`` in ``[2^e, 2^(e+1))`` above the smallest normal, the subnormal spacing below."""
        mag = np.minimum(np.abs(np.asarray(y, dtype=np.float64)), self.hi)
        _, exp = np.frexp(mag)  # mag = f 2^exp, 1/2 <= f < 1: the binade's e is exp - 1 (frexp(0) = (0, 0))
        emin = math.frexp(self.smallest_normal)[1] - 1
        e = np.where(mag < self.smallest_normal, emin, np.maximum(exp - 1, emin))
        return np.ldexp(1.0, e - self.mantissa_bits)

    def levels_between(self, a: float, b: float) -> NDArray[np.float64]:
        lv = self.levels
        i = max(int(np.searchsorted(lv, a, side="left")) - 1, 0)
        j = min(int(np.searchsorted(lv, b, side="right")), lv.size - 1)
        return lv[i : j + 1]

    def count_between(self, a: float, b: float) -> int:
        return int(self.levels_between(a, b).size)


Base = IntegerBase | FloatBase
