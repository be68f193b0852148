"""``stecheck plot``: figures from the records of results directories."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from stecheck.cli.support import VersionFlag, check_threads, claimed_output, jobs_option, progress_bar, stdout_console
from stecheck.errors import OutputError

__all__ = ["plot", "FigureFormat", "MAX_DPI"]

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
    version: VersionFlag = False,
) -> None:
    """Figures from the records of simulate and weights runs (read, never recomputed); prints the paths."""
    from stecheck.views.plots.runs import find_runs, load_run, plot_run

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


