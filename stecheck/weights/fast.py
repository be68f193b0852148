"""The compiled path of :func:`stecheck.weights.stats.tensor_statistics`: one call per chunk for every bit width.

The same passes as the numpy reference in :mod:`stecheck.weights.stats`, with the per-chunk work done by
the kernels of :mod:`stecheck.core.weightscan` (which reproduce the reference's sums bit for bit):

0. count, non-finite count, minimum and maximum (one compiled loop per chunk);
1. per chunk: ``tanh`` by numpy (the reference's own function), then one compiled call for the transform,
   one for the sums of ``r - 1/2``, one for the Taylor moments (large tensors), and one for every bit width
   together: sums of n and n^2, crossing sums, the KS histogram (large tensors) and the direct Fourier
   sums (small tensors);
2. the KS statistic: by sorting every n when the tensor has at most :data:`SORT_MAX` values (exact, no
   histogram), else the reference's bounded refinement (:class:`stecheck.weights.stats._KSRefinement`)
   fed only the values a compiled filter finds in its open bins or intervals.

Scratch buffers are kept per thread and reused across chunks and tensors, so a small tensor costs a few
compiled calls and no large allocation.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Final, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.core import weightscan
from stecheck.core.estimators import FDPlan
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.quantize import levels
from stecheck.weights import stats as ref

__all__ = ["SORT_MAX", "fast_tensor_statistics"]

#: Tensors of at most this many values get their KS statistic by sorting n (per bit width) instead of
#: the KS histogram and its refinement; memory: the errors of every bit width, 8 bytes each.
SORT_MAX: Final = 1 << 16
_NO_WEIGHTS: Final = np.ones(1, dtype=np.int64)
_KERNEL_TYPES: Final = (np.dtype(np.float32), np.dtype(np.float64))


#: Scratch of :func:`stecheck.core.weightscan.ks_start`: candidate bins, their weight below, weight inside and
#: bound, and each bin's share and reach.
_KSStartScratch = tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


class _Scratch(threading.local):
    """Per-thread reusable buffers (grown on demand, never shrunk)."""

    def __init__(self) -> None:
        self.size = 0
        self.f = np.empty(0)
        self.r = np.empty(0)
        self.hist = np.empty((0, ref.KS_BINS))
        self.taylor_size = 0
        self.taylor = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        self.starts = np.empty(ref.TAYLOR_BINS + 1, dtype=np.int64)
        self.sort_size = -1
        self.ks_start: _KSStartScratch | None = None
        self.sorting = (np.empty(0), np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64), np.empty(1, dtype=np.int64))

    def values(self, size: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if size > self.size:
            self.size = size
            self.f = np.empty(size)
            self.r = np.empty(size)
        return self.f[:size], self.r[:size]

    def histogram(self, rows: int) -> NDArray[np.float64]:
        if self.hist.shape[0] < rows or self.hist.shape[1] != ref.KS_BINS:
            self.hist = np.empty((max(rows, self.hist.shape[0]), ref.KS_BINS))
        out = self.hist[:rows]
        out.fill(0.0)
        return out

    def sort_scratch(self, size: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
        """Scratch of :func:`stecheck.core.weightscan.ks_small` for ``size`` values (at most :data:`SORT_MAX`)."""
        if size > self.sort_size:
            self.sort_size = size
            self.sorting = (np.empty(size), np.empty(size, dtype=np.int64), np.empty(size), np.empty(size, dtype=np.int64), np.empty(size + 1, dtype=np.int64))
        n, b, keys, ws, starts = self.sorting
        return n[:size], b[:size], keys[:size], ws[:size], starts[:size + 1]

    def ks_start_scratch(self) -> _KSStartScratch:
        """Scratch of :func:`stecheck.core.weightscan.ks_start`: the candidate bins, then five float tables, one
        entry per KS histogram bin."""
        if self.ks_start is None:
            self.ks_start = (np.empty(ref.KS_BINS, dtype=np.intp), *(np.empty(ref.KS_BINS) for _ in range(5)))
        return self.ks_start

    def taylor_scratch(self, size: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """Scratch of :func:`stecheck.core.weightscan.taylor_moments` for a chunk of ``size`` values."""
        if size > self.taylor_size:
            self.taylor_size = size
            self.taylor = (np.empty(size, dtype=np.int64), np.empty(size), np.empty(size))
        return (*self.taylor, self.starts)


_SCRATCH = _Scratch()


def _kernel_values(values: NDArray) -> NDArray:
    """A flat float32/float64 array numba can read (other float types widened to float64, as the reference)."""
    values = np.asarray(values).ravel()
    if values.dtype in _KERNEL_TYPES:
        return np.ascontiguousarray(values)
    with np.errstate(invalid="ignore"):  # signalling NaNs raise on cast
        return values.astype(np.float64)


def _weights(weights: NDArray | None) -> tuple[NDArray[np.int64], bool]:
    if weights is None:
        return _NO_WEIGHTS, False
    return np.ascontiguousarray(weights, dtype=np.int64), True


def _kernel_chunks(chunks: ref.ChunkSource) -> Iterator[tuple[NDArray, NDArray[np.int64], bool]]:
    """``(values, weights, weighted)`` of each chunk, in the forms the kernels take."""
    for values, weights in chunks():
        yield (_kernel_values(values), *_weights(weights))


def _extent(chunks: ref.ChunkSource) -> tuple[ref.Extent, int, list | None]:
    """Pass 0 (equal to :func:`stecheck.weights.stats.scan_extent`), the number of finite entries, and the
    chunks themselves when they hold at most :data:`SORT_MAX` entries (a small tensor is read once)."""
    acc = np.array([0.0, 0.0, math.inf, -math.inf])
    entries = held = 0
    kept: list | None = []
    for v, w, weighted in _kernel_chunks(chunks):
        bad = weightscan.chunk_extent(v, w, weighted, acc)
        entries += v.size - bad
        if kept is not None:
            held += v.size
            if held <= SORT_MAX:
                kept.append((v, w, weighted))
            else:
                kept = None
    return ref.Extent(int(acc[0]), int(acc[1]), float(acc[2]), float(acc[3])), entries, kept


def _chunks_of_r(source, tr: ref.Transform, keep: bool) -> Iterator[tuple[NDArray[np.float64], NDArray[np.int64], bool]]:
    """Transformed finite values of each ``(values, weights, weighted)`` chunk (in a reused buffer unless
    ``keep``) with their weights."""
    for v, w, weighted in source:
        ok = None
        if not (np.isfinite(v.min(initial=0.0)) and np.isfinite(v.max(initial=0.0))):
            ok = np.isfinite(v)
        if ok is not None and not ok.all():
            v = v[ok]
            if weighted:
                w = w[ok]
        if v.size == 0:
            continue
        f, r = _SCRATCH.values(v.size)
        if keep:
            r = np.empty(v.size)
        if tr.name == "dorefa":
            np.tanh(v, out=f, dtype=np.float64)
            weightscan.transform_into(f, tr.shift, tr.denom, tr.offset, r)
        else:
            weightscan.transform_into(v, tr.shift, tr.denom, tr.offset, r)
        yield r, w, weighted


@lru_cache(maxsize=64)
def _setup(bits: tuple[int, ...], steps: tuple[float, ...]) -> tuple[NDArray[np.int64], list[list[FDPlan]], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Per-(bits, steps) constants (shared, read-only): ``L`` per bit width, the forward plans, ``L h + 1/2``,
    and which bit widths take the Taylor grid in a tensor of more than ``DIRECT_FOURIER_MAX`` values (none
    in a smaller one)."""
    scales = np.array([levels(k) for k in bits], dtype=np.int64)
    plans = [[FDPlan("forward", float(h), int(L)) for h in steps] for L in scales]
    a_half = np.array([[plan.lh + 0.5 for plan in row] for row in plans], dtype=np.float64).reshape(len(bits), len(steps))
    taylor_able = np.array([ref.uses_taylor(int(L), ref.DIRECT_FOURIER_MAX + 1) for L in scales], dtype=bool)
    no_taylor = np.zeros(len(bits), dtype=bool)
    for a in (scales, a_half, taylor_able, no_taylor):
        a.flags.writeable = False
    return scales, plans, a_half, taylor_able, no_taylor


