"""``stecheck weights``: the rounding error of real trained weights, tensor by tensor, against the STE's 1.

Parses options, opens the source (:mod:`stecheck.weights`), scans, renders. Exit 0 when the scan ran,
2 for a user error (one line on stderr, no files written).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Optional, Sequence

import typer

from stecheck.cli.support import (
    OutputFormat, VersionFlag, check_threads, claimed_output, cluster_option, cluster_session, emit, jobs_option, progress_bar,
    shows_progress, stdout_console,
)
from stecheck.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from stecheck.cli.tables import Column
    from stecheck.records import Record

__all__ = ["DEFAULT_OUT", "EXACT_NOTE", "print_summary", "summary_columns", "weights_command", "zoo_table"]

DEFAULT_OUT: Final = Path("results") / "weights"
#: :data:`stecheck.weights.TRANSFORMS`, for the help text (a test keeps them equal).
TRANSFORM_HELP: Final = ("dorefa", "absmax", "minmax")
#: :data:`stecheck.weights.roles.ROLES`, for the help text (a test keeps them equal).
ROLE_HELP: Final = ("weight", "bias", "norm", "buffer", "quantized", "other")
EXACT_NOTE: Final = (
    "E[n], Var(n), KS statistic, |E exp(2 pi i l n)|, E[D_h] and SQNR are exact population values of each tensor; "
    "the KS p-value answers a sampling question (could the tensor be a sample of an input with uniform n?)."
)


def zoo_table() -> Table:
    """The zoo entries."""
    from rich.table import Table

    from stecheck.weights.zoo import ZOO

    table = Table(title="stecheck weights zoo (stecheck weights zoo:NAME)", title_justify="left", header_style="bold")
    for col in ("name", "package", "file", "architecture", "MB", "description"):
        table.add_column(col)
    for e in ZOO.values():
        table.add_row(e.name, f"{e.package}=={e.version}", e.member.rsplit("/", 1)[-1], e.architecture,
                      f"{e.size / 1e6:.1f}", e.description)
    return table


def summary_columns(records: Sequence[Record]) -> tuple[list[Column], list[Column]]:
    """Columns of the whole-model table (one row per k, h) and of the per-tensor table (one row per tensor, h)."""
    from stecheck.cli.tables import Column
    from stecheck.records import fmt
    from stecheck.safe_io import visible

    agg = [r for r in records if r["kind"] == "aggregate"]
    dorefa_only = all(str(r.get("quantizer") or "dorefa").startswith("dorefa") for r in records)
    aggregate = [
        Column("k", [str(r["k"]) for r in agg]),
        Column("h", [fmt(r["h"]) for r in agg], priority=10),
        Column("E[n]", [fmt(r.get("mean_n")) for r in agg], priority=1),
        Column("12 Var(n)", [fmt(r.get("var12_n")) for r in agg], priority=2),
        Column("KS", [fmt(r.get("ks_stat")) for r in agg], priority=6),
        Column("|phi(2pi)|", [fmt((r.get("fourier_abs") or [None])[0]) for r in agg], priority=7),
        Column("E[D_h]", [fmt(r.get("mean_fd")) for r in agg], priority=1),
        Column("STE", [fmt(r["ste"]) for r in agg], priority=5),
        Column("SQNR dB", [fmt(r.get("sqnr_db")) for r in agg], priority=8),
        Column("uniform dB", [fmt(r.get("sqnr_uniform_db")) for r in agg], priority=9),
        Column("share holding", [fmt(r.get("share_holds")) for r in agg], priority=3),
    ]
    if not dorefa_only:  # DoReFa throughout: k says it all
        aggregate.insert(0, Column("quantizer", [visible(str(r.get("quantizer") or "-")) for r in agg], "left", 0))
    rows: list[list[str]] = []
    seen = set()
    tensors = [r for r in records if r["kind"] == "tensor"]
    for r in tensors:
        if (r["tensor"], r["h"]) in seen:
            continue
        seen.add((r["tensor"], r["h"]))
        same = [x for x in tensors if x["tensor"] == r["tensor"] and x["h"] == r["h"]]
        holds = "degenerate" if r["degenerate"] else fmt(r["smallest_k_holds"]) if r["smallest_k_holds"] else "never"
        rows.append([visible(r["tensor"]), r["role"], fmt(r["shape"]), r["dtype"], str(r["size"]), str(r["nonfinite"]), fmt(r["h"]), holds,
                     " ".join(f"{_label(x)}:{fmt(x.get('var12_n'), 3)}" for x in same),
                     " ".join(f"{_label(x)}:{fmt(x.get('mean_fd'), 3)}" for x in same)])
    spec = (("tensor", "left", 0, True, True), ("role", "left", 4, False, True),
            ("shape", "left", 5, False, True), ("dtype", "left", 6, False, True),
            ("size", "right", 4, False, True), ("non-finite", "right", 7, False, True), ("h", "right", 8, False, True),
            ("claim holds from k", "right", 1, False, True), ("12 Var(n) at k", "left", 3, True, False),
            ("E[D_h] at k", "left", 2, True, False))
    per_tensor = [Column(header, [row[i] for row in rows], justify, priority, text, split)
                  for i, (header, justify, priority, text, split) in enumerate(spec)]
    return aggregate, per_tensor


def _label(rec: Record) -> str:
    """A record's key in the per-tensor k:value pairs: k for DoReFa, the quantizer spec otherwise."""
    from stecheck.safe_io import visible

    quantizer = str(rec.get("quantizer") or "dorefa")
    return str(rec["k"]) if quantizer.startswith("dorefa") else visible(quantizer)


