"""README section: headline rows of the default experiment."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, pm  # noqa: E402

from stecheck.records import fmt, read_run  # noqa: E402


def render() -> str:
    """Headline rows of results/default: E[n], 12 Var(n) and E[D_h] (forward, h = 1e-3) at k = 1, 2, 4, 8."""
    meta, records = read_run(RESULTS / "default")
    rows = [
        r for r in records
        if r["fd"] == "forward" and r["h"] == 1e-3 and r["k"] in (1, 2, 4, 8) and r["rounding"] == "half-even"
    ]
    lines = [
        f"From `results/default/` (`stecheck simulate`, {meta['config']['samples']:,} samples per input, "
        f"seed `{meta['seed']}`); forward differences, h = 1e-3. The STE claims E[D_h] = 1 "
        "(for `clip(...)` inputs, the clipped STE in the last column).",
        "",
        "| input | k | E[n] (MC ± SE) | exact E[n] | 12 Var(n) | E[D_h] (MC ± SE) | exact E[D_h] | P(D_h = 0) | STE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['dist']}` | {r['k']} | {pm(r['mean_n'], r['mean_n_se'])} | {fmt(r['exact_mean_n'], 2)} | "
            f"{fmt(r['var12_n'])} | {pm(r['mean_fd'], r['mean_fd_se'])} | {fmt(r['exact_mean_fd'])} | "
            f"{fmt(r['p_fd_zero'])} | {fmt(r['ste'])} |"
        )
    return "\n".join(lines)
