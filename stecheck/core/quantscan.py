"""Compiled per-block statistics of a weight tensor under an integer-grid quantizer (absmax, affine, fixed; numba).

The fast path of :func:`stecheck.weights.quantized.quantized_statistics` for integer grids; the numpy code
there stays the reference it is tested against (tests/test_quantscan.py). One call per block of whole
groups computes, for the block's finite values ``x`` in element order:

- each group's scale, as :meth:`stecheck.core.quantizers.Quantizer.scaling` does (absmax:
  ``max|x|``; affine: ``max(max x, 0)`` and ``min(min x, 0)``, the zero point ``clip(rint(-min / sigma), 0, top)``),
  or one scale for the whole block (per tensor or a stated step);
- per element: codes ``y = (x / div) mul + zero``, the level ``c = clip(rint(y), lo, hi)``, the rounding
  error ``n = rint(clip(y)) - clip(y)`` (the local step of an integer grid is 1), ``(q - x)^2`` with
  ``q = sigma (c - zero)``, ``sigma^2``, the STE indicator ``lo <= y <= hi``, ``n == 0``, and for every
  step h the level change ``sigma (clip(rint(((x + h) / div) mul + zero), lo, hi) - c)``;
- the block sums of ``n``, ``n^2``, ``x``, ``x^2``, ``(q - x)^2``, ``sigma^2``, the level changes and the
  Fourier sums ``sum exp(2 pi i l n)``, l = 1..8 (powers of :func:`stecheck.core.weightscan.unit_phasor`),
  each in numpy's pairwise order over the block's finite values (as ``ndarray.sum`` of the reference's
  ``values[ok]``), and the values of n themselves (for the exact KS statistic).

:func:`given_block_statistics` does the same from per-element arrays that numpy formed (the codes, levels and
local steps of a float format, whose rounding is ml_dtypes' cast, or of a scale along another axis).

Every operation is the reference's IEEE operation in the reference's order, so every sum equals it bit
for bit (``np.clip`` keeps its argument unless it is strictly outside, ``np.maximum``/``np.minimum`` return
their second argument on ties). The loops release the GIL (``nogil``).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from stecheck.cachedirs import configure_numba_cache

configure_numba_cache()  # before numba is imported: its cache goes to a per-user folder, not the package

from numba import njit  # noqa: E402

from stecheck.core.weightscan import _combine, _leaf, pairwise_plan, phasors_into  # noqa: E402

__all__ = ["SCALAR", "ABSMAX", "AFFINE", "COLUMNS", "FOURIER_COLUMN", "block_statistics", "given_block_statistics", "error_histogram",
           "bin_candidates"]

#: Scale modes: one given scale for the block, per-group absmax scales, per-group affine scales.
SCALAR: Final = 0
ABSMAX: Final = 1
AFFINE: Final = 2
#: Columns of the block sums: n, n^2, x, x^2, (q - x)^2, sigma^2, then 16 Fourier sums (Re, Im per order),
#: then one level-change sum per step h.
COLUMNS: Final = 6
FOURIER_COLUMN: Final = COLUMNS
_FOURIER_ORDERS: Final = 8
_BLOCK: Final = 128


@njit(nogil=True, cache=True, inline="always")
def _clip(a: float, lo: float, hi: float) -> float:  # pragma: no cover - compiled
    """``np.clip(a, lo, hi)`` for finite ``a`` (``a`` kept unless strictly outside, so -0.0 stays)."""
    if a < lo:
        a = lo
    if a > hi:
        a = hi
    return a


@njit(nogil=True, cache=True)
def _group_scales(x, length: int, group: int, mode: int, top: float, div, mul, zero, sigma) -> int:  # pragma: no cover
    """Each group's ``(div, mul, zero, sigma)`` as :class:`stecheck.core.quantizers.Scaling` holds them.

    Groups are ``[r length + j group, min(r length + (j + 1) group, (r + 1) length))``; non-finite values
    count as 0 (the reference reduces ``where(isfinite(x), x, 0)``). Returns the number of groups.
    """
    rows = x.size // length
    per_row = (length + group - 1) // group
    g = 0
    for row in range(rows):
        for j in range(per_row):
            start = row * length + j * group
            stop = min(start + group, (row + 1) * length)
            if mode == ABSMAX:
                amax = 0.0
                for i in range(start, stop):
                    v = np.float64(x[i])
                    if math.isfinite(v):
                        amax = max(amax, abs(v))
                if amax > 0:  # _amax_scaling
                    div[g] = amax
                    mul[g] = top
                    sigma[g] = amax / top
                else:
                    div[g] = 1.0
                    mul[g] = 0.0
                    sigma[g] = 0.0
                zero[g] = 0.0
            else:
                mx = 0.0
                mn = 0.0
                for i in range(start, stop):
                    v = np.float64(x[i])
                    if math.isfinite(v):
                        mx = max(mx, v)
                        mn = min(mn, v)
                hi = mx if mx > 0.0 else 0.0  # np.maximum(max, 0.0): the second argument on ties
                lo = mn if mn < 0.0 else 0.0
                s = (hi - lo) / top
                if s > 0:  # Quantizer._affine: a step that underflows to 0 makes a constant group
                    div[g] = s
                    mul[g] = 1.0
                    sigma[g] = s
                    zero[g] = _clip(np.rint(-lo / s), 0.0, top)
                else:
                    div[g] = 1.0
                    mul[g] = 0.0
                    sigma[g] = 0.0
                    zero[g] = 0.0
            g += 1
    return g


@njit(nogil=True, cache=True)
def _compact(x, length: int, group: int, scalar: bool, xs, gi) -> int:  # pragma: no cover - compiled
    """The finite values of ``x`` in order (as float64) with their group numbers; returns how many."""
    m = 0
    if scalar:
        for i in range(x.size):
            v = np.float64(x[i])
            if math.isfinite(v):
                xs[m] = v
                gi[m] = 0
                m += 1
        return m
    rows = x.size // length
    per_row = (length + group - 1) // group
    g = 0
    for row in range(rows):
        for j in range(per_row):
            start = row * length + j * group
            stop = min(start + group, (row + 1) * length)
            for i in range(start, stop):
                v = np.float64(x[i])
                if math.isfinite(v):
                    xs[m] = v
                    gi[m] = g
                    m += 1
            g += 1
    return m


@njit(nogil=True, cache=True)
def _leaf_sums(xs, gi, lo_i, n, div, mul, zero, sigma, code_lo, code_hi, hs, n_out, out, level, bufs, counts):  # pragma: no cover
    """One leaf of the pairwise tree: the per-element terms of ``xs[lo_i:lo_i + n]`` and their leaf sums."""
    nh = hs.size
    zeros = 0
    inside = 0
    for i in range(n):
        x = xs[lo_i + i]
        g = gi[lo_i + i]
        d = div[g]
        f = mul[g]
        z = zero[g]
        s = sigma[g]
        y = (x / d) * f + z
        c = _clip(np.rint(y), code_lo, code_hi)
        yc = _clip(y, code_lo, code_hi)
        e = np.rint(yc) - yc
        n_out[lo_i + i] = e
        bufs[0, i] = e
        bufs[1, i] = e * e
        bufs[2, i] = x
        bufs[3, i] = x * x
        err = s * (c - z) - x
        bufs[4, i] = err * err
        u = s * 1.0
        bufs[5, i] = u * u
        if e == 0.0:
            zeros += 1
        if y >= code_lo and y <= code_hi:
            inside += 1
        for j in range(nh):
            moved = _clip(np.rint(((x + hs[j]) / d) * f + z), code_lo, code_hi)
            bufs[6 + j, i] = s * (moved - c)
    _finish_leaf(n, nh, zeros, inside, out, level, bufs, counts)


@njit(nogil=True, cache=True)
def block_statistics(
    x, length: int, group: int, mode: int, top: float, scalar_scale, code_lo: float, code_hi: float, hs,
    xs, gi, div, mul, zero, sigma, n_out, sums, counts,
) -> int:  # pragma: no cover - compiled
    """One block of whole groups: its sums, counts and values of n (see the module docstring).

    Parameters
    ----------
    x : ndarray
        The block, flat (float32 or float64), rows of ``length`` values split into groups of ``group``.
    mode : int
        :data:`SCALAR` (``scalar_scale = (div, mul, zero, sigma)`` for every element), :data:`ABSMAX`
        or :data:`AFFINE` (per group; ``top`` the largest code).
    code_lo, code_hi : float
        The grid's extreme codes.
    hs : ndarray
        Finite-difference steps.
    xs, gi, div, mul, zero, sigma : ndarray
        Scratch of at least ``x.size`` values (and group numbers) and of one entry per group.
    n_out : ndarray
        Receives the rounding errors of the finite values, in order.
    sums : ndarray
        ``COLUMNS + 16 + len(hs)`` block sums (overwritten), each numpy's pairwise sum over the finite values.
    counts : ndarray of int64
        ``[n == 0, inside the range]`` counts (overwritten).

    Returns
    -------
    int
        The number of finite values.
    """
    scalar = mode == SCALAR
    if scalar:
        div[0] = scalar_scale[0]
        mul[0] = scalar_scale[1]
        zero[0] = scalar_scale[2]
        sigma[0] = scalar_scale[3]
    else:
        _group_scales(x, length, group, mode, top, div, mul, zero, sigma)
    m = _compact(x, length, group, scalar, xs, gi)
    counts[0] = 0
    counts[1] = 0
    width = sums.size
    for q in range(width):
        sums[q] = 0.0
    if m == 0:
        return 0
    out = np.zeros((64, width))
    bufs = np.empty((6 + hs.size, _BLOCK))
    ops = pairwise_plan(m)
    for t in range(ops.shape[0]):
        if ops[t, 0]:
            _combine(out, ops[t, 0], ops[t, 1], width)
        else:
            _leaf_sums(xs, gi, ops[t, 2], ops[t, 3], div, mul, zero, sigma, code_lo, code_hi, hs, n_out, out, ops[t, 1], bufs, counts)
    for q in range(width):
        sums[q] = 0.0 + out[0, q]
    return m


@njit(nogil=True, cache=True)
def _given_leaf(idx, lo_i, n, x, y, code, rounded, yc, step, sigma, zero, moved, code_lo, code_hi, n_out, out, level, bufs, counts):  # pragma: no cover
    """A leaf of :func:`given_block_statistics`: the terms of the finite entries ``idx[lo_i:lo_i + n]``."""
    nh = moved.shape[0]
    zeros = 0
    inside = 0
    for i in range(n):
        k = idx[lo_i + i]
        xv = x[k]
        c = code[k]
        s = sigma[k]
        st = step[k]
        e = (rounded[k] - yc[k]) / st
        n_out[lo_i + i] = e
        bufs[0, i] = e
        bufs[1, i] = e * e
        bufs[2, i] = xv
        bufs[3, i] = xv * xv
        err = s * (c - zero[k]) - xv
        bufs[4, i] = err * err
        u = s * st
        bufs[5, i] = u * u
        if e == 0.0:
            zeros += 1
        yv = y[k]
        if yv >= code_lo and yv <= code_hi:
            inside += 1
        for j in range(nh):
            bufs[6 + j, i] = s * (moved[j, k] - c)
    _finish_leaf(n, nh, zeros, inside, out, level, bufs, counts)


@njit(nogil=True, cache=True)
def _finish_leaf(n: int, nh: int, zeros: int, inside: int, out, level: int, bufs, counts) -> None:  # pragma: no cover - compiled
    """The end of a leaf whose per-element terms are in ``bufs`` (rows 0-5: n, n^2, x, x^2, the squared
    error and the squared step; rows 6 on: the moved levels per h): its counts, its leaf sums and its
    Fourier sums."""
    counts[0] += zeros
    counts[1] += inside
    for q in range(6):
        out[level, q] = _leaf(bufs[q], n)
    for j in range(nh):
        out[level, COLUMNS + 2 * _FOURIER_ORDERS + j] = _leaf(bufs[6 + j], n)
    _fourier_leaf(n, out, level, bufs)


@njit(nogil=True, cache=True)
def _fourier_leaf(n, out, level, bufs) -> None:  # pragma: no cover - compiled
    """The Fourier sums of the leaf's errors ``bufs[0, :n]`` (rows 2..5 of ``bufs`` are scratch)."""
    cb = bufs[2]
    sb = bufs[3]
    re = bufs[4]
    im = bufs[5]
    phasors_into(bufs[0], n, cb, sb)
    for l in range(_FOURIER_ORDERS):
        if l == 0:
            for i in range(n):
                re[i] = cb[i]
                im[i] = sb[i]
        else:
            for i in range(n):
                pr = re[i]
                pi = im[i]
                re[i] = pr * cb[i] - pi * sb[i]
                im[i] = pr * sb[i] + pi * cb[i]
        out[level, COLUMNS + 2 * l] = _leaf(re, n)
        out[level, COLUMNS + 2 * l + 1] = _leaf(im, n)


