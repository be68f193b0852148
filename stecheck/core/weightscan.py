"""Compiled per-chunk statistics of the rounding error of a weight tensor, every bit width in one call (numba).

The fast path of :func:`stecheck.weights.stats.tensor_statistics`; the numpy code there stays the reference
it is tested against (tests/test_weights_fast.py). The kernels reproduce the reference bit for bit:

- every sum the reference forms with ``ndarray.sum`` is formed here in numpy's own order, the pairwise
  summation of ``numpy/_core/src/umath/loops_utils.h.src`` (blocks of at most 128 values summed with eight
  interleaved accumulators, larger ranges split in halves rounded down to a multiple of eight), on the same
  per-element products (``e * w``, ``(e * e) * w``, ``floor((L h + 1/2) - e) * w``);
- the histogram and Taylor-moment bins are sums of integers or sequential sums in element order, as
  ``numpy.bincount`` forms them;
- ``n = rint(L r) - L r`` and ``r = (f - shift) / denom + offset`` are the same IEEE operations.

- the phasors ``exp(2 pi i n)`` of the direct Fourier sums come from one polynomial
  (:func:`unit_phasor`), evaluated by the same operations here and in numpy.

So a statistic computed here equals the reference's to the last bit. The loops release the GIL (``nogil``).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from stecheck.cachedirs import configure_numba_cache

configure_numba_cache()  # before numba is imported: its cache goes to a per-user folder, not the package

from numba import njit  # noqa: E402

__all__ = [
    "LEVELS",
    "count_patterns",
    "chunk_extent",
    "transform_into",
    "centred_sums",
    "bit_sums",
    "taylor_moments",
    "ks_sorted",
    "errors_all",
    "ks_rows",
    "ks_small",
    "candidates",
    "pairwise_sum",
    "unit_phasor",
    "phasors_into",
    "COS_COEFFS",
    "SIN_COEFFS",
    "pairwise_plan",
]

#: Buckets of :func:`ks_small` holding more values than this are sorted by numpy's sort, not by insertion.
_CROWDED: Final = 16
#: numpy's pairwise-summation block (``PW_BLOCKSIZE``).
_BLOCK: Final = 128
#: Rows of the recursion scratch: the pairwise tree of 2^62 values is at most 57 levels deep.
LEVELS: Final = 64
#: Terms of the Taylor series of cos a and sin a / a used for |a| <= pi/2 (the first omitted term is below
#: 1e-19), as exactly rounded float64: ``(-1)^j / (2j)!`` and ``(-1)^j / (2j + 1)!``.
PHASOR_TERMS: Final = 12
COS_COEFFS: Final = np.array([(-1) ** j / math.factorial(2 * j) for j in range(PHASOR_TERMS)])
SIN_COEFFS: Final = np.array([(-1) ** j / math.factorial(2 * j + 1) for j in range(PHASOR_TERMS)])


def unit_phasor(n: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(cos 2 pi n, sin 2 pi n)`` for ``|n| <= 1/2``, by numpy: the reference of the compiled loop's phasor.

    With ``a = pi n`` (``|a| <= pi/2``), ``c = cos a`` and ``s = sin a`` by Horner's rule on
    :data:`COS_COEFFS` and :data:`SIN_COEFFS` (in ``a^2``), then the double angle ``(c^2 - s^2, 2 c s)``:
    the same IEEE operations, in the same order, as :func:`bit_sums`, within a few ulps of libm's
    ``cos``/``sin`` (6.7e-16 at most over 10^6 random n) and vectorisable, where a libm call per value
    costs several times more.
    """
    a = np.pi * n
    a2 = a * a
    c = np.full_like(a, COS_COEFFS[-1])
    s = np.full_like(a, SIN_COEFFS[-1])
    for j in range(PHASOR_TERMS - 2, -1, -1):
        c = c * a2 + COS_COEFFS[j]
        s = s * a2 + SIN_COEFFS[j]
    s = s * a
    return c * c - s * s, (c * s) * 2.0


