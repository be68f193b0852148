"""Compiled one-pass scan of a chunk: every per-sample statistic of one cell in a single loop (numba).

This is the fast path of :func:`stecheck.core.kernel.accumulate_chunk`; the numpy code in
:mod:`stecheck.core.estimators` stays the reference it is tested against (tests/test_fastpaths.py). Per
sample the loop draws ``x`` (:func:`draw_scan`: numpy's uniform or normal stream, computed here by
:mod:`stecheck.core.pcg64`) or reads it (:func:`scan`), rounds ``s = L x`` (or takes a precomputed
error), then updates

- the power sums of the error ``e``, its extremes and the number of exact zeros;
- the fine histogram of ``e`` on [-1, 1] (the same bins as the reference: KS and chi-square come from it)
  and, per bin ``b`` with centre ``c_b``, the sum of the deviations ``e - c_b`` (the Fourier sums follow
  from these two, see :func:`binned_fourier_sums`);
- for every crossing breakpoint ``p`` of the finite-difference plans, the number of samples in the bin
  that holds ``p`` with ``e <= p``. With the histogram below that bin this gives ``#{n <= p}`` exactly
  (bin indices are monotone in ``e``), hence every ``E[D_h]`` by identity A.

Everything is float64; the integer statistics equal the reference exactly, the power sums to rounding
(the summation order differs), the Fourier sums within the bound of :func:`binned_fourier_sums`. The
loop releases the GIL (``nogil``), so chunks scale over threads.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

from stecheck.cachedirs import configure_numba_cache

configure_numba_cache()  # before numba is imported: its cache goes to a per-user folder, not the package

from numba import njit  # noqa: E402

from stecheck.core import pcg64  # noqa: E402

__all__ = [
    "ADD",
    "KEEP",
    "MODE_ERRORS",
    "MODE_HALF_EVEN",
    "MODE_HALF_UP",
    "STORE",
    "bin_centres",
    "bin_of",
    "binned_fourier_bound",
    "binned_fourier_sums",
    "counts_at_most",
    "counts_at_most_packed",
    "draw_scan",
    "marked_bins",
    "scan",
    "scratch",
    "unpack_add",
]

#: The input array already holds the errors ``e``.
MODE_ERRORS: Final = 0
#: The input holds ``x``; ``e = rint(L x) - L x``.
MODE_HALF_EVEN: Final = 1
#: The input holds ``x``; ``e = floor(L x + 1/2) - L x``.
MODE_HALF_UP: Final = 2


#: What the scan does with ``hist`` and ``dev`` (its ``overwrite`` argument): add the chunk into them, store it
#: (the tables held garbage), or leave the chunk's packed words in ``packed`` (one block at most; see
#: :func:`counts_at_most_packed`, :func:`unpack_add`).
ADD: Final = 0
STORE: Final = 1
KEEP: Final = 2
#: Fixed-point scale of the per-bin deviation sums (a deviation is at most half a bin, 2^-16).
DEV_SCALE: Final = 2.0**36
#: A bin's count sits above bit 40 of its packed word, its deviation sum (|.| < 2^38 per block) below.
_COUNT_SHIFT: Final = 40
#: Samples per block between two unpackings of the packed words (keeps the deviation sums in range).
BLOCK: Final = 1 << 18
#: Samples per pass of the loop (a multiple of 2 dividing BLOCK; its tables stay in L1).
SUB: Final = 1024
_THREE: Final = np.uint64(3)
_SEVEN: Final = np.uint64(7)
_ONE: Final = np.uint64(1)


@njit(nogil=True, cache=True)
def _unpack(  # pragma: no cover - compiled
    packed: NDArray[np.int64], hist: NDArray[np.int64], dev: NDArray[np.float64], overwrite: bool
) -> None:
    """Add (or with ``overwrite`` store) packed words ``count << 40 + round(sum d * 2^36)`` into ``hist``
    and ``dev``; zero them."""
    half = np.int64(1) << (_COUNT_SHIFT - 1)
    for b in range(packed.size):
        v = packed[b]
        if v != 0:
            c = (v + half) >> _COUNT_SHIFT
            d = (v - (c << _COUNT_SHIFT)) / DEV_SCALE
            if overwrite:
                hist[b] = c
                dev[b] = d
            else:
                hist[b] += c
                dev[b] += d
            packed[b] = 0
        elif overwrite:
            hist[b] = 0
            dev[b] = 0.0


@njit(nogil=True, inline="always")
def _draw(hi, lo, inc_hi, inc_lo, draw, loc, spread):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``(hi, lo, loc + spread * u)`` with ``u`` numpy's ``random()`` (``draw`` 1) or ``standard_normal()`` (2)."""
    if draw == pcg64.UNIFORM:
        hi, lo, u = pcg64.next_double(hi, lo, inc_hi, inc_lo)
    else:
        hi, lo, u = pcg64.standard_normal(hi, lo, inc_hi, inc_lo)
    return hi, lo, loc + spread * u


