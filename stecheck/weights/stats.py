"""Exact population statistics of the rounding error of one weight tensor, for many bit widths at once.

A tensor is a finite population: its E[n], Var(n), KS distance to Uniform[-1/2, 1/2], Fourier
coefficients and E[D_h] are exact values, not estimates (THEORY.md, "Monte Carlo versus exact"). They are
computed here from chunks of the tensor, in constant memory, by at most three passes:

0. count, non-finite count, minimum, maximum and max|w| (the transform's per-tensor constants);
1. per chunk, ``r = T(w)`` once, then for every k: ``n = round(L r) - L r`` (as stecheck.core.quantize),
   the sums of n and n^2, a 2^16-bin histogram of n (for the KS statistic), and the identity-A crossing
   counts ``floor(L h + 1/2 - n)`` (stecheck.core.estimators.crossing_counts) for every h; for all k <= 8
   together, Taylor moments of r on a fine grid from which one FFT per order gives every Fourier
   coefficient exp(-2 pi i l L r) (Anderson and Dahleh 1996; a type-1 non-uniform DFT);
2. the histogram bins that can hold the KS supremum, refined until it is exact: their values are
   gathered and sorted while few, else split into sub-bins holding a count, a minimum and a maximum
   (so ties cost nothing), over as many further passes as needed; memory stays bounded by
   :data:`GATHER_LIMIT` values and :data:`SPLIT_BINS` sub-bins, however many values share a bin.

A chunk is ``(values, weights)``: ``weights`` None means every value counts once; 16-bit tensors are
passed as their distinct values with multiplicities (stecheck.weights.tensors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Final, Iterable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.special import kolmogorov as kstwobign_sf  # kstwobign.sf without the distribution wrapper
from scipy.stats import kstwo

from stecheck.core.estimators import KS_EXACT_MAX_N, FDPlan, ks_pvalue
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.quantize import levels
from stecheck.core.weightscan import unit_phasor
from stecheck.errors import ConfigError

__all__ = [
    "TRANSFORMS",
    "KS_BINS",
    "GATHER_LIMIT",
    "SPLIT_BINS",
    "TAYLOR_BINS",
    "TAYLOR_ORDER",
    "Chunk",
    "ChunkSource",
    "Extent",
    "Transform",
    "BitStatistics",
    "TensorStatistics",
    "scan_extent",
    "make_transform",
    "ks_from_sorted",
    "ks_pvalue",
    "rounding_errors",
    "taylor_fourier_sums",
    "direct_fourier",
    "tensor_statistics",
]

TRANSFORMS: Final = ("dorefa", "absmax", "minmax")
#: Bins of the histogram of n that locates the KS supremum (pass 2 then evaluates it exactly): bin b
#: holds ``G(n) = n + 1/2`` in ``[b/S, (b+1)/S)`` with ``S = KS_BINS - 1``; the last bin holds only n = 1/2.
KS_BINS: Final = 1 << 16
_KS_SCALE: Final = KS_BINS - 1
#: The lower edge ``b / S`` of every KS histogram bin ``b`` (shared, read-only).
KS_EDGES: Final = np.arange(KS_BINS) / _KS_SCALE
KS_EDGES.flags.writeable = False
#: Grid of r in [0, 1] for the Taylor moments of the Fourier sums, and the expansion order.
TAYLOR_BINS: Final = 1 << 14
TAYLOR_ORDER: Final = 12
#: Largest frequency m = l L the Taylor grid serves (8 x 255 for k = 8): |2 pi m (r - centre)| <=
#: pi m / TAYLOR_BINS <= 0.393, so the first omitted term is below 0.393^13 / 13! < 1e-15 (relative to the count).
TAYLOR_MAX_FREQ: Final = TAYLOR_BINS // 8
#: Tensors of at most this many values take their Fourier sums directly (8 products per value and bit
#: width) rather than from the Taylor grid, whose FFTs cost as much as ~20,000 values.
DIRECT_FOURIER_MAX: Final = 1 << 14
#: Pass 1 keeps the transformed chunks for pass 2 while they total at most this many values (128 MiB).
KEEP_LIMIT: Final = 1 << 24
#: The KS refinement keeps at most this many values of n per pass (all k together, 48 MiB with their
#: weights and interval ids) ...
GATHER_LIMIT: Final = 1 << 20
#: ... and at most this many sub-bins (a count, a minimum and a maximum each: 24 MiB), whatever the tensor.
SPLIT_BINS: Final = 1 << 20
#: Fewest and most sub-bins an interval is split into in one pass.
SPLIT_MIN: Final = 16
SPLIT_MAX: Final = 1 << 16
_GAP: Final = 1e-15  # float slack of the bin edges of n: |fl(n + 1/2) - (n + 1/2)| <= 2^-53

Chunk = tuple[NDArray, "NDArray | None"]
ChunkSource = Callable[[], Iterable[Chunk]]


@dataclass(frozen=True)
class Extent:
    """Pass 0 of a tensor: finite count (weighted), non-finite count, min, max and max|w| of the finite values."""

    count: int
    nonfinite: int
    lo: float
    hi: float

    @property
    def amax(self) -> float:
        """``max |w|`` over the finite values."""
        return max(abs(self.lo), abs(self.hi))


@dataclass(frozen=True)
class Transform:
    """``r = (f(w) - shift) / denom + offset`` with ``f = tanh`` (``dorefa``) or the identity.

    - ``dorefa``: ``tanh(w) / (2 max|tanh w|) + 1/2`` (Zhou et al. 2016, eq. 9; equal to
      :func:`stecheck.core.quantize.dorefa_weight_transform`, using ``max|tanh w| = tanh(max|w|)``);
    - ``absmax``: ``w / (2 max|w|) + 1/2``;
    - ``minmax``: ``(w - min) / (max - min)``.
    """

    name: str
    shift: float
    denom: float
    offset: float

    def __call__(self, w: NDArray) -> NDArray[np.float64]:
        w = np.asarray(w, dtype=np.float64)
        f = np.tanh(w) if self.name == "dorefa" else w
        if self.shift:
            f = f - self.shift
        return f / self.denom + self.offset


def make_transform(name: str, extent: Extent) -> Transform | None:
    """The transform of a tensor with ``extent``, or None if the tensor is degenerate (empty or constant).

    A constant tensor (all zero included) has no spread to quantize: every r is the same point, and
    Var(r) = 0 makes the SQNR undefined.
    """
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown transform {name!r}: expected one of {', '.join(TRANSFORMS)}")
    if extent.count == 0 or not extent.hi > extent.lo:
        return None
    if name == "dorefa":
        return Transform(name, 0.0, 2.0 * float(np.tanh(extent.amax)), 0.5)  # numpy's tanh, as quantize
    if name == "absmax":
        return Transform(name, 0.0, 2.0 * extent.amax, 0.5)
    return Transform(name, extent.lo, extent.hi - extent.lo, 0.0)


def _finite(chunk: Chunk) -> tuple[NDArray[np.float64], NDArray | None, int]:
    values, weights = chunk
    with np.errstate(invalid="ignore"):  # signalling NaNs (any bit pattern can come from a file) raise on cast
        values = np.asarray(values, dtype=np.float64).ravel()
    ok = np.isfinite(values)
    if ok.all():
        return values, weights, 0
    bad = int(weights[~ok].sum()) if weights is not None else int(values.size - np.count_nonzero(ok))
    return values[ok], (weights[ok] if weights is not None else None), bad


def scan_extent(chunks: Iterable[Chunk]) -> Extent:
    """Pass 0: finite count, non-finite count (both weighted), minimum and maximum of the finite values."""
    count = nonfinite = 0
    lo, hi = math.inf, -math.inf
    for chunk in chunks:
        values, weights, bad = _finite(chunk)
        nonfinite += bad
        if values.size == 0:
            continue
        count += int(weights.sum()) if weights is not None else values.size
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    return Extent(count, nonfinite, lo, hi)


def _wsum(x: NDArray, weights: NDArray | None) -> float:
    """``sum x`` or ``sum x w`` by numpy's pairwise summation (the order the compiled path reproduces)."""
    return float(x.sum()) if weights is None else float((x * weights).sum())


