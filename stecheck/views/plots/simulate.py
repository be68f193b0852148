"""Figures of a ``simulate`` run: the rounding error n, the finite-difference slope, the Fourier view.

Every function takes records (fields :data:`stecheck.records.SIMULATE_FIELDS`) and returns a
:class:`~matplotlib.figure.Figure`; nothing is recomputed. Data artists carry a ``gid`` naming what they
show (``"mc:<input>"``, ``"exact:<input>"``, ...), so tests read the plotted data back from the figure.
Theory: THEORY.md (identity A, the Fourier view of Sripad and Snyder 1977).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from stecheck.records import Record, fmt
from stecheck.views.plots._select import Z_BAND, first_per, headline_bits, preferred_rounding, unique, values, where
from stecheck.views.plots.style import STE_COLOR, TRUE_COLOR, panel_figure, symlog_y

__all__ = [
    "MAX_LINES",
    "MAX_PANELS",
    "noise_histograms",
    "slope_vs_h",
    "against_k",
    "fourier_spectrum",
    "bit_colors",
    "input_colors",
]

UNIFORM_COLOR = "#2ca02c"
#: At most this many inputs are drawn as lines in one panel (the first ones), and as panels of figure 4.
MAX_LINES = 10
MAX_PANELS = 9


def _first_inputs(records: Sequence[Record], most: int) -> tuple[list[str], str]:
    """The first ``most`` inputs and a title note when some were left out."""
    inputs = unique(records, "dist")
    note = f"  [first {most} of {len(inputs)} inputs]" if len(inputs) > most else ""
    return inputs[:most], note


def bit_colors(bits: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
    """One colour per bit width, dark (k small) to light (k large) along viridis."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    span = max(len(bits) - 1, 1)
    return {k: cmap(0.9 * i / span) for i, k in enumerate(bits)}


def input_colors(inputs: Sequence[str]) -> dict[str, str]:
    """One colour per input (tab10, then tab20)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(inputs) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(inputs)}


def _reference_lines(ax: Axes, ste: bool = True, zero: bool = True) -> None:
    if ste:
        ax.axhline(1.0, color=STE_COLOR, lw=1.2, ls="-", label="STE value 1", gid="ref:ste")
    if zero:
        ax.axhline(0.0, color=TRUE_COLOR, lw=1.2, ls=":", label="true derivative q'(r) = 0", gid="ref:zero")


def _lean_log_axes(ax: Axes) -> None:
    """No minor ticks on log and symlog axes (their tick objects dominate the drawing time)."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() in ("log", "symlog"):
            axis.set_minor_locator(NullLocator())


def _grid(count: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, count))
    return math.ceil(count / ncols), ncols


def _slope_records(records: Sequence[Record]) -> list[Record]:
    """Records of the first scheme (forward if present) and the preferred rounding."""
    schemes = unique(records, "fd")
    scheme = "forward" if "forward" in schemes else schemes[0]
    return where(records, fd=scheme, rounding=preferred_rounding(records))


