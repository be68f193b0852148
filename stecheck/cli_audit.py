"""``stecheck audit``: the argument "Lemma Two" checked step by step, with computed verdicts.

Parses options, calls :func:`stecheck.audit.audit`, renders the rows. Exit code 0 when the audit ran
(its verdicts are findings, not a failed check), 2 for a usage error (one line on stderr, no files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, Optional, Sequence

import typer
from rich.markup import escape
from rich.table import Table

from stecheck.audit import AUDIT_FIELDS, AuditConfig, audit, audit_samples
from stecheck.cli_support import OutputFormat, check_threads, claimed_output, emit, progress_bar, stdout_console
from stecheck.config import parse_seed
from stecheck.records import RUN_FILES, Record, fmt, to_csv_text, to_json_text, to_markdown_text, write_run_files
from stecheck.resultset import replace_set

__all__ = ["AUDIT_MD_COLUMNS", "DEFAULT_OUT", "audit_command", "audit_table", "audit_markdown"]

DEFAULT_OUT: Final = Path("results") / "audit"
TITLE: Final = "stecheck audit: Lemma Two, step by step"

#: Columns of records.md (record key, header).
AUDIT_MD_COLUMNS: Final = (
    ("step", "step"),
    ("verdict", "verdict"),
    ("claim", "claim"),
    ("condition", "condition"),
    ("evidence", "evidence"),
    ("input", "decisive case"),
    ("k", "k"),
    ("value", "value"),
    ("se", "SE"),
    ("exact", "exact"),
    ("target", "claimed"),
)

_STYLE: Final = {"holds": "green", "fails": "bold red", "holds-only-if": "yellow"}


def _numbers(rec: Record) -> str:
    text = fmt(rec["value"]) if rec["se"] is None else f"{fmt(rec['value'])} ± {fmt(rec['se'], 2)}"
    if rec["exact"] is not None:
        text += f" (exact {fmt(rec['exact'])})"
    return f"{text}; claimed {fmt(rec['target'])} [{rec['input']}, k={rec['k']}]"


def audit_table(records: Sequence[Record], title: str) -> Table:
    """One row per step: step, verdict, claim, condition, the decisive numbers, evidence."""
    table = Table(title=title, title_justify="left", header_style="bold", show_lines=True)
    for header, ratio in (("step", 0), ("verdict", 0), ("claim", 3), ("condition", 3), ("numbers", 2), ("evidence", 5)):
        table.add_column(header, ratio=ratio or None, no_wrap=not ratio, overflow="fold")
    for rec in records:
        style = _STYLE.get(rec["verdict"], "")
        table.add_row(
            escape(rec["step"]), f"[{style}]{rec['verdict']}[/]", escape(rec["claim"]), escape(rec["condition"]),
            escape(_numbers(rec)), escape(rec["evidence"]),
        )
    table.caption = escape("Verdicts are computed from the numbers by the rule in each record's 'rule' field.")
    return table


def audit_markdown(records: Sequence[Record], title: str = TITLE) -> str:
    """records.md: one row per step."""
    return to_markdown_text(records, AUDIT_MD_COLUMNS, title)


def _scan_weights(spec: str, cfg: AuditConfig) -> tuple[list[Record], dict[str, object]]:
    """Scan a weights source (DoReFa transform) at the audit's bit widths and step: records and provenance."""
    from stecheck.weights import open_source, scan, select

    source = open_source(spec)
    tensors = select(source.tensors)
    records = scan(source.label, tensors, cfg.bits, (cfg.h,), "dorefa")  # type: ignore[arg-type]
    return records, {"source": source.label, "info": source.info, "transform": "dorefa", "tensors": [t.name for t in tensors]}


def audit_command(
    bits: Annotated[Optional[list[str]], typer.Option("--bits", "-k", help="Bit widths: 2, 1-4 or 1,3 (repeatable; default 1-4).")] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Monte Carlo samples per input.")] = AuditConfig.samples,
    seed: Annotated[Optional[str], typer.Option("--seed", help="Root seed (decimal or 0x hex); fresh entropy, recorded, if unset.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print on stdout.")] = OutputFormat.table,
    out: Annotated[Path, typer.Option("--out", "-o", help="Write records.csv/json/md and meta.json here.")] = DEFAULT_OUT,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files.")] = False,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Also audit real weights: a file, directory, hf:ORG/NAME or zoo:NAME (DoReFa transform).")] = None,
    threads: Annotated[int, typer.Option("--threads", "-j", help="Worker threads (results do not depend on it).")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Check the 'derivative 1 in expectation' argument step by step; verdicts computed from the numbers.

    One row per step of the argument (1 ... 8', 9) and per positive result (identity A, stochastic rounding,
    dither, the Fourier prediction); with --weights, steps 8' and 9 again on real weights (rows 8'W, 9W).
    Writes results/audit/ unless --out or --no-save say otherwise.
    """
    check_threads(threads)
    cfg = AuditConfig(bits=tuple(bits) if bits else AuditConfig.bits, samples=samples, seed=parse_seed(seed)).validated()
    target = None if no_save else out
    with claimed_output(target) as locked:  # one writer per --out, for the whole run
        scanned, described = _scan_weights(weights, cfg) if weights is not None else (None, None)
        with progress_bar(audit_samples(cfg), "audit", quiet) as advance:
            result = audit(cfg, threads=threads, progress=advance, weights=scanned)
        if described is not None:
            result.meta["weights"] = described
        if locked is not None:
            replace_set(locked, lambda d: write_run_files(d, result.meta, result.records, AUDIT_FIELDS, AUDIT_MD_COLUMNS, TITLE), RUN_FILES)
    if output_format is OutputFormat.json:
        emit(to_json_text(result.meta, result.records))
    elif output_format is OutputFormat.csv:
        emit(to_csv_text(result.records, AUDIT_FIELDS))
    elif output_format is OutputFormat.md:
        emit(audit_markdown(result.records))
    else:
        console = stdout_console()
        console.print(audit_table(result.records, f"{TITLE} (seed {result.meta['seed']})"))
        if target is not None:
            console.print(f"wrote {target}/records.csv, records.json, records.md, meta.json")