@njit(nogil=True, inline="always")
def _error(v, scale, mode):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The error ``e`` of an input ``v`` (``mode`` 1, 2), or ``v`` itself (``mode`` 0: ``v`` is an error)."""
    if mode == MODE_ERRORS:
        return v
    s = scale * v
    if mode == MODE_HALF_EVEN:
        return np.rint(s) - s
    return np.floor(s + 0.5) - s


@njit(nogil=True)
def _marked(e, b, points, point_bins, below):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The rare work of a sample in a marked bin ``b``: breakpoint counts, and 1 if ``e`` is an exact zero (its bin,
    the middle one, is marked)."""
    for j in range(points.size):
        if point_bins[j] == b and e <= points[j]:
            below[j] += 1
    return 1 if e == 0.0 else 0


@njit(nogil=True)
def _bins(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, off, size, scale, mode, bins, where, rounded,
):
    """Pass (2) of :func:`_scan`: for ``j < size``, the bin ``where[j]`` (of ``bins`` on [-1, 1]) of the error of
    ``x[off + j]``, and its deviation from the bin centre in units of ``1 / DEV_SCALE`` rounded half up,
    ``rounded[j]`` (vectorised: int32 conversions). ``e >= -1``, so the truncation is a floor; the clamps keep
    any input's index in the table."""
    last = np.int32(bins - 1)
    half = bins / 2.0
    width = 1.0 / half
    for j in range(size):
        e = _error(x[np.uint64(off + j)], scale, mode)
        b = max(min(np.int32((e + 1.0) * half), last), np.int32(0))
        d = (e - ((b + 0.5) * width - 1.0)) * DEV_SCALE
        where[np.uint64(j)] = b
        rounded[np.uint64(j)] = np.int32(np.floor(d + 0.5))


@njit(nogil=True)
def _scatter(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, off, size, scale, mode, where, rounded, packed, marked, points, point_bins, below,
):
    """Pass (3) of :func:`_scan`: the scattered additions of ``2^40 + rounded[j]`` into the packed words and the rare
    look at marked bins; returns the number of exact zeros among the ``size`` samples."""
    one = np.int64(1) << _COUNT_SHIFT
    zeros = 0
    for j in range(size):
        b = np.uint64(where[np.uint64(j)])
        packed[b] += one + np.int64(rounded[np.uint64(j)])
        if (marked[b >> _THREE] >> (b & _SEVEN)) & 1:
            e = _error(x[np.uint64(off + j)], scale, mode)
            zeros += _marked(e, np.int64(b), points, point_bins, below)
    return zeros


