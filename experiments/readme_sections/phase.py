"""README section: where the STE claim holds (rule of thumb and figures of results/phase/)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS  # noqa: E402

from stecheck.records import fmt, read_run  # noqa: E402


def render() -> str:
    """The rule of thumb per family, the k_min table, the CDF-vs-Fourier agreement and the spot checks."""
    meta, rules = read_run(RESULTS / "phase")
    _, rows = read_run(RESULTS / "phase" / "map")
    _, spots = read_run(RESULTS / "phase" / "spot")
    cfg = meta["config"]
    tol = cfg["tolerance"]
    step = "the limit h -> 0" if cfg["h"] == 0 else f"forward differences with L h = {fmt(cfg['h'])}"
    families = list(dict.fromkeys(r["family"] for r in rules))
    sds = list(dict.fromkeys(r["sd"] for r in rules))
    by = {(r["family"], r["sd"]): r for r in rules}
    lines = [
        f"From `results/phase/` (`stecheck phase`: {len(families)} families, {cfg['sigma_points']} x "
        f"{cfg['offset_points']} grid of sigma_s in [{fmt(cfg['sigma_min'])}, {fmt(cfg['sigma_max'])}] x offset, "
        f"{step}). sigma_s is L times the **standard deviation** of r, the offset is L times its centre mod 1 "
        "(0: centred on a level, 1/2: on a threshold).",
        "",
        f"**Rule of thumb**: E[D] is within {fmt(tol)} of the STE's 1 at every centre offset once sigma_s >= sigma_s*; "
        "in bits, k >= k_min = ceil(log2(1 + sigma_s* / sd)) for inputs of standard deviation sd.",
        "",
        "| family | sigma_s* | " + " | ".join(f"k_min, sd = {fmt(sd)}" for sd in sds) + " |",
        "|---|---|" + "---|" * len(sds),
    ]
    for fam in families:
        first = by[(fam, sds[0])]
        lines.append(f"| {fam} | {first['sigma_s_star']:.4f} | " + " | ".join(str(by[(fam, sd)]["k_min"]) for sd in sds) + " |")
    fd_gap = max(r["fd_gap"] for r in rows)
    n_gap = max(r["n_gap"] for r in rows)
    worst_z = max(abs(s["z"]) for s in spots) if spots else None
    lines += [
        "",
        f"The two exact evaluations of the {len(rows) * rows[0]['offsets']:,} map points agree: largest gap "
        f"{fd_gap:.1e} in E[D] (relative to max(1, E[D])) and {n_gap:.1e} in E[n]. "
        + (
            f"{len(spots)} Monte Carlo spot checks (engine, {spots[0]['samples']:,} samples each, L h = {fmt(spots[0]['lh'])}, "
            f"seed `{meta['seed']}`) lie within {worst_z:.2f} standard errors of the CDF sums."
            if spots else ""
        ),
        "",
        "![E[D] over (sigma_s, offset)](results/phase/phase_map.png)",
        "",
        "![worst case over offsets](results/phase/worst_case.png)",
    ]
    return "\n".join(lines)