# ---------------------------------------------------------------- Kolmogorov-Smirnov, exactly


def ks_from_sorted(n: NDArray[np.float64], weights: NDArray | None, cum_before: NDArray | None, total: float) -> float:
    """Two-sided KS statistic against Uniform[-1/2, 1/2] at sorted points ``n`` (Massey 1951).

    ``D = max_i max(F(x_i) - G(x_i), G(x_i) - F(x_i-))`` with ``G(x) = x + 1/2``; ``cum_before[i]`` is the
    weight of the population below the group ``n[i]`` was gathered with (0 for a whole population).
    Ties need no special care: the maximum picks the last (first) element of a tie for D+ (D-).
    """
    w = np.ones_like(n) if weights is None else np.asarray(weights, dtype=np.float64)
    upto = np.cumsum(w) + (0.0 if cum_before is None else cum_before)
    cdf = n + 0.5
    d_plus = np.max(upto / total - cdf)
    d_minus = np.max(cdf - (upto - w) / total)
    return float(max(d_plus, d_minus, 0.0))


def _ks_bin(n: NDArray[np.float64]) -> NDArray[np.intp]:
    """``floor((n + 1/2) S)``, in 0..S: monotone in n (n + 1/2 >= 0, so truncation is floor)."""
    x = n + 0.5
    x *= _KS_SCALE
    return x.astype(np.intp)