@njit(nogil=True, inline="always")
def _scan(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, count, words, draw, loc, spread, scale, mode, packed, hist, dev, power, extremes, points, point_bins, marked,
    below, overwrite,
):
    """The loop of :func:`scan` and :func:`draw_scan` (``draw`` and ``mode`` compile-time constants in each) over
    ``count`` samples; ``x`` holds all of them, or (drawn samples not kept) the current :data:`SUB` of them.

    Three passes per :data:`SUB` samples (L1-resident): (1) in index order, the draws (stored into ``x``),
    the power sums and the extremes -- the generator's dependency chain and the sums' overlap; (2) each
    sample's bin and rounded deviation (vectorised: int32 conversions); (3) the scattered additions into the
    packed words and the rare look at marked bins. Passes (2) and (3) are compiled functions of their own
    (:func:`_bins`, :func:`_scatter`), called once per :data:`SUB`: inlined, their pointers and constants
    pushed the eight running sums of (1) out of registers onto the stack (a store and a load per sum and
    sample). Helpers inlined into the loops take scalars only (an inlined helper taking arrays costs
    reference counting per sample); indices are unsigned (numba then skips the wraparound of negative
    indices).
    """
    hi, lo, inc_hi, inc_lo = words[0], words[1], words[2], words[3]
    where = np.empty(SUB, dtype=np.int32)
    rounded = np.empty(SUB, dtype=np.int32)
    p1 = 0.0
    p2 = 0.0
    p3 = 0.0
    p4 = 0.0
    q1 = 0.0
    q2 = 0.0
    q3 = 0.0
    q4 = 0.0
    low = extremes[0]
    high = extremes[1]
    zeros = 0
    ring = x.size < count
    for start in range(0, count, BLOCK):
        stop = min(start + BLOCK, count)
        for sub in range(start, stop, SUB):  # BLOCK and SUB are even: an index's parity is its place in a pair
            end = min(sub + SUB, stop)
            base = sub if ring else 0  # x[i - base] holds sample i
            for i in range(sub, end, 2):
                ie = np.uint64(i - base)
                if draw:
                    hi, lo, v = _draw(hi, lo, inc_hi, inc_lo, draw, loc, spread)
                    x[ie] = v
                else:
                    v = x[ie]
                e = _error(v, scale, mode)
                e2 = e * e
                q1 += e  # even indices
                q2 += e2
                q3 += e2 * e
                q4 += e2 * e2
                low = min(low, e)
                high = max(high, e)
                if i + 1 == end:
                    break
                if draw:
                    hi, lo, v = _draw(hi, lo, inc_hi, inc_lo, draw, loc, spread)
                    x[ie + _ONE] = v
                else:
                    v = x[ie + _ONE]
                f = _error(v, scale, mode)
                f2 = f * f
                p1 += f  # odd indices
                p2 += f2
                p3 += f2 * f
                p4 += f2 * f2
                low = min(low, f)
                high = max(high, f)
            size = end - sub
            _bins(x, sub - base, size, scale, mode, packed.size, where, rounded)
            zeros += _scatter(x, sub - base, size, scale, mode, where, rounded, packed, marked, points, point_bins, below)
        if not (overwrite == KEEP and stop == count):
            _unpack(packed, hist, dev, overwrite == STORE and start == 0)
    power[0] += p1 + q1
    power[1] += p2 + q2
    power[2] += p3 + q3
    power[3] += p4 + q4
    extremes[0] = low
    extremes[1] = high
    words[0] = hi
    words[1] = lo
    return zeros


@njit(nogil=True, cache=True)
def _scan_errors(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, scale, words, packed, hist, dev, power, extremes, points, point_bins, marked, below, overwrite
):
    return _scan(x, x.size, words, 0, 0.0, 1.0, scale, MODE_ERRORS, packed, hist, dev, power, extremes, points,
                 point_bins, marked, below, overwrite)


@njit(nogil=True, cache=True)
def _scan_half_even(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, scale, words, packed, hist, dev, power, extremes, points, point_bins, marked, below, overwrite
):
    return _scan(x, x.size, words, 0, 0.0, 1.0, scale, MODE_HALF_EVEN, packed, hist, dev, power, extremes, points,
                 point_bins, marked, below, overwrite)


@njit(nogil=True, cache=True)
def _scan_half_up(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, scale, words, packed, hist, dev, power, extremes, points, point_bins, marked, below, overwrite
):
    return _scan(x, x.size, words, 0, 0.0, 1.0, scale, MODE_HALF_UP, packed, hist, dev, power, extremes, points,
                 point_bins, marked, below, overwrite)


