"""Streaming accumulators for the rounding error and the finite-difference derivative.

A :class:`CellAccumulator` consumes chunks of samples of one cell (input, k, rounding) and merges with
another in a fixed order, so a result does not depend on how chunks were scheduled. It keeps

- power sums of the error ``e`` (``e = n`` for deterministic rounding), its extremes, a fine histogram
  on [-1, 1] (KS and chi-square statistics against Uniform[-1/2, 1/2], with the KS resolution stated),
  and the Fourier sums ``sum exp(2 pi i l e)``, l = 1..8;
- for every finite-difference plan (scheme, h): the integer sums of the crossing count, of its square,
  and the number of zero counts, from which ``E[D_h] = E[count] / (L h)`` and its standard error follow.

Identity A (THEORY.md) gives the crossing count from n alone. With ``a = L h``:
forward ``count = floor(a) + 1{n <= frac(a) - 1/2}``; central, with ``u = a/2``,
``count = 2 floor(u) + 1{n <= frac(u) - 1/2} + 1{n >= 1/2 - frac(u)}``. So every plan needs only the
numbers of samples with ``n`` below a few breakpoints (:func:`crossing_points`).

Two paths fill an accumulator. The numpy reference (:meth:`CellAccumulator.add_error`,
:meth:`CellAccumulator.add_crossings_from_n`: one vectorised pass per statistic, a ``searchsorted`` for
the breakpoints) and the compiled one-pass scan (:meth:`CellAccumulator.add_scan`,
:mod:`stecheck.core.fastscan`), which keeps the Fourier sums as per-bin deviation sums of the histogram.
They agree exactly on every integer statistic (tests/test_fastpaths.py).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from stecheck.core import fastscan, packing
from stecheck.core.exact import FOURIER_ORDERS

__all__ = [
    "HIST_BINS",
    "KS_EXACT_MAX_N",
    "ks_pvalue",
    "CHI2_BINS",
    "FDPlan",
    "make_plans",
    "crossing_counts",
    "exact_sum_of_squares",
    "CellAccumulator",
    "EXACT_DEVIATION_SAMPLES",
    "OrderedSums",
    "ErrorSummary",
    "SlopeSummary",
    "NO_CROSSING_LEVEL",
]

#: Bins of the error histogram over [-1, 1] (width 2^-15): the KS statistic is resolved to ~3e-5.
HIST_BINS: Final = 1 << 16
#: Equal-width bins on [-1/2, 1/2] for the chi-square test of uniformity.
CHI2_BINS: Final = 64
_ORDERS = np.arange(1, FOURIER_ORDERS + 1)


class _TablePool:
    """Recycled zeroed ``HIST_BINS`` tables (a few per dtype; thread-safe)."""

    def __init__(self, keep: int = 64) -> None:
        self._free: dict[np.dtype, list[NDArray]] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def take(self, dtype: type, zeroed: bool = True) -> NDArray:
        """A table of ``HIST_BINS`` entries; with ``zeroed=False`` its contents are arbitrary."""
        with self._lock:
            free = self._free.get(np.dtype(dtype))
            table = free.pop() if free else None
        if table is None:
            return np.zeros(HIST_BINS, dtype=dtype)
        if zeroed:
            table.fill(0)
        return table

    def give(self, table: NDArray) -> None:
        if table.shape != (HIST_BINS,):
            return
        with self._lock:
            free = self._free.setdefault(table.dtype, [])
            if len(free) < self._keep:
                free.append(table)


_TABLES = _TablePool()
#: Placeholder tables of an accumulator that keeps its chunk packed (never written: a keeping scan leaves them).
_EMPTY_COUNTS: Final = np.zeros(0, dtype=np.int64)
_EMPTY_DEVS: Final = np.zeros(0, dtype=np.float64)


def _bin_range(lowest: float, highest: float) -> tuple[int, int]:
    """``(first, stop)``: the histogram bins that hold every error in ``[lowest, highest]`` (bins are monotone in
    the error on [-1, 1]; anything else -- or no finite extremes -- takes the whole table)."""
    if not (-1.0 <= lowest <= highest <= 1.0):
        return 0, HIST_BINS
    first, last = fastscan.bin_of(np.array([lowest, highest]), HIST_BINS).tolist()
    return first, last + 1


#: Largest N for the exact KS distribution (scipy.stats.kstwo takes seconds per call at N ~ 1e6); above
#: it Kolmogorov's limit distribution (scipy.stats.kstwobign, as scipy.stats.kstest(method="asymp")).
KS_EXACT_MAX_N: Final = 1000


def ks_pvalue(d: float, count: int) -> float:
    """Two-sided one-sample KS p-value: ``kstwo.sf(d, N)`` for N <= 1000, else ``kstwobign.sf(d sqrt(N))``.

    The same p-values as ``scipy.stats.kstest(..., method="exact")`` and ``method="asymp"`` respectively
    (Kolmogorov 1933; the relative difference of the two is below 1% at N = 1000 for p > 1e-10).
    """
    if count <= KS_EXACT_MAX_N:
        return float(stats.kstwo.sf(d, count))
    return float(stats.kstwobign.sf(d * math.sqrt(count)))


@dataclass(frozen=True)
class FDPlan:
    """A finite difference ``(q(r + hi) - q(r + lo)) / h`` at bit width with ``L`` steps."""

    scheme: str
    h: float
    scale: int

    @property
    def lh(self) -> float:
        """The step in units of the quantization step, ``a = L h``."""
        return self.scale * self.h

    def parts(self) -> tuple[int, float, float | None]:
        """``(base, b_le, b_ge)``: ``count = base + 1{n <= b_le} + 1{n >= b_ge}`` (``b_ge`` None if unused)."""
        if self.scheme == "forward":
            a = self.lh
            base = math.floor(a)
            return base, a - base - 0.5, None
        u = 0.5 * self.lh
        base = math.floor(u)
        frac = u - base
        return 2 * base, frac - 0.5, 0.5 - frac


def make_plans(schemes: Sequence[str], steps: Sequence[float], scale: int) -> list[FDPlan]:
    """One plan per (scheme, h), schemes outermost."""
    return [FDPlan(s, float(h), scale) for s in schemes for h in steps]


#: Bits of the low half when squaring counts (a count below 2^31 splits into halves whose products fit).
_SPLIT: Final = 16


def exact_sum_of_squares(c: NDArray[np.int64]) -> int:
    """``sum c_i^2`` exactly, as a Python int.

    For ``|c_i| < 2^31``, with ``c = a 2^16 + b`` (``0 <= b < 2^16``), ``c^2 = a^2 2^32 + 2 a b 2^16 + b^2``;
    each of the three int64 sums stays below ``2^30 * N``, exact for chunks of up to ``2^32`` samples.
    Larger counts (``L h`` up to ``2^24 * 1000``) take few distinct values: ``sum_v v^2 #{c = v}``.
    """
    c = np.asarray(c, dtype=np.int64)
    if c.size and int(np.abs(c).max()) >= 1 << 31:
        values, counts = np.unique(c, return_counts=True)
        return sum(v * v * m for v, m in zip(values.tolist(), counts.tolist()))
    a = c >> _SPLIT
    b = c & ((1 << _SPLIT) - 1)
    return (int((a * a).sum()) << (2 * _SPLIT)) + (int((a * b).sum()) << (_SPLIT + 1)) + int((b * b).sum())


def crossing_counts(n: NDArray[np.float64], plan: FDPlan) -> NDArray[np.int64]:
    """Per-sample crossing counts from ``n`` (THEORY.md, identity A, general form).

    ``floor(L h + 1/2 - n)`` (forward) or ``floor(L h/2 + 1/2 - n) + floor(L h/2 - 1/2 + n) + 1``
    (central). Equal to ``round(s + L hi) - round(s + L lo)`` except on ties (probability 0).
    """
    a = plan.lh
    if plan.scheme == "forward":
        return np.floor(a + 0.5 - n).astype(np.int64)
    return (np.floor(0.5 * a + 0.5 - n) + np.floor(0.5 * a - 0.5 + n) + 1).astype(np.int64)


@lru_cache(maxsize=256)
def crossing_points(plans: tuple[FDPlan, ...]) -> NDArray[np.float64]:
    """Sorted breakpoints ``p`` such that every plan's counts follow from ``#{n <= p}`` (identity A).

    ``b_le`` of every plan, and ``nextafter(b_ge, -inf)`` for central plans (``#{n >= b} = N - #{n < b}``).
    The returned array is shared: do not modify it.
    """
    parts = [plan.parts() for plan in plans]
    points = {b for _, b, _ in parts} | {np.nextafter(g, -np.inf) for _, _, g in parts if g is not None}
    return np.asarray(sorted(points), dtype=np.float64)


@lru_cache(maxsize=256)
def _plan_points(plans: tuple[FDPlan, ...], points: tuple[float, ...]) -> tuple[tuple[int, int, int], ...]:
    """Per plan ``(base, j_le, j_ge)``: ``count = base + 1{n <= points[j_le]} + 1{n > points[j_ge]}`` (``j_ge``
    -1 for forward plans), the indices into the breakpoints of :meth:`CellAccumulator.add_crossings_at_most`."""
    where = {p: j for j, p in enumerate(points)}
    out = []
    for plan in plans:
        base, b_le, b_ge = plan.parts()
        out.append((base, where[b_le], -1 if b_ge is None else where[float(np.nextafter(b_ge, -np.inf))]))
    return tuple(out)


@lru_cache(maxsize=1)
def _uniform_cdf_at_edges() -> NDArray[np.float64]:
    """The Uniform[-1/2, 1/2] CDF at the histogram's bin edges (shared, read-only)."""
    edges = np.linspace(-1.0, 1.0, HIST_BINS + 1)
    cdf = np.clip(edges + 0.5, 0.0, 1.0)
    cdf.flags.writeable = False
    return cdf


@lru_cache(maxsize=256)
def _scan_tables(plans: tuple[FDPlan, ...]) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.uint8]]:
    """Breakpoints, their histogram bins and the marked-bin bit set for :func:`stecheck.core.fastscan.scan`."""
    points = crossing_points(plans)
    point_bins = fastscan.bin_of(points, HIST_BINS)
    return points, point_bins, fastscan.marked_bins(point_bins, HIST_BINS)


