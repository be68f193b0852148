"""Terminal and Markdown views of simulate records (formatting only: no statistics here)."""

from __future__ import annotations

from typing import Final, Sequence

from rich.markup import escape
from rich.table import Table

from stecheck.records import Record, fmt, to_markdown_text
from stecheck.safe_io import visible

__all__ = ["SIMULATE_MD_COLUMNS", "simulate_table", "simulate_markdown"]

#: Columns of records.md (record key, header).
SIMULATE_MD_COLUMNS: Final = (
    ("dist", "input"),
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
    return fmt(value) if se is None else f"{fmt(value)} ± {fmt(se, 2)}"


def _groups(records: Sequence[Record]) -> dict[tuple, list[Record]]:
    groups: dict[tuple, list[Record]] = {}
    for rec in records:
        groups.setdefault((rec["dist"], rec["k"], rec["rounding"], rec["fd"]), []).append(rec)
    return groups


def simulate_table(records: Sequence[Record], title: str) -> Table:
    """One row per (input, k, rounding, scheme); one ``E[D_h]`` column per step h, "MC ± SE (exact)"."""
    steps = list(dict.fromkeys(rec["h"] for rec in records))
    table = Table(title=title, title_justify="left", header_style="bold")
    for header in ("input", "k", "rounding", "fd", "E[n] ± SE", "exact E[n]", "12 Var(n)", "KS D", "STE"):
        table.add_column(escape(header), justify="left" if header in ("input", "rounding", "fd") else "right")
    for h in steps:
        table.add_column(escape(f"E[D_h] h={fmt(h)}"), justify="right")
    for (dist, k, rounding, scheme), recs in _groups(records).items():
        first = recs[0]
        by_h = {rec["h"]: rec for rec in recs}
        cells = []
        for h in steps:
            rec = by_h.get(h)
            if rec is None:
                cells.append("")
                continue
            text = "" if rec["mean_fd"] is None else _pm(rec["mean_fd"], rec["mean_fd_se"])
            if rec.get("mean_fd_upper") is not None:  # no crossing observed: SE not estimable
                text = f"{fmt(rec['mean_fd'])} ≤ {fmt(rec['mean_fd_upper'], 2)}"
            if rec["exact_mean_fd"] is not None:
                text = f"{text} ({fmt(rec['exact_mean_fd'])})".strip()
            cells.append(text)
        table.add_row(
            escape(visible(dist)),
            str(k),
            rounding,
            scheme,
            "-" if first["mean_n"] is None else _pm(first["mean_n"], first["mean_n_se"]),
            fmt(first["exact_mean_n"]),
            fmt(first["var12_n"] if first["var12_n"] is not None else (None if first["exact_var_n"] is None else 12 * first["exact_var_n"])),
            fmt(first["ks_stat"]),
            fmt(first["ste"]),
            *cells,
        )
    table.caption = escape("E[D_h] cells: Monte Carlo mean ± standard error (exact value). The STE claims E[D_h] = 1.")
    return table


def simulate_markdown(records: Sequence[Record], title: str) -> str:
    """records.md: one row per record with the main columns."""
    return to_markdown_text(records, SIMULATE_MD_COLUMNS, title)