@njit(nogil=True, cache=True)
def given_block_statistics(x, y, code, rounded, yc, step, sigma, zero, moved, code_lo: float, code_hi: float, idx, n_out, sums, counts) -> int:  # pragma: no cover
    """:func:`block_statistics` from per-element arrays formed by numpy (any grid, e.g. an FP format's casts).

    ``x`` the block (flat float64, non-finite entries skipped), ``y`` the codes, ``code`` the levels ``B(y)``,
    ``yc = clip(y)``, ``rounded = B(yc)`` (the same array as ``code`` for a float format, whose ``B`` clips
    first), ``step`` the local step at ``yc``, ``sigma`` and ``zero`` per element, ``moved[j]`` the levels
    ``B(codes(x + h_j))``; the rounding error is ``(rounded - yc) / step``
    (:func:`stecheck.core.quantizers.code_error`). ``idx`` is scratch of the block's size. Same outputs as
    :func:`block_statistics`.
    """
    m = 0
    for i in range(x.size):
        if math.isfinite(x[i]):
            idx[m] = i
            m += 1
    counts[0] = 0
    counts[1] = 0
    width = sums.size
    for q in range(width):
        sums[q] = 0.0
    if m == 0:
        return 0
    out = np.zeros((64, width))
    bufs = np.empty((6 + moved.shape[0], _BLOCK))
    ops = pairwise_plan(m)
    for t in range(ops.shape[0]):
        if ops[t, 0]:
            _combine(out, ops[t, 0], ops[t, 1], width)
        else:
            _given_leaf(idx, ops[t, 2], ops[t, 3], x, y, code, rounded, yc, step, sigma, zero, moved, code_lo, code_hi, n_out, out, ops[t, 1], bufs, counts)
    for q in range(width):
        sums[q] = 0.0 + out[0, q]
    return m


@njit(nogil=True, cache=True)
def error_histogram(n, ks_scale: float, hist) -> None:  # pragma: no cover - compiled
    """``hist[floor((n + 1/2) S)] += 1`` for every value (the KS histogram of the DoReFa scan, S = ``ks_scale``)."""
    counts = np.zeros(hist.size, dtype=np.int64)
    for i in range(n.size):
        counts[int((n[i] + 0.5) * ks_scale)] += 1
    for b in range(hist.size):
        hist[b] += counts[b]


@njit(nogil=True, cache=True)
def bin_candidates(n, ks_scale: float, mask, n_out, binned_out) -> int:  # pragma: no cover - compiled
    """The values whose bin ``floor((n + 1/2) S)`` has ``mask`` set, in order, with ``(n + 1/2) S``; returns how many."""
    m = 0
    for i in range(n.size):
        t = (n[i] + 0.5) * ks_scale
        if mask[int(t)]:
            n_out[m] = n[i]
            binned_out[m] = t
            m += 1
    return m
