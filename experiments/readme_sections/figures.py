"""README section: the committed figures of `stecheck plot` and the report of `stecheck report`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS, ROOT  # noqa: E402

#: Headline figures shown inline (results dir, figure stem, caption); others are linked.
SHOWN = (
    ("default", "slope_vs_h", "E[D_h] against h for every default input: the STE's 1 (red) holds only where n is uniform."),
    ("default", "mean_and_slope_vs_k", "E[n] stays near 0 at every k while E[D_h] does not (steps 8' and 9)."),
    ("variants", "variants", "Stochastic rounding and dither make E[q(r)] = r exactly; deterministic rounding is a staircase."),
)


def _link(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _plotted_figures() -> list[Path]:
    """PNGs of `stecheck plot` under results/: figures/ of simulate and weights runs."""
    found = []
    for figures in sorted(RESULTS.rglob("figures")):
        meta = figures.parent / "meta.json"
        if meta.is_file() and json.loads(meta.read_text()).get("command") in ("simulate", "weights"):
            found += sorted(figures.glob("*.png"))
    return found


def render() -> str:
    """Image links to the committed PNGs under results/*/figures/ (written by `stecheck plot`)."""
    lines = [
        "Drawn by `stecheck plot` from the committed records (figures read `records.json`, they never recompute "
        "a statistic); `stecheck report --out results/report.md` collects verdicts, key tables, all figures and "
        f"provenance on one page: [results/report.md]({_link(RESULTS / 'report.md')}).",
        "",
    ]
    for run, stem, caption in SHOWN:
        png = RESULTS / run / "figures" / f"{stem}.png"
        if png.is_file():
            lines += [f"![{caption}]({_link(png)})", "", f"*{caption}*", ""]
    shown = {RESULTS / run / "figures" / f"{stem}.png" for run, stem, _ in SHOWN}
    others = [p for p in _plotted_figures() if p not in shown]
    if others:
        lines.append("More: " + ", ".join(f"[{p.parent.parent.relative_to(RESULTS).as_posix()}/{p.stem}]({_link(p)})" for p in others) + ".")
    return "\n".join(lines)