#: ``(PCG64 state words, kind, loc, spread)``: inputs the compiled scan draws itself (see :meth:`CellAccumulator.add_scan`).
Draw = tuple[NDArray[np.uint64], int, float, float]


def _check_scan_input(x: NDArray[np.float64], mode: int, draw: Draw | None = None) -> None:
    """Errors given to the scan must lie in its histogram's range [-1, 1] (NaN included in the refusal); drawn
    inputs are rounded (a drawn error is not bounded)."""
    if draw is not None:
        if mode == fastscan.MODE_ERRORS:
            raise ValueError("the scan draws inputs to round, not errors")
        return
    if mode == fastscan.MODE_ERRORS and x.size and not (x.min() >= -1.0 and x.max() <= 1.0):
        raise ValueError("errors outside [-1, 1] do not fit the histogram of the scan")


@dataclass(frozen=True)
class ErrorSummary:
    """Statistics of the error ``e`` of one cell against Uniform[-1/2, 1/2]."""

    samples: int
    mean: float
    mean_se: float | None  # None: undefined from fewer than 2 samples
    var: float
    var_se: float | None
    ks_stat: float
    ks_resolution: float
    ks_pvalue: float
    chi2_stat: float
    chi2_pvalue: float
    fourier_abs: tuple[float, ...]
    p_zero: float
    #: Counts of ``e`` in :data:`CHI2_BINS` equal bins on [-1/2, 1/2] (the chi-square bins; for plots).
    hist: tuple[int, ...] = ()


