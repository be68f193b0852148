"""One consistent style for every stecheck figure, and atomic figure writing."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Final, Iterable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from stecheck.records import FILE_MODE  # noqa: E402

__all__ = [
    "FIGURE_FORMATS", "STE_COLOR", "TRUE_COLOR", "apply_style", "new_figure", "inch_margins", "panel_figure", "save_figure",
    "symlog_y",
]

FIGURE_FORMATS: Final = ("png", "svg", "pdf")
#: Reference-line colours: the STE's claimed value 1 and the true derivative 0.
STE_COLOR: Final = "#d62728"
TRUE_COLOR: Final = "#555555"

_RC: Final = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "svg.hashsalt": "stecheck",
    "pdf.compression": 6,
}


def apply_style() -> None:
    """Set the stecheck rcParams (idempotent)."""
    plt.rcParams.update(_RC)


def new_figure(width: float = 6.4, height: float = 4.0, **subplots: object) -> tuple[Figure, object]:
    """A styled figure and its axes (``plt.subplots`` arguments pass through)."""
    apply_style()
    fig, axes = plt.subplots(figsize=(width, height), **subplots)  # type: ignore[arg-type]
    return fig, axes


def inch_margins(
    fig: Figure, left: float = 0.75, right: float = 0.25, top: float = 0.8, bottom: float = 0.6,
    wspace: float = 0.6, hspace: float = 0.6,
) -> None:
    """Place the subplot grid with fixed margins and gaps in inches.

    A fixed layout needs no extra draw (``tight_layout`` and ``bbox_inches="tight"`` each cost one), which
    matters when a run has many figures; save such figures with ``save_figure(..., tight=False)``.
    """
    width, height = fig.get_size_inches()
    nrows, ncols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry() if fig.axes else (1, 1)
    axis_w = max((width - left - right - (ncols - 1) * wspace) / ncols, 0.1)
    axis_h = max((height - top - bottom - (nrows - 1) * hspace) / nrows, 0.1)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=wspace / axis_w, hspace=hspace / axis_h)


def panel_figure(
    nrows: int, ncols: int, panel_w: float, panel_h: float, legend_rows: int = 0, title_lines: int = 1,
    left: float = 0.75, right: float = 0.25, wspace: float = 0.6, hspace: float = 0.6, **subplots: object,
) -> tuple[Figure, object]:
    """A styled grid of ``nrows x ncols`` panels of a given size (inches) with room for a suptitle of
    ``title_lines`` lines above and a figure legend of ``legend_rows`` rows below (see :func:`inch_margins`).
    """
    top = 0.35 + 0.2 * title_lines
    bottom = 0.55 + 0.17 * legend_rows
    width = left + right + ncols * panel_w + (ncols - 1) * wspace
    height = top + bottom + nrows * panel_h + (nrows - 1) * hspace
    fig, axes = new_figure(width, height, nrows=nrows, ncols=ncols, **subplots)
    inch_margins(fig, left=left, right=right, top=top, bottom=bottom, wspace=wspace, hspace=hspace)
    return fig, axes


def save_figure(fig: Figure, stem: Path, formats: Iterable[str] = ("png",), dpi: int | None = None, tight: bool = True) -> list[Path]:
    """Write ``stem.<fmt>`` for each format through a temporary file and an atomic rename; close ``fig``.

    SVG and PDF carry no creation date, so the same figure gives the same bytes. ``tight=False`` keeps the
    figure's own extent (for figures laid out with :func:`inch_margins`), saving one draw.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for fmt in formats:
            target = stem.with_suffix(f".{fmt}")
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".{fmt}")
            os.close(fd)
            try:
                metadata = {"Software": None} if fmt == "png" else {"Date": None} if fmt == "svg" else {"CreationDate": None}
                with plt.rc_context({"savefig.bbox": "tight" if tight else "standard"}):
                    fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
                os.chmod(tmp, FILE_MODE)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            paths.append(target)
    finally:
        plt.close(fig)
    return paths


def _plain_number(value: float, _pos: object = None) -> str:
    """A tick label as a plain number: 0, 0.5, 2, 20, 500, -5 (no 10^k)."""
    return f"{value:g}"


def symlog_y(ax: object, linthresh: float, linscale: float) -> None:
    """A symmetric-log y axis labelled at 1, 2 and 5 times each power of ten (and 0, and linthresh/2).

    matplotlib's default symlog ticks are the powers of ten only, so a panel spanning 0 to 40 reads
    0, 10^0, 10^1; these labels are plain numbers at every 1-2-5 step inside the axis range.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_yscale("symlog", linthresh=linthresh, linscale=linscale)  # type: ignore[attr-defined]
    low, high = ax.get_ylim()  # type: ignore[attr-defined]
    span = max(abs(low), abs(high), linthresh)
    for steps in ((1.0, 2.0, 5.0), (1.0, 5.0), (1.0,)):  # fewer steps per decade when the range is wide
        ticks = {0.0, linthresh / 2, -linthresh / 2}
        decade = 10.0 ** math.floor(math.log10(linthresh))
        while decade <= span * 10:
            ticks.update(v for mult in steps for v in (mult * decade, -mult * decade) if abs(v) >= linthresh)
            decade *= 10
        inside = sorted(t for t in ticks if low <= t <= high)
        if len(inside) <= 9:
            break
    ax.yaxis.set_major_locator(FixedLocator(inside))  # type: ignore[attr-defined]
    ax.yaxis.set_major_formatter(FuncFormatter(_plain_number))  # type: ignore[attr-defined]
    ax.yaxis.set_minor_locator(NullLocator())  # type: ignore[attr-defined]