def fast_tensor_statistics(
    chunks: ref.ChunkSource, bits: Sequence[int], steps: Sequence[float], transform: str = "dorefa"
) -> ref.TensorStatistics:
    """:func:`stecheck.weights.stats.tensor_statistics` by the compiled kernels (same arguments, same result)."""
    extent, entries, read = _extent(chunks)
    tr = ref.make_transform(transform, extent)
    if tr is None:
        return ref.TensorStatistics(extent.count, extent.nonfinite, True)
    total = float(extent.count)
    scales, plans, a_half, taylor_able, no_taylor = _setup(tuple(int(k) for k in bits), tuple(float(h) for h in steps))
    taylor = taylor_able if extent.count > ref.DIRECT_FOURIER_MAX else no_taylor  # ref.uses_taylor of each width
    direct = ~taylor
    small = entries <= SORT_MAX
    sums = np.zeros((len(bits), 2 + len(steps) + 2 * FOURIER_ORDERS))
    hist = _SCRATCH.histogram(0 if small else len(bits))
    moments = np.zeros((ref.TAYLOR_ORDER + 1, ref.TAYLOR_BINS)) if taylor.any() else None
    r1 = r2 = 0.0
    kept: list[tuple[NDArray[np.float64], NDArray[np.int64], bool]] | None = []
    kept_size = 0
    keep_limit = SORT_MAX if small else ref.KEEP_LIMIT
    for r, w, weighted in _chunks_of_r(read if read is not None else _kernel_chunks(chunks), tr, keep=True):
        c1, c2 = weightscan.centred_sums(r, w, weighted)
        r1 += c1
        r2 += c2
        if moments is not None:
            weightscan.taylor_moments(r, w, weighted, ref.TAYLOR_BINS, ref.TAYLOR_ORDER, *_SCRATCH.taylor_scratch(r.size), moments)
        weightscan.bit_sums(r, w, weighted, scales, a_half, direct, hist, not small, float(ref._KS_SCALE), sums)
        if kept is not None:
            kept_size += r.size
            if kept_size <= keep_limit:
                kept.append((r, w, weighted))
            else:
                kept = None
    if small:
        assert kept is not None
        r_all = np.concatenate([k[0] for k in kept]) if len(kept) != 1 else kept[0][0]
        weighted = bool(kept and kept[0][2])
        w_all = (np.concatenate([k[1] for k in kept]) if len(kept) != 1 else kept[0][1]) if weighted else _NO_WEIGHTS
        ks = _ks_by_sorting(r_all, w_all, weighted, scales, total)
    else:
        source = (lambda: iter(kept)) if kept is not None else (lambda: _chunks_of_r(_kernel_chunks(chunks), tr, keep=False))
        ks = _ks_refined(source, scales, hist, total)
    nh = len(steps)
    fourier = sums[:, 2 + nh::2] + 1j * sums[:, 3 + nh::2] if direct.any() else None
    rows = sums.tolist()
    out = [
        (k, int(L), plans[i], rows[i][0], rows[i][1], rows[i][2:2 + nh], fourier[i] if direct[i] else None)
        for i, (k, L) in enumerate(zip(bits, scales))
    ]
    return ref.finish_statistics(extent, out, ks, moments, r1, r2)


