""""Does the STE claim hold for the quantizer you use?": one row per (model, quantizer) of a ``weights`` run.

Reads the aggregate records of ``stecheck weights --quantizer ...`` runs (one per model) and renders a
Markdown table; it computes no statistic. Every value is a field of the run's aggregate record at the
smallest step h (the size-weighted average over the model's tensors, :func:`stecheck.weights.scan.scan`):
E[n], 12 Var(n), the KS distance of n to Uniform[-1/2, 1/2], E[D_h] (the STE's value is 1), the STE
share (weights inside the representable range), ``p_n_zero`` (weights exactly on a level: the point
masses of data-dependent scales), the SQNR measured against the uniform-noise prediction, the share of
tensors where the claim holds, and the verdict of the aggregate: the claim holds when
``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05`` (the record's ``claim_holds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Sequence

from stecheck.records import Record, fmt
from stecheck.safe_io import md_cell

__all__ = ["QuantizerRow", "COLUMNS", "quantizer_rows", "quantizer_table", "quantizer_order", "verdict_matrix"]

#: (header, how the row's value is printed) of the table, in order.
COLUMNS: Final = (
    "model", "quantizer", "tensors", "E[n]", "12 Var(n)", "KS", "E[D_h] (STE: 1)", "STE share", "p_n_zero",
    "SQNR dB (uniform model)", "share of tensors holding", "claim",
)


@dataclass(frozen=True)
class QuantizerRow:
    """One row of the table: a model's size-weighted aggregate record under one quantizer."""

    model: str
    quantizer: str
    tensors: int
    record: Record

    def cells(self) -> list[str]:
        """The printed cells, in the order of :data:`COLUMNS` (``-`` for a value the record does not carry)."""
        r = self.record
        sqnr = r.get("sqnr_db")
        predicted = r.get("sqnr_uniform_db")
        sqnr_text = "-" if sqnr is None else f"{fmt(sqnr, 3)} ({fmt(predicted, 3)})"
        verdict = {True: "**holds**", False: "fails", None: "-"}[r.get("claim_holds")]
        return [
            self.model, f"`{self.quantizer}`", str(self.tensors), fmt(r.get("mean_n"), 2), fmt(r.get("var12_n"), 3),
            fmt(r.get("ks_stat"), 2), fmt(r.get("mean_fd"), 3), fmt(r.get("ste"), 3), fmt(r.get("p_n_zero"), 2), sqnr_text,
            fmt(r.get("share_holds"), 2), verdict,
        ]


def quantizer_order(spec: str, first_seen: int) -> tuple[int, int, int]:
    """Sort key: DoReFa by bit width first, then the other quantizers in the order the run lists them."""
    if spec.startswith("dorefa("):
        return (0, int(spec[len("dorefa("):-1]), 0)
    return (1, 0, first_seen)


def quantizer_rows(model: str, records: Sequence[Record]) -> list[QuantizerRow]:
    """Rows of one run: per quantizer, its aggregate record at the smallest h and the count of tensors scanned."""
    aggregates = [r for r in records if r.get("kind") == "aggregate" and r.get("h") is not None]
    if not aggregates:
        return []
    h = min(r["h"] for r in aggregates)
    seen: dict[str, int] = {}
    for r in records:
        seen.setdefault(str(r.get("quantizer") or f"dorefa({r['k']})"), len(seen))
    rows = []
    for r in aggregates:
        if r["h"] != h:
            continue
        spec = str(r.get("quantizer") or f"dorefa({r['k']})")
        tensors = sum(1 for t in records if t.get("kind") == "tensor" and t.get("h") == h
                      and str(t.get("quantizer") or f"dorefa({t['k']})") == spec)
        rows.append(QuantizerRow(model, spec, tensors, r))
    return sorted(rows, key=lambda row: quantizer_order(row.quantizer, seen[row.quantizer]))


def _missing(rows: Sequence[QuantizerRow], key: str) -> list[str]:
    return [row.quantizer for row in rows if row.record.get(key) is None]


def verdict_matrix(runs: Sequence[tuple[str, dict[str, Any], Sequence[Record]]]) -> str:
    """One row per quantizer, one column per model: the aggregate's verdict, its E[D_h] and 12 Var(n) (``-``: not run)."""
    per_model = [(model, {row.quantizer: row for row in quantizer_rows(model, records)}) for model, _, records in runs]
    place: dict[str, tuple[int, int]] = {}  # (smallest position in a run's own order, first seen)
    for _, rows in per_model:
        for position, spec in enumerate(rows):
            place[spec] = (min(position, place.get(spec, (position, 0))[0]), place.get(spec, (0, len(place)))[1])
    specs = sorted(place, key=lambda spec: quantizer_order(spec, place[spec][0] * len(place) + place[spec][1]))
    lines = ["| quantizer | " + " | ".join(md_cell(model) for model, _ in per_model) + " |",
             "|---|" + "|".join("---" for _ in per_model) + "|"]
    for spec in specs:
        cells = []
        for _, rows in per_model:
            row = rows.get(spec)
            if row is None:
                cells.append("-")
                continue
            verdict = {True: "**holds**", False: "fails", None: "-"}[row.record.get("claim_holds")]
            cells.append(f"{verdict} ({fmt(row.record.get('mean_fd'), 3)}, {fmt(row.record.get('var12_n'), 3)})")
        lines.append(f"| {md_cell('`' + spec + '`')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def quantizer_table(runs: Sequence[tuple[str, dict[str, Any], Sequence[Record]]]) -> str:
    """The Markdown table of ``runs`` (``(model, meta, records)`` each), then notes on fields a record lacks.

    A value the records do not carry is printed ``-`` and named below the table, never filled in.
    """
    rows = [row for model, _, records in runs for row in quantizer_rows(model, records)]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row.cells()) + " |" for row in rows]
    notes = []
    for key, what in (("p_n_zero", "`p_n_zero`"), ("sqnr_db", "the SQNR"), ("mean_fd", "E[D_h]")):
        missing = list(dict.fromkeys(_missing(rows, key)))
        if missing:
            notes.append(f"{what} is not recorded for {_spec_list(missing)} (`-`).")
    if notes:
        lines += ["", " ".join(notes)]
    return "\n".join(lines)


def _spec_list(specs: Sequence[str]) -> str:
    return ", ".join(f"`{s}`" for s in specs)
