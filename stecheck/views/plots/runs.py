"""Results directories -> the figures of each run (kind detected from ``meta["command"]``).

A run directory is one that contains ``records.json``. Known kinds: ``simulate`` (figures 1-4, or figure 6
for a sweep over point inputs) and ``weights`` (figure 5); other kinds are skipped, not rejected.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Final, Sequence

from matplotlib.figure import Figure

from stecheck.errors import StecheckError
from stecheck.records import Record, check_value_types, read_run
from stecheck.resultset import replace_set, target_path
from stecheck.views.plots.quantizers import has_quantizers, quantizer_panels, quantizer_slopes
from stecheck.views.plots.simulate import against_k, fourier_spectrum, noise_histograms, slope_vs_h
from stecheck.views.plots.style import FIGURE_FORMATS, save_figure
from stecheck.views.plots.variants import is_variants_run, rounding_variants
from stecheck.views.plots.weights import sqnr_vs_k, weights_heatmaps

__all__ = [
    "MAX_NOISE_FIGURES",
    "REQUIRED_FIELDS",
    "FIGURE_STEMS",
    "PlannedFigure",
    "is_figure_file",
    "find_runs",
    "load_run",
    "noise_inputs",
    "plan_figures",
    "plot_run",
]

#: Figure 1 has one row for each of at most this many inputs: those whose n is least uniform (largest KS).
MAX_NOISE_FIGURES: Final = 4

#: Fields a record of each known kind must have for its figures.
REQUIRED_FIELDS: Final = {
    "simulate": ("dist", "k", "rounding", "fd", "h", "samples", "mean_n", "mean_n_se", "mean_fd", "mean_fd_se", "ste"),
    "weights": ("tensor", "transform", "k", "h", "var_n", "mean_fd", "sqnr_db", "sqnr_uniform_db"),
}


#: File stems of every figure :func:`plan_figures` can plan.
FIGURE_STEMS: Final = ("slope_vs_h", "mean_and_slope_vs_k", "fourier", "noise", "variants", "weights_heatmap", "weights_sqnr",
                       "weights_quantizers", "quantizer_slope")


def is_figure_file(name: str) -> bool:
    """True for a file name a figures directory's set consists of (``STEM.FORMAT``)."""
    stem, _, ext = name.rpartition(".")
    return stem in FIGURE_STEMS and ext in FIGURE_FORMATS


@dataclass(frozen=True)
class PlannedFigure:
    """A figure of a run: file stem and the function that draws it."""

    stem: str
    draw: Callable[[], Figure]


