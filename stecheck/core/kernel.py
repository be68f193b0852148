"""One chunk of inputs -> one cell's accumulator (the per-sample work of the engine).

For the unclipped quantizer the rounding error ``n`` determines every finite-difference count
(identity A). Stochastic rounding and dither round ``v = s + V`` instead of ``s``
(``V = U - 1/2``, ``U ~ Uniform[0, 1)``: ``floor(s + U)`` is half-up rounding of ``v``), so their counts
follow from the error of ``v`` in the same way. Clipped inputs count level changes of the clipped
quantizer directly.

By default the unclipped deterministic cells -- the common case -- take one compiled pass over the
inputs (:mod:`stecheck.core.fastscan`: rounding, moments, histogram, Fourier deviations and crossing counts
fused, nothing materialised; uniform and normal inputs can be drawn in that pass too); the other cells
materialise their errors with numpy and scan those.
``fast=False`` runs the numpy reference path throughout.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from stecheck.core.estimators import CellAccumulator, Draw, FDPlan, crossing_counts
from stecheck.core.fastscan import MODE_ERRORS, MODE_HALF_EVEN, MODE_HALF_UP
from stecheck.core.quantize import DETERMINISTIC_ROUNDINGS, round_scaled

__all__ = ["accumulate_chunk", "rounded_levels", "scans_fused"]

_SCAN_MODES = {"half-even": MODE_HALF_EVEN, "half-up": MODE_HALF_UP}


def scans_fused(rounding: str, clip: bool, direct: bool) -> bool:
    """True when :func:`accumulate_chunk` (``fast``) takes the one fused pass, which can also draw its inputs."""
    return not direct and not clip and rounding in DETERMINISTIC_ROUNDINGS


def rounded_levels(
    s: NDArray[np.float64], rounding: str, noise: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(m, n_v)``: integer levels of scaled inputs ``s`` and the rounding error of the rounded point.

    Deterministic rounding rounds ``v = s``; stochastic rounding ``m = floor(s + U)`` is half-up
    rounding of ``v = s + U - 1/2``; dither is half-even rounding of the same ``v``. ``n_v = m - v``.
    """
    if rounding in DETERMINISTIC_ROUNDINGS:
        m = round_scaled(s, rounding)
        return m, m - s
    assert noise is not None
    v = s + (noise - 0.5)
    m = np.floor(v + 0.5) if rounding == "stochastic" else np.rint(v)
    return m, m - v


