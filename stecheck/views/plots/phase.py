"""Figures of ``stecheck phase``: the E[D] map with its tolerance contour, and the worst case per family."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from matplotlib.colors import LogNorm

from stecheck.claims.phase.map import PhaseMap
from stecheck.records import Record
from stecheck.views.plots.style import TRUE_COLOR, new_figure, save_figure

__all__ = ["plot_phase_map", "plot_worst_case"]

#: Colour range of E[D] (log scale, centred on the STE's 1).
_VMIN, _VMAX = 0.05, 20.0


def _step_label(eta: float) -> str:
    return "h -> 0" if eta == 0 else f"L h = {eta:g}"


def plot_phase_map(maps: Sequence[PhaseMap], tolerance: float, stem: Path, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Heatmap of E[D] (CDF sums) over (sigma_s, offset), one panel per family, with the contour
    ``|E[D] - 1| = tolerance``; the offset axis is closed at 1 (= 0, periodic)."""
    cols = min(2, len(maps))
    rows = math.ceil(len(maps) / cols)
    fig, axes = new_figure(4.2 * cols, 3.2 * rows, nrows=rows, ncols=cols, squeeze=False, sharex=True, sharey=True)
    flat = list(np.ravel(axes))
    mesh = None
    for ax, pm in zip(flat, maps):
        offset = np.append(pm.offset, 1.0)
        values = np.vstack([pm.mean_fd_cdf.T, pm.mean_fd_cdf[:, :1].T])
        mesh = ax.pcolormesh(pm.sigma, offset, np.clip(values, _VMIN, _VMAX), shading="nearest", cmap="RdBu_r",
                             norm=LogNorm(_VMIN, _VMAX), rasterized=True)
        ax.contour(pm.sigma, offset, np.abs(values - 1.0), levels=[tolerance], colors="k", linewidths=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{pm.family.name}, {_step_label(pm.eta)}")
        ax.grid(False)
    for ax in flat[len(maps):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("sigma_s = L * sd(r)")
    for ax in axes[:, 0]:
        ax.set_ylabel("offset = L * centre mod 1")
    assert mesh is not None
    bar = fig.colorbar(mesh, ax=flat, shrink=0.85)
    bar.set_label(f"E[D] (black: |E[D] - 1| = {tolerance:g})")
    return save_figure(fig, stem, formats)


def plot_worst_case(map_records: Sequence[Record], rule_records: Sequence[Record], tolerance: float, stem: Path,
                    formats: Iterable[str] = ("png",)) -> list[Path]:
    """``max over offsets |E[D] - 1|`` against sigma_s per family (log axes), the tolerance line and
    each family's ``sigma_s*`` (dashed)."""
    fig, ax = new_figure(6.4, 4.0)
    stars = {rec["family"]: rec["sigma_s_star"] for rec in rule_records}
    eta = map_records[0]["lh"] if map_records else 0.0
    for i, family in enumerate(dict.fromkeys(rec["family"] for rec in map_records)):
        rows = [rec for rec in map_records if rec["family"] == family]
        sigma = np.array([rec["sigma_s"] for rec in rows])
        worst = np.maximum(np.array([rec["worst_dev"] for rec in rows]), 1e-16)
        color = f"C{i}"
        ax.plot(sigma, worst, color=color, lw=1.2, label=f"{family} (sigma_s* = {stars[family]:.3g})")
        ax.axvline(stars[family], color=color, ls="--", lw=0.8)
    ax.axhline(tolerance, color=TRUE_COLOR, ls=":", lw=1.0, label=f"tolerance {tolerance:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 1e2)
    ax.set_xlabel("sigma_s = L * sd(r)")
    ax.set_ylabel("max over offsets |E[D] - 1|")
    ax.set_title(f"Worst case over the centre offset, {_step_label(eta)}")
    ax.legend(loc="lower left")
    return save_figure(fig, stem, formats)
