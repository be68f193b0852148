"""Shared helpers of the benchmark scripts: interleaved median timings, machine facts, the JSON result files."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench"


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and process CPU time of each function over ``repeats`` rounds, alternating within a round.

    Alternating keeps a shared machine's load changes from favouring one side of a ratio. CPU time over
    wall time is the number of cores the process actually got.
    """
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts)) for name, ts in times.items()}


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function (see :func:`interleaved_times`)."""
    return {name: wall for name, (wall, _) in interleaved_times(fns, repeats).items()}


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
