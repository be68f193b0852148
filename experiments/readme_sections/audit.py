"""README section: the audit of the argument, one row per step, from results/audit/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, pm  # noqa: E402

from stecheck.records import Record, fmt, read_run  # noqa: E402


def _numbers(rec: Record) -> str:
    text = f"{rec['quantity']}: {pm(rec['value'], rec['se'])}"
    if rec["exact"] is not None:
        text += f" (exact {fmt(rec['exact'])})"
    return f"{text}, claimed {fmt(rec['target'])}; `{rec['input']}`, k = {rec['k']}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The verdict table of results/audit and the audit's wall time from results/bench/audit_time.json."""
    meta, records = read_run(RESULTS / "audit")
    cfg = meta["config"]
    bench = json.loads((RESULTS / "bench" / "audit_time.json").read_text())
    lines = [
        f"`stecheck audit` checks each step of the argument with numbers it computes on the spot "
        f"(here: k = {', '.join(str(k) for k in cfg['bits'])}, {cfg['samples']:,} Monte Carlo samples per input, "
        f"seed `{meta['seed']}`; `results/audit/`). A verdict is derived from the numbers by a stated rule: "
        f"an estimate agrees with a claim when it is within {fmt(cfg['z'])} standard errors of it; a step "
        "*holds* when every case agrees, *fails* when none does, *holds-only-if* when some do. The "
        "numbers shown are the decisive case; `records.json` lists every case.",
        "",
        "| step | claim | verdict | decisive numbers | condition |",
        "|---|---|---|---|---|",
    ]
    for rec in records:
        lines.append(
            f"| {rec['step']} | {_cell(rec['claim'])} | **{rec['verdict']}** | {_cell(_numbers(rec))} | "
            f"{_cell(rec['condition'])} |"
        )
    lines += [
        "",
        f"Rerun with `stecheck audit` (its default seed is `{meta['seed']}`) to reproduce every number. With its defaults the "
        f"command takes {bench['median_s']:.1f} s here (median of {bench['repeats']} runs on {bench['cpu_count']} "
        f"cores, `python bench/audit_time.py`; target {bench['target_s']:g} s). Options: `--bits/-k` (`2`, `1-4`, "
        "`1,3`), `--samples/-n`, `--seed`, `--format table|csv|json|md`, `--out DIR` (default `results/audit`), "
        "`--no-save`, `--weights SOURCE` (adds steps 8' and 9 on real weights, rows 8'W and 9W, from the "
        "weights scan: a file, a directory, `hf:ORG/NAME` or `zoo:NAME`), `--jobs/-j N`, `--quiet`.",
    ]
    return "\n".join(lines)