def noise_histograms(records: Sequence[Record], inputs: Sequence[str], bits: Sequence[int] | None = None) -> Figure:
    """Figure 1: the density of n against Uniform[-1/2, 1/2]; one row of panels over k per input.

    The density is ``hist_n`` (counts in equal bins on [-1/2, 1/2]) divided by ``samples`` times the bin
    width; each panel states 12 Var(n) (1 under uniformity) and the KS statistic. ``bits`` defaults to
    1, 2, 4, 8 (or up to four spread over the recorded widths).
    """
    rows: list[tuple[str, list[Record]]] = []
    for dist in inputs:
        rounding = preferred_rounding(where(records, dist=dist))
        cells = sorted((r for r in first_per(where(records, dist=dist, rounding=rounding), "k") if r.get("hist_n")),
                       key=lambda r: r["k"])
        if cells:
            rows.append((dist, cells))
    if not rows:
        raise ValueError(f"no histogram of n for inputs {', '.join(inputs)}")
    bits = list(bits) if bits is not None else headline_bits(sorted({r["k"] for _, cells in rows for r in cells}))
    fig, axes = panel_figure(len(rows), len(bits), 2.0, 1.35, legend_rows=1, left=0.6, wspace=0.45, hspace=0.75,
                             sharex=True, squeeze=False)
    for row, (dist, cells) in enumerate(rows):
        by_k = {r["k"]: r for r in cells}
        for col, k in enumerate(bits):
            ax = axes[row, col]
            ax.set_title(f"{dist}, k = {k}", fontsize=8)
            rec = by_k.get(k)
            if rec is None:
                ax.set_visible(False)
                continue
            counts = np.asarray(rec["hist_n"], dtype=float)
            edges = np.linspace(-0.5, 0.5, counts.size + 1)
            density = counts * counts.size / rec["samples"]
            ax.stairs(density, edges, fill=True, alpha=0.35, color="#1f77b4", label="histogram of n", gid=f"hist:{dist}:{k}")
            ax.axhline(1.0, color=UNIFORM_COLOR, lw=1.2, label="Uniform[-1/2, 1/2] density", gid="ref:uniform")
            ax.text(0.03, 0.95, f"12 Var(n) = {fmt(rec.get('var12_n'), 3)}\nKS D = {fmt(rec.get('ks_stat'), 2)}",
                    transform=ax.transAxes, va="top", ha="left", fontsize=7)
            ax.set_ylim(0.0, 1.45 * max(float(density.max()), 1.0))
        axes[row, 0].set_ylabel("density")
    for ax in axes[-1]:
        ax.set_xlabel("n = round(Lr) - Lr (units of Δ)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2)
    fig.suptitle(f"Is the rounding error n uniform, as step (8') assumes?  ({rows[0][1][0]['rounding']} rounding)")
    return fig


def slope_vs_h(records: Sequence[Record], bits: Sequence[int] | None = None) -> Figure:
    """Figure 2 (headline): E[D_h] against h per input, with 95 % bands, the exact curve, STE 1 and true 0.

    One panel per bit width (1, 2, 4, 8 by default). ``E[D_h] = F_n(Lh - 1/2) / (Lh)`` (identity A) is 1 at
    every h <= 1/L only when n is uniform; the y axis is linear in [-1, 1] and logarithmic beyond.
    """
    chosen = _slope_records(records)
    bits = list(bits) if bits is not None else headline_bits(unique(chosen, "k"))
    inputs, note = _first_inputs(chosen, MAX_LINES)
    colors = input_colors(inputs)
    nrows, ncols = _grid(len(bits), 2)
    rows = math.ceil((len(inputs) + 2) / 3)
    fig, axes = panel_figure(nrows, ncols, 4.6, 2.9, legend_rows=rows, title_lines=2, sharex=True, squeeze=False)
    for ax in axes.flat[len(bits):]:
        ax.set_visible(False)
    cells: dict[tuple[str, int], list[Record]] = {}
    for rec in chosen:
        cells.setdefault((rec["dist"], rec["k"]), []).append(rec)
    for ax, k in zip(axes.flat, bits):
        for dist in inputs:
            recs = sorted(cells.get((dist, k), []), key=lambda r: r["h"])
            if not recs:
                continue
            h, mean, se = values(recs, "h"), values(recs, "mean_fd"), values(recs, "mean_fd_se")
            color = colors[dist]
            if np.isfinite(mean).any():
                ax.plot(h, mean, marker="o", ms=3, lw=1.2, color=color, label=dist, gid=f"mc:{dist}")
                # no crossing observed: no standard error, the band runs up to the rule-of-three bound
                upper = values(recs, "mean_fd_upper")
                above = np.where(np.isfinite(se), se * Z_BAND, np.nan_to_num(upper - mean))
                below = np.nan_to_num(se) * Z_BAND
                ax.fill_between(h, mean - below, mean + above, color=color, alpha=0.18, lw=0, gid=f"band:{dist}")
            exact = values(recs, "exact_mean_fd")
            if np.isfinite(exact).any():
                ax.plot(h, exact, ls="--", lw=1.0, color=color, label=f"{dist} (exact)" if not np.isfinite(mean).any() else None,
                        gid=f"exact:{dist}")
            ste = values(recs, "ste")
            if np.isfinite(ste).any() and not np.allclose(ste[np.isfinite(ste)], 1.0):
                ax.plot(h, ste, ls="-.", lw=0.9, color=color, gid=f"ste:{dist}")
        _reference_lines(ax)
        ax.set_xscale("log")
        symlog_y(ax, linthresh=1.0, linscale=1.5)
        ax.axvline(1.0 / ((1 << k) - 1), color="0.6", lw=0.8, ls="--", gid="ref:delta")
        ax.set_title(f"k = {k}  (dashed vertical: h = Δ = 1/{(1 << k) - 1})")
        _lean_log_axes(ax)
    for ax in axes[-1]:
        ax.set_xlabel("finite-difference step h (units of r)")
    for ax in axes[:, 0]:
        ax.set_ylabel("E[D_h] = E[(q(r+h) - q(r)) / h]")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3)
    scheme = chosen[0]["fd"] if chosen else "forward"
    fig.suptitle(
        "Is the expected derivative of quantize_k equal to 1 (the STE's claim)?\n"
        f"Monte Carlo E[D_h] ± {Z_BAND} SE (bands), exact (dashed), {scheme} differences; dash-dot: clipped STE value{note}"
    )
    return fig


