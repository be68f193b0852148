"""Scan a source's tensors: select them, compute their exact statistics, and build the records.

One record per (tensor, k, h), then one aggregate record per (k, h) over the whole model (statistics
averaged with weights equal to tensor sizes). "The STE claim holds" for a tensor at (k, h) when
``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05``; each record carries the smallest scanned k at
which it holds for that tensor and h.
"""

from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Final, Iterable, Iterator, Sequence

import numpy as np

from stecheck.core.quantizers import Quantizer, parse_quantizer
from stecheck.errors import ConfigError, StecheckError
from stecheck.records import Record
from stecheck.weights.quantized import quantized_statistics
from stecheck.weights.roles import DEFAULT_ROLES, ROLES
from stecheck.weights.stats import TRANSFORMS, TensorStatistics, tensor_statistics
from stecheck.weights.tensors import TensorRef, dtype_name

__all__ = ["WEIGHTS_FIELDS", "WEIGHTS_MD_COLUMNS", "TOLERANCE", "AGGREGATE", "Mapper", "select", "left_out", "scan", "claim_holds",
           "remote_statistics"]

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
    for k in bits:
        b = st.per_bits.get(k)
        for j, h in enumerate(steps):
            rec = base.copy()
            rec["quantizer"] = f"dorefa({k})"
            rec["k"] = k
            rec["h"] = h
            rec["shape"] = list(tensor.shape)
            if b is not None:
                rec.update(
                    mean_n=b.mean_n, var_n=b.var_n, var12_n=12 * b.var_n, ks_stat=b.ks_stat, ks_pvalue=b.ks_pvalue,
                    fourier_abs=list(b.fourier_abs), mean_fd=b.mean_fd[j], sqnr_db=b.sqnr_db, sqnr_uniform_db=b.sqnr_uniform_db,
                )
            rec["claim_holds"] = claim_holds(rec.get("mean_fd"), rec.get("var_n"))
            records.append(rec)
    for j, h in enumerate(steps):
        same = records[j::len(steps)]
        first = next((r["k"] for r in same if r["claim_holds"]), None)
        for r in same:
            r["smallest_k_holds"] = first
    return records


def _quantized_records(label: str, tensor: TensorRef, q: Quantizer, steps: Sequence[float]) -> list[Record]:
    """The records of one tensor under a quantizer other than DoReFa (:mod:`stecheck.weights.quantized`)."""
    st = quantized_statistics(tensor, q, steps)
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
                    values = np.array([math.nan if r.get(key) is None else r[key] for r in rows], dtype=np.float64)
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


def scan(
    label: str,
    tensors: Sequence[TensorRef],
    bits: Sequence[int],
    steps: Sequence[float],
    transform: str = "dorefa",
    progress: Callable[[int], None] | None = None,
    mapper: Mapper | None = None,
    quantizers: Sequence[str] = ("dorefa",),
) -> list[Record]:
    """Records of every tensor (in order), then the aggregate rows per (quantizer, k, h); every field present (None if n/a).

    ``dorefa`` runs DoReFa (after ``transform``) at every width of ``bits``, ``dorefa(k)`` at ``k``; any
    other quantizer spec quantizes the raw weights with its own scales (``transform`` is DoReFa's only).

    With a ``mapper`` (a cluster's ordered map), each tensor's DoReFa statistics are one task
    :func:`remote_statistics` that opens the tensor's file by path where it runs; only the path, the tensor's
    index and the options travel, and only its statistics come back. The other quantizers' statistics are
    computed here. The records are the same as without a mapper.
    """
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")
    parsed = [parse_quantizer(spec) for spec in quantizers]
    if not parsed:
        raise ConfigError("no quantizer given")
    widths = sorted({k for q in parsed if q.kind == "dorefa" for k in (bits if q.spec == "dorefa" else (q.bits,))})
    others = list({q.spec: q for q in parsed if q.kind != "dorefa"}.values())
    dorefa_records: list[Record] = []
    by_quantizer: dict[str, list[Record]] = {q.spec: [] for q in others}
    stats: Iterable[TensorStatistics | None]
    if not widths:
        stats = (None for _ in tensors)
    elif mapper is None:
        stats = (tensor_statistics(t.chunks, widths, steps, transform) for t in tensors)
    else:
        stats = mapper(remote_statistics, [(*_origin(t), t.name, tuple(widths), tuple(steps), transform) for t in tensors])
    try:
        for tensor, st in zip(tensors, stats):
            if st is not None:
                dorefa_records.extend(_tensor_records(label, tensor, st, widths, steps, transform))
            for q in others:
                by_quantizer[q.spec].extend(_quantized_records(label, tensor, q, steps))
            if progress is not None:
                progress(tensor.size)
    finally:
        close = getattr(stats, "close", None)
        if close is not None:  # a cluster's pending tasks are cancelled on an interrupt
            close()
    records = dorefa_records + [r for q in others for r in by_quantizer[q.spec]]
    aggregates = _aggregate(label, dorefa_records, widths, steps, transform) if widths else []
    for q in others:
        aggregates += _aggregate(label, by_quantizer[q.spec], (q.bits,), steps, "none", q.spec)
    return [{key: rec.get(key) for key in WEIGHTS_FIELDS} for rec in records + aggregates]


def _origin(tensor: TensorRef) -> tuple[str, int]:
    if tensor.origin is None:
        raise StecheckError(f"tensor {tensor.name!r} was not read from a file: a cluster worker cannot open it by path")
    return tensor.origin


@functools.lru_cache(maxsize=2)
def _opened(path: str, stamp: tuple[int, int]) -> list[TensorRef]:
    """The tensors of the source at ``path`` (cached per process while the file is unchanged: ``stamp`` is its
    modification time and size)."""
    from stecheck.weights.sources import open_path  # the loaders import onnx and safetensors

    return open_path(Path(path)).tensors


def remote_statistics(path: str, index: int, name: str, bits: tuple[int, ...], steps: tuple[float, ...], transform: str) -> TensorStatistics:
    """:func:`tensor_statistics` of tensor ``index`` (named ``name``) of the source at ``path``, opened where this runs.

    A pure function of the file's contents and the arguments: the task a cluster worker runs per tensor.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise StecheckError(f"a cluster worker cannot open {path!r} ({exc.strerror or exc}): the workers need the same files at the same path") from None
    tensors = _opened(path, (info.st_mtime_ns, info.st_size))
    if index >= len(tensors) or tensors[index].name != name:
        raise StecheckError(f"{path!r} changed during the scan: tensor {index} is no longer {name!r}")
    tensor = tensors[index]
    try:
        return tensor_statistics(tensor.chunks, bits, steps, transform)
    finally:
        tensor._distinct = None  # the cached source keeps its tensors: drop a 16-bit tensor's value table
