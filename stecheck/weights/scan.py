"""Scan a source's tensors: select them, compute their exact statistics, and build the records.

One record per (tensor, k, h), then one aggregate record per (k, h) over the whole model (statistics
averaged with weights equal to tensor sizes). "The STE claim holds" for a tensor at (k, h) when
``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05``; each record carries the smallest scanned k at
which it holds for that tensor and h.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import re
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Final, Iterable, Iterator, Sequence

import numpy as np

from stecheck.core.quantizers import Quantizer, parse_quantizer
from stecheck.errors import ConfigError, StecheckError
from stecheck.records import Record
from stecheck.weights.quantized import QuantizedStatistics, quantized_statistics
from stecheck.weights.roles import DEFAULT_ROLES, ROLES
from stecheck.weights.stats import TRANSFORMS, TensorStatistics, tensor_statistics
from stecheck.weights.tensors import CHUNK_ELEMENTS, TensorRef, dtype_name

__all__ = ["WEIGHTS_FIELDS", "WEIGHTS_MD_COLUMNS", "TOLERANCE", "AGGREGATE", "MAX_THREADS", "BATCH_COST", "TENSOR_COST",
           "CLUSTER_BATCH_COST", "LOOKAHEAD_PER_THREAD", "lookahead", "Mapper", "select", "left_out", "scan", "claim_holds", "batches", "remote_statistics",
           "remote_tensors"]

#: ``mapper(fn, tasks)`` yields ``fn(*args)`` for each ``args`` of ``tasks``, in order (e.g.
#: :meth:`stecheck.engine.cluster.Cluster.map`).
Mapper = Callable[[Callable[..., Any], Iterable[tuple[Any, ...]]], Iterator[Any]]

#: Columns of a ``weights`` record, in order (the machine-readable contract).
WEIGHTS_FIELDS: Final = (
    "source", "kind", "tensor", "role", "shape", "dtype", "size", "nonfinite", "degenerate", "transform", "quantizer", "k", "h",
    "mean_n", "var_n", "var12_n", "p_n_zero", "ks_stat", "ks_pvalue", "fourier_abs", "mean_fd", "ste", "sqnr_db",
    "sqnr_uniform_db", "claim_holds", "smallest_k_holds", "share_holds",
)
WEIGHTS_MD_COLUMNS: Final = (
    ("tensor", "tensor"), ("role", "role"), ("shape", "shape"), ("quantizer", "quantizer"), ("k", "k"), ("h", "h"), ("mean_n", "E[n]"), ("var12_n", "12 Var(n)"),
    ("ks_stat", "KS"), ("mean_fd", "E[D_h]"), ("ste", "STE"), ("sqnr_db", "SQNR dB"),
    ("sqnr_uniform_db", "uniform-model dB"), ("smallest_k_holds", "claim holds from k"), ("share_holds", "share holding"),
)
TOLERANCE: Final = 0.05
AGGREGATE: Final = "(all tensors, size-weighted)"
#: Most threads a scan takes: each running thread holds one tensor's chunks and its own scratch buffers
#: (about 10 MB), and threads beyond the cores make no scan faster.
MAX_THREADS: Final = 256
#: The fixed cost of a tensor (extent pass, plans, KS by sorting, records), in elements of scan work: a
#: tensor costs ``size + TENSOR_COST`` when consecutive tensors are packed into batches.
TENSOR_COST: Final = 1 << 14
#: Work per thread task: consecutive tensors are batched until their cost reaches one chunk's worth, so a
#: model of thousands of small tensors pays the cost of a task (a future, a hand-off) per batch, not per
#: tensor; a larger tensor is a task of its own.
BATCH_COST: Final = CHUNK_ELEMENTS
#: Work per cluster task: a Dask task costs a few milliseconds of scheduling and a round trip, so batches
#: are 16 times larger (about 4M elements, a few hundred milliseconds of work at k = 1..8).
CLUSTER_BATCH_COST: Final = 16 * CHUNK_ELEMENTS
#: Most batches per thread :func:`scan` submits ahead of the one whose results it awaits (:func:`lookahead`).
LOOKAHEAD_PER_THREAD: Final = 64


def _compile(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    try:
        return [re.compile(p) for p in patterns]
    except re.error as exc:
        raise ConfigError(f"bad tensor pattern {exc.pattern!r}: {exc}") from None


def select(
    tensors: Sequence[TensorRef],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    all_tensors: bool = False,
    roles: Sequence[str] = DEFAULT_ROLES,
) -> list[TensorRef]:
    """Floating tensors whose role is in ``roles`` (every role with ``all_tensors``), filtered by regexes (``re.search``)."""
    inc, exc = _compile(include), _compile(exclude)
    chosen = [t for t in tensors if _why_left_out(t, inc, exc, all_tensors, roles) is None]
    if not chosen:
        present = sorted({t.role or "other" for t in tensors if t.floating}, key=ROLES.index)
        hint = f"floating tensors here have roles {', '.join(present)}: try --role or --all" if present else "try --all"
        raise StecheckError(f"no tensor is selected: the source has no floating tensor of role {','.join(roles)} matching the filters ({hint})")
    return chosen


def _why_left_out(t: TensorRef, inc: list[re.Pattern[str]], exc: list[re.Pattern[str]], all_tensors: bool, roles: Sequence[str]) -> str | None:
    """None for a selected tensor, else the reason: ``role``, ``name filter`` or ``not floating``."""
    if not all_tensors and (t.role or "other") not in roles:
        return "role"
    if (inc and not any(p.search(t.name) for p in inc)) or any(p.search(t.name) for p in exc):
        return "name filter"
    if not t.floating:
        return "not floating"
    return None


def left_out(
    tensors: Sequence[TensorRef],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    all_tensors: bool = False,
    roles: Sequence[str] = DEFAULT_ROLES,
) -> dict[str, Any]:
    """What a scan covers and what it leaves out, by role and reason (the ``left_out`` entry of meta.json).

    ``{"scanned": {"tensors", "elements"}, "total": {...}, "left_out": [{"role", "reason", "type", "tensors",
    "elements", "share_of_elements"}], "text": "left out: ..."}``; shares are of all elements of the source.
    """
    inc, exc = _compile(include), _compile(exclude)
    total = sum(t.size for t in tensors)
    groups: dict[tuple[str, str, str], list[int]] = {}
    scanned = [0, 0]
    for t in tensors:
        why = _why_left_out(t, inc, exc, all_tensors, roles)
        if why is None:
            scanned[0] += 1
            scanned[1] += t.size
            continue
        role = t.role or "other"
        kind = (t.stored or dtype_name(t.dtype)) if role == "quantized" or not t.floating else ""
        entry = groups.setdefault((role, why, kind), [0, 0])
        entry[0] += 1
        entry[1] += t.size
    order = sorted(groups, key=lambda g: (ROLES.index(g[0]) if g[0] in ROLES else len(ROLES), g[1], g[2]))
    rows = [
        {"role": role, "reason": why, "type": kind or None, "tensors": groups[(role, why, kind)][0],
         "elements": groups[(role, why, kind)][1],
         "share_of_elements": groups[(role, why, kind)][1] / total if total else 0.0}
        for role, why, kind in order
    ]
    return {"scanned": {"tensors": scanned[0], "elements": scanned[1]}, "total": {"tensors": len(tensors), "elements": total},
            "left_out": rows, "text": left_out_text(scanned, total, rows)}


def left_out_text(scanned: Sequence[int], total: int, rows: Sequence[dict[str, Any]]) -> str:
    """``scanned 25 tensors (13,500,000 elements, 93.1%); left out: 54 bias (0.3% of elements), ...``."""
    share = f", {100 * scanned[1] / total:.3g}%" if total else ""
    head = f"scanned {scanned[0]} tensors ({scanned[1]:,} elements{share})"
    if not rows:
        return head + "; nothing left out"
    items = []
    for r in rows:
        label = f"{r['tensors']} {r['role']}" + (f" {r['type']}" if r["type"] else "")
        if r["reason"] == "name filter":
            label += " by the name filters"
        items.append(f"{label} ({_percent(r['share_of_elements'])} of elements)")
    tail = ""
    if any(r["role"] == "quantized" for r in rows):
        tail = " -- this model is already quantized" + (
            "; --role quantized scans the dequantized values" if any(r["role"] == "quantized" and r["reason"] == "role" and r["type"] and not r["type"].startswith(("int", "uint")) for r in rows) else ""
        )
    return f"{head}; left out: {', '.join(items)}{tail}"


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{100 * share:.2g}%"


def claim_holds(mean_fd: float | None, var_n: float | None) -> bool | None:
    """``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05`` (None for a degenerate tensor)."""
    if mean_fd is None or var_n is None:
        return None
    return abs(mean_fd - 1.0) <= TOLERANCE and abs(12.0 * var_n - 1.0) <= TOLERANCE


def _tensor_records(label: str, tensor: TensorRef, st: TensorStatistics, bits: Sequence[int], steps: Sequence[float], transform: str) -> list[Record]:
    """One record per (k, h), every field of :data:`WEIGHTS_FIELDS` present and in order (None if n/a)."""
    base: Record = dict.fromkeys(WEIGHTS_FIELDS)
    base.update(
        source=label, kind="tensor", tensor=tensor.name, role=tensor.role or "other", shape=list(tensor.shape),
        dtype=tensor.stored or dtype_name(tensor.dtype), size=tensor.size, nonfinite=st.nonfinite, degenerate=st.degenerate,
        transform=transform, ste=1.0,
    )
    records = []
    shape = tensor.shape
    for k in bits:
        b = st.per_bits.get(k)
        for j, h in enumerate(steps):
            rec = base.copy()
            rec["quantizer"] = f"dorefa({k})"
            rec["k"] = k
            rec["h"] = h
            rec["shape"] = list(shape)
            if b is None:
                rec["claim_holds"] = None
            else:
                rec["mean_n"] = b.mean_n
                rec["var_n"] = var_n = b.var_n
                rec["var12_n"] = 12 * var_n
                rec["ks_stat"] = b.ks_stat
                rec["ks_pvalue"] = b.ks_pvalue
                rec["fourier_abs"] = list(b.fourier_abs)
                rec["mean_fd"] = mean_fd = b.mean_fd[j]
                rec["sqnr_db"] = b.sqnr_db
                rec["sqnr_uniform_db"] = b.sqnr_uniform_db
                rec["claim_holds"] = claim_holds(mean_fd, var_n)
            records.append(rec)
    for j, h in enumerate(steps):
        same = records[j::len(steps)]
        first = next((r["k"] for r in same if r["claim_holds"]), None)
        for r in same:
            r["smallest_k_holds"] = first
    return records


def _quantized_records(label: str, tensor: TensorRef, q: Quantizer, st: QuantizedStatistics, steps: Sequence[float]) -> list[Record]:
    """The records of one tensor under a quantizer other than DoReFa, from its statistics ``st``
    (:func:`stecheck.weights.quantized.quantized_statistics`)."""
    records = []
    for j, h in enumerate(steps):
        rec: Record = {
            "source": label, "kind": "tensor", "tensor": tensor.name, "role": tensor.role or "other",
            "shape": list(tensor.shape), "dtype": tensor.stored or dtype_name(tensor.dtype), "size": tensor.size, "nonfinite": st.nonfinite,
            "degenerate": st.degenerate, "transform": "none", "quantizer": q.spec, "k": q.bits, "h": h,
            "ste": 1.0 if st.ste is None else st.ste,
        }
        if not st.degenerate:
            assert st.var_n is not None and st.mean_fd is not None and st.fourier_abs is not None
            rec.update(
                mean_n=st.mean_n, var_n=st.var_n, var12_n=12 * st.var_n, p_n_zero=st.p_n_zero, ks_stat=st.ks_stat,
                ks_pvalue=st.ks_pvalue, fourier_abs=list(st.fourier_abs), mean_fd=st.mean_fd[j], sqnr_db=st.sqnr_db,
                sqnr_uniform_db=st.sqnr_uniform_db,
            )
        rec["claim_holds"] = claim_holds(rec.get("mean_fd"), rec.get("var_n"))
        rec["smallest_k_holds"] = q.bits if rec["claim_holds"] else None
        records.append(rec)
    return records


_AVERAGED: Final = ("mean_n", "var_n", "var12_n", "p_n_zero", "ks_stat", "mean_fd", "ste", "sqnr_db", "sqnr_uniform_db")


def _aggregate(label: str, records: Sequence[Record], bits: Sequence[int], steps: Sequence[float], transform: str,
               quantizer: str | None = None) -> list[Record]:
    """Size-weighted aggregates per (k, h) of ``records`` (one quantizer: ``quantizer``, or DoReFa at each k)."""
    out = []
    groups: dict[tuple[Any, Any], list[Record]] = {}
    for r in records:
        groups.setdefault((r["k"], r["h"]), []).append(r)
    for k in bits:
        for h in steps:
            same = groups.get((k, h), [])
            rows = [r for r in same if not r["degenerate"]]
            weight = np.array([r["size"] - r["nonfinite"] for r in rows], dtype=np.float64)
            rec: Record = {
                "source": label, "kind": "aggregate", "tensor": AGGREGATE, "size": int(sum(r["size"] for r in same)),
                "nonfinite": int(sum(r["nonfinite"] for r in same)),
                "degenerate": False, "transform": transform, "quantizer": quantizer or f"dorefa({k})", "k": k, "h": h, "ste": 1.0,
            }
            if rows and weight.sum() > 0:
                for key in _AVERAGED:
                    values = np.array([r.get(key) for r in rows], dtype=np.float64)  # None -> nan
                    ok = np.isfinite(values)
                    rec[key] = float(np.average(values[ok], weights=weight[ok])) if ok.any() else None
                fourier = np.array([r["fourier_abs"] for r in rows], dtype=np.float64)
                rec["fourier_abs"] = [float(v) for v in np.average(fourier, axis=0, weights=weight)]
                rec["share_holds"] = float(np.mean([bool(r["claim_holds"]) for r in rows]))
                rec["claim_holds"] = claim_holds(rec["mean_fd"], rec["var_n"])
            out.append(rec)
    for h in steps:
        first = next((r["k"] for r in out if r["h"] == h and r.get("claim_holds")), None)
        for r in out:
            if r["h"] == h:
                r["smallest_k_holds"] = first
    return out


#: What one tensor's task returns: its DoReFa statistics (None when no DoReFa width is scanned) and its
#: statistics under each other quantizer, in the order given.
TensorResult = tuple["TensorStatistics | None", list[QuantizedStatistics]]


def scan(
    label: str,
    tensors: Sequence[TensorRef],
    bits: Sequence[int],
    steps: Sequence[float],
    transform: str = "dorefa",
    progress: Callable[[int], None] | None = None,
    mapper: Mapper | None = None,
    quantizers: Sequence[str] = ("dorefa",),
    threads: int = 1,
) -> list[Record]:
    """Records of every tensor (in order), then the aggregate rows per (quantizer, k, h); every field present (None if n/a).

    ``dorefa`` runs DoReFa (after ``transform``) at every width of ``bits``, ``dorefa(k)`` at ``k``; any
    other quantizer spec quantizes the raw weights with its own scales (``transform`` is DoReFa's only).

    Each tensor's statistics are a pure function of its values, so the records do not depend on how the
    work is spread: with ``threads`` > 1 (at most :data:`MAX_THREADS`) batches of consecutive tensors
    (:func:`batches`) are scanned by that many threads, at most ``threads`` batches at a time, as many
    submitted ahead as :func:`lookahead` allows, and the results are taken in tensor order. With a ``mapper`` (a cluster's
    ordered map), each batch is one task :func:`remote_tensors` that opens the tensors' files by path or URL
    where it runs; only the paths, the tensors' indices and the options travel, and only the statistics
    come back. The records are the same, byte for byte, in every case.
    """
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")
    threads = check_threads(threads)
    if mapper is not None and threads != 1:
        raise ConfigError(f"{threads} threads and a cluster contradict each other: with a cluster the workers are the cluster's")
    parsed = [parse_quantizer(spec) for spec in quantizers]
    if not parsed:
        raise ConfigError("no quantizer given")
    widths = tuple(sorted({k for q in parsed if q.kind == "dorefa" for k in (bits if q.spec == "dorefa" else (q.bits,))}))
    others = list({q.spec: q for q in parsed if q.kind != "dorefa"}.values())
    specs = tuple(q.spec for q in others)
    steps = tuple(steps)
    dorefa_records: list[Record] = []
    by_quantizer: dict[str, list[Record]] = {q.spec: [] for q in others}
    results: Iterator[TensorResult]
    if mapper is not None:
        groups = batches(tensors, CLUSTER_BATCH_COST)
        tasks = [(tuple((*_origin(t), t.name) for t in group), widths, steps, transform, specs) for group in groups]
        results = _flatten(mapper(remote_tensors, tasks))
    elif threads == 1:
        results = (tensor_work(t, widths, steps, transform, others) for t in tensors)
    else:
        results = _threaded(tensors, widths, steps, transform, others, threads)
    try:
        for tensor, (st, quantized) in zip(tensors, results):
            if st is not None:
                dorefa_records.extend(_tensor_records(label, tensor, st, widths, steps, transform))
            for q, qst in zip(others, quantized):
                by_quantizer[q.spec].extend(_quantized_records(label, tensor, q, qst, steps))
            if progress is not None:
                progress(tensor.size)
    finally:
        close = getattr(results, "close", None)
        if close is not None:  # pending threads' or a cluster's tasks are cancelled on an interrupt
            close()
    records = dorefa_records + [r for q in others for r in by_quantizer[q.spec]]
    aggregates = _aggregate(label, dorefa_records, widths, steps, transform) if widths else []
    for q in others:
        aggregates += _aggregate(label, by_quantizer[q.spec], (q.bits,), steps, "none", q.spec)
    return [rec if tuple(rec) == WEIGHTS_FIELDS else {key: rec.get(key) for key in WEIGHTS_FIELDS} for rec in records + aggregates]


def _flatten(parts: Iterator[list[TensorResult]]) -> Iterator[TensorResult]:
    """The results of each batch in turn; closing this closes ``parts`` (a cluster's map cancels its tasks)."""
    try:
        for part in parts:
            yield from part
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()


def check_threads(threads: int) -> int:
    """``threads`` if it is a whole number in [1, :data:`MAX_THREADS`], else :class:`ConfigError` with the reason."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"thread count {threads!r} must be a positive integer")
    if threads > MAX_THREADS:
        raise ConfigError(f"thread count {threads} is above the limit of {MAX_THREADS}: every thread holds a tensor's chunks and "
                          "its own buffers in memory, and threads beyond the CPU cores make a scan no faster")
    return threads


def batches(tensors: Sequence[TensorRef], cost: int = BATCH_COST) -> list[list[TensorRef]]:
    """Consecutive tensors packed into batches whose cost (``size + TENSOR_COST`` per tensor) reaches ``cost``.

    Every tensor is in exactly one batch, in order; a tensor of cost ``cost`` or more is a batch of its own.
    """
    out: list[list[TensorRef]] = []
    group: list[TensorRef] = []
    held = 0
    for tensor in tensors:
        weight = tensor.size + TENSOR_COST
        if group and (held + weight > cost or weight >= cost):
            out.append(group)
            group, held = [], 0
        group.append(tensor)
        held += weight
        if held >= cost:
            out.append(group)
            group, held = [], 0
    if group:
        out.append(group)
    return out


def tensor_work(tensor: TensorRef, bits: tuple[int, ...], steps: tuple[float, ...], transform: str,
                others: Sequence[Quantizer]) -> TensorResult:
    """The statistics of one tensor: DoReFa at ``bits`` (None if empty) and each of ``others``.

    The tensor is read through a copy of its :class:`TensorRef`, so a 16-bit tensor's table of distinct
    values lives as long as this call and is not kept by the caller's tensor list (bounded memory over
    thousands of tensors).
    """
    return _work(copy.copy(tensor), bits, steps, transform, others)


def _work(tensor: TensorRef, bits: tuple[int, ...], steps: tuple[float, ...], transform: str,
          others: Sequence[Quantizer]) -> TensorResult:
    st = tensor_statistics(tensor.chunks, bits, steps, transform) if bits else None
    return st, [quantized_statistics(tensor, q, steps) for q in others]


class _Stopped(Exception):
    """Raised in a scan thread that reads after the scan was cancelled (never reaches the caller)."""


def _stoppable(tensor: TensorRef, stop: threading.Event) -> TensorRef:
    """A copy of ``tensor`` whose reads raise :class:`_Stopped` once ``stop`` is set (checked between chunks)."""
    read = tensor.read

    def checked(start: int, count: int) -> Any:
        if stop.is_set():
            raise _Stopped
        return read(start, count)

    return dataclasses.replace(tensor, read=checked)


def _batch_work(group: Sequence[TensorRef], bits: tuple[int, ...], steps: tuple[float, ...], transform: str,
                others: Sequence[Quantizer], stop: threading.Event) -> list[TensorResult]:
    return [_work(_stoppable(t, stop), bits, steps, transform, others) for t in group]


def _threaded(tensors: Sequence[TensorRef], bits: tuple[int, ...], steps: tuple[float, ...], transform: str,
              others: Sequence[Quantizer], threads: int) -> Iterator[TensorResult]:
    """:func:`tensor_work` of every tensor by ``threads`` threads, yielded in tensor order.

    At most ``threads`` batches run at once; :func:`lookahead` decides how many are submitted and not yet
    handed out (a finished batch holds only statistics). On an exception, an interrupt or ``close()``, the batches not
    started are cancelled and the running ones stop at their next chunk read.
    """
    stop = threading.Event()
    pending: deque[Future[list[TensorResult]]] = deque()
    costs: deque[int] = deque()  # of the pending batches
    held = 0  # their sum
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stecheck-scan")
    try:
        todo = iter(batches(tensors))
        while True:
            while lookahead(len(costs), first := costs[0] if costs else 0, held - first, threads):
                group = next(todo, None)
                if group is None:
                    break
                pending.append(pool.submit(_batch_work, group, bits, steps, transform, others, stop))
                costs.append(sum(t.size + TENSOR_COST for t in group))
                held += costs[-1]
            if not pending:
                return
            held -= costs.popleft()
            yield from pending.popleft().result()
    finally:
        stop.set()
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def lookahead(pending: int, first: int, behind: int, threads: int) -> bool:
    """May one more batch be submitted, when ``pending`` batches are: the first, whose results are awaited,
    of cost ``first``, and those behind it of total cost ``behind``?

    Yes while fewer than ``2 threads`` are pending; beyond that, while the batches behind the first cost
    less than ``threads - 1`` times the first (the other threads' share of the time the first takes, so
    that one large tensor does not leave them idle), up to :data:`LOOKAHEAD_PER_THREAD` per thread. A
    batch not started holds no values and a finished one only its statistics, so this bounds memory at
    ``threads`` running batches and the statistics of at most ``LOOKAHEAD_PER_THREAD * threads`` batches.
    """
    if pending < 2 * threads:
        return True
    if pending >= LOOKAHEAD_PER_THREAD * threads:
        return False
    return behind < (threads - 1) * first


def _origin(tensor: TensorRef) -> tuple[str, int]:
    if tensor.origin is None:
        raise StecheckError(f"tensor {tensor.name!r} was not read from a file: a cluster worker cannot open it by path")
    return tensor.origin


def _stamp(path: str) -> tuple[Any, ...]:
    """What identifies the current contents of the source at ``path`` (a local path or a URL)."""
    from stecheck.weights.urls import is_url, url_stamp

    if is_url(path):
        return url_stamp(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise StecheckError(f"a cluster worker cannot open {path!r} ({exc.strerror or exc}): the workers need the same files at the same path") from None
    return (info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=2)
def _opened(path: str, stamp: tuple[Any, ...]) -> list[TensorRef]:
    """The tensors of the source at ``path`` (cached per process while it is unchanged: ``stamp`` is
    :func:`_stamp`)."""
    from stecheck.weights.urls import is_url, open_url

    if is_url(path):
        return open_url(path).tensors
    from stecheck.weights.sources import open_path  # loaders are imported by the file types they read

    return open_path(Path(path)).tensors


def _remote_tensor(path: str, index: int, name: str) -> TensorRef:
    tensors = _opened(path, _stamp(path))
    if index >= len(tensors) or tensors[index].name != name:
        raise StecheckError(f"{path!r} changed during the scan: tensor {index} is no longer {name!r}")
    return tensors[index]


def remote_tensors(entries: Sequence[tuple[str, int, str]], bits: tuple[int, ...], steps: tuple[float, ...], transform: str,
                   quantizers: tuple[str, ...] = ()) -> list[TensorResult]:
    """:func:`tensor_work` of each ``(path, index, name)`` of ``entries`` (the tensor ``index``, named
    ``name``, of the source at a local path or URL), opened where this runs, under DoReFa at ``bits`` and
    each of ``quantizers`` (specs).

    A pure function of the files' contents and the arguments: the task a cluster worker runs per batch.
    """
    others = [parse_quantizer(spec) for spec in quantizers]
    return [tensor_work(_remote_tensor(path, index, name), bits, steps, transform, others) for path, index, name in entries]


def remote_statistics(path: str, index: int, name: str, bits: tuple[int, ...], steps: tuple[float, ...], transform: str) -> TensorStatistics:
    """:func:`tensor_statistics` of tensor ``index`` (named ``name``) of the source at ``path``, opened where this runs."""
    st, _ = remote_tensors([(path, index, name)], bits, steps, transform)[0]
    if st is None:
        raise ConfigError("no bit width given")
    return st
