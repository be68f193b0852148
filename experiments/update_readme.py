"""Regenerate the generated sections of README.md from the committed files under results/.

Each section sits between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->`` markers and is rendered by
the function registered for NAME below, from results files only (no statistic is computed here).

    python experiments/update_readme.py          # rewrite README.md
    python experiments/update_readme.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

from stecheck.records import fmt, read_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
SECTIONS: dict[str, Callable[[], str]] = {}


def section(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(fn: Callable[[], str]) -> Callable[[], str]:
        SECTIONS[name] = fn
        return fn

    return register


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return "-"
    return fmt(value) if se is None else f"{fmt(value)} ± {fmt(se, 2)}"


@section("simulate")
def simulate_section() -> str:
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
            f"| `{r['dist']}` | {r['k']} | {_pm(r['mean_n'], r['mean_n_se'])} | {fmt(r['exact_mean_n'], 2)} | "
            f"{fmt(r['var12_n'])} | {_pm(r['mean_fd'], r['mean_fd_se'])} | {fmt(r['exact_mean_fd'])} | "
            f"{fmt(r['p_fd_zero'])} | {fmt(r['ste'])} |"
        )
    return "\n".join(lines)


@section("bench-engine")
def bench_engine_section() -> str:
    """The engine-cost benchmark (bench/engine_cost.py writes results/bench/engine_cost.json)."""
    data = json.loads((RESULTS / "bench" / "engine_cost.json").read_text())
    return (
        f"`python bench/engine_cost.py` ({data['cpu_count']} cores, {data['samples']:,} samples, median of "
        f"{data['repeats']} runs): the engine costs **{data['ratio']:.2f}x** the bare cost of drawing the same "
        f"samples ({data['engine_ns_per_sample']:.1f} ns vs {data['draw_ns_per_sample']:.1f} ns per sample; "
        f"{data['cell']})."
    )


def render(text: str) -> str:
    for name, fn in SECTIONS.items():
        pattern = re.compile(rf"(<!-- begin:{re.escape(name)} -->\n)(.*?)(<!-- end:{re.escape(name)} -->)", re.S)
        if pattern.search(text):
            body = fn().rstrip("\n") + "\n"
            text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from its regeneration")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    current = readme.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("README.md is out of date: run python experiments/update_readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
