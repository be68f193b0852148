"""Selecting and grouping records for figures (no statistics: records are read, never recomputed)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.records import Record

__all__ = ["Z_BAND", "unique", "where", "values", "first_per", "preferred_rounding", "headline_bits"]

#: Half-width of the plotted confidence bands, in standard errors (two-sided 95 %).
Z_BAND = 1.96


def unique(records: Iterable[Record], key: str) -> list[Any]:
    """Distinct values of ``key`` in first-seen order."""
    return list(dict.fromkeys(rec.get(key) for rec in records))


def where(records: Iterable[Record], **match: Any) -> list[Record]:
    """Records whose fields equal every ``match`` item."""
    return [rec for rec in records if all(rec.get(k) == v for k, v in match.items())]


def values(records: Sequence[Record], key: str) -> NDArray[np.float64]:
    """Field ``key`` as floats, a missing value (None) as NaN."""
    return np.array([math.nan if rec.get(key) is None else float(rec[key]) for rec in records], dtype=float)


def first_per(records: Iterable[Record], *keys: str) -> list[Record]:
    """The first record of each distinct combination of ``keys`` (per-cell statistics repeat over h)."""
    seen: dict[tuple[Any, ...], Record] = {}
    for rec in records:
        seen.setdefault(tuple(rec.get(k) for k in keys), rec)
    return list(seen.values())


def preferred_rounding(records: Sequence[Record]) -> str | None:
    """``half-even`` when present (the frameworks' rounding), else the first rounding seen."""
    roundings = unique(records, "rounding")
    return "half-even" if "half-even" in roundings else (roundings[0] if roundings else None)


def headline_bits(bits: Sequence[int], most: int = 4) -> list[int]:
    """Up to ``most`` bit widths spread over ``bits``: 1, 2, 4, 8 when all of 1..8 are present."""
    bits = sorted(b for b in bits if b is not None)
    if len(bits) <= most:
        return bits
    wanted = [b for b in (1, 2, 4, 8) if b in bits]
    if len(wanted) >= 2:
        return wanted[:most]
    picks = np.linspace(0, len(bits) - 1, most).round().astype(int)
    return [bits[i] for i in dict.fromkeys(picks.tolist())]
