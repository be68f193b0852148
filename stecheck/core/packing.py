"""Compact, exact encodings of the histogram tables an accumulator carries between processes.

A cluster task sends back its accumulators' tables (:data:`stecheck.core.estimators.HIST_BINS` counts and
as many deviation sums per cell, 1 MB in float64 and int64). Most of them is zeros (an error in
[-1/2, 1/2] leaves half of the [-1, 1] histogram empty) or small numbers (a task's counts fit 16 bits,
its deviation sums, whole multiples of ``2^-36``, fit 32 bits after scaling). :func:`pack` keeps the span
between the first and last non-zero entry, in the smallest of a few encodings that gives the array back
bit for bit (:func:`unpack`, checked when packing), so a table travels in about a fifth of its bytes.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["Packed", "pack", "unpack"]

#: ``(length, start, dtype of the original, scale exponent or None, the stored span)``.
Packed = tuple[int, int, str, "int | None", NDArray]

#: Integer types tried, smallest first.
_INTEGERS: Final = (np.int8, np.int16, np.int32)
#: Float tables are tried as whole multiples of ``2^-SCALE``: the scan's deviation sums are
#: (:data:`stecheck.core.fastscan.DEV_SCALE`).
_SCALE: Final = 36


def _smallest_integer(span: NDArray) -> NDArray | None:
    """``span`` (integers) as the smallest type of :data:`_INTEGERS` holding every entry, or None."""
    if span.size == 0:
        return span.astype(np.int8)
    low, high = int(span.min()), int(span.max())
    for kind in _INTEGERS:
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return span.astype(kind)
    return None


def _span(table: NDArray) -> tuple[int, int]:
    """``(start, stop)`` of the entries from the first to the last non-zero one (a float's bits: -0.0 counts)."""
    bits = table.view(np.int64) if table.dtype == np.float64 else table
    nonzero = bits != 0
    if table.size == 0 or not nonzero.any():
        return 0, 0
    return int(nonzero.argmax()), table.size - int(nonzero[::-1].argmax())


#: ``1.5 * 2^52``: adding it to a whole number ``|m| < 2^51`` in float64 leaves ``m`` in the low bits of the sum.
_MAGIC: Final = 1.5 * 2.0**52


def pack(table: NDArray) -> Packed:
    """An exact compact form of a 1-d int64 or float64 ``table`` (module docstring); :func:`unpack` inverts it."""
    table = np.ascontiguousarray(table)
    start, stop = _span(table)
    span = table[start:stop]
    dtype = table.dtype.str
    if table.dtype.kind in "iu":
        small = _smallest_integer(span)
        return (table.size, start, dtype, None, span.copy() if small is None else small)
    if table.dtype == np.float64:
        with np.errstate(invalid="ignore", over="ignore"):  # a NaN, an infinity or a huge value fails the check below
            shifted = span * 2.0**_SCALE
            shifted += _MAGIC
        whole = shifted.view(np.int64) - np.float64(_MAGIC).view(np.int64)  # m, if span * 2^SCALE is a whole m
        small = _smallest_integer(whole)
        if small is not None:
            back = unpack((span.size, 0, dtype, _SCALE, small))
            if np.array_equal(back.view(np.int64), span.view(np.int64)):  # bit for bit: fractions, signed zeros
                return (table.size, start, dtype, _SCALE, small)
    return (table.size, start, dtype, None, span.copy())


def unpack(packed: Packed, out: NDArray | None = None) -> NDArray:
    """The table :func:`pack` was given, bit for bit: a new array, or ``out`` (of its size and type, any contents)
    overwritten."""
    size, start, dtype, exponent, span = packed
    if out is None:
        out = np.zeros(size, dtype=np.dtype(dtype))
    elif out.shape != (size,) or out.dtype != np.dtype(dtype):
        raise ValueError(f"a packed table of {size} {dtype} does not fit an array of {out.shape} {out.dtype}")
    else:
        out[:start] = 0
        out[start + span.size:] = 0
    if exponent is None:
        out[start:start + span.size] = span
    else:
        np.multiply(span, 2.0**-exponent, out=out[start:start + span.size], casting="unsafe")
    return out