def find_runs(paths: Sequence[Path], root: Path = Path("results")) -> list[Path]:
    """The run directories to plot: ``paths`` as given, or every run under ``root`` when none is given."""
    if paths:
        for path in paths:
            if Path(path).is_file():
                folder = Path(path).parent if str(Path(path).parent) else Path(".")
                raise StecheckError(f"{str(path)!r} is a file: pass the results folder that contains records.json, e.g. {str(folder)!r}")
            if not Path(path).is_dir():
                raise StecheckError(f"results directory {str(path)!r} does not exist")
            if not (Path(path) / "records.json").is_file():
                raise StecheckError(f"{str(path)!r} is not a results directory: records.json is missing")
        return [Path(p) for p in paths]
    if not root.is_dir():
        raise StecheckError(f"no results directory {str(root)!r}: run stecheck simulate first or name a results directory")
    runs = sorted(p.parent for p in root.rglob("records.json")
                  if "figures" not in p.parts and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not runs:
        raise StecheckError(f"no run under {str(root)!r} (a run directory contains records.json)")
    return runs


def load_run(run_dir: Path) -> tuple[dict, list[Record]]:
    """``(meta, records)`` of a run, checked to carry the fields its figures need (one-line errors)."""
    meta, records = read_run(run_dir)
    kind = meta.get("command")
    required = REQUIRED_FIELDS.get(kind) if isinstance(kind, str) else None
    if required is None:
        return meta, records
    if not records:
        raise StecheckError(f"{str(run_dir)!r} has no records to plot")
    check_value_types(records, repr(str(run_dir)))
    for index, rec in enumerate(records):
        missing = [f for f in required if f not in rec]
        if missing:
            raise StecheckError(f"{str(run_dir)!r}: record {index} of a {kind} run lacks field(s) {', '.join(missing)}")
    return meta, records


def plan_figures(meta: dict, records: Sequence[Record]) -> list[PlannedFigure]:
    """The figures of one run, by kind; an unknown kind gives none. The figures drawn against DoReFa's bit width k
    take its records only (a record without a ``quantizer`` field, from an older run, is DoReFa's); a run with
    other quantizers adds ``weights_quantizers`` (weights: one row per quantizer) or ``quantizer_slope``
    (simulate: one panel per quantizer)."""
    kind = meta.get("command")
    everything = list(records)
    records = [rec for rec in records if str(rec.get("quantizer") or "dorefa").startswith("dorefa")]
    if kind == "weights":
        planned = [PlannedFigure("weights_heatmap", lambda: weights_heatmaps(records)),
                   PlannedFigure("weights_sqnr", lambda: sqnr_vs_k(records))] if records else []
        if has_quantizers(everything):
            planned.append(PlannedFigure("weights_quantizers", lambda: quantizer_panels(everything)))
        return planned
    if kind != "simulate":
        return []
    extra = [PlannedFigure("quantizer_slope", lambda: quantizer_slopes(everything))] if has_quantizers(everything) else []
    if not records:
        return extra
    if is_variants_run(records):
        return [PlannedFigure("variants", lambda: rounding_variants(records)), *extra]
    planned = [
        PlannedFigure("slope_vs_h", lambda: slope_vs_h(records)),
        PlannedFigure("mean_and_slope_vs_k", lambda: against_k(records)),
        PlannedFigure("fourier", lambda: fourier_spectrum(records)),
    ]
    noisy = noise_inputs(records)
    if noisy:
        planned.append(PlannedFigure("noise", lambda: noise_histograms(records, noisy)))
    return planned + extra


def noise_inputs(records: Sequence[Record], most: int = MAX_NOISE_FIGURES) -> list[str]:
    """Inputs for figure 1: those with a recorded histogram of n, largest KS statistic over k first."""
    worst: dict[str, float] = {}
    for rec in records:
        if rec.get("hist_n"):
            ks = rec.get("ks_stat")
            worst[rec["dist"]] = max(worst.get(rec["dist"], -1.0), -1.0 if ks is None else float(ks))
    return sorted(worst, key=lambda d: -worst[d])[:most]


#: Records of the run being drawn, inherited by forked worker processes (see :func:`plot_run`).
_SHARED: dict[str, list[PlannedFigure]] = {}


def _draw_and_save(index: int, stem: Path, formats: Sequence[str], dpi: int | None) -> list[Path]:
    return save_figure(_SHARED["planned"][index].draw(), stem, formats, dpi=dpi, tight=False)


def plot_run(
    run_dir: Path, out_dir: Path | None = None, formats: Sequence[str] = ("png",), dpi: int | None = None, jobs: int = 1
) -> list[Path]:
    """Draw every figure of the run in ``run_dir`` into ``out_dir`` (default ``run_dir/figures``).

    The figures replace the previous ones all at once (:func:`stecheck.resultset.replace_set`); other
    files in ``out_dir`` are kept. With ``jobs > 1`` the figures are drawn by that many forked processes (each figure is independent; the
    files are the same as with one job). Paths are returned in the planned order.
    """
    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise StecheckError(f"unknown figure format {fmt!r}: expected one of {', '.join(FIGURE_FORMATS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise StecheckError(f"job count {jobs!r} must be a positive integer")
    meta, records = load_run(run_dir)
    planned = plan_figures(meta, records)
    if not planned:
        return []
    target = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    relative = replace_set(target_path(target), lambda directory: _draw_all(planned, directory, formats, dpi, jobs), is_figure_file)
    return [target / path for path in relative]


def _draw_all(planned: Sequence[PlannedFigure], directory: Path, formats: Sequence[str], dpi: int | None, jobs: int) -> list[Path]:
    """Draw the planned figures into ``directory``: paths relative to it, in the planned order."""
    _SHARED["planned"] = list(planned)
    try:
        if jobs == 1 or len(planned) == 1 or "fork" not in multiprocessing.get_all_start_methods():
            done = [_draw_and_save(i, directory / fig.stem, formats, dpi) for i, fig in enumerate(planned)]
        else:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(jobs, len(planned)), mp_context=context) as pool:
                futures = [pool.submit(_draw_and_save, i, directory / fig.stem, formats, dpi) for i, fig in enumerate(planned)]
                done = [future.result() for future in futures]
    finally:
        _SHARED.clear()
    return [path.relative_to(directory) for paths in done for path in paths]