def _ks_candidates(hist: NDArray[np.float64], total: float) -> NDArray[np.bool_]:
    """Bins of n that may hold the KS supremum: upper bound within the bin >= a lower bound attained.

    Bin b holds n with ``G(n) in [b/S, (b+1)/S]`` (up to float slack); with ``A`` and ``P`` the population
    weight up to and below the bin, every point gives ``F - G <= A - b/S`` and ``G - F(-) <= (b+1)/S - P``,
    while its largest (smallest) point attains at least ``A - (b+1)/S`` (``b/S - P``).
    """
    after = np.cumsum(hist) / total
    before = after - hist / total
    edge = KS_EDGES
    full = hist > 0
    upper = np.maximum(after - edge, edge + 1.0 / _KS_SCALE - before) + _GAP
    lower = np.maximum(after - edge - 1.0 / _KS_SCALE, edge - before) - _GAP
    best = lower[full].max()
    return full & (upper >= best)


# ---------------------------------------------------------------- Fourier sums


def _taylor_moments(r: NDArray[np.float64], weights: NDArray | None, into: NDArray[np.float64]) -> None:
    """Add ``sum_{r in bin g} c (r - centre_g)^p`` for p = 0..TAYLOR_ORDER to ``into[p, g]``."""
    g = np.minimum((r * TAYLOR_BINS).astype(np.intp), TAYLOR_BINS - 1)
    d = r - (g + 0.5) / TAYLOR_BINS
    power = None if weights is None else np.array(weights, dtype=np.float64)
    for p in range(TAYLOR_ORDER + 1):
        into[p] += np.bincount(g, weights=power, minlength=TAYLOR_BINS)
        if power is None:
            power = d.copy()
        else:
            power *= d


_FACTORIALS: Final = np.array([math.factorial(p) for p in range(TAYLOR_ORDER + 1)])


def taylor_fourier_sums(spectra: NDArray[np.complex128], freqs: Sequence[int]) -> NDArray[np.complex128]:
    """``sum_i c_i exp(-2 pi i m r_i)`` for each frequency m, from binned Taylor moments.

    With bin centres ``x_g = (g + 1/2)/G`` and ``d = r - x_g``:
    ``exp(-2 pi i m r) = exp(-2 pi i m x_g) sum_p (-2 pi i m)^p d^p / p!``, and the sum over g for all m at
    once is one FFT per order p (Anderson and Dahleh, SIAM J. Sci. Comput. 17(4), 1996): ``spectra`` is
    ``numpy.fft.fft(M, axis=1)``, i.e. ``sum_g M[p, g] exp(-2 pi i m g / G)``, or its first half
    ``numpy.fft.rfft(M, axis=1)`` (M is real; half the cost). Requires ``m <= TAYLOR_MAX_FREQ``.
    """
    out = np.empty(len(freqs), dtype=np.complex128)
    for i, m in enumerate(freqs):
        if not 0 < m <= TAYLOR_MAX_FREQ:
            raise ValueError(f"frequency {m} outside the Taylor grid's range")
        coef = (-2j * np.pi * m) ** np.arange(TAYLOR_ORDER + 1) / _FACTORIALS
        out[i] = np.exp(-1j * np.pi * m / TAYLOR_BINS) * np.dot(coef, spectra[:, m % TAYLOR_BINS])
    return out


def direct_fourier(n: NDArray[np.float64], weights: NDArray | None) -> NDArray[np.complex128]:
    """``sum c exp(2 pi i l n)``, l = 1..8, by powers of ``exp(2 pi i n) = cos y + i sin y`` (``y = 2 pi n``,
    :func:`stecheck.core.weightscan.unit_phasor`) in real arithmetic:
    ``(p_re, p_im) <- (p_re cos y - p_im sin y, p_re sin y + p_im cos y)``."""
    c, s = unit_phasor(n)
    re, im = c, s
    out = np.empty(FOURIER_ORDERS, dtype=np.complex128)
    for idx in range(FOURIER_ORDERS):
        if idx:
            re, im = re * c - im * s, re * s + im * c
        out[idx] = complex(_wsum(re, weights), _wsum(im, weights))
    return out


