"""Projected time to scan a 70B and a 405B bfloat16 checkpoint with `stecheck weights --cluster` on 1, 8 and 64 workers.

Reads the measured throughput of ``python bench/cluster.py`` (results/bench/cluster.json): ``B``, the bytes of
bfloat16 checkpoint one core scans per second at k = 1..8 (one local thread, page-cached shards), and ``E``,
the measured parallel efficiency of the 2-worker LocalCluster on the same scan (its speedup over one thread,
divided by 2, at most 1). The projection for W workers is

    T(W) = S / (B * W * E_W),  E_1 = 1, E_W = E for W > 1,

for a checkpoint of S bytes (P parameters x 2 bytes; 70B: 70e9, 405B: 405e9 nominal parameters). It
assumes what the benchmark cannot show on one machine: that the shared storage delivers ``W * B`` bytes per
second (the column "storage needed"), that the efficiency measured at 2 workers holds at W, and that there
are at least W tensors to share out (a 70B checkpoint has hundreds). A real run adds reading from storage
colder than the page cache and the time for workers to start.

    python experiments/cluster_projection.py [--bench results/bench/cluster.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "results" / "bench" / "cluster.json"
#: Nominal parameter counts; bfloat16 stores 2 bytes per parameter.
MODELS = {"70B": 70e9, "405B": 405e9}
WORKERS = (1, 8, 64)
BYTES_PER_PARAMETER = 2


def projection(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, workers): ``model, bytes, workers, seconds, storage_bytes_per_s`` (module docstring)."""
    scan = bench["scan"]
    per_core = float(scan["bytes_per_s_one_core"])
    efficiency = min(1.0, float(scan["ratio"]) / float(bench["workers"]))
    rows = []
    for model, parameters in MODELS.items():
        size = parameters * BYTES_PER_PARAMETER
        for workers in WORKERS:
            rate = per_core * workers * (1.0 if workers == 1 else efficiency)
            rows.append({"model": model, "bytes": size, "workers": workers, "seconds": size / rate,
                         "storage_bytes_per_s": per_core * workers})
    return rows


def duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2g} h"
    if seconds >= 60:
        return f"{seconds / 60:.2g} min"
    return f"{seconds:.2g} s"


def table(bench: dict[str, Any]) -> str:
    """The projection as a Markdown table."""
    lines = ["| checkpoint | size | workers | projected time | storage needed |", "|---|---:|---:|---:|---:|"]
    for row in projection(bench):
        lines.append(f"| {row['model']} bf16 | {row['bytes'] / 1e9:.0f} GB | {row['workers']} | {duration(row['seconds'])} | "
                     f"{row['storage_bytes_per_s'] / 1e9:.2g} GB/s |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=BENCH)
    args = parser.parse_args()
    if not args.bench.exists():
        print(f"error: {args.bench} does not exist: run python bench/cluster.py first", file=sys.stderr)
        return 2
    print(table(json.loads(args.bench.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