@njit(nogil=True, cache=True)
def phasors_into(e, n: int, cos_out, sin_out) -> None:  # pragma: no cover - compiled
    """``cos_out[i], sin_out[i] = cos 2 pi e[i], sin 2 pi e[i]`` for ``i < n`` (``|e| <= 1/2``): :func:`unit_phasor`
    value by value, by the same IEEE operations in the same order."""
    for i in range(n):
        a = math.pi * e[i]
        a2 = a * a
        c = COS_COEFFS[PHASOR_TERMS - 1]
        t = SIN_COEFFS[PHASOR_TERMS - 1]
        for j in range(PHASOR_TERMS - 2, -1, -1):
            c = c * a2 + COS_COEFFS[j]
            t = t * a2 + SIN_COEFFS[j]
        t = t * a
        cos_out[i] = c * c - t * t
        sin_out[i] = (c * t) * 2.0


@njit(nogil=True, cache=True)
def _leaf(v: NDArray[np.float64], m: int) -> float:  # pragma: no cover - compiled
    """numpy's pairwise sum of ``v[:m]`` for ``m <= 128`` (one leaf of its tree)."""
    if m < 8:
        res = 0.0
        for i in range(m):
            res += v[i]
        return res
    r0 = v[0]
    r1 = v[1]
    r2 = v[2]
    r3 = v[3]
    r4 = v[4]
    r5 = v[5]
    r6 = v[6]
    r7 = v[7]
    top = m - m % 8
    i = 8
    while i < top:
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < m:
        res += v[i]
        i += 1
    return res


