"""Scan a source's tensors: select them, compute their exact statistics, and build the records.

One record per (tensor, k, h), then one aggregate record per (k, h) over the whole model (statistics
averaged with weights equal to tensor sizes). "The STE claim holds" for a tensor at (k, h) when
``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05``; each record carries the smallest scanned k at
which it holds for that tensor and h.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Final, Sequence

import numpy as np

from stecheck.errors import ConfigError, StecheckError
from stecheck.records import Record
from stecheck.weights.stats import TRANSFORMS, TensorStatistics, tensor_statistics
from stecheck.weights.tensors import TensorRef, dtype_name

__all__ = ["WEIGHTS_FIELDS", "WEIGHTS_MD_COLUMNS", "TOLERANCE", "AGGREGATE", "select", "scan", "claim_holds"]

#: Columns of a ``weights`` record, in order (the machine-readable contract).
WEIGHTS_FIELDS: Final = (
    "source", "kind", "tensor", "shape", "dtype", "size", "nonfinite", "degenerate", "transform", "k", "h",
    "mean_n", "var_n", "var12_n", "ks_stat", "ks_pvalue", "fourier_abs", "mean_fd", "ste", "sqnr_db",
    "sqnr_uniform_db", "claim_holds", "smallest_k_holds", "share_holds",
)
WEIGHTS_MD_COLUMNS: Final = (
    ("tensor", "tensor"), ("shape", "shape"), ("k", "k"), ("h", "h"), ("mean_n", "E[n]"), ("var12_n", "12 Var(n)"),
    ("ks_stat", "KS"), ("mean_fd", "E[D_h]"), ("ste", "STE"), ("sqnr_db", "SQNR dB"),
    ("sqnr_uniform_db", "uniform-model dB"), ("smallest_k_holds", "claim holds from k"), ("share_holds", "share holding"),
)
TOLERANCE: Final = 0.05
AGGREGATE: Final = "(all tensors, size-weighted)"


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    all_tensors: bool = False


def _compile(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    try:
        return [re.compile(p) for p in patterns]
    except re.error as exc:
        raise ConfigError(f"bad tensor pattern {exc.pattern!r}: {exc}") from None


def select(tensors: Sequence[TensorRef], include: Sequence[str] = (), exclude: Sequence[str] = (), all_tensors: bool = False) -> list[TensorRef]:
    """Floating tensors with ndim >= 2 (any ndim with ``all_tensors``), filtered by regexes (``re.search``)."""
    inc, exc = _compile(include), _compile(exclude)
    chosen = [
        t for t in tensors
        if t.floating and (all_tensors or len(t.shape) >= 2)
        and (not inc or any(p.search(t.name) for p in inc)) and not any(p.search(t.name) for p in exc)
    ]
    if not chosen:
        raise StecheckError("no tensor is selected: the source has no floating tensor matching the filters (try --all)")
    return chosen


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
                "source": label, "kind": "tensor", "tensor": tensor.name, "shape": list(tensor.shape),
                "dtype": dtype_name(tensor.dtype), "size": tensor.size, "nonfinite": st.nonfinite,
                "degenerate": st.degenerate, "transform": transform, "k": k, "h": h, "ste": 1.0,
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


_AVERAGED: Final = ("mean_n", "var_n", "var12_n", "ks_stat", "mean_fd", "sqnr_db", "sqnr_uniform_db")


def _aggregate(label: str, records: Sequence[Record], bits: Sequence[int], steps: Sequence[float], transform: str) -> list[Record]:
    out = []
    for k in bits:
        for h in steps:
            rows = [r for r in records if r["k"] == k and r["h"] == h and not r["degenerate"]]
            weight = np.array([r["size"] - r["nonfinite"] for r in rows], dtype=np.float64)
            rec: Record = {
                "source": label, "kind": "aggregate", "tensor": AGGREGATE, "size": int(sum(r["size"] for r in records if r["k"] == k and r["h"] == h)),
                "nonfinite": int(sum(r["nonfinite"] for r in records if r["k"] == k and r["h"] == h)),
                "degenerate": False, "transform": transform, "k": k, "h": h, "ste": 1.0,
            }
            if rows and weight.sum() > 0:
                for key in _AVERAGED:
                    values = np.array([r[key] for r in rows], dtype=np.float64)
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
) -> list[Record]:
    """Records of every tensor (in order), then the aggregate rows per (k, h); every field present (None if n/a)."""
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")
    records: list[Record] = []
    for tensor in tensors:
        st = tensor_statistics(tensor.chunks, bits, steps, transform)
        records.extend(_tensor_records(label, tensor, st, bits, steps, transform))
        if progress is not None:
            progress(tensor.size)
    return [{key: rec.get(key) for key in WEIGHTS_FIELDS} for rec in records + _aggregate(label, records, bits, steps, transform)]
