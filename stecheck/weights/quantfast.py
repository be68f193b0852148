"""The compiled path of :func:`stecheck.weights.quantized.quantized_statistics`.

For ``absmax``, ``affine`` and ``fixed`` (and a stated scale of either) per tensor, per group and along the
last axis, block by block as the reference reads them (:func:`stecheck.weights.quantized._blocks`):

0. the extent (count, non-finite count, min, max) by the compiled loop of the DoReFa scan;
1. per block, one compiled call (:func:`stecheck.core.quantscan.block_statistics`) for the group scales,
   every sum and count of the reference in its order, and the values of n, written into one array
   of the tensor's finite count;
2. the exact KS statistic from that array (:func:`exact_ks`): sorted when small, else located by the DoReFa
   scan's KS histogram and refinement; the same statistic as the reference's sort of every value.

Any other quantizer (FP formats, MX, NVFP4, a scale along another axis) has numpy form each block's codes,
levels (ml_dtypes' casts), local steps and scales once, as the reference does, and
:func:`stecheck.core.quantscan.given_block_statistics` the rest (:func:`given_statistics`).

The results equal the reference's bit for bit (tests/test_quantscan.py). Scratch buffers are per thread.
"""

from __future__ import annotations

import threading
from typing import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.core import quantscan, weightscan
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.quantizers import FloatBase, IntegerBase, Quantizer
from stecheck.weights import stats as ref
from stecheck.weights.fast import SORT_MAX, _ks_state
from stecheck.weights.quantized import QuantizedStatistics, finish
from stecheck.weights.tensors import TensorRef

__all__ = ["serves", "compiled_extent", "fast_statistics", "given_statistics"]

_NO_WEIGHTS = np.ones((1, 1), dtype=np.int64)
#: Values of n filtered per call of the KS refinement (its scratch: 4 MiB).
_SLICE = 1 << 18


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
    acc = _Totals(hs.size)
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
        acc.add(sums, counts, steps)
    assert at == count
    return acc.finish(count, nonfinite, gathered)


def given_statistics(blocks: Iterator[NDArray[np.float64]], q: Quantizer, steps: Sequence[float], extent: tuple[float, float],
                     count: int, nonfinite: int) -> QuantizedStatistics:
    """The reference's ``_statistics`` for any quantizer: numpy forms the per-element codes, levels (ml_dtypes'
    casts for a float format), local steps and scales of each float64 block as the reference does, once each,
    and :func:`stecheck.core.quantscan.given_block_statistics` every sum, count and value of n."""
    base = q.base
    assert base is not None
    hs = np.array(steps, dtype=np.float64)
    width = quantscan.COLUMNS + 2 * FOURIER_ORDERS + hs.size
    sums = np.empty(width)
    counts = np.zeros(2, dtype=np.int64)
    acc = _Totals(hs.size)
    gathered = np.empty(count)
    at = 0
    for x in blocks:
        if x.size == 0:
            continue
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x)
        x0 = np.where(ok, x, 0.0)
        with np.errstate(over="ignore"):  # codes beyond the grid's range are clipped, +-inf included (as the reference)
            sc = q.scaling(x0, extent)
            y = sc.codes(x0)
            code = base.round(y)
            yc = np.clip(y, base.lo, base.hi)
            rounded = code if isinstance(base, FloatBase) else base.round(yc)  # B clips first: B(clip(y)) = B(y)
            step = base.local_step(yc)
            moved = np.empty((hs.size, x.size))
            for j, h in enumerate(steps):
                moved[j] = base.round(sc.codes(x0 + h)).ravel()
        flat = [np.ascontiguousarray(np.broadcast_to(a, x0.shape), dtype=np.float64).ravel() for a in (x, y, code, rounded, yc, step, sc.sigma, sc.zero)]
        _, idx, _ = _SCRATCH.get(x.size)
        m = quantscan.given_block_statistics(*flat, moved, base.lo, base.hi, idx, gathered[at:], sums, counts)
        at += m
        acc.add(sums, counts, steps)
    assert at == count
    return acc.finish(count, nonfinite, gathered)


class _Totals:
    """The running totals of the blocks, added as the reference adds them."""

    def __init__(self, steps: int) -> None:
        self.sums = [0.0] * quantscan.COLUMNS
        self.zeros = self.ste = 0
        self.fourier = np.zeros(FOURIER_ORDERS, dtype=np.complex128)
        self.fd = np.zeros(steps)

    def add(self, sums: NDArray[np.float64], counts: NDArray[np.int64], steps: Sequence[float]) -> None:
        for c in range(quantscan.COLUMNS):
            self.sums[c] += float(sums[c])
        self.zeros += int(counts[0])
        self.ste += int(counts[1])
        block = np.empty(FOURIER_ORDERS, dtype=np.complex128)
        for l in range(FOURIER_ORDERS):
            block[l] = complex(sums[quantscan.FOURIER_COLUMN + 2 * l], sums[quantscan.FOURIER_COLUMN + 2 * l + 1])
        self.fourier += block
        for i, h in enumerate(steps):
            self.fd[i] += float(sums[quantscan.FOURIER_COLUMN + 2 * FOURIER_ORDERS + i]) / h

    def finish(self, count: int, nonfinite: int, gathered: NDArray[np.float64]) -> QuantizedStatistics:
        """The statistics, with the exact KS statistic of the gathered values of n (:func:`exact_ks`)."""
        return finish(count, nonfinite, self.sums, self.zeros, self.ste, self.fourier, self.fd, exact_ks(gathered))


def exact_ks(n: NDArray[np.float64]) -> float:
    """The exact KS distance of the values ``n`` to Uniform[-1/2, 1/2] (the reference sorts them all).

    Up to :data:`stecheck.weights.fast.SORT_MAX` values: sorted (in place), and the compiled KS loop of the
    DoReFa scan. More: their histogram on the DoReFa scan's KS bins, then its exact refinement
    (:class:`stecheck.weights.stats._KSRefinement`, the DoReFa scan's, in its bounded memory) fed, slice by
    slice, only the values in its open bins or intervals: the same terms ``F - G`` and ``G - F(-)`` from the
    same integer counts, at every value that can attain the supremum, so the same statistic as sorting all.
    """
    total = float(n.size)
    if n.size <= SORT_MAX:
        n.sort()
        d = np.empty(1)
        weightscan.ks_rows(n.reshape(1, -1), _NO_WEIGHTS, False, total, d)
        return float(d[0])
    scale = float(ref._KS_SCALE)
    hist = np.zeros(ref.KS_BINS)
    quantscan.error_histogram(n, scale, hist)
    state = _ks_state(1, hist, total)
    values, binned = np.empty(_SLICE), np.empty(_SLICE)
    while not state.done:
        state.plan(ref.GATHER_LIMIT, ref.SPLIT_BINS, first=True)
        state.start_pass()
        mask = (state.lut >= 0).view(np.uint8) if state.open.bins is not None else None
        for start in range(0, n.size, _SLICE):
            part = n[start:start + _SLICE]
            if mask is None:
                state.add(part, None, (part + 0.5) * scale)
                continue
            m = quantscan.bin_candidates(part, scale, mask, values, binned)
            if m:
                state.add(values[:m].copy(), None, binned[:m].copy())
        state.finish_pass()
    return state.exact
