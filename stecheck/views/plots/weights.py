"""Figures of a ``weights`` run: tensors x k heatmaps and measured vs predicted SQNR.

Weights records carry (at least) ``tensor, size, transform, k, h, mean_n, var_n, ks_stat, mean_fd, ste,
sqnr_db, sqnr_uniform_db``. For a finite tensor these are exact properties of its weights (THEORY.md,
"Monte Carlo versus exact"); the figures only draw them. The uniform-noise model predicts
``SQNR = 10 log10(12 L^2 Var(r))``, about 6.02 dB per extra bit.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from stecheck.records import Record
from stecheck.views.plots._select import unique, values, where
from stecheck.views.plots.simulate import bit_colors
from stecheck.views.plots.style import panel_figure

__all__ = ["MAX_TENSORS", "weights_records", "heatmap_matrices", "weights_heatmaps", "sqnr_vs_k"]

#: At most this many tensors (the largest by size) are drawn in one heatmap.
MAX_TENSORS = 60


def weights_records(records: Sequence[Record]) -> list[Record]:
    """Records of the first transform and the smallest step h (one per tensor and k)."""
    if not records:
        return []
    transform = unique(records, "transform")[0]
    chosen = where(records, transform=transform)
    h_min = np.nanmin(values(chosen, "h")) if any(r.get("h") is not None for r in chosen) else None
    return chosen if h_min is None else [r for r in chosen if r.get("h") == h_min]


def _tensors(records: Sequence[Record]) -> list[str]:
    sizes: dict[str, float] = {}
    for rec in records:
        sizes.setdefault(rec["tensor"], float(rec.get("size") or 0))
    ordered = list(sizes)
    if len(ordered) > MAX_TENSORS:
        keep = set(sorted(ordered, key=lambda t: -sizes[t])[:MAX_TENSORS])
        ordered = [t for t in ordered if t in keep]
    return ordered


def heatmap_matrices(records: Sequence[Record]) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """``(tensors, bits, log10 E[D_h], 12 Var(n) - 1)`` as tensors x k arrays (NaN where missing or E[D_h] = 0)."""
    chosen = weights_records(records)
    tensors = _tensors(chosen)
    bits = sorted(unique(chosen, "k"))
    slope = np.full((len(tensors), len(bits)), math.nan)
    spread = np.full_like(slope, math.nan)
    row = {t: i for i, t in enumerate(tensors)}
    col = {k: j for j, k in enumerate(bits)}
    for rec in chosen:
        if rec["tensor"] not in row:
            continue
        i, j = row[rec["tensor"]], col[rec["k"]]
        fd = rec.get("mean_fd")
        if fd is not None and fd > 0:
            slope[i, j] = math.log10(fd)
        if rec.get("var_n") is not None:
            spread[i, j] = 12.0 * rec["var_n"] - 1.0
    return tensors, bits, slope, spread


def _symmetric_norm(data: np.ndarray) -> TwoSlopeNorm:
    finite = np.abs(data[np.isfinite(data)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound)


def weights_heatmaps(records: Sequence[Record]) -> Figure:
    """Figure 5a: tensors x k coloured by log10 E[D_h] (0 where the STE's 1 is right) and by 12 Var(n) - 1.

    White cells are missing values or E[D_h] = 0 (log undefined).
    """
    tensors, bits, slope, spread = heatmap_matrices(records)
    names = max((len(t) for t in tensors), default=4)
    fig, (ax_s, ax_v) = panel_figure(1, 2, 4.2, 0.6 + 0.16 * len(tensors), title_lines=2, left=0.6 + 0.05 * names, wspace=1.0,
                                     right=0.9, sharey=True)
    panels = (
        (ax_s, slope, "log10 E[D_h]", "log10 E[D_h]  (0: the STE's 1 is right)", "heat:log10_mean_fd"),
        (ax_v, spread, "12 Var(n) - 1", "12 Var(n) - 1  (0: uniform-noise variance)", "heat:var12_minus_1"),
    )
    for ax, data, label, title, gid in panels:
        image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="RdBu_r", norm=_symmetric_norm(data),
                          interpolation="nearest")
        image.set_gid(gid)
        ax.set_xticks(range(len(bits)), [str(k) for k in bits])
        ax.set_xlabel("bit width k")
        ax.set_title(title)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label=label, fraction=0.08, pad=0.03)
    ax_s.set_yticks(range(len(tensors)), tensors, fontsize=6.5)
    ax_s.set_ylabel("tensor")
    h = weights_records(records)[0].get("h") if tensors else None
    fig.suptitle(f"Is the STE's derivative 1 right for these weights?  E[D_h] (h = {h}) and Var(n), per tensor and k\n(white: E[D_h] = 0, log undefined)")
    return fig


def sqnr_vs_k(records: Sequence[Record]) -> Figure:
    """Figure 5b: measured SQNR against k per tensor, with the uniform-noise prediction (6.02 dB per bit)."""
    chosen = weights_records(records)
    tensors = _tensors(chosen)
    labelled = len(tensors) <= 16
    fig, ax = panel_figure(1, 1, 5.8, 3.4, right=2.8 if labelled else 0.25)
    colors = bit_colors(list(range(len(tensors))))
    for i, tensor in enumerate(tensors):
        recs = sorted(where(chosen, tensor=tensor), key=lambda r: r["k"])
        k = values(recs, "k")
        label = tensor if labelled else None
        ax.plot(k, values(recs, "sqnr_db"), marker="o", ms=2.5, lw=1.0, color=colors[i], label=label, gid=f"sqnr:{tensor}")
        ax.plot(k, values(recs, "sqnr_uniform_db"), ls="--", lw=0.8, color=colors[i], gid=f"predicted:{tensor}")
    ax.plot([], [], ls="--", color="0.3", label="uniform-noise prediction 10 log10(12 L² Var r)")
    ax.set_xlabel("bit width k")
    ax.set_ylabel("SQNR (dB)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6.5) if labelled else ax.legend(loc="upper left", fontsize=7)
    fig.suptitle("Measured vs predicted SQNR: does quantization noise follow the 6 dB/bit rule?")
    return fig