#: Confidence level of the one-sided bound reported when no crossing was observed.
NO_CROSSING_LEVEL: Final = 0.95


@dataclass(frozen=True)
class SlopeSummary:
    """``E[D_h]`` with its standard error, ``P(D_h = 0)`` and the mean STE value, for one plan.

    When no sample crossed a threshold the sample variance is 0 but the law's need not be: the standard
    error is then not estimable (None) and ``mean_fd_upper`` holds the one-sided 95% upper confidence
    bound on ``E[D_h]`` (rule of three: ``P(count > 0) <= -ln(0.05) / N ~ 3 / N``, and a count is at most
    ``floor(L h) + 1``); otherwise ``mean_fd_upper`` is None.
    """

    mean_fd: float
    mean_fd_se: float | None  # None: undefined from fewer than 2 samples
    p_fd_zero: float
    ste: float
    mean_fd_upper: float | None = None


#: Samples per histogram bin up to which the deviation sums of the compiled scan add exactly in float64, in any
#: grouping: ``2^33`` samples of at most ``2^20`` units of ``2^-36`` each stay below ``2^53`` units
#: (:meth:`CellAccumulator.merge_counts`).
EXACT_DEVIATION_SAMPLES: Final = 1 << 33


@dataclass(frozen=True)
class OrderedSums:
    """The floating-point statistics of one chunk whose merged value depends on the order of merging:
    the power sums, the extremes (``min``/``max`` keep the first of equal values) and the Fourier sums."""

    power: NDArray[np.float64]
    lowest: float
    highest: float
    fourier: NDArray[np.complex128]


