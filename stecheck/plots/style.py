"""One consistent style for every stecheck figure, and atomic figure writing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, Iterable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["FIGURE_FORMATS", "STE_COLOR", "TRUE_COLOR", "apply_style", "new_figure", "save_figure"]

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


def save_figure(fig: Figure, stem: Path, formats: Iterable[str] = ("png",), dpi: int | None = None) -> list[Path]:
    """Write ``stem.<fmt>`` for each format through a temporary file and an atomic rename; close ``fig``.

    SVG and PDF carry no creation date, so the same figure gives the same bytes.
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
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            paths.append(target)
    finally:
        plt.close(fig)
    return paths