def accumulate_chunk(
    x: NDArray[np.float64],
    scale: int,
    rounding: str,
    clip: bool,
    plans: list[FDPlan],
    noise: NDArray[np.float64] | None = None,
    fast: bool = True,
    direct: bool = False,
    draw: Draw | None = None,
    into: CellAccumulator | None = None,
    samples: int | None = None,
    keep: bool = False,
) -> CellAccumulator:
    """Statistics of one chunk of one cell (a new accumulator, or ``into`` with the chunk added).

    Parameters
    ----------
    x : ndarray
        Inputs in the variable derivatives are taken in (pre-clip activations when ``clip``).
    scale : int
        ``L = 2^k - 1``.
    rounding : str
        One of ``half-even``, ``half-up``, ``stochastic``, ``dither``.
    clip : bool
        Quantize ``clip(x, 0, 1)``; the STE value is then ``1{0 <= x <= 1}``.
    plans : list of FDPlan
        Finite differences to estimate.
    noise : ndarray, optional
        ``U ~ Uniform[0, 1)`` per sample, for stochastic rounding and dither.
    fast : bool
        Use the compiled one-pass scan (:mod:`stecheck.core.fastscan`): fused with the rounding for unclipped
        deterministic rounding, for the error statistics otherwise. False selects the numpy reference
        path; the two agree exactly on every integer statistic (tests/test_fastpaths.py).
    direct : bool
        Count level changes by evaluating the quantizer at both ends of every window,
        ``round(L (x + hi)) - round(L (x + lo))``, instead of through identity A. Identity A is exact except
        when a window end sits exactly on a rounding tie, which has probability 0 for continuous inputs but
        not for point masses; the engine selects this path for inputs with atoms.
    draw : tuple, optional
        ``(PCG64 state words, kind, loc, spread)``: ``x`` is an output buffer, filled with ``loc + spread *
        draw_i`` by the compiled scan as it goes (:func:`stecheck.core.fastscan.draw_scan`). Only for the fused
        path (:func:`scans_fused`). With ``samples`` larger than ``x``, ``x`` is scratch for the scan (at least
        :data:`stecheck.core.fastscan.SUB` long) and the ``samples`` draws are not kept.
    into : CellAccumulator, optional
        Add the chunk to this accumulator (same ``plans``) instead of a new one. The sums then equal a new
        accumulator's merged into ``into``, bit for bit: each running sum takes the chunk's total in one
        addition either way.
    samples : int, optional
        Samples drawn through a scratch ``x`` (see ``draw``).
    keep : bool
        A new accumulator of the fused scan keeps the chunk's packed histogram words instead of unpacking
        them into tables of its own (:meth:`stecheck.core.estimators.CellAccumulator.scanned`): for chunks
        merged later, as the threaded engine does.
    """
    if draw is not None and not (fast and scans_fused(rounding, clip, direct)):
        raise ValueError("only the fused scan draws its own inputs")
    if samples is not None and draw is None and samples != x.size:
        raise ValueError("a sample count other than the length of x needs drawn inputs")
    if direct:
        return _direct_chunk(x, scale, rounding, clip, plans, noise, into)
    if fast and scans_fused(rounding, clip, direct):
        # one fused pass, nothing materialised
        if into is None:
            return CellAccumulator.scanned(plans, x, scale, _SCAN_MODES[rounding], crossings=True, draw=draw,
                                           samples=samples, keep=keep)
        into.add_scan(x, scale, _SCAN_MODES[rounding], crossings=True, draw=draw, samples=samples)
        return into
    acc = CellAccumulator(plans) if into is None else into
    s = scale * x
    m, n_v = rounded_levels(s, rounding, noise)
    add_error = (lambda e: acc.add_scan(e, scale, MODE_ERRORS, crossings=False)) if fast else acc.add_error
    if not clip:
        add_error(m - s)
        acc.add_crossings_from_n(n_v)
        return acc
    m_in = np.clip(m, 0, scale)
    add_error(m_in - np.clip(s, 0.0, float(scale)))
    counts = []
    for plan in plans:
        if plan.scheme == "forward":
            upper, lower = m + crossing_counts(n_v, plan), m_in
        else:
            half = FDPlan("forward", 0.5 * plan.h, scale)
            up = np.floor(half.lh + 0.5 - n_v)
            down = np.floor(half.lh - 0.5 + n_v) + 1
            upper, lower = m + up, np.clip(m - down, 0, scale)
        counts.append((np.clip(upper, 0, scale) - lower).astype(np.int64))
    acc.add_crossings(counts, int(np.count_nonzero((x >= 0.0) & (x <= 1.0))))
    return acc


def _direct_chunk(
    x: NDArray[np.float64],
    scale: int,
    rounding: str,
    clip: bool,
    plans: list[FDPlan],
    noise: NDArray[np.float64] | None,
    into: CellAccumulator | None = None,
) -> CellAccumulator:
    """The plain evaluation of every statistic: ``q`` at ``x``, ``x + lo`` and ``x + hi`` for each plan."""

    def level(shift: float) -> NDArray[np.float64]:
        m, _ = rounded_levels(scale * (x + shift) if shift else scale * x, rounding, noise)
        return np.clip(m, 0, scale) if clip else m

    acc = CellAccumulator(plans) if into is None else into
    s = scale * x
    acc.add_error(level(0.0) - (np.clip(s, 0.0, float(scale)) if clip else s))
    counts = []
    for plan in plans:
        lo, hi = (0.0, plan.h) if plan.scheme == "forward" else (-0.5 * plan.h, 0.5 * plan.h)
        counts.append((level(hi) - level(lo)).astype(np.int64))
    ste = int(np.count_nonzero((x >= 0.0) & (x <= 1.0))) if clip else x.size
    acc.add_crossings(counts, ste)
    return acc
