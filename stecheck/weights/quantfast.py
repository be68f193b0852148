"""The compiled path of :func:`stecheck.weights.quantized.quantized_statistics` for integer grids.

Serves ``absmax``, ``affine`` and ``fixed`` (and a stated scale of either) per tensor, per group and along
the last axis, block by block as the reference reads them (:func:`stecheck.weights.quantized._blocks`):

0. the extent (count, non-finite count, min, max) by the compiled loop of the DoReFa scan;
1. per block, one compiled call (:func:`stecheck.core.quantscan.block_statistics`) for the group scales,
   every sum and count of the reference in its order, and the values of n, written into one array
   of the tensor's finite count;
2. the exact KS statistic from that array sorted (numpy's sort) and the compiled KS loop of the DoReFa
   scan, whose terms are the reference's :func:`stecheck.weights.stats.ks_from_sorted`.

The results equal the reference's bit for bit (tests/test_quantscan.py). Scratch buffers are per thread.
"""

from __future__ import annotations

import threading
from typing import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.core import quantscan, weightscan
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.quantizers import IntegerBase, Quantizer
from stecheck.weights.quantized import QuantizedStatistics, finish
from stecheck.weights.tensors import TensorRef

__all__ = ["serves", "compiled_extent", "fast_statistics"]

_NO_WEIGHTS = np.ones((1, 1), dtype=np.int64)


class _Scratch(threading.local):
    """Per-thread buffers of a block (grown on demand, never shrunk)."""

    def __init__(self) -> None:
        self.size = 0

    def get(self, size: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
        if size > self.size:
            self.size = size
            self.xs = np.empty(size)
            self.gi = np.empty(size, dtype=np.int64)
            self.params = np.empty((4, size))
        return self.xs, self.gi, self.params


_SCRATCH = _Scratch()


def serves(q: Quantizer) -> bool:
    """True when the compiled path computes ``q`` (an integer grid; the layout is checked per tensor)."""
    return q.kind in ("absmax", "affine", "fixed") and isinstance(q.base, IntegerBase)


def compiled_extent(tensor: TensorRef) -> tuple[float, float, int, int]:
    """``(min, max, finite count, non-finite count)`` of the tensor's finite values (min > max if none)."""
    acc = np.array([0.0, 0.0, np.inf, -np.inf])
    for chunk in tensor.raw_chunks():
        values = np.asarray(chunk).ravel()
        if values.dtype not in (np.float32, np.float64):
            with np.errstate(invalid="ignore"):  # signalling NaNs raise on cast
                values = values.astype(np.float64)
        weightscan.chunk_extent(np.ascontiguousarray(values), _NO_WEIGHTS[0], False, acc)
    return float(acc[2]), float(acc[3]), int(acc[0]), int(acc[1])


def _scalar_scale(q: Quantizer, extent: tuple[float, float]) -> NDArray[np.float64]:
    """``(div, mul, zero, sigma)`` of a one-scale block, by the reference's own :meth:`Quantizer.scaling`."""
    sc = q.scaling(np.zeros(1), extent)
    return np.array([float(np.asarray(v).ravel()[0]) for v in (sc.div, sc.mul, sc.zero, sc.sigma)])


def fast_statistics(blocks: Iterator[NDArray], q: Quantizer, steps: Sequence[float], extent: tuple[float, float],
                    count: int, nonfinite: int) -> QuantizedStatistics:
    """The reference's ``_statistics`` of the blocks of :func:`stecheck.weights.quantized._blocks` (groups
    along each block's last axis), by the compiled kernel."""
    assert isinstance(q.base, IntegerBase)
    scalar = q.scale is not None or q.per_tensor
    mode = quantscan.SCALAR if scalar else (quantscan.ABSMAX if q.kind == "absmax" else quantscan.AFFINE)
    scale = _scalar_scale(q, extent) if scalar else np.zeros(4)
    hs = np.array(steps, dtype=np.float64)
    width = quantscan.COLUMNS + 2 * FOURIER_ORDERS + hs.size
    sums = np.empty(width)
    counts = np.zeros(2, dtype=np.int64)
    totals = [0.0] * quantscan.COLUMNS
    zeros = ste = 0
    fourier = np.zeros(FOURIER_ORDERS, dtype=np.complex128)
    fd = np.zeros(hs.size)
    gathered = np.empty(count)
    at = 0
    top, lo, hi = q.base.hi, q.base.lo, q.base.hi
    for x in blocks:
        length = x.shape[-1] if x.ndim == 2 else x.size
        group = length if (scalar or q.group is None) else q.group
        flat = x.reshape(-1)
        if flat.size == 0:
            continue
        xs, gi, params = _SCRATCH.get(flat.size)
        m = quantscan.block_statistics(flat, length, group, mode, top, scale, lo, hi, hs, xs, gi, params[0], params[1],
                                       params[2], params[3], gathered[at:], sums, counts)
        at += m
        for c in range(quantscan.COLUMNS):
            totals[c] += float(sums[c])
        zeros += int(counts[0])
        ste += int(counts[1])
        block_fourier = np.empty(FOURIER_ORDERS, dtype=np.complex128)
        for l in range(FOURIER_ORDERS):
            block_fourier[l] = complex(sums[quantscan.FOURIER_COLUMN + 2 * l], sums[quantscan.FOURIER_COLUMN + 2 * l + 1])
        fourier += block_fourier
        for i, h in enumerate(steps):
            fd[i] += float(sums[quantscan.FOURIER_COLUMN + 2 * FOURIER_ORDERS + i]) / h
    assert at == count
    gathered.sort()
    d = np.empty(1)
    weightscan.ks_rows(gathered.reshape(1, -1), _NO_WEIGHTS, False, float(count), d)
    return finish(count, nonfinite, totals, zeros, ste, fourier, fd, float(d[0]))
