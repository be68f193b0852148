"""Scan a source's tensors: select them, compute their exact statistics, and build the records.

One record per (tensor, k, h), then one aggregate record per (k, h) over the whole model (statistics
averaged with weights equal to tensor sizes). "The STE claim holds" for a tensor at (k, h) when
``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05``; each record carries the smallest scanned k at
which it holds for that tensor and h.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Final, Sequence

import numpy as np

from stecheck.core.quantizers import Quantizer, parse_quantizer
from stecheck.errors import ConfigError, StecheckError
from stecheck.records import Record
from stecheck.weights.quantized import quantized_statistics
from stecheck.weights.roles import DEFAULT_ROLES, ROLES
from stecheck.weights.stats import TRANSFORMS, TensorStatistics, tensor_statistics
from stecheck.weights.tensors import TensorRef, dtype_name

__all__ = ["WEIGHTS_FIELDS", "WEIGHTS_MD_COLUMNS", "TOLERANCE", "AGGREGATE", "select", "left_out", "scan", "claim_holds"]

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
    records = []
    for k in bits:
        b = st.per_bits.get(k)
        for j, h in enumerate(steps):
            rec: Record = {
                "source": label, "kind": "tensor", "tensor": tensor.name, "role": tensor.role or "other",
                "shape": list(tensor.shape), "dtype": tensor.stored or dtype_name(tensor.dtype), "size": tensor.size, "nonfinite": st.nonfinite,
                "degenerate": st.degenerate, "transform": transform, "quantizer": f"dorefa({k})", "k": k, "h": h, "ste": 1.0,
            }
            if b is not None:
                rec.update(
                    mean_n=b.mean_n, var_n=b.var_n, var12_n=12 * b.var_n, ks_stat=b.ks_stat, ks_pvalue=b.ks_pvalue,
                    fourier_abs=list(b.fourier_abs), mean_fd=b.mean_fd[j], sqnr_db=b.sqnr_db, sqnr_uniform_db=b.sqnr_uniform_db,
                )
            rec["claim_holds"] = claim_holds(rec.get("mean_fd"), rec.get("var_n"))
            records.append(rec)
    for h in steps:
        same = [r for r in records if r["h"] == h]
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
    for k in bits:
        for h in steps:
            rows = [r for r in records if r["k"] == k and r["h"] == h and not r["degenerate"]]
            weight = np.array([r["size"] - r["nonfinite"] for r in rows], dtype=np.float64)
            rec: Record = {
                "source": label, "kind": "aggregate", "tensor": AGGREGATE, "size": int(sum(r["size"] for r in records if r["k"] == k and r["h"] == h)),
                "nonfinite": int(sum(r["nonfinite"] for r in records if r["k"] == k and r["h"] == h)),
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
    quantizers: Sequence[str] = ("dorefa",),
) -> list[Record]:
    """Records of every tensor (in order), then the aggregate rows per (quantizer, k, h); every field present (None if n/a).

    ``dorefa`` runs DoReFa (after ``transform``) at every width of ``bits``, ``dorefa(k)`` at ``k``; any
    other quantizer spec quantizes the raw weights with its own scales (``transform`` is DoReFa's only).
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
    for tensor in tensors:
        if widths:
            st = tensor_statistics(tensor.chunks, widths, steps, transform)
            dorefa_records.extend(_tensor_records(label, tensor, st, widths, steps, transform))
        for q in others:
            by_quantizer[q.spec].extend(_quantized_records(label, tensor, q, steps))
        if progress is not None:
            progress(tensor.size)
    records = dorefa_records + [r for q in others for r in by_quantizer[q.spec]]
    aggregates = _aggregate(label, dorefa_records, widths, steps, transform) if widths else []
    for q in others:
        aggregates += _aggregate(label, by_quantizer[q.spec], (q.bits,), steps, "none", q.spec)
    return [{key: rec.get(key) for key in WEIGHTS_FIELDS} for rec in records + aggregates]
