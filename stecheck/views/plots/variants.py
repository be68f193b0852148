"""Figure 6: E[q(r)] and its slope over r for deterministic, stochastic and dithered rounding.

The records come from ``simulate`` over point inputs ``point(r)`` on a grid of r (experiments/variants.toml).
For a point input the randomness is inside the quantizer only: ``mean_n`` is E[e] with ``e = m - Lr``, so
``E[q(r)] = r + E[e] / L``, and ``mean_fd`` is the finite-difference slope of E[q] at r. Stochastic rounding
and uniform dither have E[q(r)] = r exactly, hence slope 1 at every r; deterministic rounding has the
staircase, slope 0 off the thresholds (THEORY.md, "Where 'derivative 1 in expectation' is exactly true").
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from stecheck.core.distributions import Atom, parse_input
from stecheck.core.quantize import levels
from stecheck.errors import StecheckError
from stecheck.records import Record
from stecheck.views.plots._select import Z_BAND, unique, where
from stecheck.views.plots.simulate import input_colors
from stecheck.views.plots.style import STE_COLOR, TRUE_COLOR, panel_figure, symlog_y

__all__ = ["point_value", "is_variants_run", "variant_curves", "rounding_variants"]


def point_value(spec: str) -> float | None:
    """``x`` of an input spec ``point(x)`` (unclipped), else None."""
    try:
        inp = parse_input(spec)
    except StecheckError:
        return None
    return inp.dist.x if inp.path == "none" and isinstance(inp.dist, Atom) else None


def is_variants_run(records: Sequence[Record]) -> bool:
    """True when every input of a simulate run is a point mass (a sweep over r)."""
    inputs = unique(records, "dist")
    return len(inputs) >= 2 and all(point_value(str(d)) is not None for d in inputs)


def variant_curves(records: Sequence[Record], k: int, rounding: str) -> dict[str, np.ndarray]:
    """Arrays over the r grid for one k and rounding: ``r``, ``expected_q``, ``slope``, ``slope_se``.

    ``expected_q = r + mean_n / L`` converts the recorded E[e] (units of Δ) to E[q] (units of r); the slope
    is ``mean_fd`` of the first scheme and smallest h in the records.
    """
    scale = levels(k)
    recs = where(records, k=k, rounding=rounding)
    scheme = "forward" if "forward" in unique(recs, "fd") else unique(recs, "fd")[0]
    h_min = min(r["h"] for r in recs)
    recs = [r for r in where(recs, fd=scheme, h=h_min) if r.get("mean_n") is not None]
    recs.sort(key=lambda r: point_value(r["dist"]))
    r = np.array([point_value(rec["dist"]) for rec in recs], dtype=float)
    mean_e = np.array([rec["mean_n"] for rec in recs], dtype=float)
    slope = np.array([math.nan if rec.get("mean_fd") is None else rec["mean_fd"] for rec in recs], dtype=float)
    se = np.array([0.0 if rec.get("mean_fd_se") is None else rec["mean_fd_se"] for rec in recs], dtype=float)
    return {"r": r, "expected_q": r + mean_e / scale, "slope": slope, "slope_se": se, "h": np.array(h_min)}


def rounding_variants(records: Sequence[Record]) -> Figure:
    """Figure 6: top row E[q(r)] with the identity line, bottom row the slope of E[q] with STE 1 and 0.

    One column per bit width (at most three); one colour per rounding mode.
    """
    bits = sorted(unique(records, "k"))[:3]
    roundings = unique(records, "rounding")
    colors = input_colors(roundings)
    fig, axes = panel_figure(2, len(bits), 4.2, 2.6, legend_rows=1, title_lines=2, sharex=True, squeeze=False)
    h_text = ""
    for col, k in enumerate(bits):
        ax_q, ax_d = axes[0, col], axes[1, col]
        for rounding in roundings:
            if not where(records, k=k, rounding=rounding):
                continue
            c = variant_curves(records, k, rounding)
            h_text = f"{float(c['h']):g}"
            color = colors[rounding]
            width = 3.0 if rounding == "stochastic" else 1.2  # stochastic rounding and dither share their noise: curves coincide
            ax_q.plot(c["r"], c["expected_q"], lw=width, alpha=0.8, color=color, label=rounding, gid=f"expected_q:{k}:{rounding}")
            ax_d.plot(c["r"], c["slope"], lw=width, marker="o", ms=2, alpha=0.8, color=color, label=rounding,
                      gid=f"slope:{k}:{rounding}")
            ax_d.fill_between(c["r"], c["slope"] - Z_BAND * c["slope_se"], c["slope"] + Z_BAND * c["slope_se"],
                              color=color, alpha=0.2, lw=0)
        ends = [min(point_value(d) for d in unique(records, "dist")), max(point_value(d) for d in unique(records, "dist"))]
        ax_q.plot(ends, ends, color="0.5", lw=0.8, ls="--", label="identity E[q] = r", gid="ref:identity")
        ax_q.set_title(f"k = {k}: E[q(r)]")
        ax_q.set_ylabel("E[q(r)] (units of r)")
        ax_d.axhline(1.0, color=STE_COLOR, lw=1.2, label="STE value 1", gid="ref:ste")
        ax_d.axhline(0.0, color=TRUE_COLOR, lw=1.2, ls=":", label="0", gid="ref:zero")
        symlog_y(ax_d, linthresh=2.0, linscale=2.0)
        ax_d.set_title(f"k = {k}: slope of E[q] (E[D_h] ± {Z_BAND} SE)")
        ax_d.set_xlabel("input r (a point, no data randomness)")
        ax_d.set_ylabel("E[D_h]")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    handles.append(axes[0, 0].get_legend_handles_labels()[0][-1])
    labels.append("identity E[q] = r")
    fig.legend(handles, labels, loc="lower center", ncol=len(handles))
    fig.suptitle(
        "Where 'derivative 1 in expectation' is exactly true: randomness inside the quantizer\n"
        f"stochastic rounding and dither give E[q(r)] = r (slope 1); deterministic rounding a staircase (h = {h_text})"
    )
    return fig
