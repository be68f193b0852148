"""``stecheck plot`` and ``stecheck report``: figures and a one-page report from results directories."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from stecheck.cli_support import VersionFlag, check_threads, claimed_output, emit, jobs_option, progress_bar, stdout_console
from stecheck.errors import OutputError

__all__ = ["plot", "report", "FigureFormat", "MAX_DPI"]

#: Highest raster resolution ``plot --dpi`` accepts.
MAX_DPI = 600


class FigureFormat(str, Enum):
    """File format of the figures."""

    png = "png"
    svg = "svg"
    pdf = "pdf"


RunDirs = Annotated[Optional[list[Path]], typer.Argument(metavar="DIR", help="Results directories (default: every run under results/).", show_default=False)]


def plot(
    results: RunDirs = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Write figures here (default: RESULTS_DIR/figures/; one subdirectory per run when several).")] = None,
    figure_format: Annotated[list[FigureFormat], typer.Option("--format", "-f", metavar="FORMAT", help="png, svg or pdf (repeatable).")] = [FigureFormat.png],  # noqa: B006
    dpi: Annotated[Optional[int], typer.Option("--dpi", metavar="N", help="Raster resolution (default 150).")] = None,
    jobs: Annotated[int, jobs_option("the figures do not depend on it")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    version: VersionFlag = None,
) -> None:
    """Figures from the records of simulate and weights runs (read, never recomputed); prints the paths."""
    from stecheck.plots.runs import find_runs, load_run, plot_run

    if dpi is not None and dpi <= 0:
        raise OutputError(f"dpi {dpi} must be a positive integer")
    if dpi is not None and dpi > MAX_DPI:
        raise OutputError(f"dpi {dpi} is above the limit of {MAX_DPI}: a raster figure's memory grows as dpi squared "
                          f"(print quality is 300-600)")
    check_threads(jobs, "job count")
    runs = find_runs(results or [])
    for run in runs:
        load_run(run)  # every run is checked before the first figure is written
    formats = tuple(dict.fromkeys(f.value for f in figure_format))
    console = stdout_console()
    with progress_bar(len(runs), "plot", quiet) as advance:
        for run in runs:
            target = run / "figures" if out is None else (out if len(runs) == 1 else out / run.name)
            with claimed_output(target):  # one writer per figures directory; its figures swap in together
                paths = plot_run(run, target, formats, dpi=dpi, jobs=jobs)
            if not paths:
                console.print(f"{run}: no figures for this kind of run (skipped)", markup=False)
            for path in paths:
                console.print(str(path), soft_wrap=True, markup=False)
            advance(1)


def report(
    results: RunDirs = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Write the report to FILE.md or FILE.html (default: Markdown on stdout).")] = None,
    version: VersionFlag = None,
) -> None:
    """One page per set of runs: verdicts, key tables, the figures of `stecheck plot`, provenance."""
    from stecheck.plots.runs import find_runs
    from stecheck.records import write_text_atomic
    from stecheck.report import build_report

    if out is not None and out.suffix.lower() not in (".md", ".html", ".htm"):
        raise OutputError(f"report file {str(out)!r} must end in .md or .html")
    runs = find_runs(results or [])
    if out is None:
        emit(build_report(runs, relative_to=Path(".").resolve()).to_markdown())
        return
    with claimed_output(out, directory=False) as locked:  # one writer per report file, replaced by one rename
        assert locked is not None
        document = build_report(runs, relative_to=locked.parent)
        text = document.to_html() if out.suffix.lower() in (".html", ".htm") else document.to_markdown()
        try:
            write_text_atomic(locked, text)
        except OSError as exc:
            raise OutputError(f"cannot write report {str(out)!r}: {exc.strerror or exc}") from None
    stdout_console().print(f"wrote {out}", markup=False)