@njit(nogil=True, cache=True)
def _draw_uniform_half_even(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, count, words, loc, spread, scale, packed, hist, dev, power, extremes, points, point_bins, marked, below,
    overwrite,
):
    return _scan(x, count, words, pcg64.UNIFORM, loc, spread, scale, MODE_HALF_EVEN, packed, hist, dev, power, extremes,
                 points, point_bins, marked, below, overwrite)


@njit(nogil=True, cache=True)
def _draw_uniform_half_up(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, count, words, loc, spread, scale, packed, hist, dev, power, extremes, points, point_bins, marked, below,
    overwrite,
):
    return _scan(x, count, words, pcg64.UNIFORM, loc, spread, scale, MODE_HALF_UP, packed, hist, dev, power, extremes,
                 points, point_bins, marked, below, overwrite)


@njit(nogil=True, cache=True)
def _draw_normal_half_even(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, count, words, loc, spread, scale, packed, hist, dev, power, extremes, points, point_bins, marked, below,
    overwrite,
):
    return _scan(x, count, words, pcg64.NORMAL, loc, spread, scale, MODE_HALF_EVEN, packed, hist, dev, power, extremes,
                 points, point_bins, marked, below, overwrite)


@njit(nogil=True, cache=True)
def _draw_normal_half_up(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    x, count, words, loc, spread, scale, packed, hist, dev, power, extremes, points, point_bins, marked, below,
    overwrite,
):
    return _scan(x, count, words, pcg64.NORMAL, loc, spread, scale, MODE_HALF_UP, packed, hist, dev, power, extremes,
                 points, point_bins, marked, below, overwrite)


#: One compiled instance of the loop per case (no branch on the case per sample), each compiled on first use.
_SCANS: Final = {MODE_ERRORS: _scan_errors, MODE_HALF_EVEN: _scan_half_even, MODE_HALF_UP: _scan_half_up}
_DRAW_SCANS: Final = {
    (pcg64.UNIFORM, MODE_HALF_EVEN): _draw_uniform_half_even, (pcg64.UNIFORM, MODE_HALF_UP): _draw_uniform_half_up,
    (pcg64.NORMAL, MODE_HALF_EVEN): _draw_normal_half_even, (pcg64.NORMAL, MODE_HALF_UP): _draw_normal_half_up,
}
_NO_WORDS: Final = np.zeros(4, dtype=np.uint64)


def _check_keep(overwrite: int, count: int) -> None:
    """A scan keeps the packed words of one block at most (longer chunks unpack into the tables between blocks)."""
    if int(overwrite) == KEEP and count > BLOCK:
        raise ValueError(f"a scan keeps the packed words of at most {BLOCK} samples, not {count}")


def scan(
    x: NDArray[np.float64],
    scale: float,
    mode: int,
    packed: NDArray[np.int64],
    hist: NDArray[np.int64],
    dev: NDArray[np.float64],
    power: NDArray[np.float64],
    extremes: NDArray[np.float64],
    points: NDArray[np.float64],
    point_bins: NDArray[np.int64],
    marked: NDArray[np.uint8],
    below: NDArray[np.int64],
    overwrite: bool,
) -> int:
    """Add one chunk into the accumulator arrays (in place); return the number of exact zeros of ``e``.

    Parameters
    ----------
    x : ndarray
        Inputs (``mode`` 1, 2) or errors (``mode`` 0).
    scale : float
        ``L`` (unused in mode 0).
    mode : int
        :data:`MODE_ERRORS`, :data:`MODE_HALF_EVEN` or :data:`MODE_HALF_UP`.
    packed : ndarray
        Zeroed int64 scratch, one word per bin (left zeroed): the loop adds ``2^40 + round(d 2^36)`` for
        a sample with deviation ``d = e - c_b`` from its bin centre, one scattered write per sample into
        a table half the size of two. The deviation is rounded to ``2^-37``.
    hist, dev : ndarray
        Bin counts of ``e`` on [-1, 1] and per-bin sums of ``e - c_b``.
    power : ndarray
        ``sum e^p``, p = 1..4, each as two partial sums (even and odd indices, in index order) added at
        the end: two shorter dependency chains per power.
    extremes : ndarray
        ``[min e, max e]``.
    points, point_bins, marked, below : ndarray
        Crossing breakpoints and their bins, a bit set of the bins that need a look at the exact value
        (the breakpoints' bins and the bin of 0, see :func:`marked_bins`), and the per-breakpoint count
        of samples in that bin with ``e <= point``.
    overwrite : int or bool
        :data:`ADD` (False), or :data:`STORE` (True): ``hist`` and ``dev`` hold garbage (recycled tables), so
        the first block stores instead of adding and the tables are cleared here, outside the GIL; or
        :data:`KEEP` (at most :data:`BLOCK` samples): ``hist`` and ``dev`` are not touched and the chunk's
        packed words stay in ``packed`` for the caller (:func:`counts_at_most_packed`, :func:`unpack_add`).
    """
    _check_keep(overwrite, x.size)
    return int(_SCANS[mode](x, float(scale), _NO_WORDS.copy(), packed, hist, dev, power, extremes, points, point_bins,
                            marked, below, int(overwrite)))