def _ks_by_sorting(r: NDArray[np.float64], w: NDArray[np.int64], weighted: bool, scales: NDArray[np.int64], total: float) -> list[float]:
    """Exact KS statistics of every bit width by sorting its errors (:func:`stecheck.core.weightscan.ks_small`)."""
    out = np.empty(scales.size)
    weightscan.ks_small(r, w, weighted, scales, total, out, *_SCRATCH.sort_scratch(r.size))
    return out.tolist()


def _ks_state(scale: int, hist: NDArray[np.float64], total: float) -> ref._KSRefinement:
    """:class:`stecheck.weights.stats._KSRefinement` of a histogram, its open bins found by the compiled
    :func:`stecheck.core.weightscan.ks_start` (the same values as its numpy ``__init__``)."""
    bins, before, count, upper, after, reach = _SCRATCH.ks_start_scratch()
    m, best = weightscan.ks_start(hist, total, ref.KS_EDGES, 1.0 / ref._KS_SCALE, ref._GAP, bins, before, count, upper, after, reach)
    return ref._KSRefinement.from_candidates(scale, total, bins[:m].copy(), before[:m].copy(), count[:m].copy(), upper[:m].copy(), best)


def _ks_refined(source, scales: NDArray[np.int64], hist: NDArray[np.float64], total: float) -> list[float]:
    """:func:`stecheck.weights.stats._ks_exact` with a compiled filter in front of each state's ``add``."""
    states = [_ks_state(int(L), hist[i], total) for i, L in enumerate(scales)]
    no_lut = np.zeros(1, dtype=np.uint8)
    no_edges = np.zeros(1)
    while True:
        active = [st for st in states if not st.done]
        if not active:
            break
        gather_budget, split_budget, taking = ref.GATHER_LIMIT, ref.SPLIT_BINS, []
        for st in active:
            gather_budget, split_budget, takes_part = st.plan(gather_budget, split_budget, first=not taking)
            if takes_part:
                st.start_pass()
                taking.append(st)
        masks = {id(st): (st.lut >= 0).view(np.uint8) for st in taking if st.open.bins is not None}  # 64 KiB, in cache
        for r, w, weighted in source():
            n_out = np.empty(r.size)
            binned = np.empty(r.size)
            idx = np.empty(r.size, dtype=np.int64)
            for st in taking:
                by_bin = st.open.bins is not None
                m = weightscan.candidates(
                    r, float(st.scale), float(ref._KS_SCALE), masks[id(st)] if by_bin else no_lut,
                    no_edges if by_bin else st.open.lo, no_edges if by_bin else st.open.hi, by_bin, n_out, binned, idx,
                )
                if m:
                    st.add(n_out[:m].copy(), w[idx[:m]] if weighted else None, binned[:m].copy())
        for st in taking:
            st.finish_pass()
    return [st.exact for st in states]
