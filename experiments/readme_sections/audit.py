"""README section: the audit of the argument, one row per step, from results/audit/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, pm  # noqa: E402

from stecheck.records import Record, fmt, read_run  # noqa: E402


def _numbers(rec: Record) -> str:
    """What the decisive case measured (estimate ± SE, exact value) and, apart, what the step claims."""
    measured = pm(rec["value"], rec["se"]) if rec["se"] is not None or rec["exact"] is None else None
    parts = [f"Monte Carlo {measured}"] if measured is not None else []
    if rec["exact"] is not None:
        parts.append(f"exact {fmt(rec['exact'])}")
    return (f"{rec['quantity']}: measured {', '.join(parts)}; claimed {fmt(rec['target'])} "
            f"(`{rec['input']}`, k = {rec['k']})")


def _not_counted(records: list[Record]) -> str:
    """Rows with cases shown but not counted, and how many."""
    rows = [(rec["step"], sum(1 for c in rec["cases"] if c.get("counted") is False)) for rec in records]
    return ", ".join(f"{step} ({n})" for step, n in rows if n)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The verdict table of results/audit and the audit's wall time from results/bench/audit_time.json."""
    meta, records = read_run(RESULTS / "audit")
    cfg = meta["config"]
    bench = json.loads((RESULTS / "bench" / "audit_time.json").read_text())
    records = list(records)
    lines = [
        f"`stecheck audit` checks each step of the argument with numbers it computes on the spot "
        f"(here: k = {', '.join(str(k) for k in cfg['bits'])}, {cfg['samples']:,} Monte Carlo samples per input, "
        f"seed `{meta['seed']}`; `results/audit/`). A verdict is derived from the numbers by a stated rule: "
        f"an estimate agrees with a claim when it is within {fmt(cfg['z'])} standard errors of it, an exact value "
        "when it equals it to a stated tolerance; a step *holds* when every case agrees, *fails* when none does, "
        "*holds-only-if* when some do (steps 8' and 9 are implications, judged on the cases that satisfy their "
        "premise). Every verdict could have gone the other way: cases whose outcome is fixed in advance are "
        f"shown in `records.json` with `counted: false` and decide nothing ({_not_counted(records)}). The numbers "
        "shown are the decisive case: what was measured, and apart from it what the step claims.",
        "",
        "| step | claim | verdict | decisive case: measured; claimed | condition |",
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