def draw_scan(
    words: NDArray[np.uint64],
    kind: int,
    loc: float,
    spread: float,
    x: NDArray[np.float64],
    count: int,
    scale: float,
    mode: int,
    packed: NDArray[np.int64],
    hist: NDArray[np.int64],
    dev: NDArray[np.float64],
    power: NDArray[np.float64],
    extremes: NDArray[np.float64],
    points: NDArray[np.float64],
    point_bins: NDArray[np.int64],
    marked: NDArray[np.uint8],
    below: NDArray[np.int64],
    overwrite: bool,
) -> int:
    """:func:`scan` of ``count`` samples ``x[i] = loc + spread * draw_i``, drawn here from the PCG64 state ``words``
    (advanced in place) as numpy's ``random()`` (``kind`` :data:`stecheck.core.pcg64.UNIFORM`) or
    ``standard_normal()`` (:data:`~stecheck.core.pcg64.NORMAL`) would draw them: the same statistics as numpy
    filling ``x`` and :func:`scan` reading it, without the pass over memory. With ``x.size >= count`` the draws
    are stored into ``x``; a shorter ``x`` (at least :data:`SUB`) is scratch for the current :data:`SUB`
    samples only, when no one needs the draws afterwards (no writes to a large buffer evicting the tables)."""
    _check_keep(overwrite, count)
    return int(_DRAW_SCANS[(kind, mode)](x, int(count), words, float(loc), float(spread), float(scale), packed, hist, dev,
                                         power, extremes, points, point_bins, marked, below, int(overwrite)))


