"""Cells of the quantizers other than DoReFa on parametric inputs: fixed grids, Monte Carlo and exact.

One cell per (input, quantizer, scheme x h): the chunks of the input's own streams (the draws the DoReFa
cells see, so the two share random numbers) go through a numpy pass per chunk (the compiled one-pass scan
of :mod:`stecheck.core.fastscan` is DoReFa's only): the rounding error ``n`` in units of the local step
fills the error statistics, and each finite difference counts the level change ``q(x + hi) - q(x + lo)``
directly, in units of the grid's finest spacing (an integer: every level is a multiple of it), so
``E[D_h] = E[count] unit / h``. The scale is stated (a fixed grid), hence held fixed by construction.
Exact fields come from :mod:`stecheck.core.quantizers.exact`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.core.distributions import InputSpec
from stecheck.core.estimators import NO_CROSSING_LEVEL, CellAccumulator, FDPlan, make_plans
from stecheck.core.exact import MAX_CELLS, fd_window
from stecheck.core.quantizers import FixedGrid, Quantizer, code_error, parse_quantizer
from stecheck.core.quantizers.exact import grid_error_moments, grid_fd_table
from stecheck.engine.cellrecord import cell_record
from stecheck.engine.sampling import chunk_plan, draw_chunk
from stecheck.records import Record

__all__ = ["fixed_quantizers", "grid_chunk", "quantizer_cells", "quantizer_records"]

Progress = Callable[[int], None]


def fixed_quantizers(specs: Sequence[str]) -> list[Quantizer]:
    """The quantizers of ``specs`` other than DoReFa (validated configs hold only fixed ones)."""
    return [q for q in map(parse_quantizer, specs) if q.kind != "dorefa"]


def _plans(grid: FixedGrid, schemes: Sequence[str], steps: Sequence[float]) -> list[FDPlan]:
    """Plans whose ``scale`` is ``1 / unit``: a count of units over ``scale h`` is ``D_h``."""
    return make_plans(schemes, steps, 1.0 / grid.unit)  # type: ignore[arg-type]


def grid_chunk(x: NDArray[np.float64], grid: FixedGrid, plans: Sequence[FDPlan]) -> CellAccumulator:
    """Statistics of one chunk of one fixed-grid cell (numpy; see the module docstring)."""
    acc = CellAccumulator(list(plans))
    y = x / grid.sigma + grid.zero
    acc.add_error(code_error(grid.base, y))
    counts = []
    for plan in plans:
        lo, hi = fd_window(plan.scheme, plan.h)
        up = grid.base.round((x + hi) / grid.sigma + grid.zero)
        down = grid.base.round((x + lo) / grid.sigma + grid.zero)
        counts.append(np.rint((up - down) / grid.base.unit).astype(np.int64))
    acc.add_crossings(counts, int(np.count_nonzero((y >= grid.base.lo) & (y <= grid.base.hi))))
    return acc


def _chunks(inp: InputSpec, samples: int) -> Iterator[tuple[int, int]]:
    plan = chunk_plan(inp, samples)
    for index in range(plan.count):
        yield index, plan.length(index)


def quantizer_cells(
    inp: InputSpec,
    quantizers: Sequence[Quantizer],
    schemes: Sequence[str],
    steps: Sequence[float],
    samples: int,
    seed: int,
    threads: int = 1,
    progress: Progress | None = None,
) -> list[CellAccumulator]:
    """Merged accumulators, one per quantizer, over ``samples`` draws of ``inp`` (merged in chunk order)."""
    grids = [q.grid() for q in quantizers]
    assert all(g is not None for g in grids)
    plans = [_plans(g, schemes, steps) for g in grids]  # type: ignore[arg-type]

    def task(item: tuple[int, int]) -> tuple[list[CellAccumulator], int]:
        index, length = item
        x = draw_chunk(seed, inp, index, length, 1)  # grid-independent input: the stream has no k
        return [grid_chunk(x, g, p) for g, p in zip(grids, plans)], length  # type: ignore[arg-type]

    merged: list[CellAccumulator] | None = None
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        items = list(_chunks(inp, samples))
        for start in range(0, len(items), 2 * max(threads, 1)):  # at most 2 * threads chunks in flight
            for parts, length in pool.map(task, items[start : start + 2 * max(threads, 1)]):
                if merged is None:
                    merged = parts
                else:
                    for acc, part in zip(merged, parts):
                        acc.merge(part)
                        part.release()
                if progress is not None:
                    progress(length)
    assert merged is not None
    return merged


def _upper(grid: FixedGrid, plan: FDPlan, count: int) -> float:
    """One-sided 95% bound on ``E[D_h]`` when no sample moved a level: ``P(move) <= -ln(0.05) / N`` and a move
    over a window of ``h`` is at most ``h + max_gap`` (both ends round by at most half a gap)."""
    most = math.floor((plan.h + grid.max_gap) / grid.unit + 1e-9) * grid.unit
    return most / plan.h * -math.log1p(-NO_CROSSING_LEVEL) / count


def quantizer_records(
    inp: InputSpec, quantizer: Quantizer, schemes: Sequence[str], steps: Sequence[float], seed: int,
    acc: CellAccumulator | None, want_exact: bool,
) -> list[Record]:
    """The records of one (input, quantizer) cell, one per (scheme, h), fields as DoReFa's."""
    grid = quantizer.grid()
    assert grid is not None
    plans = _plans(grid, schemes, steps)
    err = None if acc is None else acc.error_summary()
    moments = grid_error_moments(inp, grid) if want_exact else None
    table = grid_fd_table(inp, grid, [(p.scheme, p.h) for p in plans]) if want_exact else None
    records: list[Record] = []
    for index, plan in enumerate(plans):
        slope = None if acc is None else acc.slope_summary(index)
        upper = None if slope is None or slope.mean_fd_upper is None else _upper(grid, plan, acc.count)  # type: ignore[union-attr]
        exact_fd, exact_zero = (None, None) if table is None else table[index]
        note = None
        if want_exact and (moments is None or exact_fd is None):
            note = f"more than {MAX_CELLS} levels of {quantizer.spec} within the input's 1e-15 tails"
        records.append(cell_record(inp, quantizer.spec, quantizer.bits, "half-even", plan, seed, err, slope, moments,
                                   exact_fd, exact_zero, note, mean_fd_upper=upper))
    return records
