"""Quantizers: DoReFa, absmax and affine integer grids, fixed grids, FP formats, MX and NVFP4 blocks.

Every quantizer other than DoReFa is ``q(x) = sigma (B(x / sigma + z) - z)`` per element, with a base grid
``B`` (:mod:`stecheck.core.quantizers.base`), a scale ``sigma`` and an integer zero point ``z``. A *fixed*
quantizer states its scale; the others compute it from the tensor, per group (THEORY.md, "Other
quantizers"):

- ``absmax(b)``: ``sigma = max|x| / (2^(b-1) - 1)`` over the group, codes ``[-(2^(b-1) - 1), 2^(b-1) - 1]``;
  the scaled value is formed as ``(x / max|x|) (2^(b-1) - 1)``, so the group's largest ``|x|`` lands exactly
  on the top level (a point mass at ``n = 0``).
- ``affine(b)``: min-max with the range widened to hold 0 (as PyTorch's observers, so that 0 is a level
  and the zero point a valid code): ``sigma = (max' - min') / (2^b - 1)``, ``z = rint(-min' / sigma)``,
  codes ``[0, 2^b - 1]``.
- ``fp(fmt)``: ``sigma = max|x| / max_fmt`` over the group (per-tensor FP8 scaling), the group's largest
  ``|x|`` on the format's largest value.
- ``mx(fmt, block)``: OCP Microscaling v1.0, section 6.3: ``X = 2^(floor(log2 max|x|) - emax_fmt)`` per
  block, an E8M0 value (exponent clamped to [-127, 127], an all-zero block takes ``2^-127``); elements
  ``cast(x / X)``, saturating.
- ``nvfp4``: blocks of 16 E2M1 values; a per-tensor scale ``s_t = max|x| / (448 * 6)`` (float32) and per
  block the E4M3 value ``s_b = cast_e4m3(max_block|x| / 6 / s_t)``, ``sigma = s_b s_t`` (NVIDIA's NVFP4
  recipe, as TensorRT Model Optimizer and Transformer Engine compute it).

An all-zero group (``sigma = 0``) quantizes to 0, with ``n = 0`` and ``D_h = 0``.

Definitions shared by all (THEORY.md): the rounding error in units of the local step
``n = (q(x) - clamp(x)) / u(x)``, where clamp is to the representable range ``[sigma lo, sigma hi]`` (so
a clipped element has ``n = 0``, as DoReFa's clipped path) and ``u`` the gap of the cell holding
``clamp(x)``; the finite difference ``D_h = (q(x + hi) - q(x + lo)) / h`` with the data-dependent scale and
zero point held at their values for the unperturbed tensor, as STE implementations do in the backward
pass; and the STE value ``1{x in [sigma (lo - z), sigma (hi - z)]}``, 0 where the quantizer clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stecheck.core.quantize import quantize as dorefa_quantize
from stecheck.core.quantize import rounding_error as dorefa_rounding_error
from stecheck.core.quantizers.base import Base, FloatBase, IntegerBase, fp_dtype
from stecheck.core.quantizers.grouping import group_reduce

__all__ = ["Kind", "Quantizer", "Scaling", "FixedGrid", "NVFP4_BLOCK", "E8M0_EXP_RANGE", "code_error", "integer_base"]

Kind = Literal["dorefa", "absmax", "affine", "fixed", "fp", "mx", "nvfp4"]

NVFP4_BLOCK: Final = 16
#: Largest E4M3 value and E2M1 value: NVFP4's per-tensor scale maps the tensor's max to their product.
_NVFP4_RANGE: Final = 448.0 * 6.0
#: Exponents of an E8M0 scale (2^-127 .. 2^127; 0xFF is NaN).
E8M0_EXP_RANGE: Final = (-127, 127)


@dataclass(frozen=True)
class Scaling:
    """Per-element (or scalar) scaling: codes ``y = (x / div) mul + zero``, levels ``sigma (code - zero)``."""

    div: NDArray[np.float64] | float
    mul: NDArray[np.float64] | float
    zero: NDArray[np.float64] | float
    sigma: NDArray[np.float64] | float

    def codes(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return (x / self.div) * self.mul + self.zero


@dataclass(frozen=True)
class FixedGrid:
    """A data-independent grid: ``sigma (B(x / sigma + zero) - zero)``; what the exact references use."""

    base: Base
    sigma: float
    zero: int = 0

    @property
    def lo(self) -> float:
        """Lowest level, in x units."""
        return self.sigma * (self.base.lo - self.zero)

    @property
    def hi(self) -> float:
        """Highest level, in x units."""
        return self.sigma * (self.base.hi - self.zero)

    @property
    def unit(self) -> float:
        """Every level change is an integer multiple of this (x units)."""
        return self.sigma * self.base.unit

    @property
    def max_gap(self) -> float:
        return self.sigma * self.base.max_gap

    def count_between(self, a: float, b: float) -> int:
        """Levels that :meth:`levels_between` returns, without building them."""
        return self.base.count_between(a / self.sigma + self.zero, b / self.sigma + self.zero)

    def levels_between(self, a: float, b: float) -> NDArray[np.float64]:
        """The levels in ``[a, b]`` plus the nearest one outside on each side, in x units, sorted."""
        codes = self.base.levels_between(a / self.sigma + self.zero, b / self.sigma + self.zero)
        return self.sigma * (codes - self.zero)

    def quantize(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.sigma * (self.base.round(x / self.sigma + self.zero) - self.zero)


@dataclass(frozen=True)
class Quantizer:
    """A parsed quantizer spec (:func:`stecheck.core.quantizers.parse_quantizer`); see the module docstring.

    ``bits`` is the width recorded as ``k``; ``scale`` the stated scale (step) of a fixed grid, None
    when it is computed from the data; ``group``/``axis``/``ragged`` how a tensor is split into groups
    sharing a scale (``block`` for MX and NVFP4).
    """

    spec: str
    kind: Kind
    bits: int
    base: Base | None = field(default=None, compare=False)
    scale: float | None = None
    zero: int = 0
    group: int | None = None
    axis: int | None = -1
    ragged: bool = False

    # ------------------------------------------------------------ properties

    @property
    def fixed(self) -> bool:
        """True when the grid does not depend on the data (DoReFa, or a stated scale)."""
        return self.kind == "dorefa" or self.scale is not None

    def grid(self) -> FixedGrid | None:
        """The fixed grid (None for DoReFa, which the engine's own path handles, and data-dependent scales)."""
        if self.kind == "dorefa" or self.scale is None:
            return None
        assert self.base is not None
        return FixedGrid(self.base, self.scale, self.zero)

    # ------------------------------------------------------------ scaling

    @property
    def per_tensor(self) -> bool:
        """True when one scale serves the whole tensor (``axis=none`` without groups)."""
        return self.axis is None and self.group is None

    def scaling(self, x: NDArray[np.float64], whole: tuple[float, float] | None = None) -> Scaling:
        """The scale, zero point and code map of every element of the tensor ``x``.

        ``whole`` is ``(min, max)`` of the whole tensor when ``x`` is a part of it: a per-tensor scale and
        NVFP4's per-tensor scale then come from it (groups inside ``x`` are still reduced over ``x``).
        """
        assert self.base is not None and self.kind != "dorefa"
        if self.scale is not None:
            return Scaling(self.scale, 1.0, float(self.zero), self.scale)
        extent = whole if whole is not None and self.per_tensor else None
        if self.kind in ("absmax", "fp"):
            if extent is not None:
                amax = np.full(x.shape, max(abs(extent[0]), abs(extent[1])))
            else:
                amax = group_reduce(np.abs(x), self.axis, self.group, self.ragged, np.maximum, self.spec)
            return _amax_scaling(amax, self.base.hi)
        if self.kind == "affine":
            return self._affine(x, extent)
        if self.kind == "mx":
            return self._mx(x)
        return self._nvfp4(x, None if whole is None else max(abs(whole[0]), abs(whole[1])))

    def _affine(self, x: NDArray[np.float64], extent: tuple[float, float] | None) -> Scaling:
        assert isinstance(self.base, IntegerBase)
        top = float(self.base.code_hi)
        if extent is not None:
            hi, lo = np.full(x.shape, max(extent[1], 0.0)), np.full(x.shape, min(extent[0], 0.0))
        else:
            hi = np.maximum(group_reduce(x, self.axis, self.group, self.ragged, np.maximum, self.spec), 0.0)
            lo = np.minimum(group_reduce(x, self.axis, self.group, self.ragged, np.minimum, self.spec), 0.0)
        step = (hi - lo) / top
        live = step > 0  # a span so small that its step underflows to 0 is a constant group
        sigma = np.where(live, step, 0.0)
        safe = np.where(live, sigma, 1.0)
        zero = np.where(live, np.clip(np.rint(-lo / safe), 0.0, top), 0.0)
        return Scaling(safe, np.where(live, 1.0, 0.0), zero, sigma)

    def _mx(self, x: NDArray[np.float64]) -> Scaling:
        assert isinstance(self.base, FloatBase)
        amax = group_reduce(np.abs(x), self.axis, self.group, self.ragged, np.maximum, self.spec)
        _, exp = np.frexp(amax)  # amax = f 2^exp, 1/2 <= f < 1, so floor(log2 amax) = exp - 1
        shared = np.where(amax > 0, exp - 1 - self.base.emax, E8M0_EXP_RANGE[0])
        shared = np.clip(shared, *E8M0_EXP_RANGE)
        import ml_dtypes

        scale = np.ldexp(1.0, shared).astype(ml_dtypes.float8_e8m0fnu).astype(np.float64)  # exact: a power of two
        return Scaling(scale, 1.0, 0.0, scale)

    def _nvfp4(self, x: NDArray[np.float64], tensor_max: float | None) -> Scaling:
        assert isinstance(self.base, FloatBase)
        ax = np.abs(x)
        if tensor_max is None:
            tensor_max = float(ax.max()) if ax.size else 0.0
        s_t = float(np.float32(tensor_max / _NVFP4_RANGE))
        amax = group_reduce(ax, self.axis, self.group, self.ragged, np.maximum, self.spec)
        block = amax / self.base.hi / s_t if s_t > 0 else np.zeros_like(amax)
        s_b = np.clip(block, 0.0, 448.0).astype(fp_dtype("e4m3")).astype(np.float64)
        sigma = s_b * s_t
        live = sigma > 0
        return Scaling(np.where(live, sigma, 1.0), np.where(live, 1.0, 0.0), 0.0, sigma)

    # ------------------------------------------------------------ element-wise results

    def quantize(self, x: ArrayLike) -> NDArray[np.float64]:
        """``q(x)`` of the tensor ``x`` (DoReFa: ``round((2^k - 1) x) / (2^k - 1)``, unclipped)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "dorefa":
            return dorefa_quantize(x, self.bits)
        assert self.base is not None
        sc = self.scaling(x)
        return sc.sigma * (self.base.round(sc.codes(x)) - sc.zero)

    def rounding_error(self, x: ArrayLike) -> NDArray[np.float64]:
        """``n = (q(x) - clamp(x)) / u(x)`` in units of the local step (in [-1/2, 1/2]; 0 where clipped)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "dorefa":
            return dorefa_rounding_error(x, self.bits)
        assert self.base is not None
        return code_error(self.base, self.scaling(x).codes(x))

    def ste(self, x: ArrayLike) -> NDArray[np.bool_]:
        """The STE value: True inside the representable range, False where the quantizer clips."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "dorefa":
            return np.ones(x.shape, dtype=bool)
        assert self.base is not None
        y = self.scaling(x).codes(x)
        return (y >= self.base.lo) & (y <= self.base.hi)

    def finite_difference(self, x: ArrayLike, h: float, scheme: str = "forward") -> NDArray[np.float64]:
        """``D_h = (q(x + hi) - q(x + lo)) / h`` with the tensor's scales held fixed (window of ``scheme``)."""
        x = np.asarray(x, dtype=np.float64)
        lo, hi = (0.0, h) if scheme == "forward" else (-0.5 * h, 0.5 * h)
        if self.kind == "dorefa":
            return (dorefa_quantize(x + hi, self.bits) - dorefa_quantize(x + lo, self.bits)) / h
        assert self.base is not None
        sc = self.scaling(x)
        up = self.base.round(sc.codes(x + hi))
        down = self.base.round(sc.codes(x + lo))
        return sc.sigma * (up - down) / h


def code_error(base: Base, y: NDArray[np.float64]) -> NDArray[np.float64]:
    """``n = (B(clamp(y)) - clamp(y)) / u(clamp(y))`` for codes ``y`` (exactly 0 on a level or where clipped)."""
    yc = np.clip(y, base.lo, base.hi)
    return (base.round(yc) - yc) / base.local_step(yc)


def _amax_scaling(amax: NDArray[np.float64], top: float) -> Scaling:
    """``y = (x / max|x|) top``: a group's largest ``|x|`` maps to ``+-top`` exactly; an all-zero group to 0."""
    live = amax > 0
    return Scaling(np.where(live, amax, 1.0), np.where(live, top, 0.0), 0.0, np.where(live, amax / top, 0.0))


def integer_base(kind: str, bits: int) -> IntegerBase:
    """Codes of a ``bits``-wide integer grid: symmetric ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` or ``[0, 2^b - 1]``."""
    if kind == "absmax":
        top = (1 << (bits - 1)) - 1
        return IntegerBase(-top, top)
    return IntegerBase(0, (1 << bits) - 1)