def marked_bins(point_bins: NDArray[np.int64], bins: int) -> NDArray[np.uint8]:
    """Bit set (``bins / 8`` bytes, little-endian bits) of the breakpoints' bins and the bin of ``e = 0``."""
    flags = np.zeros(bins, dtype=bool)
    flags[point_bins] = True
    flags[bins // 2] = True
    return np.packbits(flags, bitorder="little")


@njit(nogil=True, cache=True)
def counts_at_most(  # pragma: no cover - compiled
    hist: NDArray[np.int64], point_bins: NDArray[np.int64], below: NDArray[np.int64]
) -> NDArray[np.int64]:
    """``#{e <= p}`` per breakpoint (``point_bins`` ascending): the histogram below its bin plus ``below``."""
    out = np.empty(point_bins.size, dtype=np.int64)
    running = 0
    b = 0
    for j in range(point_bins.size):
        stop = point_bins[j]
        for t in range(b, stop):  # a plain counted loop with unsigned indices: vectorised
            running += hist[np.uint64(t)]
        b = max(b, stop)
        out[j] = running + below[j]
    return out


@njit(nogil=True, cache=True)
def counts_at_most_packed(  # pragma: no cover - compiled
    packed: NDArray[np.int64], point_bins: NDArray[np.int64], below: NDArray[np.int64]
) -> NDArray[np.int64]:
    """:func:`counts_at_most` of the histogram held in packed words (a :data:`KEEP` scan's ``packed``)."""
    half = np.int64(1) << (_COUNT_SHIFT - 1)
    out = np.empty(point_bins.size, dtype=np.int64)
    running = 0
    b = 0
    for j in range(point_bins.size):
        stop = point_bins[j]
        for t in range(b, stop):
            running += (packed[np.uint64(t)] + half) >> _COUNT_SHIFT
        b = max(b, stop)
        out[j] = running + below[j]
    return out


@njit(nogil=True, cache=True)
def unpack_add(  # pragma: no cover - compiled
    packed: NDArray[np.int64], hist: NDArray[np.int64], dev: NDArray[np.float64]
) -> None:
    """Add packed words (a :data:`KEEP` scan's, or a slice of them) into ``hist`` and ``dev`` of the same length,
    leaving the words as they are: the additions an :data:`ADD` scan makes at the end of its block."""
    half = np.int64(1) << (_COUNT_SHIFT - 1)
    for b in range(packed.size):
        v = packed[b]
        if v != 0:
            c = (v + half) >> _COUNT_SHIFT
            hist[b] += c
            dev[b] += (v - (c << _COUNT_SHIFT)) / DEV_SCALE


def bin_of(values: NDArray[np.float64], bins: int) -> NDArray[np.int64]:
    """The histogram bin of each value, exactly as the scan computes it (truncation of ``(e+1) bins/2``)."""
    idx = ((np.asarray(values, dtype=np.float64) + 1.0) * (bins / 2.0)).astype(np.int64)
    return np.clip(idx, 0, bins - 1)


def bin_centres(bins: int) -> NDArray[np.float64]:
    """Bin centres ``c_b = (b + 1/2) w - 1`` with ``w = 2 / bins``, as the scan computes them."""
    return (np.arange(bins) + 0.5) * (2.0 / bins) - 1.0


def binned_fourier_sums(hist: NDArray[np.int64], dev: NDArray[np.float64], orders: int) -> NDArray[np.complex128]:
    """``sum_i exp(2 pi i l e_i)``, l = 1..orders, from bin counts and per-bin deviation sums.

    With ``e = c_b + d`` in bin ``b``: ``exp(2 pi i l e) = exp(2 pi i l c_b) (1 + 2 pi i l d + r)``,
    ``|r| <= (2 pi l d)^2 / 2``, so ``sum_b exp(2 pi i l c_b) (N_b + 2 pi i l D_b)`` (``D_b`` the bin's sum of
    ``d``) differs from the exact sum by at most ``N (pi l w)^2 / 2`` for bins of width ``w``
    (:func:`binned_fourier_bound`; a first-order Taylor expansion per bin).
    """
    used = np.flatnonzero(hist)
    base = _centre_phases(hist.size)[used]
    counts = hist[used].astype(np.float64)
    devs = dev[used]
    out = np.empty(orders, dtype=np.complex128)
    phase = base.copy()
    for l in range(1, orders + 1):
        if l > 1:
            phase *= base  # exp(2 pi i l c_b), within a few ulps of the direct exponential
        out[l - 1] = (phase * counts).sum() + (2j * np.pi * l) * (phase * devs).sum()
    return out


@lru_cache(maxsize=4)
def _centre_phases(bins: int) -> NDArray[np.complex128]:
    """``exp(2 pi i c_b)`` of every bin centre (elementwise, so equal to the exponential of any subset); shared, read-only."""
    phases = np.exp((2j * np.pi) * bin_centres(bins))
    phases.flags.writeable = False
    return phases


def binned_fourier_bound(bins: int, orders: int) -> NDArray[np.float64]:
    """Per-sample bound ``(pi l w)^2 / 2`` (``w = 2 / bins``) on the error of :func:`binned_fourier_sums`."""
    width = 2.0 / bins
    return (np.pi * np.arange(1, orders + 1) * width) ** 2 / 2.0


_LOCAL = threading.local()


def scratch(bins: int) -> NDArray[np.int64]:
    """This thread's zeroed packed-word table for :func:`scan` (scan leaves it zeroed)."""
    table = getattr(_LOCAL, "table", None)
    if table is None or table.size != bins:
        table = _LOCAL.table = np.zeros(bins, dtype=np.int64)
    return table
