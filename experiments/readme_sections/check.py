"""README section: the verdicts of the project's own bounds file (experiments/bounds.toml)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402

from stecheck.records import fmt  # noqa: E402


def _bits(ks: list[int]) -> str:
    return str(ks[0]) if len(ks) == 1 else (f"{ks[0]}-{ks[-1]}" if ks == list(range(ks[0], ks[-1] + 1)) else ",".join(map(str, ks)))


def render() -> str:
    """One row per bound: k, statistic, condition, range of the values, verdicts (from results/check/)."""
    data = json.loads((RESULTS / "check" / "bounds.json").read_text(encoding="utf-8"))
    rows: dict[str, list[dict]] = {}
    for rec in data["records"]:
        rows.setdefault(rec["bound"], []).append(rec)
    lines = [
        f"From `results/check/bounds.json` (`stecheck check experiments/bounds.toml --format json --out "
        f"results/check/bounds.json`): {data['meta']['summary']}.",
        "",
        "| bound | k | statistic | condition | value (min .. max over k) | verdicts |",
        "|---|---|---|---|---|---|",
    ]
    for name, recs in rows.items():
        values = [r["value"] for r in recs]
        span = fmt(values[0]) if len(values) == 1 else f"{fmt(min(values))} .. {fmt(max(values))}"
        held = sum(r["passed"] for r in recs)
        lines.append(
            f"| {name} | {_bits([r['k'] for r in recs])} | `{recs[0]['statistic']}` | {recs[0]['condition']} | {span} "
            f"| {held}/{len(recs)} hold |"
        )
    return "\n".join(lines)