# ---------------------------------------------------------------- one tensor


@dataclass(frozen=True)
class BitStatistics:
    """Exact statistics of n at one bit width (population values of the tensor)."""

    k: int
    mean_n: float
    var_n: float
    ks_stat: float
    ks_pvalue: float
    fourier_abs: tuple[float, ...]
    mean_fd: tuple[float, ...]  # one per step h, forward
    sqnr_db: float
    sqnr_uniform_db: float


@dataclass(frozen=True)
class TensorStatistics:
    """All bit widths of one tensor; ``per_bits`` is empty when the tensor is degenerate."""

    count: int
    nonfinite: int
    degenerate: bool
    per_bits: dict[int, BitStatistics] = field(default_factory=dict)


@dataclass
class _BitsAccumulator:
    k: int
    scale: int
    plans: list[FDPlan]
    taylor: bool
    s1: float = 0.0
    s2: float = 0.0
    crossings: NDArray[np.float64] = field(init=False)
    hist: NDArray[np.float64] = field(init=False)
    fourier: NDArray[np.complex128] = field(init=False)

    def __post_init__(self) -> None:
        self.crossings = np.zeros(len(self.plans))
        self.hist = np.zeros(KS_BINS)
        self.fourier = np.zeros(FOURIER_ORDERS, dtype=np.complex128)

    def add(self, r: NDArray[np.float64], weights: NDArray | None, work: _Work) -> None:
        s, n, tmp, idx = work.views(r.size)
        np.multiply(r, self.scale, out=s)  # n = rint(L r) - L r, as rounding_errors, in reused buffers
        np.rint(s, out=n)
        n -= s
        self.s1 += _wsum(n, weights)
        self.s2 += _wsum(n * n, weights)
        np.add(n, 0.5, out=tmp)  # the bins of _ks_bin
        tmp *= _KS_SCALE
        np.copyto(idx, tmp, casting="unsafe")
        self.hist += np.bincount(idx, weights=weights, minlength=KS_BINS)
        for i, plan in enumerate(self.plans):
            # identity A: the crossing counts of stecheck.core.estimators.crossing_counts, floor(L h + 1/2 - n),
            # summed as floats (exact integers)
            np.subtract(plan.lh + 0.5, n, out=tmp)
            self.crossings[i] += _wsum(np.floor(tmp, out=tmp), weights)
        if not self.taylor:
            self.fourier += direct_fourier(n, weights)


class _Work:
    """Scratch buffers reused by every chunk and bit width (fresh large arrays cost page faults)."""

    def __init__(self) -> None:
        self.size = 0

    def views(self, size: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]]:
        if size > self.size:
            self.size = size
            self.buffers = (np.empty(size), np.empty(size), np.empty(size), np.empty(size, dtype=np.intp))
        return tuple(b[:size] for b in self.buffers)  # type: ignore[return-value]


def rounding_errors(r: NDArray[np.float64], scale: int) -> NDArray[np.float64]:
    """``n = rint(L r) - L r``, as :func:`stecheck.core.quantize.rounding_error` (half-even), computed in place."""
    s = r * scale
    n = np.rint(s)
    n -= s
    return n


def _chunks_of_r(chunks: ChunkSource, transform: Transform) -> Iterator[tuple[NDArray[np.float64], NDArray | None]]:
    for chunk in chunks():
        values, weights, _ = _finite(chunk)
        if values.size:
            yield transform(values), weights


