"""``stecheck check``: evaluate bounds files, print verdicts, exit 1 when a bound fails.

Exit codes: 0 every bound holds, 1 at least one fails, 2 a usage or bounds-file error (one line on
stderr, no output file written).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, Sequence

import typer

from stecheck.cli.support import (
    EXIT_CHECK_FAILED, VersionFlag, check_threads, claimed_output, cluster_option, cluster_session, emit, jobs_option, progress_bar,
    stdout_console,
)
from stecheck.errors import OutputError

if TYPE_CHECKING:
    from rich.table import Table

    from stecheck.claims.check.bounds import Bound
    from stecheck.claims.check.evaluate import CheckResult
    from stecheck.records import Record

__all__ = ["check", "CheckFormat", "verdict_table", "junit_xml", "CHECK_MD_COLUMNS"]


class CheckFormat(str, Enum):
    """What ``stecheck check`` writes (to stdout, or to ``--out FILE``)."""

    table = "table"
    json = "json"
    junit = "junit"
    md = "md"


#: Columns of the Markdown verdict table (record key, header).
CHECK_MD_COLUMNS = (
    ("bound", "bound"),
    ("source", "source"),
    ("k", "k"),
    ("statistic", "statistic"),
    ("value", "value"),
    ("se", "SE"),
    ("condition", "condition"),
    ("verdict", "verdict"),
)


def _source_cell(rec: Record) -> str:
    """The source, and the quantizer when it is not DoReFa (``normal(0,0.3) / absmax(4,scale=0.1)``)."""
    quantizer = str(rec.get("quantizer") or "dorefa")
    return rec["source"] if quantizer.startswith("dorefa") else f"{rec['source']} / {quantizer}"


def _verdict_word(rec: Record) -> str:
    return "pass" if rec["passed"] else "FAIL"


def _summary(verdicts: Sequence[Record]) -> str:
    failed = sum(not v["passed"] for v in verdicts)
    return f"{len(verdicts) - failed} of {len(verdicts)} bounds hold" + (f", {failed} failed" if failed else "")


def verdict_table(verdicts: Sequence[Record], title: str, width: int | None = None) -> Table:
    """A rich table: bound, source, k, statistic, value, SE, condition, verdict, fitted to ``width`` columns
    (:mod:`stecheck.cli.tables`: numbers are never cut; text wraps; None shows every column)."""
    from stecheck.cli.tables import Column, fitted_table
    from stecheck.records import fmt

    columns = [
        Column("bound", [rec["bound"] for rec in verdicts], "left", 0, text=True),
        Column("source", [_source_cell(rec) for rec in verdicts], "left", 3, text=True),
        Column("k", [str(rec["k"]) for rec in verdicts], "right", 0),
        Column("statistic", [rec["statistic"] for rec in verdicts], "left", 4),
        Column("value", [fmt(rec["value"]) for rec in verdicts], "right", 0),
        Column("SE", [fmt(rec["se"], 2) if rec.get("upper") is None else f"n/a (≤ {fmt(rec['upper'], 2)})" for rec in verdicts], "right", 2),
        Column("condition", [_condition_cell(rec) for rec in verdicts], "left", 1, text=True, split_words=False),
        Column("verdict", [_verdict_word(rec) for rec in verdicts], "left", 0),
    ]
    table = fitted_table(title, columns, width, caption=_summary(verdicts), hint="a wider terminal or --format md")
    table.caption_justify = "left"
    return table


def _condition_cell(rec: Record) -> str:
    """The condition, with the exact target's value when the bound targets ``exact``."""
    from stecheck.records import fmt

    if rec["condition"].endswith(" of exact") and rec["target"] is not None:
        return f"{rec['condition']} ({fmt(rec['target'])})"
    return rec["condition"]


def markdown_text(verdicts: Sequence[Record], title: str) -> str:
    """The verdicts as a Markdown table, with the summary line under it."""
    from stecheck.records import to_markdown_text

    rows = [{**rec, "source": _source_cell(rec), "condition": _condition_cell(rec), "verdict": _verdict_word(rec)} for rec in verdicts]
    return to_markdown_text(rows, CHECK_MD_COLUMNS, title) + "\n" + _summary(verdicts) + "\n"


