"""Shared helpers of the engine benchmarks: interleaved median timings and the JSON result files."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench"


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function over ``repeats`` rounds, the functions alternating within a round.

    Alternating keeps a shared machine's load changes from favouring one side of a ratio.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def machine() -> dict[str, Any]:
    """Core count and load average at the time of the measurement (the machine is shared)."""
    return {"cpu_count": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()]}


def write_result(name: str, result: dict[str, Any], write: bool) -> None:
    """Write ``results/bench/NAME.json`` (unless ``write`` is false)."""
    if write:
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = OUT / f".{name}.json.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(OUT / f"{name}.json")