def tensor_statistics(
    chunks: ChunkSource, bits: Sequence[int], steps: Sequence[float], transform: str = "dorefa", fast: bool = True
) -> TensorStatistics:
    """Exact E[n], Var(n), KS, |E exp(2 pi i l n)|, E[D_h] (forward) and SQNR of one tensor for every k.

    Parameters
    ----------
    chunks : callable
        Returns a fresh iterable of ``(values, weights)`` chunks of the tensor on each call (called up to
        three times). Non-finite values are counted and excluded.
    bits, steps : sequences
        Bit widths k and finite-difference steps h.
    transform : {"dorefa", "absmax", "minmax"}
        The map from w to r in [0, 1].
    fast : bool
        The compiled path (:mod:`stecheck.weights.fast`, equal to this one bit for bit); False selects
        the numpy reference below.

    Notes
    -----
    E[D_h] is the exact count of identity A, ``sum floor(L h + 1/2 - n) / (N L h)`` (THEORY.md); the SQNR
    is ``10 log10(Var(r) / E[(q - r)^2])`` with ``q - r = n / L``, against the uniform-noise model's
    ``10 log10(12 L^2 Var(r))``. The KS p-value (:func:`ks_pvalue`) answers a sampling question (could
    the tensor be a sample of an input with uniform n?); it is not a property of the tensor.
    """
    if fast:
        from stecheck.weights.fast import fast_tensor_statistics

        return fast_tensor_statistics(chunks, bits, steps, transform)
    extent = scan_extent(chunks())
    tr = make_transform(transform, extent)
    if tr is None:
        return TensorStatistics(extent.count, extent.nonfinite, True)
    total = float(extent.count)
    accs = []
    for k in bits:
        scale = levels(k)
        plans = [FDPlan("forward", float(h), scale) for h in steps]
        accs.append(_BitsAccumulator(k, scale, plans, taylor=uses_taylor(scale, extent.count)))
    moments = np.zeros((TAYLOR_ORDER + 1, TAYLOR_BINS)) if any(a.taylor for a in accs) else None
    r1 = r2 = 0.0
    work = _Work()
    kept: list[tuple[NDArray[np.float64], NDArray | None]] | None = []
    kept_size = 0
    for r, weights in _chunks_of_r(chunks, tr):
        centred = r - 0.5
        r1 += _wsum(centred, weights)
        r2 += _wsum(centred * centred, weights)
        if moments is not None:
            _taylor_moments(r, weights, moments)
        for acc in accs:
            acc.add(r, weights, work)
        if kept is not None:
            kept_size += r.size
            if kept_size <= KEEP_LIMIT:
                kept.append((r, weights))
            else:
                kept = None
    ks = _ks_exact((lambda: kept) if kept is not None else (lambda: _chunks_of_r(chunks, tr)), accs, total)
    sums = [(acc.k, acc.scale, acc.plans, acc.s1, acc.s2, acc.crossings, None if acc.taylor else acc.fourier) for acc in accs]
    return finish_statistics(extent, sums, ks, moments, r1, r2)


def uses_taylor(scale: int, count: int) -> bool:
    """Fourier sums from the Taylor grid (one FFT per order, a fixed cost) or directly (a cost per value)?

    The grid serves frequencies up to :data:`TAYLOR_MAX_FREQ` (``8 L``: k <= 8) and pays off above
    :data:`DIRECT_FOURIER_MAX` values; both are exact to float64 rounding (the grid within 1e-15 of the count).
    """
    return FOURIER_ORDERS * scale <= TAYLOR_MAX_FREQ and count > DIRECT_FOURIER_MAX


def finish_statistics(
    extent: Extent,
    sums: Sequence[tuple[int, int, Sequence[FDPlan], float, float, Sequence[float], NDArray[np.complex128] | None]],
    ks: Sequence[float],
    moments: NDArray[np.float64] | None,
    r1: float,
    r2: float,
) -> TensorStatistics:
    """The statistics of every bit width from the accumulated sums (shared by the numpy and compiled paths).

    ``sums`` holds per bit width ``(k, L, plans, sum n, sum n^2, crossing sums, direct Fourier sums or None)``;
    ``moments`` the Taylor moments for the bit widths without direct sums; ``r1, r2`` the sums of ``r - 1/2``
    and its square; ``ks`` the exact KS statistics.
    """
    total = float(extent.count)
    var_r = max(r2 / total - (r1 / total) ** 2, 0.0)
    spectra = np.fft.rfft(moments, axis=1) if moments is not None else None  # frequencies up to TAYLOR_MAX_FREQ < G/2
    pvalues = ks_pvalues(ks, extent.count)
    fourier = np.empty((len(sums), FOURIER_ORDERS), dtype=np.complex128)
    for i, (k, scale, plans, s1, s2, crossings, direct) in enumerate(sums):
        if direct is None:
            assert spectra is not None
            fourier[i] = taylor_fourier_sums(spectra, [l * scale for l in range(1, FOURIER_ORDERS + 1)])
        else:
            fourier[i] = direct
    fourier_abs = (np.abs(fourier) / total).tolist()
    per_bits = {}
    for i, (k, scale, plans, s1, s2, crossings, direct) in enumerate(sums):
        mean = s1 / total
        mean_sq = s2 / total
        noise = mean_sq / scale**2
        per_bits[k] = BitStatistics(
            k=k,
            mean_n=mean,
            var_n=max(mean_sq - mean * mean, 0.0),
            ks_stat=ks[i],
            ks_pvalue=pvalues[i],
            fourier_abs=tuple(fourier_abs[i]),
            mean_fd=tuple([float(c / (total * plan.lh)) for c, plan in zip(crossings, plans)]),
            sqnr_db=10 * math.log10(var_r / noise) if noise > 0 and var_r > 0 else math.inf,
            sqnr_uniform_db=10 * math.log10(12 * scale**2 * var_r) if var_r > 0 else -math.inf,
        )
    return TensorStatistics(extent.count, extent.nonfinite, False, per_bits)