def print_summary(console: Console, records: Sequence[Record], title: str, wide: bool = False) -> None:
    """The whole-model and per-tensor tables, fitted to the console's width (all columns when ``wide``)."""
    from stecheck.cli.tables import print_table

    aggregate, per_tensor = summary_columns(records)
    print_table(console, f"{title}: whole model, size-weighted", aggregate, wide)
    print_table(console, f"{title}: per tensor", per_tensor, wide, caption="k:value pairs, one per bit width k.")


def weights_command(
    source: Annotated[Optional[str], typer.Argument(metavar="SOURCE", help="A weight file or directory, hf:ORG/NAME[@REV], zoo:NAME, or a safetensors URL (s3://, gs://, https://, file://: fsspec).")] = None,
    bits: Annotated[Optional[list[str]], typer.Option("--bits", "-k", metavar="K", help="Bit widths: 3, 1-8 or 1,2,6-8 (repeatable; default 1-8).")] = None,
    h: Annotated[Optional[list[float]], typer.Option("--h", metavar="FLOAT", help="Forward finite-difference step (repeatable; default 1e-3).")] = None,
    transform: Annotated[str, typer.Option("--transform", "-t", metavar="TRANSFORM", help=f"w -> r in [0, 1]: {' | '.join(TRANSFORM_HELP)}.")] = "dorefa",
    quantizer: Annotated[Optional[list[str]], typer.Option("--quantizer", "-Q", metavar="SPEC", help="Quantizer (repeatable): dorefa (default; after --transform, at every --bits), dorefa(k), 'absmax(4,group=128)', 'absmax(8)' (per channel), 'affine(4,group=128)', 'fp(e4m3,axis=none)', 'mx(fp4)', 'nvfp4'; scales from each tensor, held fixed for D_h.")] = None,
    include: Annotated[Optional[list[str]], typer.Option("--include", metavar="REGEX", help="Only tensors whose name matches this regex (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", metavar="REGEX", help="Skip tensors whose name matches this regex (repeatable).")] = None,
    role: Annotated[Optional[list[str]], typer.Option("--role", metavar="ROLES", help=f"Roles to scan, comma-separated (repeatable; default weight): {','.join(ROLE_HELP)}.")] = None,
    all_tensors: Annotated[bool, typer.Option("--all", help="Every floating tensor, whatever its role.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Write records.csv/json/md and meta.json here (zoo: default results/weights/NAME).")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files (not with --out).")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout: table, csv, json or md.")] = OutputFormat.table,
    list_zoo: Annotated[bool, typer.Option("--list-zoo", help="List the built-in zoo of real networks and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    threads: Annotated[int, jobs_option("tensors scanned in parallel; records do not depend on it")] = 1,
    cluster: Annotated[Optional[str], cluster_option()] = None,
    version: VersionFlag = False,
) -> None:
    """Exact rounding-error statistics of real weights per tensor and k: is n uniform, is E[D_h] = 1?"""
    from stecheck.config import _check_step, parse_bits
    from stecheck.core.quantizers import parse_quantizer
    from stecheck.records import RUN_FILES, provenance, to_csv_text, to_json_text, to_markdown_text, write_run_files
    from stecheck.resultset import replace_set
    from stecheck.safe_io import safe_name, visible
    from stecheck.weights import TRANSFORMS, WEIGHTS_FIELDS, WEIGHTS_MD_COLUMNS, open_source, scan, select
    from stecheck.weights.roles import DEFAULT_ROLES, ROLES, parse_roles
    from stecheck.weights.scan import left_out
    from stecheck.weights.zoo import lookup

    if no_save and out is not None:
        raise ConfigError("--no-save and --out contradict each other: pass one of them")
    if list_zoo:
        stdout_console().print(zoo_table())
        return
    if not source:
        raise ConfigError("missing SOURCE: a weight file or directory, hf:ORG/NAME[@REV], zoo:NAME or a URL (see --list-zoo)")
    check_threads(threads)
    label = safe_name(source)  # a non-UTF-8 file name holds lone surrogates: escaped in every output
    ks = parse_bits(bits or ["1-8"])
    roles = parse_roles(role) if role else DEFAULT_ROLES
    if not roles:
        raise ConfigError(f"--role names no role: expected a comma-separated list of {', '.join(ROLES)}")
    steps = tuple(sorted({_check_step(x) for x in (h or [1e-3])}))
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")
    quantizers = tuple(dict.fromkeys(parse_quantizer(spec).spec for spec in (quantizer or ["dorefa"])))
    if source.startswith("zoo:"):
        lookup(source[4:])  # an unknown name fails before any directory is created
    target = out if out is not None else (DEFAULT_OUT / source[4:] if source.startswith("zoo:") else None)
    if no_save:
        target = None
    # one writer per --out; SIGINT/SIGTERM unwind the run (set up by the command group) and leave --out as it was
    with cluster_session(cluster, threads, quiet) as dask, claimed_output(target) as locked:
        start = time.perf_counter()
        opened = open_source(source, progress=shows_progress(quiet))
        if "url" in opened.info:
            label = opened.label  # the URL without credentials
        tensors = select(opened.tensors, include or (), exclude or (), all_tensors, roles)
        summary = left_out(opened.tensors, include or (), exclude or (), all_tensors, roles)
        with progress_bar(sum(t.size for t in tensors), f"weights {visible(label)}", quiet) as advance:
            records = scan(label, tensors, ks, steps, transform, progress=advance, mapper=None if dask is None else dask.map,
                           quantizers=quantizers, threads=threads)
        config = {"source": label, "bits": list(ks), "h": list(steps), "transform": transform, "quantizers": list(quantizers),
                  "include": list(include or ()),
                  "exclude": list(exclude or ()), "all": all_tensors, "roles": list(ROLES if all_tensors else roles)}
        meta = provenance(
            "weights", config, None, time.perf_counter() - start, source_info={"format": opened.format, **opened.info},
            tensors_scanned=len(tensors), tensors_skipped=len(opened.tensors) - len(tensors), left_out=summary, exact=EXACT_NOTE,
            threads=threads, **({"cluster": dask.describe()} if dask is not None else {}),
            claim="claim_holds: |E[D_h] - 1| <= 0.05 and |12 Var(n) - 1| <= 0.05",
        )
        if any(not spec.startswith("dorefa") for spec in quantizers):
            from stecheck.weights.quantized import QUANTIZER_NOTE

            meta["quantizer_note"] = QUANTIZER_NOTE
        title = f"stecheck weights: {label} ({transform})"
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
        console.print(EXACT_NOTE, markup=False)
        print_summary(console, records, title)
        console.print(summary["text"], markup=False)
        if target is not None:
            console.print(f"wrote {target}/records.csv, records.json, records.md, meta.json", markup=False)