def junit_xml(result: CheckResult, suite_name: str) -> str:
    """JUnit XML: one ``testsuite`` per bounds file, one ``testcase`` per bound and bit width.

    A failed bound is a ``<failure>`` whose message gives the value, its standard error and the condition;
    the seeds of the engine runs are ``<property>`` elements, so a CI failure can be reproduced.
    """
    import xml.etree.ElementTree as ET

    from stecheck.records import fmt

    failures = sum(not v["passed"] for v in result.verdicts)
    root = ET.Element("testsuites", name=suite_name, tests=str(len(result.verdicts)), failures=str(failures),
                      errors="0", time=f"{result.wall_time_s:.3f}")
    files = list(dict.fromkeys(v["file"] for v in result.verdicts))
    for file in files:
        cases = [v for v in result.verdicts if v["file"] == file]
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(cases)),
                              failures=str(sum(not v["passed"] for v in cases)), errors="0", skipped="0", time="0")
        props = ET.SubElement(suite, "properties")
        used = {(v["source"], v["seed"]) for v in cases}
        for run in result.runs:
            if run["seed"] is None or (run["source"], run["seed"]) not in used:
                continue
            ET.SubElement(props, "property", name=f"seed {run['source']} samples={run['samples']}", value=run["seed"])
        for rec in cases:
            case = ET.SubElement(suite, "testcase", classname=Path(file).stem, name=f"{rec['bound']} [k={rec['k']}]", time="0")
            text = f"{rec['statistic']} = {fmt(rec['value'])}" + ("" if rec["se"] is None else f" ± {fmt(rec['se'], 2)}")
            if not rec["passed"]:
                failure = ET.SubElement(case, "failure", type="BoundFailed", message=f"{text}: not {_condition_cell(rec)}")
                failure.text = f"{rec['source']}, quantizer={rec['quantizer']}, k={rec['k']}, rounding={rec['rounding']}, fd={rec['fd']}, h={rec['h']}, samples={rec['samples']}, seed={rec['seed']}"
            else:
                ET.SubElement(case, "system-out").text = f"{text}: {_condition_cell(rec)}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _plain(table: Table) -> str:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=320, color_system=None, soft_wrap=False)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _meta(result: CheckResult, files: Sequence[Path], threads: int) -> dict[str, Any]:
    from stecheck.records import provenance

    meta = provenance("check", {"bounds_files": [str(f) for f in files]}, seed=None, wall_time_s=result.wall_time_s,
                      threads=threads, runs=result.runs)
    meta["passed"] = result.passed
    meta["summary"] = _summary(result.verdicts)
    return meta


def check(
    bounds_files: Annotated[list[Path], typer.Argument(metavar="BOUNDS.toml...", help="Bounds TOML files (see the README, 'Guarding claims in CI').", show_default=False)],
    output_format: Annotated[CheckFormat, typer.Option("--format", "-f", metavar="FORMAT", help="table, json, junit or md.")] = CheckFormat.table,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Write the --format output to this file (the table still goes to stdout).")] = None,
    threads: Annotated[int, jobs_option("verdicts do not depend on it")] = 1,
    cluster: Annotated[Optional[str], cluster_option()] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    version: VersionFlag = False,
) -> None:
    """Evaluate every bound of the bounds files; exit 0 if all hold, 1 if any fails, 2 on a file error."""
    from stecheck.claims.check.bounds import load_bounds
    from stecheck.claims.check.evaluate import evaluate, total_check_samples

    check_threads(threads)
    bounds: list[Bound] = []
    for path in bounds_files:
        bounds.extend(load_bounds(path))
    with cluster_session(cluster, threads, quiet) as dask, claimed_output(out, directory=False) as locked:  # one writer per --out file, for the whole run
        with progress_bar(total_check_samples(bounds), "check", quiet) as advance:
            result = evaluate(bounds, threads=threads, progress=advance, cluster=dask)
        _write_outputs(result, bounds_files, threads, output_format, out, locked)
    if not result.passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _write_outputs(result: CheckResult, bounds_files: Sequence[Path], threads: int, output_format: CheckFormat,
                   out: Optional[Path], locked: Optional[Path]) -> None:
    """The --format text to ``--out`` (one atomic rename) or stdout; the table on stdout."""
    from stecheck.claims.check.evaluate import CHECK_FIELDS
    from stecheck.records import to_json_text, write_text_atomic
    from stecheck.safety import raise_if_interrupted

    raise_if_interrupted()  # a signal whose exception a library swallowed: no verdicts are shown or written
    title = "stecheck check: " + ", ".join(str(p) for p in bounds_files)
    table = verdict_table(result.verdicts, title)  # every column: for a file
    console = stdout_console()
    shown = verdict_table(result.verdicts, title, console.width)  # the columns that fit the terminal
    if output_format is CheckFormat.json:
        text = to_json_text(_meta(result, bounds_files, threads), [{f: v[f] for f in CHECK_FIELDS} for v in result.verdicts])
    elif output_format is CheckFormat.junit:
        text = junit_xml(result, "stecheck check")
    elif output_format is CheckFormat.md:
        text = markdown_text(result.verdicts, title)
    else:
        text = _plain(table)
    if out is not None and locked is not None:
        try:
            write_text_atomic(locked, text)
        except OSError as exc:
            raise OutputError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
        console.print(shown)
        console.print(f"wrote {out}", markup=False)
    elif output_format is CheckFormat.table:
        console.print(shown)
    else:
        emit(text)