def ks_pvalues(ks: Sequence[float], count: int) -> list[float]:
    """:func:`ks_pvalue` of every statistic in ``ks``, in one vectorised scipy call (the same values)."""
    if not len(ks):
        return []
    d = np.asarray(ks, dtype=np.float64)
    if count <= KS_EXACT_MAX_N:
        return [float(v) for v in kstwo.sf(d, count)]
    return [float(v) for v in kstwobign_sf(d * math.sqrt(count))]


def _float_keys(n: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Unsigned integers in the order of the float64 values ``n`` (IEEE bit patterns, sign folded)."""
    bits = (n + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into +0.0, so equal values get equal keys
    return np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))


@dataclass
class _Open:
    """Intervals of n that may hold the KS supremum, sorted and disjoint.

    Stage 0 (``bins`` set): bins of the pass-1 histogram. Later: value intervals ``[lo, hi]`` whose ends
    are values present in the tensor. ``before`` is the population weight below an interval, ``count``
    the weight inside, ``upper`` a bound on the KS terms of its points.
    """

    before: NDArray[np.float64]
    count: NDArray[np.float64]
    upper: NDArray[np.float64]
    bins: NDArray[np.intp] | None = None
    lo: NDArray[np.float64] | None = None
    hi: NDArray[np.float64] | None = None


class _KSRefinement:
    """The exact KS statistic of one bit width, refined over passes in bounded memory.

    Each pass, an open interval is either *gathered* (its values are kept, sorted, and their KS terms
    evaluated as in :func:`ks_from_sorted`) while the gathered values number at most
    :data:`GATHER_LIMIT`, or *split* into sub-bins that keep only a count, a minimum and a maximum. A
    sub-bin holding a single value (whatever its multiplicity: ties are counted, not stored) gives its
    exact terms ``F(x) - G(x)`` and ``G(x) - F(x-)``; any other becomes an interval ``[min, max]`` with
    ``before`` below it and ``count`` inside, whose terms are at most ``max((before + count)/N - G(min),
    G(max) - before/N)`` and of which two are known exactly (at its maximum and its minimum). Intervals
    whose bound is below the best known term are dropped. An interval is split by the order of the
    float64 bit patterns, so its span shrinks by the sub-bin factor each pass and the loop ends.
    """

    def __init__(self, acc: _BitsAccumulator, total: float) -> None:
        self.scale = acc.scale
        self.total = total
        hist = acc.hist
        after = np.cumsum(hist)
        before = after - hist
        bins = np.flatnonzero(_ks_candidates(hist, total))
        edge = KS_EDGES[bins]
        upper = np.maximum(after[bins] / total - edge, edge + 1.0 / _KS_SCALE - before[bins] / total) + _GAP
        lower = np.maximum(after[bins] / total - edge - 1.0 / _KS_SCALE, edge - before[bins] / total) - _GAP
        self.best = max(float(lower.max(initial=0.0)), 0.0)  # a lower bound of D
        self.exact = 0.0  # the largest KS term evaluated exactly so far
        self.open = _Open(before[bins], hist[bins], upper, bins=bins)
        self.gather = np.zeros(bins.size, dtype=bool)
        self.split = np.zeros(bins.size, dtype=bool)
        self.sub_bins = 1

    @classmethod
    def from_candidates(cls, scale: int, total: float, bins: NDArray[np.intp], before: NDArray[np.float64],
                        count: NDArray[np.float64], upper: NDArray[np.float64], best: float) -> _KSRefinement:
        """The state ``__init__`` builds, from its open bins computed elsewhere (the compiled
        :func:`stecheck.core.weightscan.ks_start`, the same operations)."""
        self = cls.__new__(cls)
        self.scale, self.total, self.best, self.exact, self.sub_bins = scale, total, best, 0.0, 1
        self.open = _Open(before, count, upper, bins=bins)
        self.gather = np.zeros(bins.size, dtype=bool)
        self.split = np.zeros(bins.size, dtype=bool)
        return self

    @property
    def done(self) -> bool:
        return self.open.count.size == 0

    def plan(self, gather_budget: int, split_budget: int, first: bool) -> tuple[int, int, bool]:
        """Choose the intervals to gather and to split this pass: ``(gather left, split left, takes part)``.

        Histogram bins (stage 0) are all handled in one pass, so that state waits for a pass with room
        for all of them; the first state of a pass always has room (KS_BINS * SPLIT_MIN <= SPLIT_BINS).
        """
        op = self.open
        gather = np.zeros(op.count.size, dtype=bool)
        split = np.zeros(op.count.size, dtype=bool)
        ranked = np.argsort(-op.upper, kind="stable")  # the most promising first, while they fit
        taken = ranked[np.cumsum(op.count[ranked]) <= gather_budget]
        gather[taken] = True
        budget = gather_budget - int(op.count[taken].sum())
        rest = np.flatnonzero(~gather)
        wanted = min(rest.size, split_budget // SPLIT_MIN)
        if op.bins is not None and wanted < rest.size:
            if not first:
                return gather_budget, split_budget, False
            wanted = rest.size
        if wanted:
            split[rest[np.argsort(-op.upper[rest], kind="stable")][:wanted]] = True
            self.sub_bins = int(max(2, min(SPLIT_MAX, split_budget // wanted)))
            split_budget -= wanted * self.sub_bins
        self.gather, self.split = gather, split
        return budget, max(split_budget, 0), bool(gather.any() or split.any())

    def start_pass(self) -> None:
        op = self.open
        self.gathered: list[tuple[NDArray, NDArray | None, NDArray]] = []
        n_split = int(self.split.sum())
        self.split_slot = np.full(op.count.size, -1, dtype=np.int64)
        self.split_slot[self.split] = np.arange(n_split) * self.sub_bins
        size = n_split * self.sub_bins
        self.sub_count = np.zeros(size)
        self.sub_min = np.full(size, np.inf)
        self.sub_max = np.full(size, -np.inf)
        if op.bins is not None:
            self.lut = np.full(KS_BINS, -1, dtype=np.int64)
            self.lut[op.bins] = np.arange(op.bins.size)
        else:
            assert op.lo is not None and op.hi is not None
            self.key_lo = _float_keys(op.lo)
            # sub-bin width: (span - 1) // B + 1 >= span / B, so every key of the interval maps below B
            self.key_width = (_float_keys(op.hi) - self.key_lo) // np.uint64(self.sub_bins) + np.uint64(1)

    def add(self, n: NDArray[np.float64], weights: NDArray | None, binned: NDArray[np.float64]) -> None:
        """One chunk: ``n`` and ``binned = (n + 1/2) S`` as pass 1 computed them."""
        op = self.open
        if op.bins is not None:
            where = self.lut[binned.astype(np.intp)]
            idx = np.flatnonzero(where >= 0)
        else:
            assert op.lo is not None and op.hi is not None
            where = np.searchsorted(op.lo, n, side="right") - 1
            idx = np.flatnonzero(where >= 0)
            idx = idx[n[idx] <= op.hi[where[idx]]]
        if idx.size == 0:
            return
        where, values = where[idx], n[idx]
        w = None if weights is None else weights[idx]
        take = self.gather[where]
        if take.any():
            self.gathered.append((values[take], None if w is None else w[take], where[take]))
        cut = self.split[where]
        if not cut.any():
            return
        idx, values, where = idx[cut], values[cut], where[cut]
        w = None if w is None else w[cut]
        if op.bins is not None:  # the position inside the histogram bin, monotone in n
            frac = binned[idx] - op.bins[where]
            sub = np.clip((frac * self.sub_bins).astype(np.int64), 0, self.sub_bins - 1)
        else:
            sub = ((_float_keys(values) - self.key_lo[where]) // self.key_width[where]).astype(np.int64)
        slot = self.split_slot[where] + sub
        self.sub_count += np.bincount(slot, weights=w, minlength=self.sub_count.size)
        np.minimum.at(self.sub_min, slot, values)
        np.maximum.at(self.sub_max, slot, values)

    def finish_pass(self) -> None:
        op, total = self.open, self.total
        if self.gathered:
            n = np.concatenate([g[0] for g in self.gathered])
            which = np.concatenate([g[2] for g in self.gathered])
            w = None if self.gathered[0][1] is None else np.concatenate([g[1] for g in self.gathered]).astype(np.float64)
            order = np.argsort(n, kind="stable")
            n, which = n[order], which[order]
            w = np.ones_like(n) if w is None else w[order]
            # intervals are disjoint and in the order of n: a point's population weight below it is its
            # interval's `before` plus what this gather holds of that interval before it
            start = np.searchsorted(which, which, side="left")
            before_in_gather = np.concatenate(([0.0], np.cumsum(w)))[start]
            self.exact = max(self.exact, ks_from_sorted(n, w, op.before[which] - before_in_gather, total))
        self.gathered = []
        parts = []
        keep = ~(self.gather | self.split)  # deferred value intervals stay as they are
        if keep.any():
            assert op.lo is not None and op.hi is not None
            parts.append((op.before[keep], op.count[keep], op.upper[keep], op.lo[keep], op.hi[keep]))
        if self.split.any():
            parts.append(self._sub_intervals())
        self.best = max(self.best, self.exact)
        if not parts:
            self.open = _Open(np.zeros(0), np.zeros(0), np.zeros(0), lo=np.zeros(0), hi=np.zeros(0))
            return
        before, count, upper, lo, hi = (np.concatenate([p[i] for p in parts]) for i in range(5))
        order = np.argsort(lo, kind="stable")
        live = order[upper[order] >= self.best]
        self.open = _Open(before[live], count[live], upper[live], lo=lo[live], hi=hi[live])

    def _sub_intervals(self) -> tuple[NDArray[np.float64], ...]:
        """The non-empty sub-bins of this pass: exact terms of single values, bounds of the others."""
        op, total, size = self.open, self.total, self.sub_bins
        rows = np.flatnonzero(self.split)
        count = self.sub_count.reshape(rows.size, size)
        before = op.before[rows][:, None] + np.cumsum(count, axis=1) - count
        mn = self.sub_min.reshape(rows.size, size)
        mx = self.sub_max.reshape(rows.size, size)
        full = count > 0
        before, count, mn, mx = before[full], count[full], mn[full], mx[full]
        at_max = (before + count) / total - (mx + 0.5)  # F(max) - G(max), exact
        at_min = (mn + 0.5) - before / total  # G(min) - F(min-), exact
        self.best = max(self.best, float(np.max(at_max, initial=0.0)), float(np.max(at_min, initial=0.0)))
        single = mn == mx
        if single.any():
            self.exact = max(self.exact, float(np.max(at_max[single])), float(np.max(at_min[single])))
        several = ~single
        upper = np.maximum((before + count) / total - (mn + 0.5), (mx + 0.5) - before / total) + _GAP
        return before[several], count[several], upper[several], mn[several], mx[several]


def _ks_exact(
    chunks_of_r: Callable[[], Iterable[tuple[NDArray[np.float64], NDArray | None]]],
    accs: Sequence[_BitsAccumulator],
    total: float,
) -> list[float]:
    """Pass 2 and on: the exact KS statistic of every bit width, in memory bounded by
    :data:`GATHER_LIMIT` gathered values and :data:`SPLIT_BINS` sub-bins whatever the tensor
    (:class:`_KSRefinement`)."""
    states = [_KSRefinement(acc, total) for acc in accs]
    work = _Work()
    while True:
        active = [st for st in states if not st.done]
        if not active:
            break
        gather_budget, split_budget, taking = GATHER_LIMIT, SPLIT_BINS, []
        for st in active:
            gather_budget, split_budget, takes_part = st.plan(gather_budget, split_budget, first=not taking)
            if takes_part:
                st.start_pass()
                taking.append(st)
        active = taking
        for r, weights in chunks_of_r():
            for st in active:
                s, n, tmp, _b = work.views(r.size)
                np.multiply(r, st.scale, out=s)  # as rounding_errors and _ks_bin, in reused buffers
                np.rint(s, out=n)
                n -= s
                np.add(n, 0.5, out=tmp)
                tmp *= _KS_SCALE
                st.add(n, weights, tmp)
        for st in active:
            st.finish_pass()
    return [st.exact for st in states]
