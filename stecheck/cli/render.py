"""Terminal and Markdown views of simulate records (formatting only: no statistics here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Sequence

from stecheck.cli.tables import Column, fitted_table
from stecheck.records import Record, fmt, to_markdown_text
from stecheck.safe_io import visible

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["SIMULATE_CAPTION", "SIMULATE_MD_COLUMNS", "simulate_columns", "simulate_table", "simulate_markdown"]

#: Columns of records.md (record key, header).
SIMULATE_MD_COLUMNS: Final = (
    ("dist", "input"),
    ("quantizer", "quantizer"),
    ("k", "k"),
    ("rounding", "rounding"),
    ("fd", "fd"),
    ("h", "h"),
    ("samples", "N"),
    ("mean_n", "E[n]"),
    ("mean_n_se", "SE"),
    ("exact_mean_n", "exact E[n]"),
    ("var12_n", "12 Var(n)"),
    ("ks_stat", "KS D"),
    ("ks_pvalue", "KS p"),
    ("mean_fd", "E[D_h]"),
    ("mean_fd_se", "SE"),
    ("exact_mean_fd", "exact E[D_h]"),
    ("p_fd_zero", "P(D_h=0)"),
    ("ste", "STE"),
)


def _pm(value: object, se: object) -> str:
    """``value ± se``; a Monte Carlo value without a standard error (fewer than 2 samples) says so."""
    return f"{fmt(value)} ± undefined" if se is None else f"{fmt(value)} ± {fmt(se, 2)}"


def _groups(records: Sequence[Record]) -> dict[tuple, list[Record]]:
    groups: dict[tuple, list[Record]] = {}
    for rec in records:
        groups.setdefault((rec["dist"], rec["k"], rec["rounding"], rec["fd"], rec.get("quantizer")), []).append(rec)
    return groups


def simulate_columns(records: Sequence[Record]) -> list[Column]:
    """One row per (input, quantizer, k, rounding, scheme); one ``E[D_h]`` column per step h, "MC ± SE (exact)".

    Priorities (see :func:`stecheck.cli.tables.fit`): input and k always, and the quantizer unless every
    row is DoReFa's (then it is not shown); then E[n], the steps h in order, 12 Var(n), the exact E[n], the STE value, the KS
    statistic, the rounding and the scheme when they do not vary.
    """
    steps = list(dict.fromkeys(rec["h"] for rec in records))
    groups = _groups(records)
    firsts = [recs[0] for recs in groups.values()]
    keys = list(groups)
    varies = {name: len({key[i] for key in keys}) > 1 for i, name in ((2, "rounding"), (3, "fd"))}
    dorefa_only = all(str(key[4] or "dorefa").startswith("dorefa") for key in keys)
    cols = [
        Column("input", [visible(str(key[0])) for key in keys], "left", 0, text=True),
        Column("k", [str(key[1]) for key in keys], "right", 0),
        Column("rounding", [str(key[2]) for key in keys], "left", 1 if varies["rounding"] else 40),
        Column("fd", [str(key[3]) for key in keys], "left", 1 if varies["fd"] else 41),
        Column("E[n] ± SE", ["-" if f["mean_n"] is None else _pm(f["mean_n"], f["mean_n_se"]) for f in firsts], "right", 2),
        Column("exact E[n]", [fmt(f["exact_mean_n"]) for f in firsts], "right", 20),
        Column("12 Var(n)", [fmt(f["var12_n"] if f["var12_n"] is not None else (None if f["exact_var_n"] is None else 12 * f["exact_var_n"]))
                             for f in firsts], "right", 21),
        Column("KS D", [fmt(f["ks_stat"]) for f in firsts], "right", 30),
        Column("STE", [fmt(f["ste"]) for f in firsts], "right", 22),
    ]
    if not dorefa_only:  # DoReFa throughout: k says it all, as before quantizers were pluggable
        cols.insert(1, Column("quantizer", [visible(str(key[4] or "-")) for key in keys], "left", 0, text=True))
    for j, h in enumerate(steps):
        cells = []
        for recs in groups.values():
            rec = {r["h"]: r for r in recs}.get(h)
            if rec is None:
                cells.append("")
                continue
            text = "" if rec["mean_fd"] is None else _pm(rec["mean_fd"], rec["mean_fd_se"])
            if rec.get("mean_fd_upper") is not None:  # no crossing observed: SE not estimable
                text = f"{fmt(rec['mean_fd'])} ≤ {fmt(rec['mean_fd_upper'], 2)}"
            if rec["exact_mean_fd"] is not None:
                text = f"{text} ({fmt(rec['exact_mean_fd'])})".strip()
            cells.append(text)
        cols.append(Column(f"E[D_h] h={fmt(h)}", cells, "right", 3 + j))
    return cols


SIMULATE_CAPTION: Final = "E[D_h] cells: Monte Carlo mean ± standard error (exact value). The STE claims E[D_h] = 1."


def simulate_table(records: Sequence[Record], title: str, width: int | None = None, wide: bool = False) -> Table:
    """The simulate table with the columns that fit ``width`` (all when ``wide`` or ``width`` is None)."""
    return fitted_table(title, simulate_columns(records), width, wide, SIMULATE_CAPTION)


def simulate_markdown(records: Sequence[Record], title: str) -> str:
    """records.md: one row per record with the main columns."""
    return to_markdown_text(records, SIMULATE_MD_COLUMNS, title)
