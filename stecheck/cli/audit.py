"""``stecheck audit``: the argument "Lemma Two" checked step by step, with computed verdicts.

Parses options, calls :func:`stecheck.claims.audit.run.audit`, renders the rows. Exit code 0 when the audit ran
(its verdicts are findings, not a failed check), 2 for a usage error (one line on stderr, no files).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Optional, Sequence

import typer

from stecheck.cli.support import (OutputFormat, VersionFlag, check_threads, claimed_output, count, emit, jobs_option, progress_bar,
                                  shows_progress, stdout_console)
from stecheck.errors import ConfigError
from stecheck.seeds import AUDIT_SEED

if TYPE_CHECKING:
    from rich.table import Table

    from stecheck.claims.audit.run import AuditConfig
    from stecheck.records import Record

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
    from stecheck.records import fmt

    text = fmt(rec["value"]) if rec["se"] is None else f"{fmt(rec['value'])} ± {fmt(rec['se'], 2)}"
    if rec["exact"] is not None:
        text += f" (exact {fmt(rec['exact'])})"
    return f"{text}; claimed {fmt(rec['target'])} [{rec['input']}, k={rec['k']}]"


#: Narrowest console that also shows the long "evidence" column.
EVIDENCE_WIDTH: Final = 160
#: Below this width the claim and its condition share one column.
SPLIT_WIDTH: Final = 100


def audit_table(records: Sequence[Record], title: str, width: int | None = None) -> Table:
    """One row per step: step, verdict, claim, condition, the decisive numbers, and (from ``EVIDENCE_WIDTH``
    columns on, or when ``width`` is None) the evidence. Numbers wrap only between words, never inside one."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold", show_lines=True)
    longest = max((len(word) for rec in records for word in _numbers(rec).split()), default=8)
    evidence = width is None or width >= EVIDENCE_WIDTH
    split = width is None or width >= SPLIT_WIDTH
    texts = (("claim", 3), ("condition", 3)) if split else (("claim / condition", 5),)
    columns = (("step", 0), ("verdict", 0), *texts, ("numbers", 2)) + ((("evidence", 5),) if evidence else ())
    for header, ratio in columns:
        table.add_column(header, ratio=ratio or None, no_wrap=not ratio, overflow="fold",
                         min_width=longest if header == "numbers" else None)
    for rec in records:
        style = _STYLE.get(rec["verdict"], "")
        texts = [escape(rec["claim"]), escape(rec["condition"])] if split else [escape(f"{rec['claim']}\nCondition: {rec['condition']}")]
        cells = [escape(rec["step"]), f"[{style}]{rec['verdict']}[/]", *texts, escape(_numbers(rec))]
        table.add_row(*cells, *([escape(rec["evidence"])] if evidence else []))
    caption = "Verdicts are computed from the numbers by the rule in each record's 'rule' field."
    if not evidence:
        caption += f" The evidence column needs {EVIDENCE_WIDTH} columns (or see records.md, --format md)."
    table.caption = escape(caption)
    return table


def audit_markdown(records: Sequence[Record], title: str = TITLE) -> str:
    """records.md: one row per step."""
    from stecheck.records import to_markdown_text

    return to_markdown_text(records, AUDIT_MD_COLUMNS, title)


def _scan_weights(spec: str, cfg: "AuditConfig", progress: bool = False, threads: int = 1) -> tuple[list[Record], dict[str, object]]:
    """Scan a weights source (DoReFa transform) at the audit's bit widths and step: records and provenance."""
    from stecheck.weights import open_source, scan, select

    source = open_source(spec, progress=progress)
    tensors = select(source.tensors)
    records = scan(source.label, tensors, cfg.bits, (cfg.h,), "dorefa", threads=threads)  # type: ignore[arg-type]
    return records, {"source": source.label, "info": source.info, "transform": "dorefa", "tensors": [t.name for t in tensors]}


def audit_command(
    bits: Annotated[Optional[list[str]], typer.Option("--bits", "-k", metavar="K", help="Bit widths: 2, 1-4 or 1,3 (repeatable; default 1-4).")] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", metavar="N", parser=count, help="Monte Carlo samples per input (500000, 500_000 or 5e5).")] = 500_000,
    seed: Annotated[str, typer.Option("--seed", metavar="SEED", help="Root seed (decimal or 0x hex), or 'random' for fresh entropy (recorded).")] = str(AUDIT_SEED),
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout: table, csv, json or md.")] = OutputFormat.table,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help=f"Write records.csv/json/md and meta.json here (default {DEFAULT_OUT}).")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files (not with --out).")] = False,
    weights: Annotated[Optional[str], typer.Option("--weights", metavar="SOURCE", help="Also audit real weights: a file, directory, hf:ORG/NAME or zoo:NAME (DoReFa transform).")] = None,
    threads: Annotated[int, jobs_option()] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    version: VersionFlag = False,
) -> None:
    """Check the 'derivative 1 in expectation' argument step by step; verdicts computed from the numbers.

    One row per step of the argument (1 ... 8', 9) and per positive result (identity A, stochastic rounding,
    dither, the Fourier prediction); with --weights, steps 8' and 9 again on real weights (rows 8'W, 9W).
    Writes results/audit/ unless --out or --no-save say otherwise.
    """
    from stecheck.claims.audit.run import AUDIT_FIELDS, AuditConfig, audit, audit_samples
    from stecheck.config import parse_seed
    from stecheck.records import RUN_FILES, to_csv_text, to_json_text, write_run_files
    from stecheck.resultset import replace_set

    check_threads(threads)
    if no_save and out is not None:
        raise ConfigError("--no-save and --out contradict each other: pass one of them")
    cfg = AuditConfig(bits=tuple(bits) if bits else AuditConfig.bits, samples=samples, seed=parse_seed(seed)).validated()
    target = None if no_save else (out if out is not None else DEFAULT_OUT)
    with claimed_output(target) as locked:  # one writer per --out, for the whole run
        scanned, described = _scan_weights(weights, cfg, shows_progress(quiet), threads) if weights is not None else (None, None)
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
        console.print(audit_table(result.records, f"{TITLE} (seed {result.meta['seed']})", console.width))
        if target is not None:
            console.print(f"wrote {target}/records.csv, records.json, records.md, meta.json", markup=False)
