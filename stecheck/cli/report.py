"""``stecheck report``: a one-page report (Markdown or HTML) from results directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from stecheck.cli.plot import RunDirs
from stecheck.cli.support import VersionFlag, claimed_output, emit, stdout_console
from stecheck.errors import OutputError

__all__ = ["report"]


def report(
    results: RunDirs = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Write the report to FILE.md or FILE.html (default: Markdown on stdout).")] = None,
    version: VersionFlag = False,
) -> None:
    """One page per set of runs: verdicts, key tables, the figures of `stecheck plot`, provenance."""
    from stecheck.records import write_text_atomic
    from stecheck.views.plots.runs import find_runs
    from stecheck.views.report import build_report

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
