"""Figures of runs with quantizers other than DoReFa: does the STE claim hold for each?

``quantizer_panels`` (a ``weights`` run):
one row per quantizer (DoReFa by bit width, then the others in the run's order), four panels sharing the
rows: E[D_h] against the STE's value 1 (log scale), 12 Var(n) against the uniform-noise value 1, the measured
SQNR minus the uniform-noise prediction (dB), and ``p_n_zero``, the share of weights exactly on a level
(log scale). Small dots are single tensors, large markers the size-weighted average over the model (the
aggregate record); one colour per model. ``quantizer_slopes`` (a ``simulate`` run): E[D_h] against h, one
panel per fixed-grid quantizer. The figures draw record fields only.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from stecheck.records import Record
from stecheck.views.plots._select import unique
from stecheck.views.plots.style import STE_COLOR, panel_figure
from stecheck.views.quantizers import quantizer_order

__all__ = ["quantizer_specs", "quantizer_panels", "quantizer_slopes", "has_quantizers"]

#: The panels: (title, x-axis label, value of a record, reference value, log scale).
_PANELS = (
    ("E[D_h]: the STE's value is 1", "E[D_h] (dimensionless, log scale)", "mean_fd", 1.0, True),
    ("12 Var(n): 1 if n is uniform", "12 Var(n) (dimensionless)", "var12_n", 1.0, False),
    ("SQNR: measured - uniform-noise model", "SQNR gap (dB)", "sqnr_gap", 0.0, False),
    ("weights exactly on a level", "p_n_zero (share of weights, log scale)", "p_n_zero", None, True),
)


def _spec(rec: Record) -> str:
    return str(rec.get("quantizer") or f"dorefa({rec['k']})")


def has_quantizers(records: Sequence[Record]) -> bool:
    """True when the records hold a quantizer other than DoReFa (the figure is planned then)."""
    return any(not _spec(r).startswith("dorefa") for r in records)


def quantizer_specs(records: Sequence[Record]) -> list[str]:
    """The quantizers of ``records`` in display order (DoReFa by bit width, then first-seen order)."""
    seen: dict[str, int] = {}
    for r in records:
        seen.setdefault(_spec(r), len(seen))
    return sorted(seen, key=lambda s: quantizer_order(s, seen[s]))


def _value(rec: Record, key: str) -> float:
    if key == "sqnr_gap":
        a, b = rec.get("sqnr_db"), rec.get("sqnr_uniform_db")
        value = math.nan if a is None or b is None else float(a) - float(b)
    else:
        value = math.nan if rec.get(key) is None else float(rec[key])
    return value if math.isfinite(value) else math.nan


def quantizer_panels(records: Sequence[Record]) -> Figure:
    """The figure (see the module docstring), at the smallest step h of the records."""
    steps = [r["h"] for r in records if r.get("h") is not None]
    h = min(steps) if steps else None
    chosen = [r for r in records if r.get("h") == h and not r.get("degenerate")]
    specs = quantizer_specs(chosen)
    row = {s: i for i, s in enumerate(specs)}
    sources = unique(chosen, "source")
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    fig, axes = panel_figure(1, len(_PANELS), 2.6, 0.45 + 0.28 * len(specs), legend_rows=3 + (len(sources) + 3) // 3,
                             title_lines=2, left=0.3 + 0.065 * max((len(s) for s in specs), default=8), wspace=0.35,
                             sharey=True)
    for ax, (title, label, key, reference, log) in zip(np.atleast_1d(axes), _PANELS):
        for j, source in enumerate(sources):
            color = palette(j % 10)
            mine = [r for r in chosen if r.get("source") == source]
            tensors = [r for r in mine if r.get("kind") == "tensor"]
            totals = [r for r in mine if r.get("kind") == "aggregate"]
            offset = 0.12 * (j - (len(sources) - 1) / 2) if len(sources) > 1 else 0.0
            for group, size, alpha, marker, gid in ((tensors, 16, 0.45, ".", "tensor"), (totals, 46, 1.0, "D", "aggregate")):
                x = np.array([_value(r, key) for r in group])
                y = np.array([row[_spec(r)] + offset for r in group], dtype=float)
                keep = np.isfinite(x) & ((x > 0) if log else True)
                ax.scatter(x[keep], y[keep], s=size, alpha=alpha, marker=marker, color=color, linewidths=0,
                           gid=f"{gid}:{key}:{source}", zorder=3 if gid == "aggregate" else 2)
        if reference is not None:
            ax.axvline(reference, color=STE_COLOR, lw=1.0, ls="--", zorder=1)
        if log:
            ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(label)
    first = np.atleast_1d(axes)[0]
    first.set_yticks(range(len(specs)), specs, fontsize=7.5)
    first.set_ylim(len(specs) - 0.5, -0.5)
    first.set_ylabel("quantizer")
    handles = [first.scatter([], [], s=16, marker=".", color="0.4", label="one tensor"),
               first.scatter([], [], s=46, marker="D", color="0.4", label="size-weighted average over the model")]
    handles += [first.scatter([], [], s=46, marker="D", color=palette(j % 10), label=str(source)) for j, source in enumerate(sources)]
    handles.append(first.plot([], [], color=STE_COLOR, ls="--", lw=1.0, label="claimed value (STE 1, uniform n)")[0])
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7.5)
    fig.suptitle(f"Does the STE claim hold for the quantizer you use?  Exact statistics of the weights (h = {h})\n"
                 "(points missing: a value the records do not carry, or 0 on a log axis)")
    return fig


def quantizer_slopes(records: Sequence[Record]) -> Figure:
    """E[D_h] against h for a ``simulate`` run's fixed-grid quantizers: one panel per quantizer, one line per input.

    Monte Carlo E[D_h] with 95 % bands (to the rule-of-three bound where no crossing was observed), the exact
    threshold sum ``(1/h) sum_j gap_j [F(t_j) - F(t_j - h)]`` dashed, the clipped STE value dash-dot where it
    is not 1, the STE's 1 and the true derivative 0. DoReFa's records are left to the figures over k.
    """
    from stecheck.views.plots._select import Z_BAND, values, where
    from stecheck.views.plots.simulate import MAX_LINES, input_colors
    from stecheck.views.plots.style import TRUE_COLOR, symlog_y

    others = [r for r in records if not _spec(r).startswith("dorefa")]
    schemes = unique(others, "fd")
    scheme = "forward" if "forward" in schemes else (schemes[0] if schemes else "forward")
    chosen = where(others, fd=scheme)
    specs = quantizer_specs(chosen)
    inputs = unique(chosen, "dist")[:MAX_LINES]
    colors = input_colors(inputs)
    ncols = min(2, max(1, len(specs)))
    nrows = max(1, math.ceil(len(specs) / ncols))
    fig, axes = panel_figure(nrows, ncols, 4.6, 2.9, legend_rows=math.ceil((len(inputs) + 2) / 3), title_lines=2, sharex=True,
                             squeeze=False)
    for ax in axes.flat[len(specs):]:
        ax.set_visible(False)
    for ax, spec in zip(axes.flat, specs):
        for dist in inputs:
            recs = sorted((r for r in chosen if r.get("dist") == dist and _spec(r) == spec), key=lambda r: r["h"])
            if not recs:
                continue
            h, mean, se = values(recs, "h"), values(recs, "mean_fd"), values(recs, "mean_fd_se")
            color = colors[dist]
            if np.isfinite(mean).any():
                ax.plot(h, mean, marker="o", ms=3, lw=1.2, color=color, label=dist, gid=f"mc:{spec}:{dist}")
                upper = values(recs, "mean_fd_upper")
                above = np.where(np.isfinite(se), se * Z_BAND, np.nan_to_num(upper - mean))
                ax.fill_between(h, mean - np.nan_to_num(se) * Z_BAND, mean + above, color=color, alpha=0.18, lw=0,
                                gid=f"band:{spec}:{dist}")
            exact = values(recs, "exact_mean_fd")
            if np.isfinite(exact).any():
                ax.plot(h, exact, ls="--", lw=1.0, color=color, label=None if np.isfinite(mean).any() else f"{dist} (exact)",
                        gid=f"exact:{spec}:{dist}")
            ste = values(recs, "ste")
            if np.isfinite(ste).any() and not np.allclose(ste[np.isfinite(ste)], 1.0):
                ax.plot(h, ste, ls="-.", lw=0.9, color=color, gid=f"ste:{spec}:{dist}")
        ax.axhline(1.0, color=STE_COLOR, lw=1.2, label="STE value 1", gid="ref:ste")
        ax.axhline(0.0, color=TRUE_COLOR, lw=1.2, ls=":", label="true derivative q'(x) = 0", gid="ref:zero")
        ax.set_xscale("log")
        symlog_y(ax, linthresh=1.0, linscale=1.5)
        ax.set_title(f"quantizer {spec}")
    for ax in axes[-1]:
        ax.set_xlabel("finite-difference step h (units of the input x)")
    for ax in axes[:, 0]:
        ax.set_ylabel("E[D_h] = E[(q(x+h) - q(x)) / h]")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3)
    fig.suptitle("Is the expected derivative of each quantizer 1 (the STE's claim)?\n"
                 f"Monte Carlo E[D_h] ± {Z_BAND} SE (bands), exact (dashed), {scheme} differences; dash-dot: clipped STE value")
    return fig
