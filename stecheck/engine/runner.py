"""The simulation engine: a grid of cells -> chunked, seeded, threaded runs -> records.

For each input the samples are drawn chunk by chunk (memory independent of the sample count); a chunk
serves every bit width and rounding of that input. Chunks run on a thread pool and are merged in chunk
order, so records are byte-identical whatever the number of threads.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from contextlib import closing
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Final, Iterator

import numpy as np
from numpy.typing import NDArray

from stecheck.config import RunConfig
from stecheck.core.distributions import InputSpec, parse_input
from stecheck.core.estimators import EXACT_DEVIATION_SAMPLES, CellAccumulator, OrderedSums, make_plans
from stecheck.core.exact import MAX_CELLS, exact_error_moments, exact_fd_table
from stecheck.core.fastscan import SUB
from stecheck.core import pcg64
from stecheck.core.kernel import accumulate_chunk, scans_fused
from stecheck.core.quantize import DETERMINISTIC_ROUNDINGS, levels
from stecheck.engine.cellrecord import cell_record
from stecheck.engine.ordered import OrderedFold
from stecheck.engine.quantized import fixed_quantizers, quantizer_cells, quantizer_records
from stecheck.engine.sampling import (
    CHUNK_SIZE, NOISE, FusedDraw, chunk_buffer, chunk_plan, chunk_rng, draw_chunk, fused_draw,
)
from stecheck.errors import ConfigError
from stecheck.records import Record, provenance
from stecheck.seeds import SIMULATE_SEED

if TYPE_CHECKING:
    from stecheck.engine.cluster import Cluster

__all__ = ["RunResult", "exact_note", "monte_carlo", "run", "simulate", "total_samples"]

Progress = Callable[[int], None]
CellKey = tuple[int, str]

#: Most chunks per cluster task: a task costs Dask a few milliseconds of CPU time and sends back one set of
#: histogram tables (about 170 kB per cell packed, whatever its number of chunks), so fewer, longer tasks
#: waste less; a task of 24 chunks is about half a second of work at k = 1..8.
CHUNKS_PER_TASK: Final = 24
#: Fewest chunks per cluster task (but an input's last): the tasks are cut smaller as a run nears its end
#: (guided self-scheduling: each takes at most the chunks left over the number of workers), so that no worker
#: waits long for another's last task, but not so small that their cost outweighs their work.
MIN_CHUNKS_PER_TASK: Final = 4
#: Chunks per task of the chain of merge tasks (:func:`_cluster_tasks`), which keeps every chunk's tables.
CHAIN_CHUNKS_PER_TASK: Final = 8


@dataclass(frozen=True)
class RunResult:
    """Records (one per input, quantizer, k, rounding, scheme, h) and provenance of a run."""

    config: RunConfig
    records: list[Record]
    meta: dict[str, Any]


def total_samples(config: RunConfig) -> int:
    """Samples the Monte Carlo part will draw (the progress bar's total)."""
    if config.method == "exact":
        return 0
    passes = int(bool(dorefa_bits(config))) + int(bool(fixed_quantizers(config.quantizers)))
    return passes * sum(chunk_plan(parse_input(spec), config.samples).samples for spec in config.inputs)


def dorefa_bits(config: RunConfig) -> tuple[int, ...]:
    """Bit widths of the DoReFa cells: every ``bits`` for a bare ``dorefa`` quantizer, plus each ``dorefa(k)``."""
    widths: set[int] = set()
    for spec in config.quantizers:
        if spec == "dorefa":
            widths.update(int(k) for k in config.bits)
        elif spec.startswith("dorefa("):
            widths.add(int(spec[len("dorefa("):-1]))
    return tuple(sorted(widths))


def _chunk_task(
    config: RunConfig, inp: InputSpec, seed: int, index: int, length: int, fast: bool,
    into: dict[CellKey, CellAccumulator] | None = None, keep: bool = False,
) -> dict[CellKey, CellAccumulator]:
    """All cells of one input on one chunk: new accumulators, or those of ``into`` with the chunk added
    (the same sums as merging new ones into them, see :func:`stecheck.core.kernel.accumulate_chunk`). With
    ``keep``, new accumulators of the fused scan keep the chunk's packed histogram words until merged.

    With ``fast``, a uniform or normal input is drawn by the compiled code into this thread's reused buffer
    (:func:`stecheck.engine.sampling.fused_draw`): by the first cell's scan as it goes when that cell takes
    the fused pass, else in one compiled fill; later cells read the buffer. The numbers are numpy's.
    """
    needs_noise = any(r not in DETERMINISTIC_ROUNDINGS for r in config.roundings)
    noise = None
    if needs_noise:
        noise = chunk_buffer("noise", length)
        chunk_rng(seed, inp, index, NOISE).random(out=noise)
    atoms = inp.has_atoms
    out: dict[CellKey, CellAccumulator] = {}
    x: NDArray[np.float64] | None = None
    pending: FusedDraw | None = None  # the draws of x, not made yet
    # cells that read the same draws: one per (k, rounding), or per rounding when each k has its own stream
    readers = len(config.roundings) * (1 if inp.dist.depends_on_bits else len(config.bits))
    for k in config.bits:
        if x is None or inp.dist.depends_on_bits:
            fused = fused_draw(seed, inp, index, k) if fast else None
            if fused is None:
                x, pending = draw_chunk(seed, inp, index, length, k), None
            elif readers == 1 and scans_fused(config.roundings[0], inp.path == "clip", atoms):
                # the scan is the draws' only reader: it keeps them in a small scratch, not in a chunk-long buffer
                x, pending = chunk_buffer("draw", SUB), fused
            else:
                x, pending = chunk_buffer("draw", length), fused
        scale = levels(k)
        plans = make_plans(config.schemes, config.steps, scale)
        for rounding in config.roundings:
            clip = inp.path == "clip"
            draw = None
            if pending is not None:
                if scans_fused(rounding, clip, atoms):
                    draw = pending
                else:
                    words, kind, loc, spread = pending
                    pcg64.fill(words, kind, loc, spread, x)
                pending = None
            acc = None if into is None else into[(k, rounding)]
            out[(k, rounding)] = accumulate_chunk(x, scale, rounding, clip, plans, noise, fast, direct=atoms, draw=draw,
                                                  into=acc, samples=length if draw is not None else None, keep=keep)
    return out


def _chunk_range_part(
    config: RunConfig, inp: InputSpec, seed: int, first: int, lengths: tuple[int, ...], fast: bool
) -> tuple[dict[CellKey, CellAccumulator], dict[CellKey, OrderedSums]]:
    """Chunks ``first, first + 1, ...`` of one input added into one set of accumulators, as one local thread adds
    them (one cluster task): ``(accumulators, ordered)``, where ``ordered`` holds per cell the chunks'
    :class:`~stecheck.core.estimators.OrderedSums`, each taken out of the accumulators after its chunk, stacked
    (a field's first axis is the chunk: a few arrays to send, not a few per chunk).

    What stays in the accumulators (counts, histograms, deviation sums) adds up the same in any grouping
    while a bin holds at most :data:`~stecheck.core.estimators.EXACT_DEVIATION_SAMPLES` samples
    (:meth:`~stecheck.core.estimators.CellAccumulator.merge_counts`); :func:`_fold_part` merges the ordered
    sums chunk by chunk, so a task sends back one set of tables, not one per chunk.
    """
    accs: dict[CellKey, CellAccumulator] | None = None
    chunks: list[dict[CellKey, OrderedSums]] = []
    for i, length in enumerate(lengths):
        accs = _chunk_task(config, inp, seed, first + i, length, fast, accs)
        chunks.append({key: acc.take_ordered() for key, acc in accs.items()})
    assert accs is not None
    ordered = {
        key: OrderedSums(np.stack([c[key].power for c in chunks]), np.array([c[key].lowest for c in chunks]),
                         np.array([c[key].highest for c in chunks]), np.stack([c[key].fourier for c in chunks]))
        for key in accs
    }
    return accs, ordered


def _fold_part(
    total: dict[CellKey, CellAccumulator] | None,
    part: tuple[dict[CellKey, CellAccumulator], dict[CellKey, OrderedSums]],
) -> dict[CellKey, CellAccumulator]:
    """``total`` with one :func:`_chunk_range_part` merged in: its counts and tables at once, its chunks' ordered
    sums one by one in chunk order. With the parts taken in chunk order, every floating-point sum is then the
    one of :func:`monte_carlo` on one thread, bit for bit: there, too, each running sum starts as a new
    accumulator's and takes each chunk's total in one addition (:func:`stecheck.core.kernel.accumulate_chunk`)."""
    accs, ordered = part
    if total is None:
        total = accs  # its ordered sums are a new accumulator's (reset by take_ordered)
    else:
        for key, acc in accs.items():
            total[key].merge_counts(acc)
            acc.release()  # its tables take the next part's (see CellAccumulator.__setstate__)
    for key, sums in ordered.items():
        acc = total[key]
        for i in range(sums.lowest.size):  # chunk by chunk, each sum as it was (a float64 round-trips exactly)
            acc.merge_ordered(OrderedSums(sums.power[i], float(sums.lowest[i]), float(sums.highest[i]), sums.fourier[i]))
    return total


def _chunk_range_task(
    config: RunConfig, inp: InputSpec, seed: int, first: int, lengths: tuple[int, ...], fast: bool
) -> list[dict[CellKey, CellAccumulator]]:
    """Chunks ``first, first + 1, ...`` of one input (one cluster task), each with its own accumulators, unmerged:
    :func:`_fold_chunks` merges them in chunk order, as one local thread does."""
    return [_chunk_task(config, inp, seed, first + i, length, fast) for i, length in enumerate(lengths)]


def _fold_chunks(
    total: dict[CellKey, CellAccumulator] | None, parts: list[dict[CellKey, CellAccumulator]]
) -> dict[CellKey, CellAccumulator]:
    """``total`` with ``parts`` merged into it one by one, in order, as :func:`monte_carlo` merges chunks (one
    link of a cluster's chain). Works on copies: Dask may keep both arguments to rerun a task."""
    out = None if total is None else copy.deepcopy(total)
    for part in parts:
        if out is None:
            out = copy.deepcopy(part)
        else:
            for key, acc in part.items():
                out[key].merge(acc)
    assert out is not None
    return out


def _cluster_tasks(
    config: RunConfig, inp: InputSpec, seed: int, fast: bool, workers: int
) -> list[tuple[tuple[Any, ...], int]]:
    """``(args of _chunk_range_task, samples)`` per task of one input: up to :data:`CHAIN_CHUNKS_PER_TASK` chunks each."""
    plan = chunk_plan(inp, config.samples)
    group = max(1, min(CHAIN_CHUNKS_PER_TASK, plan.count // (2 * workers)))
    out = []
    for first in range(0, plan.count, group):
        lengths = tuple(plan.length(i) for i in range(first, min(first + group, plan.count)))
        out.append(((config, inp, seed, first, lengths, fast), sum(lengths)))
    return out


def _guided_tasks(
    config: RunConfig, inputs: list[InputSpec], seed: int, fast: bool, workers: int
) -> list[tuple[int, tuple[Any, ...], int]]:
    """``(input index, args of _chunk_range_part, samples)`` of every task of a run, in order: consecutive chunks
    of one input, from :data:`MIN_CHUNKS_PER_TASK` to :data:`CHUNKS_PER_TASK` of them and at most the chunks
    left in the run over ``workers``."""
    plans = [chunk_plan(inp, config.samples) for inp in inputs]
    left = sum(plan.count for plan in plans)
    out = []
    for index, (inp, plan) in enumerate(zip(inputs, plans)):
        first = 0
        while first < plan.count:
            size = min(max(MIN_CHUNKS_PER_TASK, min(CHUNKS_PER_TASK, left // workers)), plan.count - first)
            lengths = tuple(plan.length(i) for i in range(first, first + size))
            out.append((index, (config, inp, seed, first, lengths, fast), sum(lengths)))
            first += size
            left -= size
    return out


def _cluster_runs(
    config: RunConfig, inputs: list[InputSpec], seed: int, fast: bool, cluster: Cluster, progress: Progress | None = None
) -> Iterator[dict[CellKey, CellAccumulator]]:
    """The merged accumulators of each of ``inputs`` in turn, from chunks run as tasks on ``cluster``.

    While every input draws at most :data:`~stecheck.core.estimators.EXACT_DEVIATION_SAMPLES` samples, each
    task adds its chunks up itself (:func:`_chunk_range_part`) and the client merges the tasks in order as
    they come (:func:`_fold_part`): one input's tasks follow the previous input's without a pause. Beyond,
    the deviation sums may round, and only the chunk-by-chunk order of one thread gives its sums: the chunks
    are merged one by one by a chain of merge tasks on the workers (:meth:`~stecheck.engine.cluster.Cluster.folds`).
    Either way the records are those of one local thread, bit for bit.
    """
    if any(chunk_plan(inp, config.samples).samples > EXACT_DEVIATION_SAMPLES for inp in inputs):
        chains = [_cluster_tasks(config, inp, seed, fast, cluster.workers) for inp in inputs]
        yield from cluster.folds(_chunk_range_task, _fold_chunks, chains, progress)
        return
    tasks = _guided_tasks(config, inputs, seed, fast, cluster.workers)
    ends = {index: position for position, (index, _, _) in enumerate(tasks)}  # each input's last task
    merged: dict[CellKey, CellAccumulator] | None = None
    with closing(cluster.map(_chunk_range_part, [args for _, args, _ in tasks])) as parts:
        for position, part in enumerate(parts):
            index, _, samples = tasks[position]
            merged = _fold_part(merged, part)
            if progress is not None:
                progress(samples)
            if ends[index] == position:
                yield merged
                merged = None


def monte_carlo(
    config: RunConfig, inp: InputSpec, seed: int, threads: int = 1, progress: Progress | None = None, fast: bool = True,
    cluster: Cluster | None = None,
) -> dict[CellKey, CellAccumulator]:
    """The merged accumulators ``(k, rounding) -> CellAccumulator`` of one input (``config`` validated).

    One thread adds each chunk into the running accumulators; more threads merge the chunks' own accumulators
    in chunk order, with at most ``2 * threads`` chunks in flight (the same sums, bit for bit), each merged by
    the worker that finishes it or the one before it (:class:`~stecheck.engine.ordered.OrderedFold`). A chunk's
    accumulator of the fused scan keeps only its packed histogram words over the bins its errors reach
    (:meth:`~stecheck.core.estimators.CellAccumulator.scanned` with ``keep``), unpacked by the merge: about a
    quarter of a megabyte per cell touched instead of a megabyte of tables written by the worker and read
    back by the merge (with eight cells and four chunks in flight, more than the shared L3 cache). With a
    ``cluster``, a few consecutive chunks are one task (a pure function of ``(config, input, seed, chunks)``)
    that adds them up as one thread does and sends back one set of tables with each chunk's floating-point
    sums, which are merged in chunk order (:func:`_cluster_runs`): the same sequence of floating-point
    operations as with one local thread.
    """
    plan = chunk_plan(inp, config.samples)
    merged: dict[CellKey, CellAccumulator] | None = None

    if cluster is not None:
        [merged] = _cluster_runs(config, [inp], seed, fast, cluster, progress)
    elif threads <= 1:  # each chunk added into the running accumulators: no per-chunk tables, no merges
        for index in range(plan.count):
            merged = _chunk_task(config, inp, seed, index, plan.length(index), fast, merged)
            if progress is not None:
                progress(plan.length(index))
    else:
        fold: OrderedFold[CellKey] = OrderedFold()

        def task(index: int) -> None:
            fold.add(index, _chunk_task(config, inp, seed, index, plan.length(index), fast, None, True))

        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending: deque[tuple[Future[None], int]] = deque()
            for index in range(plan.count):
                pending.append((pool.submit(task, index), plan.length(index)))
                if len(pending) >= 2 * threads:
                    future, length = pending.popleft()
                    future.result()
                    if progress is not None:
                        progress(length)
            while pending:
                future, length = pending.popleft()
                future.result()
                if progress is not None:
                    progress(length)
        merged = fold.total(plan.count)
        for acc in merged.values():
            acc.settle()  # a single chunk's accumulators were never merged into
    assert merged is not None
    return merged


def _records_for(
    config: RunConfig, inp: InputSpec, seed: int, mc: dict[CellKey, CellAccumulator] | None
) -> list[Record]:
    want_exact = config.method in ("exact", "both")
    records: list[Record] = []
    for k in config.bits:
        for rounding in config.roundings:
            acc = None if mc is None else mc[(k, rounding)]
            err = None if acc is None else acc.error_summary()
            moments = exact_error_moments(inp, k, rounding) if want_exact else None
            fd_plans = make_plans(config.schemes, config.steps, levels(k))
            table = exact_fd_table(inp, k, rounding, [(p.scheme, p.h) for p in fd_plans]) if want_exact else None
            for index, fd_plan in enumerate(fd_plans):
                exact_fd, exact_zero = (None, None) if table is None else table[index]
                slope = None if acc is None else acc.slope_summary(index)
                note = exact_note(inp, k, rounding, fd_plan.lh, moments, exact_fd, exact_zero) if want_exact else None
                rec = cell_record(inp, f"dorefa({k})", k, rounding, fd_plan, seed, err, slope, moments, exact_fd,
                                  exact_zero, note)
                records.append(rec)
    return records


def exact_note(
    inp: InputSpec, k: int, rounding: str, lh: float, moments: object, exact_fd: float | None, exact_zero: float | None
) -> str | None:
    """Why the exact fields of one record that are null are null (None when every one has a value)."""
    if not inp.has_exact:
        return "no exact reference for DoReFa weights: the per-tensor max is data-dependent"
    reasons = []
    if moments is None:
        reasons.append(
            f"E[n], Var(n), Fourier: more than {MAX_CELLS} quadrature panels at k={k} (2^k times the input's "
            "spread, or its 1e-15 tails, too wide) and no Fourier series (clipped input, a family without a "
            "closed-form characteristic function here, or a series tail above 1e-13)"
        )
    if exact_fd is None:
        reasons.append(
            f"E[D_h]: more than {MAX_CELLS} thresholds within the input's 1e-15 tails at k={k} and no Fourier series"
        )
    if exact_zero is None and exact_fd is not None:
        reasons.append(f"P(D_h = 0): not computed for {rounding} rounding of clipped inputs at L h = {lh:.6g} > 1")
    return "; ".join(reasons) or None


def run(
    config: RunConfig, threads: int = 1, progress: Progress | None = None, fast: bool = True, cluster: Cluster | None = None
) -> RunResult:
    """Run every cell of ``config``; see the module docstring.

    Parameters
    ----------
    config : RunConfig
        The grid; validated here. A missing seed is drawn from fresh OS entropy and recorded.
    threads : int
        Worker threads for the Monte Carlo chunks (results do not depend on it).
    progress : callable, optional
        Called with the number of samples finished after each chunk.
    fast : bool
        The compiled one-pass scan (default) or the numpy reference path (``False``); see
        :func:`stecheck.core.kernel.accumulate_chunk`. Integer statistics agree exactly, Fourier magnitudes
        within :func:`stecheck.core.fastscan.binned_fourier_bound`.
    cluster : Cluster, optional
        Run the chunks as tasks on this Dask cluster instead of local threads (records are identical).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"thread count {threads!r} must be a positive integer")
    config = config.validated()
    seed = config.seed if config.seed is not None else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    config = RunConfig(**{**config.__dict__, "seed": seed})
    started = time.perf_counter()
    records: list[Record] = []
    inputs = [parse_input(spec) for spec in config.inputs]
    dorefa = RunConfig(**{**config.__dict__, "bits": dorefa_bits(config)})
    others = fixed_quantizers(config.quantizers)
    chained = cluster is not None and config.method != "exact" and bool(dorefa.bits)
    # every input's DoReFa tasks in one stream: no wait between inputs (other quantizers run here)
    folded = _cluster_runs(dorefa, inputs, seed, fast, cluster, progress) if chained and cluster is not None else None
    try:
        for inp in inputs:
            if dorefa.bits:
                if config.method == "exact":
                    mc = None
                elif folded is not None:
                    mc = next(folded)
                else:
                    mc = monte_carlo(dorefa, inp, seed, threads, progress, fast, cluster)
                records.extend(_records_for(dorefa, inp, seed, mc))
            if others:
                accs = None if config.method == "exact" else quantizer_cells(
                    inp, others, config.schemes, config.steps, config.samples, seed, threads, progress)
                for index, quantizer in enumerate(others):
                    records.extend(quantizer_records(inp, quantizer, config.schemes, config.steps, seed,
                                                     None if accs is None else accs[index], config.method in ("exact", "both")))
    finally:
        if folded is not None:  # an interrupt or an error: the tasks not merged yet are cancelled
            folded.close()
    wall = time.perf_counter() - started
    extra = {} if cluster is None else {"cluster": cluster.describe()}
    meta = provenance("simulate", config.as_dict(), seed=seed, wall_time_s=wall, threads=threads, chunk_size=CHUNK_SIZE,
                      kernel="compiled scan" if fast else "numpy reference", **extra)
    meta["seed"] = str(seed)
    return RunResult(config, records, meta)


def simulate(
    inputs: str | list[str],
    bits: int | str | list[int | str] = "1-8",
    h: float | list[float] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5),  # type: ignore[assignment]
    fd: str | list[str] = ("forward", "central"),  # type: ignore[assignment]
    rounding: str | list[str] = "half-even",
    samples: int = 1_000_000,
    seed: int | str | None = SIMULATE_SEED,
    method: str = "both",
    threads: int = 1,
    cluster: str | Cluster | None = None,
    quantizer: str | list[str] = "dorefa",
) -> list[Record]:
    """Notebook entry point: run a grid and return its records (see :func:`run`).

    The default seed is the default experiment's (:data:`stecheck.seeds.SIMULATE_SEED`), as for
    ``stecheck simulate --dist ...``; ``seed="random"`` draws fresh OS entropy (recorded in the records).
    ``cluster`` runs the chunks on Dask: an address (``"local:2"``, ``"tcp://HOST:8786"``; see
    :func:`stecheck.engine.cluster.parse_cluster`), opened and closed here, or an open
    :class:`~stecheck.engine.cluster.Cluster`; the records are the same as without it.

    Examples
    --------
    >>> recs = simulate("normal(0.5,0.15)", bits=1, h=1e-3, fd="forward", samples=10_000, seed=1)
    >>> round(recs[0]["exact_mean_fd"], 3)
    2.66
    """

    def seq(value: Any) -> tuple[Any, ...]:
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)

    config = RunConfig(
        inputs=seq(inputs), bits=seq(bits), steps=seq(h), schemes=seq(fd), roundings=seq(rounding),
        samples=samples, seed=seed, method=method, quantizers=seq(quantizer),
    )
    if isinstance(cluster, str):
        from stecheck.engine.cluster import Cluster

        with Cluster(cluster) as opened:
            return run(config, threads=threads, cluster=opened).records
    return run(config, threads=threads, cluster=cluster).records