@dataclass
class CellAccumulator:
    """Mergeable streaming statistics of one cell; see the module docstring."""

    plans: list[FDPlan]
    count: int = 0
    power: NDArray[np.float64] = field(default_factory=lambda: np.zeros(4))
    lowest: float = math.inf
    highest: float = -math.inf
    zeros: int = 0
    hist: NDArray[np.int64] = field(default_factory=lambda: _TABLES.take(np.int64))
    fourier: NDArray[np.complex128] = field(default_factory=lambda: np.zeros(FOURIER_ORDERS, dtype=complex))
    #: Per plan: sums of the crossing count, of its square, and the number of zero counts, as Python
    #: integers (exact at any size: ``(L h)^2`` times the sample count exceeds int64 at k = 24).
    fd_sum: list[int] = field(init=False)
    fd_sumsq: list[int] = field(init=False)
    fd_zero: list[int] = field(init=False)
    ste_count: int = 0
    #: Per-bin sums of ``e - c_b`` when the Fourier sums come from the histogram (compiled scan), else None.
    hist_dev: NDArray[np.float64] | None = None
    #: ``(points, #{e <= p} from the histogram alone)`` after the last scan with crossings, while the histogram
    #: has not changed since: the next scan's count of earlier samples without a walk over the table.
    _hist_at_most: tuple[NDArray[np.float64], NDArray[np.int64]] | None = field(default=None, repr=False, compare=False)
    #: This accumulator's plan tables (:func:`_scan_tables` with and without crossings, :func:`_plan_points` of the
    #: last breakpoints), looked up once instead of hashing the plans per chunk.
    _memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    #: A kept chunk (:meth:`scanned` with ``keep``): ``(first, stop, words)``, its packed words
    #: (:mod:`stecheck.core.fastscan`) in ``words[first:stop]``, the bins of its errors, not unpacked into ``hist`` and
    #: ``hist_dev`` yet (both empty until then).
    _kept: tuple[int, int, NDArray[np.int64]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.fd_sum = [0] * len(self.plans)
        self.fd_sumsq = [0] * len(self.plans)
        self.fd_zero = [0] * len(self.plans)

    # ------------------------------------------------------------ updates

    def add_error(self, e: NDArray[np.float64]) -> None:
        """Add a chunk of errors ``e`` (moments, histogram, Fourier sums)."""
        if e.size == 0:
            return
        self.settle()
        self.count += e.size
        e2 = e * e
        self.power += (e.sum(), e2.sum(), (e2 * e).sum(), (e2 * e2).sum())
        self.lowest = min(self.lowest, float(e.min()))
        self.highest = max(self.highest, float(e.max()))
        self.zeros += int(np.count_nonzero(e == 0.0))
        idx = ((e + 1.0) * (HIST_BINS / 2)).astype(np.int64)
        np.clip(idx, 0, HIST_BINS - 1, out=idx)
        self.hist += np.bincount(idx, minlength=HIST_BINS)
        self._hist_at_most = None
        z = np.exp((2j * np.pi) * e)
        power = z.copy()
        self.fourier[0] += power.sum()
        for order in range(1, FOURIER_ORDERS):
            power *= z
            self.fourier[order] += power.sum()

    @classmethod
    def scanned(
        cls, plans: list[FDPlan], x: NDArray[np.float64], scale: int, mode: int, crossings: bool, draw: Draw | None = None,
        samples: int | None = None, keep: bool = False,
    ) -> CellAccumulator:
        """A new accumulator holding one chunk added by :meth:`add_scan`.

        Its histogram tables are recycled without clearing: the scan stores into them (outside the GIL). With
        ``keep`` (a chunk of at most :data:`stecheck.core.fastscan.BLOCK` samples) it has no tables yet: it keeps
        the chunk's packed words over the bins its errors fall in (one table, half the memory of the two, of
        which a rounding error's chunk touches half), unpacked by :meth:`merge` into the accumulator it is
        merged into -- the same additions, in the same order, as merging the tables -- or into tables of its
        own when first needed (:meth:`settle`). Chunks in flight between threads then hold, and stream through
        the caches, a quarter of the memory.
        """
        _check_scan_input(x, mode, draw)
        n = x.size if samples is None or draw is None else samples
        if keep and 0 < n <= fastscan.BLOCK:
            acc = cls(plans, hist=_EMPTY_COUNTS)
            acc._scan(x, scale, mode, crossings, overwrite=fastscan.KEEP, draw=draw, samples=samples)
            return acc
        acc = cls(plans, hist=_TABLES.take(np.int64, zeroed=False))
        acc.hist_dev = _TABLES.take(np.float64, zeroed=False)
        acc._scan(x, scale, mode, crossings, overwrite=fastscan.STORE, draw=draw, samples=samples)
        return acc

    def settle(self) -> None:
        """Unpack a kept chunk (:meth:`scanned` with ``keep``) into zeroed tables of its own (``0 + c``, ``0.0 + d``:
        the values a storing scan writes); nothing otherwise. Every method that reads the tables calls it."""
        if self._kept is None:
            return
        first, stop, words = self._kept
        self._kept = None
        self.hist = _TABLES.take(np.int64)
        self.hist_dev = _TABLES.take(np.float64)
        fastscan.unpack_add(words[first:stop], self.hist[first:stop], self.hist_dev[first:stop])
        _TABLES.give(words)

    def add_scan(
        self, x: NDArray[np.float64], scale: int, mode: int, crossings: bool, draw: Draw | None = None,
        samples: int | None = None,
    ) -> None:
        """Add a chunk with the compiled one-pass scan (:func:`stecheck.core.fastscan.scan`).

        ``mode`` is :data:`~stecheck.core.fastscan.MODE_ERRORS` (``x`` holds the errors ``e``) or a deterministic
        rounding of ``s = L x``. With ``crossings`` (unclipped deterministic rounding, ``e = n``) the
        finite-difference counts are added too. The Fourier sums are then kept as histogram deviations
        (:func:`stecheck.core.fastscan.binned_fourier_sums`); a scanned accumulator merges only with scanned ones.
        With ``draw`` = ``(state words, kind, loc, spread)`` the scan draws ``x`` itself and stores it
        (:func:`stecheck.core.fastscan.draw_scan`; ``x`` is then an output), or draws ``samples`` values through
        a shorter scratch ``x`` that keeps none of them.
        """
        if (x.size if samples is None else samples) == 0:
            return
        _check_scan_input(x, mode, draw)
        self.settle()
        if self.hist_dev is None:
            if self.count:
                raise ValueError("cannot add a scanned chunk to an accumulator filled by the numpy path")
            self.hist_dev = _TABLES.take(np.float64)
        self._scan(x, scale, mode, crossings, overwrite=False, draw=draw, samples=samples)

    def _scan(
        self, x: NDArray[np.float64], scale: int, mode: int, crossings: bool, overwrite: int, draw: Draw | None = None,
        samples: int | None = None,
    ) -> None:
        """The scan of one chunk; ``overwrite`` is :data:`~stecheck.core.fastscan.ADD`, ``STORE`` or ``KEEP`` (a fresh
        accumulator without tables, at most one block)."""
        keep = overwrite == fastscan.KEEP
        assert keep or self.hist_dev is not None
        if samples is None or draw is None:
            samples = x.size
        elif x.size < min(samples, fastscan.SUB):
            raise ValueError(f"a scratch buffer for drawn samples needs at least {fastscan.SUB} entries")
        if samples == 0:
            if overwrite == fastscan.STORE:
                self.hist.fill(0)
                self.hist_dev.fill(0.0)  # type: ignore[union-attr]
            return
        tables = self._memo.get(bool(crossings))
        if tables is None:
            tables = self._memo[bool(crossings)] = _scan_tables(tuple(self.plans) if crossings else ())
        points, point_bins, marked = tables  # type: ignore[misc]
        below = np.zeros(points.size, dtype=np.int64)
        # samples of earlier chunks below each breakpoint's bin (none in a fresh accumulator)
        earlier: int | NDArray[np.int64] = 0
        if crossings and self.count and not overwrite:
            cached = self._hist_at_most
            fresh = cached is None or cached[0] is not points
            earlier = fastscan.counts_at_most(self.hist, point_bins, below) if fresh else cached[1]  # type: ignore[index]
        extremes = np.array([self.lowest, self.highest])
        packed = fastscan.scratch(HIST_BINS)
        tables = (packed, self.hist, _EMPTY_DEVS if keep else self.hist_dev, self.power, extremes, points, point_bins,
                  marked, below, int(overwrite))
        if draw is None:
            self.zeros += fastscan.scan(x, float(scale), mode, *tables)
        else:
            words, kind, loc, spread = draw
            self.zeros += fastscan.draw_scan(words, kind, loc, spread, x, samples, float(scale), mode, *tables)
        self.lowest, self.highest = float(extremes[0]), float(extremes[1])
        self.count += samples
        if keep:
            total = fastscan.counts_at_most_packed(packed, point_bins, below) if crossings else None
            first, stop = _bin_range(self.lowest, self.highest)
            words = _TABLES.take(np.int64, zeroed=False)
            words[first:stop] = packed[first:stop]
            packed[first:stop] = 0  # the scratch is handed on zeroed
            self._kept = (first, stop, words)
            self._hist_at_most = None
            if total is not None:
                self.add_crossings_at_most(points, total, samples)
            return
        if crossings:
            total = fastscan.counts_at_most(self.hist, point_bins, below)
            self._hist_at_most = (points, total - below)
            self.add_crossings_at_most(points, total - earlier, samples)
        else:
            self._hist_at_most = None

    def crossing_points(self) -> NDArray[np.float64]:
        """Sorted breakpoints ``p`` such that every plan's counts follow from ``#{n <= p}`` (identity A)."""
        return crossing_points(tuple(self.plans))

    def add_crossings_from_n(self, n: NDArray[np.float64]) -> None:
        """Add finite-difference counts of the unclipped quantizer from the errors ``n`` (identity A)."""
        grid = self.crossing_points()
        below = np.cumsum(np.bincount(np.searchsorted(grid, n, side="left"), minlength=grid.size + 1))
        self.add_crossings_at_most(grid, below[:-1], n.size)  # below[j] = #{n <= grid[j]}

    def add_crossings_at_most(self, points: NDArray[np.float64], at_most: NDArray[np.int64], size: int) -> None:
        """Add the counts of ``size`` samples given ``at_most[j] = #{n <= points[j]}`` (see :meth:`crossing_points`)."""
        counts = at_most.tolist()
        memo = self._memo.get("points")
        if memo is None or memo[0] is not points:  # type: ignore[index]
            memo = self._memo["points"] = (points, _plan_points(tuple(self.plans), tuple(points.tolist())))
        for i, (base, le, ge) in enumerate(memo[1]):  # type: ignore[index]
            c1 = counts[le]
            c2 = 0 if ge < 0 else size - counts[ge]
            both = max(0, c1 + c2 - size) if ge >= 0 else 0
            hits = c1 + c2
            self.fd_sum[i] += base * size + hits
            self.fd_sumsq[i] += base * base * size + (2 * base + 1) * hits + 2 * both
            if base == 0:
                self.fd_zero[i] += size - hits + both
        self.ste_count += size

    def add_crossings(self, counts: Sequence[NDArray[np.int64]], ste_count: int) -> None:
        """Add per-sample crossing counts, one array per plan (the general path, e.g. clipped inputs)."""
        for i, c in enumerate(counts):
            self.fd_sum[i] += int(c.sum())
            self.fd_sumsq[i] += exact_sum_of_squares(c)
            self.fd_zero[i] += int(np.count_nonzero(c == 0))
        self.ste_count += ste_count

    def merge(self, other: CellAccumulator) -> None:
        """Add ``other`` into this accumulator (call in a fixed order for bitwise-reproducible sums).

        The same operations as :meth:`merge_counts` and :meth:`merge_ordered` of ``other``'s :class:`OrderedSums`.
        A kept chunk (:meth:`scanned` with ``keep``) is unpacked straight into this accumulator's tables: the
        same integer and float additions as adding its tables (those hold 0 and 0.0 outside its bins).
        """
        self.merge_counts(other)
        self.merge_ordered(OrderedSums(other.power, other.lowest, other.highest, other.fourier))

    def merge_ordered(self, sums: OrderedSums) -> None:
        """Add one chunk's order-dependent sums (:meth:`take_ordered`) into this accumulator's."""
        self.power += sums.power
        self.lowest = min(self.lowest, sums.lowest)
        self.highest = max(self.highest, sums.highest)
        self.fourier += sums.fourier

    def take_ordered(self) -> OrderedSums:
        """The order-dependent sums added since the last call (or since the start), reset to those of a new
        accumulator: the next chunk added starts them afresh, as in a new accumulator.

        After each chunk, this splits an accumulator that adds several chunks into the chunks' own
        floating-point sums, to be merged one by one in chunk order (:meth:`merge_ordered`), and everything
        else, which :meth:`merge_counts` adds in any grouping with the same result (see :meth:`merge_counts`).
        """
        sums = OrderedSums(self.power, self.lowest, self.highest, self.fourier)
        self.power = np.zeros(4)
        self.lowest, self.highest = math.inf, -math.inf
        self.fourier = np.zeros(FOURIER_ORDERS, dtype=complex)
        return sums

    def merge_counts(self, other: CellAccumulator) -> None:
        """Add everything of ``other`` but its :class:`OrderedSums`: the counts, the histogram, the integer
        finite-difference sums and the histogram's deviation sums.

        All are integers but the deviation sums, whose every term is a whole multiple of ``2^-36``
        (:data:`stecheck.core.fastscan.DEV_SCALE`) of magnitude at most ``2^-16`` per sample; while a bin
        holds at most :data:`EXACT_DEVIATION_SAMPLES` samples in all, every partial sum is such a multiple
        below ``2^53 * 2^-36`` and so exact in float64. Then, like the integers, they come out the same
        whatever the grouping and order of the additions.
        """
        self.settle()
        other_scanned = other.hist_dev is not None or other._kept is not None
        if (self.hist_dev is None) != (not other_scanned) and self.count and other.count:
            raise ValueError("cannot merge a scanned accumulator with one filled by the numpy path")
        self.count += other.count
        self.zeros += other.zeros
        self._hist_at_most = None
        if other._kept is not None:
            first, stop, words = other._kept
            if self.hist_dev is None:
                self.hist_dev = _TABLES.take(np.float64)
            fastscan.unpack_add(words[first:stop], self.hist[first:stop], self.hist_dev[first:stop])
        else:
            self.hist += other.hist
        if other.hist_dev is not None:
            if self.hist_dev is None:
                self.hist_dev = other.hist_dev.copy()
            else:
                self.hist_dev += other.hist_dev
        self.fd_sum = [a + b for a, b in zip(self.fd_sum, other.fd_sum)]
        self.fd_sumsq = [a + b for a, b in zip(self.fd_sumsq, other.fd_sumsq)]
        self.fd_zero = [a + b for a, b in zip(self.fd_zero, other.fd_zero)]
        self.ste_count += other.ste_count

    def __getstate__(self) -> dict[str, object]:
        """The state pickled (sent to or from a cluster worker): the tables in their exact compact form
        (:func:`stecheck.core.packing.pack`), without the cache of histogram counts; a kept chunk is settled first."""
        self.settle()
        state = dict(self.__dict__)
        state["hist"] = packing.pack(self.hist)
        state["hist_dev"] = None if self.hist_dev is None else packing.pack(self.hist_dev)
        state["_hist_at_most"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state = dict(state)
        for name in ("hist", "hist_dev"):
            packed = state[name]
            if packed is not None:  # into a recycled table when it has the usual size (no fresh pages to fault in)
                size, dtype = packed[0], np.dtype(packed[2])  # type: ignore[index]
                state[name] = packing.unpack(packed, _TABLES.take(dtype, zeroed=False) if size == HIST_BINS else None)  # type: ignore[arg-type]
        self.__dict__.update(state)

    def release(self) -> None:
        """Hand this (merged, no longer needed) accumulator's histogram tables back for reuse.

        The engine calls it on each chunk's accumulator after merging it: a new table then costs a
        memset instead of fresh pages, whose faults serialise threads on the kernel's memory map lock.
        """
        if self._kept is not None:
            _TABLES.give(self._kept[2])
            self._kept = None
        _TABLES.give(self.hist)
        self._hist_at_most = None
        if self.hist_dev is not None:
            _TABLES.give(self.hist_dev)
        self.hist = np.zeros(0, dtype=np.int64)
        self.hist_dev = None

    # ------------------------------------------------------------ summaries

    def error_summary(self) -> ErrorSummary:
        """Moments with standard errors, KS and chi-square against Uniform[-1/2, 1/2], Fourier magnitudes.

        ``var_se`` is the delta-method standard error ``sqrt((mu4 - var^2) / N)``; both standard errors
        are undefined (None) from fewer than 2 samples, where the spread cannot be estimated. The KS statistic is the
        largest ECDF deviation at the histogram's bin edges, a lower bound on the exact statistic; the
        exact one is at most ``ks_resolution`` larger. Its p-value is :func:`ks_pvalue`.
        """
        self.settle()
        n = self.count
        m1, m2, m3, m4 = self.power / n
        var = max(m2 - m1 * m1, 0.0)
        mu4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4
        ks, resolution = self._ks()
        chi2, chi2_p = self._chi2()
        return ErrorSummary(
            samples=n,
            mean=float(m1),
            mean_se=math.sqrt(var / n) if n >= 2 else None,
            var=float(var),
            var_se=math.sqrt(max(mu4 - var * var, 0.0) / n) if n >= 2 else None,
            ks_stat=ks,
            ks_resolution=resolution,
            ks_pvalue=ks_pvalue(ks, n),
            chi2_stat=chi2,
            chi2_pvalue=chi2_p,
            fourier_abs=tuple(float(v) for v in np.abs(self.fourier_sums()) / n),
            p_zero=self.zeros / n,
            hist=tuple(int(c) for c in self._binned()),
        )

    def fourier_sums(self) -> NDArray[np.complex128]:
        """``sum exp(2 pi i l e)``, l = 1..8: exact (numpy path) or from the histogram (scanned; error at most
        ``N (pi l w)^2 / 2``, :func:`stecheck.core.fastscan.binned_fourier_bound`)."""
        self.settle()
        if self.hist_dev is None:
            return self.fourier
        return self.fourier + fastscan.binned_fourier_sums(self.hist, self.hist_dev, FOURIER_ORDERS)

    def _ks(self) -> tuple[float, float]:
        ecdf = np.concatenate([[0.0], np.cumsum(self.hist) / self.count])
        uniform = _uniform_cdf_at_edges()
        at_edges = float(np.max(np.abs(ecdf - uniform)))
        upper = float(max(np.max(ecdf[1:] - uniform[:-1]), np.max(uniform[1:] - ecdf[:-1])))
        return at_edges, max(upper - at_edges, 0.0)

    def _binned(self) -> NDArray[np.int64]:
        """Counts in :data:`CHI2_BINS` equal bins on [-1/2, 1/2] (errors outside it are not counted)."""
        inner = self.hist[HIST_BINS // 4 : 3 * HIST_BINS // 4].reshape(CHI2_BINS, -1).sum(axis=1)
        inner[-1] += self.hist[3 * HIST_BINS // 4]  # e == 1/2 exactly (half-up ties) closes the last bin
        return inner

    def _chi2(self) -> tuple[float, float]:
        if self.lowest < -0.5 or self.highest > 0.5:
            return math.inf, 0.0  # mass outside the support of Uniform[-1/2, 1/2]
        inner = self._binned()
        result = stats.chisquare(inner)
        return float(result.statistic), float(result.pvalue)

    def slope_summary(self, index: int) -> SlopeSummary:
        """``E[D_h]``, its standard error ``sqrt(Var(count) / N) / (L h)`` (None, undefined, for N < 2),
        ``P(D_h = 0)`` and the STE mean.

        ``Var(count) = (N sum c^2 - (sum c)^2) / N^2`` is formed in exact integers and rounded once, so no
        cancellation when the mean count is large (``L h ~ 10^7``).
        """
        n = self.count
        lh = self.plans[index].lh
        total = self.fd_sum[index]
        mean_count = total / n
        var_count = (n * self.fd_sumsq[index] - total * total) / (n * n)
        if self.fd_zero[index] == n:
            upper = (math.floor(lh) + 1) * -math.log1p(-NO_CROSSING_LEVEL) / n / lh
            return SlopeSummary(0.0, None, 1.0, self.ste_count / n, mean_fd_upper=upper)
        return SlopeSummary(
            mean_fd=float(mean_count / lh),
            mean_fd_se=math.sqrt(var_count / n) / lh if n >= 2 else None,
            p_fd_zero=float(self.fd_zero[index] / n),
            ste=self.ste_count / n,
        )