@njit(nogil=True, cache=True)
def pairwise_plan(n: int) -> NDArray[np.int64]:  # pragma: no cover - compiled
    """numpy's pairwise-summation tree of ``n`` values as a list of steps ``(kind, level, start, size)``.

    In order: kind 0 sums the leaf ``[start, start + size)`` (at most 128 values) into row ``level``; kind 1
    copies row ``level + 1`` (a finished left half) into row ``level``; kind 2 adds row ``level + 1`` (the
    right half) to it. Row 0 ends holding the sum. (An explicit stack: numba caches no recursive function.)
    """
    cap = 3 * (n // 32 + 2)
    ops = np.empty((cap, 4), dtype=np.int64)
    starts = np.zeros(LEVELS, dtype=np.int64)
    sizes = np.zeros(LEVELS, dtype=np.int64)
    state = np.zeros(LEVELS, dtype=np.int64)
    sizes[0] = n
    k = 0
    level = 0
    while level >= 0:
        m = sizes[level]
        if m <= _BLOCK:
            ops[k, 0] = 0
            ops[k, 1] = level
            ops[k, 2] = starts[level]
            ops[k, 3] = m
            k += 1
            level -= 1
            continue
        half = m // 2
        half -= half % 8
        if state[level] == 0:
            state[level] = 1
            starts[level + 1] = starts[level]
            sizes[level + 1] = half
            state[level + 1] = 0
            level += 1
        elif state[level] == 1:
            ops[k, 0] = 1
            ops[k, 1] = level
            k += 1
            state[level] = 2
            starts[level + 1] = starts[level] + half
            sizes[level + 1] = m - half
            state[level + 1] = 0
            level += 1
        else:
            ops[k, 0] = 2
            ops[k, 1] = level
            k += 1
            level -= 1
    return ops[:k]


@njit(nogil=True, cache=True)
def _combine(out, kind: int, level: int, width: int) -> None:  # pragma: no cover - compiled
    if kind == 1:
        for q in range(width):
            out[level, q] = out[level + 1, q]
    else:
        for q in range(width):
            out[level, q] += out[level + 1, q]


@njit(nogil=True, cache=True)
def pairwise_sum(x: NDArray[np.float64]) -> float:  # pragma: no cover - compiled
    """``x.sum()`` for a contiguous float64 array, in numpy's order (the building block, exposed for tests)."""
    out = np.zeros((LEVELS, 1))
    buf = np.empty(_BLOCK)
    ops = pairwise_plan(x.size)
    for t in range(ops.shape[0]):
        kind, level, lo, n = ops[t, 0], ops[t, 1], ops[t, 2], ops[t, 3]
        if kind:
            _combine(out, kind, level, 1)
            continue
        for i in range(n):
            buf[i] = x[lo + i]
        out[level, 0] = _leaf(buf, n)
    return 0.0 + out[0, 0]


@njit(nogil=True, cache=True)
def count_patterns(patterns: NDArray[np.unsignedinteger], counts: NDArray[np.int64]) -> None:  # pragma: no cover - compiled
    """``counts += numpy.bincount(patterns, minlength=counts.size)``: how often each bit pattern occurs.

    ``patterns`` are the values of an 8- or 16-bit tensor seen as unsigned integers (``uint8``, ``uint16``);
    ``counts`` has one entry per pattern (256 or 65536). The same integers as numpy's ``bincount``, which
    holds the GIL (two threads counting two tensors' patterns would take turns) and allocates a new table
    per call; this adds in place and releases it.
    """
    if counts.size != 1 << (8 * patterns.itemsize):
        raise ValueError("the pattern table has one entry per bit pattern of the values")
    for i in range(patterns.size):
        counts[patterns[i]] += 1


@njit(nogil=True, cache=True)
def _require_weights(w, weighted: bool, n: int) -> None:  # pragma: no cover - compiled
    """Raise unless a weighted chunk of ``n`` values has a weight for each (the kernels index ``w`` by value)."""
    if weighted and w.size < n:
        raise ValueError("a weighted chunk has one weight per value")


@njit(nogil=True, cache=True)
def chunk_extent(values, weights, weighted: bool, out: NDArray[np.float64]) -> int:  # pragma: no cover - compiled
    """Add one chunk to ``out = [count, nonfinite, lo, hi]`` (counts weighted); return its number of non-finite entries."""
    _require_weights(weights, weighted, values.size)
    count = 0
    bad = 0
    bad_entries = 0
    lo = out[2]
    hi = out[3]
    for i in range(values.size):
        v = np.float64(values[i])
        c = 1
        if weighted:
            c = weights[i]
        if math.isfinite(v):
            count += c
            lo = min(lo, v)
            hi = max(hi, v)
        else:
            bad += c
            bad_entries += 1
    out[0] += count
    out[1] += bad
    out[2] = lo
    out[3] = hi
    return bad_entries


@njit(nogil=True, cache=True)
def transform_into(f, shift: float, denom: float, offset: float, out: NDArray[np.float64]) -> None:  # pragma: no cover - compiled
    """``out = (f - shift) / denom + offset`` (the weights transform; ``f`` is ``tanh w`` for DoReFa, else ``w``)."""
    for i in range(out.size):
        out[i] = (np.float64(f[i]) - shift) / denom + offset


@njit(nogil=True, cache=True)
def _centred_leaf(r, w, weighted, lo, n, out, level, buf):  # pragma: no cover - compiled
    if weighted:
        for i in range(n):
            c = r[lo + i] - 0.5
            buf[i] = c * np.float64(w[lo + i])
    else:
        for i in range(n):
            buf[i] = r[lo + i] - 0.5
    out[level, 0] = _leaf(buf, n)
    if weighted:
        for i in range(n):
            c = r[lo + i] - 0.5
            buf[i] = (c * c) * np.float64(w[lo + i])
    else:
        for i in range(n):
            c = r[lo + i] - 0.5
            buf[i] = c * c
    out[level, 1] = _leaf(buf, n)


@njit(nogil=True, cache=True)
def centred_sums(r, w, weighted: bool) -> tuple[float, float]:  # pragma: no cover - compiled
    """``(sum c, sum c^2)`` (each times its weight) with ``c = r - 1/2``, in numpy's pairwise order."""
    _require_weights(w, weighted, r.size)
    out = np.zeros((LEVELS, 2))
    buf = np.empty(_BLOCK)
    if r.size == 0:
        return 0.0, 0.0
    ops = pairwise_plan(r.size)
    for t in range(ops.shape[0]):
        if ops[t, 0]:
            _combine(out, ops[t, 0], ops[t, 1], 2)
        else:
            _centred_leaf(r, w, weighted, ops[t, 2], ops[t, 3], out, ops[t, 1], buf)
    return 0.0 + out[0, 0], 0.0 + out[0, 1]


@njit(nogil=True, cache=True)
def _all_finite(r) -> bool:  # pragma: no cover - compiled
    """Whether every value of ``r`` is finite (one pass without an early exit, so it vectorises)."""
    bad = False
    for i in range(r.size):
        bad |= not math.isfinite(r[i])
    return not bad


@njit(nogil=True, cache=True)
def _bits_leaf(r, w, weighted, lo, n, scale, a_half, fourier, hist, counts, use_hist, ks_scale, out, level, nbuf, cbuf, sbuf, qbuf, tbuf, xbuf):  # pragma: no cover
    nh = a_half.size
    if not weighted:
        # one loop: n, n^2, the crossing counts floor((L h + 1/2) - n) of every h, the KS counts
        for i in range(n):
            s = r[lo + i] * scale
            e = np.rint(s) - s
            nbuf[i] = e
            qbuf[i] = e * e
        for j in range(nh):  # np.floor keeps a float (math.floor's int round trip does not vectorise)
            a = a_half[j]
            row = xbuf[j]
            for i in range(n):
                row[i] = np.floor(a - nbuf[i])
        if use_hist:
            for i in range(n):
                counts[int((nbuf[i] + 0.5) * ks_scale)] += 1
        out[level, 0] = _leaf(nbuf, n)
        out[level, 1] = _leaf(qbuf, n)
        for j in range(nh):
            out[level, 2 + j] = _leaf(xbuf[j], n)
    else:
        for i in range(n):
            s = r[lo + i] * scale
            nbuf[i] = np.rint(s) - s
        if use_hist:
            for i in range(n):
                hist[int((nbuf[i] + 0.5) * ks_scale)] += np.float64(w[lo + i])
        for i in range(n):
            qbuf[i] = nbuf[i] * np.float64(w[lo + i])
        out[level, 0] = _leaf(qbuf, n)
        for i in range(n):
            e = nbuf[i]
            qbuf[i] = (e * e) * np.float64(w[lo + i])
        out[level, 1] = _leaf(qbuf, n)
        # identity A crossing counts floor((L h + 1/2) - n), one sum per h
        for j in range(nh):
            a = a_half[j]
            for i in range(n):
                qbuf[i] = np.floor(a - nbuf[i]) * np.float64(w[lo + i])
            out[level, 2 + j] = _leaf(qbuf, n)
    if fourier:
        # powers of exp(2 pi i n) in real arithmetic: (pr, pi) <- (pr c - pi s, pr s + pi c)
        phasors_into(nbuf, n, cbuf, sbuf)
        col = 2 + nh
        for l in range(8):
            if l == 0:
                for i in range(n):
                    nbuf[i] = cbuf[i]  # nbuf now holds the real part of the power
                    qbuf[i] = sbuf[i]
            else:
                for i in range(n):
                    pr = nbuf[i]
                    pi = qbuf[i]
                    nbuf[i] = pr * cbuf[i] - pi * sbuf[i]
                    qbuf[i] = pr * sbuf[i] + pi * cbuf[i]
            if weighted:
                for i in range(n):
                    tbuf[i] = nbuf[i] * np.float64(w[lo + i])
                out[level, col] = _leaf(tbuf, n)
                for i in range(n):
                    tbuf[i] = qbuf[i] * np.float64(w[lo + i])
                out[level, col + 1] = _leaf(tbuf, n)
            else:
                out[level, col] = _leaf(nbuf, n)
                out[level, col + 1] = _leaf(qbuf, n)
            col += 2


@njit(nogil=True, cache=True)
def bit_sums(
    r, w, weighted: bool, scales, a_half, fourier, hist, use_hist: bool, ks_scale: float, sums
) -> None:  # pragma: no cover - compiled
    """One chunk, every bit width: add its sums into ``sums[k]`` and its KS histogram into ``hist[k]``.

    Parameters
    ----------
    r : ndarray
        Transformed values in [0, 1] (finite).
    w, weighted : ndarray, bool
        Multiplicities (used when ``weighted``).
    scales : ndarray
        ``L = 2^k - 1`` per bit width.
    a_half : ndarray
        ``L h + 1/2`` per bit width (rows) and step (columns).
    fourier : ndarray of bool
        Per bit width: also the direct Fourier sums ``sum cos, sum sin`` of ``2 pi l n``, l = 1..8.
    hist : ndarray
        ``(bit widths, KS bins)`` histogram of ``floor((n + 1/2) ks_scale)``, added to when ``use_hist``.
    sums : ndarray
        ``(bit widths, 2 + steps + 16)``: the chunk's ``sum n``, ``sum n^2``, crossing sums, then
        ``(sum Re, sum Im)`` per Fourier order, each the chunk's pairwise sum added to the row.
    """
    if r.size == 0:
        return
    if use_hist and hist.shape[1] != int(ks_scale) + 1:
        raise ValueError("the KS histogram must have ks_scale + 1 bins")
    if r.size >= 1 << 31:
        raise ValueError("a chunk holds fewer than 2^31 values (the per-chunk KS counts are 32-bit)")
    _require_weights(w, weighted, r.size)
    if use_hist and not _all_finite(r):
        raise ValueError("the transformed values must be finite (each one's error picks a KS histogram bin)")
    nq = sums.shape[1]
    nk = scales.size
    out = np.zeros((LEVELS, nk * nq))  # the pairwise trees of every bit width side by side
    nbuf = np.empty(_BLOCK)
    cbuf = np.empty(_BLOCK)
    sbuf = np.empty(_BLOCK)
    qbuf = np.empty(_BLOCK)
    tbuf = np.empty(_BLOCK)
    xbuf = np.empty((a_half.shape[1], _BLOCK))
    ops = pairwise_plan(r.size)
    counts = np.zeros(hist.shape[1] if use_hist and not weighted else 1, dtype=np.int32)
    # the sums: leaf by leaf, every bit width while the leaf's values are in L1
    for t in range(ops.shape[0]):
        if ops[t, 0]:
            _combine(out, ops[t, 0], ops[t, 1], nk * nq)
            continue
        for kk in range(nk):
            _bits_leaf(r, w, weighted, ops[t, 2], ops[t, 3], np.float64(scales[kk]), a_half[kk], fourier[kk], hist[kk], counts, False,
                       ks_scale, out[:, kk * nq:(kk + 1) * nq], ops[t, 1], nbuf, cbuf, sbuf, qbuf, tbuf, xbuf)
    for kk in range(nk):
        nf = 2 + a_half.shape[1] + (16 if fourier[kk] else 0)
        for q in range(nf):
            sums[kk, q] += 0.0 + out[0, kk * nq + q]
    if not use_hist:
        return
    # the KS histogram, one bit width at a time: unweighted counts in int32 (256 KiB, stays in L2), then added
    for kk in range(nk):
        scale = np.float64(scales[kk])
        row = hist[kk]
        if weighted:
            for i in range(r.size):
                v = r[i] * scale
                row[int(((np.rint(v) - v) + 0.5) * ks_scale)] += np.float64(w[i])
            continue
        for i in range(r.size):
            v = r[i] * scale
            counts[int(((np.rint(v) - v) + 0.5) * ks_scale)] += 1
        for b in range(counts.size):
            if counts[b]:
                row[b] += counts[b]
                counts[b] = 0


@njit(nogil=True, cache=True)
def taylor_moments(r, w, weighted: bool, bins: int, order: int, gbuf, dbuf, wbuf, starts, into) -> None:  # pragma: no cover - compiled
    """``into[p, g] += sum_{r in bin g} c (r - centre_g)^p``, p = 0..order (``order`` = 12), for one chunk.

    A counting sort by bin first (``gbuf``, ``dbuf``, ``wbuf``: scratch of the chunk's size; ``starts``: of
    ``bins + 1``), stable, so each bin's values stay in element order; then each bin's 13 sums are formed in
    registers in that order, as ``numpy.bincount`` adds them, with the powers as repeated products
    ``((c d) d) ...``, and added to ``into``. (Adding into a bin-major table value by value costs 13 scattered
    read-modify-writes per value; the sort costs one scattered write.)
    """
    if order != 12:
        raise ValueError("the Taylor accumulators are unrolled for order 12")
    n = r.size
    _require_weights(w, weighted, n)
    if gbuf.size < n or dbuf.size < n or (weighted and wbuf.size < n) or starts.size < bins + 1:
        raise ValueError("the scratch arrays hold the chunk's values (starts: one per Taylor bin, and one more)")
    if into.shape[0] != order + 1 or into.shape[1] != bins:
        raise ValueError("the Taylor table has one row per power and one column per bin")
    if not _all_finite(r):
        raise ValueError("the transformed values must be finite (each one picks a Taylor bin)")
    low = 0.0
    for i in range(n):
        low = min(low, r[i])
    if low * bins <= -1.0:
        raise ValueError("the transformed values must not lie below 0 (each one picks a Taylor bin)")
    starts[:] = 0
    for i in range(n):
        g = min(int(r[i] * bins), bins - 1)
        gbuf[i] = g
        starts[g + 1] += 1
    for g in range(bins):
        starts[g + 1] += starts[g]
    for i in range(n):
        x = r[i]
        g = gbuf[i]
        pos = starts[g]
        starts[g] = pos + 1
        dbuf[pos] = x - (g + 0.5) / bins
        if weighted:
            wbuf[pos] = np.float64(w[i])
    begin = 0  # starts[g] is now the end of bin g
    for g in range(bins):
        end = starts[g]
        if end == begin:
            continue
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = a12 = 0.0
        for j in range(begin, end):
            d = dbuf[j]
            if weighted:
                p = wbuf[j]
                a0 += p
                p = p * d
                a1 += p
            else:
                a0 += 1.0
                p = d
                a1 += p
            p = p * d
            a2 += p
            p = p * d
            a3 += p
            p = p * d
            a4 += p
            p = p * d
            a5 += p
            p = p * d
            a6 += p
            p = p * d
            a7 += p
            p = p * d
            a8 += p
            p = p * d
            a9 += p
            p = p * d
            a10 += p
            p = p * d
            a11 += p
            p = p * d
            a12 += p
        into[0, g] += a0
        into[1, g] += a1
        into[2, g] += a2
        into[3, g] += a3
        into[4, g] += a4
        into[5, g] += a5
        into[6, g] += a6
        into[7, g] += a7
        into[8, g] += a8
        into[9, g] += a9
        into[10, g] += a10
        into[11, g] += a11
        into[12, g] += a12
        begin = end


@njit(nogil=True, cache=True)
def ks_sorted(r, w, weighted: bool, scale: float, total: float) -> float:  # pragma: no cover - compiled
    """Exact two-sided KS distance of ``n = rint(L r) - L r`` to Uniform[-1/2, 1/2] by sorting (Massey 1951).

    ``max_i max(F(x_i) - G(x_i), G(x_i) - F(x_i-))`` with ``G(x) = x + 1/2``, the terms formed as in
    :func:`stecheck.weights.stats.ks_from_sorted` from exact integer partial counts (so any order of ties
    gives the same maximum).
    """
    m = r.size
    n = np.empty(m)
    for i in range(m):
        s = r[i] * scale
        n[i] = np.rint(s) - s
    best = 0.0
    upto = 0.0
    if not weighted:
        n.sort()
        for j in range(m):
            cdf = n[j] + 0.5
            lower = upto
            upto += 1.0
            best = max(best, upto / total - cdf, cdf - lower / total)
        return best
    order = np.argsort(n)
    for j in range(m):
        i = order[j]
        cdf = n[i] + 0.5
        lower = upto
        upto += np.float64(w[i])
        best = max(best, upto / total - cdf, cdf - lower / total)
    return best


@njit(nogil=True, cache=True)
def errors_all(r, scales, out) -> None:  # pragma: no cover - compiled
    """``out[i] = rint(L r) - L r`` for ``L = scales[i]`` (rows to be sorted for :func:`ks_rows`)."""
    for k in range(scales.size):
        scale = np.float64(scales[k])
        row = out[k]
        for i in range(r.size):
            s = r[i] * scale
            row[i] = np.rint(s) - s


@njit(nogil=True, cache=True)
def ks_rows(n, w, weighted: bool, total: float, out) -> None:  # pragma: no cover - compiled
    """The exact KS distance of every row of sorted errors ``n`` (``w`` their weights in the same order when
    ``weighted``), formed as :func:`ks_sorted` forms it."""
    for k in range(n.shape[0]):
        best = 0.0
        upto = 0.0
        for j in range(n.shape[1]):
            cdf = n[k, j] + 0.5
            lower = upto
            if weighted:
                upto += np.float64(w[k, j])
            else:
                upto += 1.0
            best = max(best, upto / total - cdf, cdf - lower / total)
        out[k] = best


@njit(nogil=True, cache=True)
def _sort_slice(keys, ws, lo: int, hi: int, weighted: bool) -> None:  # pragma: no cover - compiled
    """Sort ``keys[lo:hi]`` in place by numpy's sort (``ws[lo:hi]`` moved alongside when ``weighted``)."""
    if not weighted:
        keys[lo:hi].sort()
        return
    order = np.argsort(keys[lo:hi])
    k2 = keys[lo:hi][order]
    w2 = ws[lo:hi][order]
    keys[lo:hi] = k2
    ws[lo:hi] = w2


@njit(nogil=True, cache=True)
def ks_small(r, w, weighted: bool, scales, total: float, out, nbuf, bbuf, keys, ws, starts) -> None:  # pragma: no cover - compiled
    """The exact KS distance of ``n = rint(L r) - L r`` for every ``L`` in ``scales`` (into ``out``), each by
    a bucket sort of n then the terms of :func:`ks_rows`.

    ``n`` is put in ``m = r.size`` equal buckets of ``[-1/2, 1/2]`` by ``floor((n + 1/2) m)`` (a counting
    sort, stable), and each bucket is sorted (one insertion sort over all of them): for errors spread over the interval that
    is a few values per bucket, so the cost grows like ``m``, not ``m log m``; a bucket holding many values
    (a tensor of few distinct values; more than :data:`_CROWDED`) by numpy's sort. The sorted order is that of ``numpy.sort``
    up to the order of equal values, which the terms of :func:`ks_rows` do not depend on (their partial
    counts are exact integers). Scratch: ``nbuf``, ``keys`` (float64), ``bbuf``, ``ws`` (int64) of ``m``
    values, ``starts`` of ``m + 1``.
    """
    m = r.size
    if nbuf.size < m or bbuf.size < m or keys.size < m or ws.size < m or starts.size < m + 1 or out.size < scales.size:
        raise ValueError("the scratch arrays hold the chunk's values (starts: one more), out one value per bit width")
    _require_weights(w, weighted, m)
    if not _all_finite(r):
        raise ValueError("the transformed values must be finite (each one's error picks a bucket)")
    frac = np.empty(m + 1 if not weighted else 1)  # j / total, formed once for every bit width (unweighted: upto = j)
    if not weighted:
        for j in range(m + 1):
            frac[j] = j / total
    for kk in range(scales.size):
        scale = np.float64(scales[kk])
        starts[:] = 0
        for i in range(m):
            s = r[i] * scale
            e = np.rint(s) - s
            nbuf[i] = e
            b = min(int((e + 0.5) * m), m - 1)
            bbuf[i] = b
            starts[b + 1] += 1
        for b in range(m):
            starts[b + 1] += starts[b]
        for i in range(m):
            b = bbuf[i]
            pos = starts[b]
            starts[b] = pos + 1
            keys[pos] = nbuf[i]
            if weighted:
                ws[pos] = w[i]
        lo = 0
        for b in range(m):  # starts[b] is now the end of bucket b: crowded buckets sorted by numpy
            hi = starts[b]
            if hi - lo > _CROWDED:
                _sort_slice(keys, ws, lo, hi, weighted)
            lo = hi
        for i in range(1, m):  # then one insertion sort: values are out of order only within a bucket
            x = keys[i]
            if keys[i - 1] <= x:
                continue
            c = ws[i]
            j = i - 1
            while j >= 0 and keys[j] > x:
                keys[j + 1] = keys[j]
                if weighted:
                    ws[j + 1] = ws[j]
                j -= 1
            keys[j + 1] = x
            if weighted:
                ws[j + 1] = c
        best = 0.0
        if not weighted:
            for j in range(m):
                cdf = keys[j] + 0.5
                best = max(best, frac[j + 1] - cdf, cdf - frac[j])
            out[kk] = best
            continue
        upto = 0.0
        for j in range(m):
            cdf = keys[j] + 0.5
            lower = upto
            upto += np.float64(ws[j])
            best = max(best, upto / total - cdf, cdf - lower / total)
        out[kk] = best


@njit(nogil=True, cache=True)
def candidates(r, scale: float, ks_scale: float, lut, lo, hi, by_bin: bool, n_out, binned_out, idx_out) -> int:  # pragma: no cover
    """The entries of a chunk whose ``n`` may hold the KS supremum: in a listed histogram bin (``lut`` non-zero,
    ``by_bin``) or inside one of the sorted value intervals ``[lo, hi]``; writes ``n``, ``(n + 1/2) S`` and
    the index of each, in order, and returns how many."""
    if n_out.size < r.size or binned_out.size < r.size or idx_out.size < r.size:
        raise ValueError("the output arrays hold the chunk's values")
    if by_bin and lut.size != int(ks_scale) + 1:
        raise ValueError("the bin mask has ks_scale + 1 entries")
    m = 0
    for i in range(r.size):
        s = r[i] * scale
        e = np.rint(s) - s
        t = (e + 0.5) * ks_scale
        if by_bin:
            if not t <= ks_scale:  # NaN: a non-finite value, whose bin would be anywhere
                raise ValueError("the transformed values must be finite (each one's error picks a KS histogram bin)")
            keep = lut[int(t)] != 0
        else:
            j = np.searchsorted(lo, e, side="right") - 1
            keep = j >= 0 and e <= hi[j]
        if keep:
            n_out[m] = e
            binned_out[m] = t
            idx_out[m] = i
            m += 1
    return m


@njit(nogil=True, cache=True, inline="always")
def _np_maximum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.maximum(a, b)`` for non-NaN values (the second argument on ties, as numpy)."""
    return a if a > b else b


@njit(nogil=True, cache=True)
def ks_start(hist, total: float, edges, inv_scale: float, gap: float, bins, before, count, upper, after_buf, reach_buf) -> tuple[int, float]:  # pragma: no cover
    """The first open bins of the KS refinement from a histogram of ``(n + 1/2) S``, in two passes over it.

    The same IEEE operations as :func:`stecheck.weights.stats._ks_candidates` and the start of
    :class:`stecheck.weights.stats._KSRefinement` (``after`` and ``before`` as sequential cumulative sums,
    ``edges[b] = b / S``, ``inv_scale = 1 / S``): writes the candidate bins with their population weight
    below, weight inside and bound on the KS terms, and returns ``(how many, the lower bound of D attained)``.
    The first pass keeps each bin's share ``after`` and the reach of its terms in ``after_buf`` and
    ``reach_buf`` (of the histogram's size), so that the second divides only in the bins it keeps.
    """
    if min(edges.size, bins.size, before.size, count.size, upper.size, after_buf.size, reach_buf.size) < hist.size:
        raise ValueError("ks_start's tables hold one entry per histogram bin")
    best0 = -np.inf
    cum = 0.0
    for b in range(hist.size):
        c = hist[b]
        cum += c
        if c > 0:
            after = cum / total
            below = after - c / total
            edge = edges[b]
            after_buf[b] = after
            reach_buf[b] = _np_maximum(after - edge, (edge + inv_scale) - below) + gap
            best0 = max(best0, _np_maximum((after - edge) - inv_scale, edge - below) - gap)
    m = 0
    best = 0.0
    cum = 0.0
    for b in range(hist.size):
        c = hist[b]
        cum += c
        if c > 0 and reach_buf[b] >= best0:
            after = after_buf[b]
            edge = edges[b]
            under = cum - c
            bins[m] = b
            before[m] = under
            count[m] = c
            upper[m] = _np_maximum(after - edge, (edge + inv_scale) - under / total) + gap
            lower = _np_maximum((after - edge) - inv_scale, edge - under / total) - gap
            if lower > best:
                best = lower
            m += 1
    return m, best