def against_k(records: Sequence[Record]) -> Figure:
    """Figure 3: E[n] and E[D_h] at the smallest h against k, per input.

    Step (8') of the argument gets E[n] = 0 right for most inputs; step (9) needs E[D_h] = 1, which depends
    on the even part of the spectrum of n instead (THEORY.md, Fourier view).
    """
    chosen = _slope_records(records)
    inputs, note = _first_inputs(chosen, MAX_LINES)
    colors = input_colors(inputs)
    h_min = min(values(chosen, "h")) if chosen else math.nan
    fig, (ax_n, ax_d) = panel_figure(1, 2, 4.8, 3.2, legend_rows=math.ceil((len(inputs) + 3) / 3), wspace=0.85)
    for dist in inputs:
        color = colors[dist]
        cells = sorted(first_per(where(chosen, dist=dist), "k"), key=lambda r: r["k"])
        k, mean, se = values(cells, "k"), values(cells, "mean_n"), values(cells, "mean_n_se")
        ax_n.plot(k, mean, marker="o", ms=3, color=color, label=dist, gid=f"mean_n:{dist}")
        ax_n.fill_between(k, mean - Z_BAND * np.nan_to_num(se), mean + Z_BAND * np.nan_to_num(se), color=color, alpha=0.18, lw=0)
        slopes = sorted(where(chosen, dist=dist, h=h_min), key=lambda r: r["k"])
        k2, fd, fd_se = values(slopes, "k"), values(slopes, "mean_fd"), values(slopes, "mean_fd_se")
        ax_d.plot(k2, fd, marker="o", ms=3, color=color, label=dist, gid=f"mean_fd:{dist}")
        ax_d.fill_between(k2, fd - Z_BAND * np.nan_to_num(fd_se), fd + Z_BAND * np.nan_to_num(fd_se), color=color, alpha=0.18, lw=0)
        exact = values(slopes, "exact_mean_fd")
        if np.isfinite(exact).any():
            ax_d.plot(k2, exact, ls="--", lw=0.9, color=color, gid=f"exact_fd:{dist}")
    ax_n.axhline(0.0, color=TRUE_COLOR, lw=1.2, ls=":", label="E[n] = 0 (step 8')", gid="ref:zero")
    ax_n.set_xlabel("bit width k")
    ax_n.set_ylabel("E[n] (units of Δ)")
    ax_n.set_title("Mean rounding error E[n] ± 1.96 SE")
    _reference_lines(ax_d)
    symlog_y(ax_d, linthresh=1.0, linscale=1.5)
    _lean_log_axes(ax_d)
    ax_d.set_xlabel("bit width k")
    ax_d.set_ylabel(f"E[D_h] at h = {fmt(h_min)}")
    ax_d.set_title(f"Expected slope E[D_h], h = {fmt(h_min)}, ± 1.96 SE; exact dashed")
    handles, labels = ax_d.get_legend_handles_labels()
    extra_h, extra_l = ax_n.get_legend_handles_labels()
    handles.append(extra_h[-1])
    labels.append(extra_l[-1])
    fig.legend(handles, labels, loc="lower center", ncol=3)
    fig.suptitle(f"E[n] = 0 does not make E[D_h] = 1: the mean error stays near 0 while the slope does not{note}")
    return fig


def fourier_spectrum(records: Sequence[Record]) -> Figure:
    """Figure 4: the measured |phi(2 pi l)| = |mean exp(2 pi i l n)| against l, one line per k, one panel per input.

    n is uniform iff phi(2 pi l) = 0 for every l != 0 (Sripad and Snyder 1977); the dotted line is the
    Monte Carlo noise level 1/sqrt(N) expected under uniformity.
    """
    rounding = preferred_rounding(records)
    cells = [r for r in first_per(where(records, rounding=rounding), "dist", "k") if r.get("fourier_abs")]
    inputs, note = _first_inputs(cells, MAX_PANELS)
    bits = sorted(unique(cells, "k"))
    colors = bit_colors(bits)
    nrows, ncols = _grid(len(inputs), 3)
    fig, axes = panel_figure(nrows, ncols, 3.0, 1.9, legend_rows=math.ceil((len(bits) + 1) / 5), sharex=True, sharey=True,
                             squeeze=False, wspace=0.25, hspace=0.45)
    for ax in axes.flat[len(inputs):]:
        ax.set_visible(False)
    for ax, dist in zip(axes.flat, inputs):
        samples = 0
        for rec in sorted(where(cells, dist=dist), key=lambda r: r["k"]):
            mags = np.asarray(rec["fourier_abs"], dtype=float)
            orders = np.arange(1, mags.size + 1)
            ax.plot(orders, mags, marker="o", ms=2.5, lw=1.0, color=colors[rec["k"]], label=f"k = {rec['k']}",
                    gid=f"fourier:{dist}:{rec['k']}")
            samples = max(samples, int(rec.get("samples") or 0))
        if samples > 0:
            ax.axhline(1.0 / math.sqrt(samples), color=TRUE_COLOR, ls=":", lw=1.0, label="1/sqrt(N) (noise under uniformity)",
                       gid="ref:noise")
        ax.set_yscale("log")
        _lean_log_axes(ax)
        ax.set_title(dist, fontsize=8.5)
    for ax in axes[-1]:
        ax.set_xlabel("harmonic l")
    for ax in axes[:, 0]:
        ax.set_ylabel("|φ(2πl)|")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(handles), 5))
    fig.suptitle(f"Sripad-Snyder condition: n is uniform iff φ(2πl) = 0 for all l ≠ 0  (|φ| of s = Lr, per k){note}")
    return fig
