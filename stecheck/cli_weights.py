"""``stecheck weights``: the rounding error of real trained weights, tensor by tensor, against the STE's 1.

Parses options, opens the source (:mod:`stecheck.weights`), scans, renders. Exit 0 when the scan ran,
2 for a user error (one line on stderr, no files written).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Final, Optional, Sequence

import typer
from rich.markup import escape
from rich.table import Table

from stecheck.cli_support import OutputFormat, claimed_output, emit, progress_bar, stdout_console
from stecheck.config import _check_step, parse_bits
from stecheck.errors import ConfigError
from stecheck.records import RUN_FILES, Record, fmt, provenance, to_csv_text, to_json_text, to_markdown_text, write_run_files
from stecheck.resultset import replace_set
from stecheck.weights import TRANSFORMS, WEIGHTS_FIELDS, WEIGHTS_MD_COLUMNS, ZOO, open_source, scan, select
from stecheck.weights.zoo import lookup

__all__ = ["DEFAULT_OUT", "EXACT_NOTE", "weights_command", "zoo_table"]

DEFAULT_OUT: Final = Path("results") / "weights"
EXACT_NOTE: Final = (
    "E[n], Var(n), KS statistic, |E exp(2 pi i l n)|, E[D_h] and SQNR are exact population values of each tensor; "
    "the KS p-value answers a sampling question (could the tensor be a sample of an input with uniform n?)."
)


def zoo_table() -> Table:
    """The zoo entries."""
    table = Table(title="stecheck weights zoo (stecheck weights zoo:NAME)", title_justify="left", header_style="bold")
    for col in ("name", "package", "file", "architecture", "MB", "description"):
        table.add_column(col)
    for e in ZOO.values():
        table.add_row(e.name, f"{e.package}=={e.version}", e.member.rsplit("/", 1)[-1], e.architecture,
                      f"{e.size / 1e6:.1f}", e.description)
    return table


def _summary_tables(records: Sequence[Record], title: str) -> list[Table]:
    aggregate = Table(title=f"{title}: whole model, size-weighted", title_justify="left", header_style="bold")
    for col in ("k", "h", "E[n]", "12 Var(n)", "KS", "|phi(2pi)|", "E[D_h]", "STE", "SQNR dB", "uniform dB", "share holding"):
        aggregate.add_column(escape(col), justify="right")
    for r in (r for r in records if r["kind"] == "aggregate"):
        aggregate.add_row(
            str(r["k"]), fmt(r["h"]), fmt(r.get("mean_n")), fmt(r.get("var12_n")), fmt(r.get("ks_stat")),
            fmt((r.get("fourier_abs") or [None])[0]), fmt(r.get("mean_fd")), fmt(r["ste"]), fmt(r.get("sqnr_db")),
            fmt(r.get("sqnr_uniform_db")), fmt(r.get("share_holds")),
        )
    per_tensor = Table(title=f"{title}: per tensor", title_justify="left", header_style="bold")
    for col in ("tensor", "shape", "dtype", "size", "non-finite", "h", "claim holds from k", "12 Var(n) at k", "E[D_h] at k"):
        per_tensor.add_column(escape(col), justify="left" if col in ("tensor", "shape", "dtype") else "right")
    seen = set()
    for r in (r for r in records if r["kind"] == "tensor"):
        if (r["tensor"], r["h"]) in seen:
            continue
        seen.add((r["tensor"], r["h"]))
        rows = [x for x in records if x["kind"] == "tensor" and x["tensor"] == r["tensor"] and x["h"] == r["h"]]
        ks = " ".join(f"{x['k']}:{fmt(x.get('var12_n'), 3)}" for x in rows)
        fds = " ".join(f"{x['k']}:{fmt(x.get('mean_fd'), 3)}" for x in rows)
        holds = "degenerate" if r["degenerate"] else fmt(r["smallest_k_holds"]) if r["smallest_k_holds"] else "never"
        per_tensor.add_row(escape(r["tensor"]), fmt(r["shape"]), r["dtype"], str(r["size"]), str(r["nonfinite"]),
                           fmt(r["h"]), holds, ks, fds)
    return [aggregate, per_tensor]


def weights_command(
    source: Annotated[Optional[str], typer.Argument(help="A weight file or directory, hf:ORG/NAME[@REV] or zoo:NAME.")] = None,
    bits: Annotated[Optional[list[str]], typer.Option("--bits", "-k", help="Bit widths: 3, 1-8 or 1,2,6-8 (repeatable; default 1-8).")] = None,
    h: Annotated[Optional[list[float]], typer.Option("--h", help="Forward finite-difference step (repeatable; default 1e-3).")] = None,
    transform: Annotated[str, typer.Option("--transform", "-t", help=f"w -> r in [0, 1]: {' | '.join(TRANSFORMS)}.")] = "dorefa",
    include: Annotated[Optional[list[str]], typer.Option("--include", help="Only tensors whose name matches this regex (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Skip tensors whose name matches this regex (repeatable).")] = None,
    all_tensors: Annotated[bool, typer.Option("--all", help="Also 0-d and 1-d floating tensors (biases, norms).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write records.csv/json/md and meta.json here (zoo: default results/weights/NAME).")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files.")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print on stdout.")] = OutputFormat.table,
    list_zoo: Annotated[bool, typer.Option("--list-zoo", help="List the built-in zoo of real networks and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Exact rounding-error statistics of real weights per tensor and k: is n uniform, is E[D_h] = 1?"""
    if list_zoo:
        stdout_console().print(zoo_table())
        return
    if not source:
        raise ConfigError("missing SOURCE: a weight file or directory, hf:ORG/NAME[@REV] or zoo:NAME (see --list-zoo)")
    ks = parse_bits(bits or ["1-8"])
    steps = tuple(sorted({_check_step(x) for x in (h or [1e-3])}))
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")
    if source.startswith("zoo:"):
        lookup(source[4:])  # an unknown name fails before any directory is created
    target = out if out is not None else (DEFAULT_OUT / source[4:] if source.startswith("zoo:") else None)
    if no_save:
        target = None
    # one writer per --out; SIGINT/SIGTERM unwind the run (set up by the command group) and leave --out as it was
    with claimed_output(target) as locked:
        start = time.perf_counter()
        opened = open_source(source)
        tensors = select(opened.tensors, include or (), exclude or (), all_tensors)
        with progress_bar(sum(t.size for t in tensors), f"weights {source}", quiet) as advance:
            records = scan(source, tensors, ks, steps, transform, progress=advance)
        config = {"source": source, "bits": list(ks), "h": list(steps), "transform": transform, "include": list(include or ()),
                  "exclude": list(exclude or ()), "all": all_tensors}
        meta = provenance(
            "weights", config, None, time.perf_counter() - start, source_info={"format": opened.format, **opened.info},
            tensors_scanned=len(tensors), tensors_skipped=len(opened.tensors) - len(tensors), exact=EXACT_NOTE,
            claim="claim_holds: |E[D_h] - 1| <= 0.05 and |12 Var(n) - 1| <= 0.05",
        )
        title = f"stecheck weights: {source} ({transform})"
        if locked is not None:
            replace_set(locked, lambda d: write_run_files(d, meta, records, WEIGHTS_FIELDS, WEIGHTS_MD_COLUMNS, title), RUN_FILES)
    if output_format is OutputFormat.json:
        emit(to_json_text(meta, records))
    elif output_format is OutputFormat.csv:
        emit(to_csv_text(records, WEIGHTS_FIELDS))
    elif output_format is OutputFormat.md:
        emit(to_markdown_text(records, WEIGHTS_MD_COLUMNS, title))
    else:
        console = stdout_console()
        console.print(EXACT_NOTE)
        for table in _summary_tables(records, title):
            console.print(table)
        if target is not None:
            console.print(f"wrote {target}/records.csv, records.json, records.md, meta.json")
