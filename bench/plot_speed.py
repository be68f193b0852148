"""Wall time of ``stecheck plot`` on a run of 10,000 records, against the 10 s target.

The run is made once by the engine (125 normal inputs x k = 1..8 x forward/central x 5 steps = 10,000
records, Monte Carlo only, a few thousand samples each: the sample count does not change the records'
size). The timed command is the whole CLI in a fresh process, ``stecheck plot RUN -j 2`` (imports, reading
records.json, drawing and writing every PNG of the run, figures drawn by two forked processes); the printed figure is the median wall time of repeated runs, next to the
median CPU time and the load average (the machine is shared: wall time above CPU time is waiting).

    python bench/plot_speed.py [--repeats R] [--target SECONDS] [--no-write]

Writes results/bench/plot_speed.json; exits 1 when the median misses the target.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stecheck.cli.render import SIMULATE_MD_COLUMNS
from stecheck.config import RunConfig
from stecheck.engine.runner import run
from stecheck.records import SIMULATE_FIELDS, write_run

from _common import write_result

SEED = 0x1F2E3D4C5B6A79880716253443526170
#: Worker processes for the figures (``stecheck plot -j``): the machine's two cores.
JOBS = 2


def make_run(out_dir: Path) -> int:
    """Write a 10,000-record simulate run into ``out_dir``; returns the record count."""
    inputs = tuple(f"normal({0.3 + 0.1 * i:.1f},{0.01 * (j + 1):.2f})" for i in range(5) for j in range(25))
    config = RunConfig(name="bench-plot", inputs=inputs, bits=tuple(range(1, 9)), samples=4096, seed=SEED, method="mc")
    result = run(config, threads=1)
    write_run(out_dir, result.meta, result.records, SIMULATE_FIELDS, SIMULATE_MD_COLUMNS, "bench")
    return len(result.records)


def time_plot(run_dir: Path, out_dir: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one ``stecheck plot`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stecheck", "plot", str(run_dir), "--out", str(out_dir), "-q", "-j", str(JOBS)], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stecheck-plot-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        count = make_run(run_dir)
        timings = [time_plot(run_dir, Path(tmp) / f"figures-{i}") for i in range(args.repeats)]
        figures = len(list((Path(tmp) / "figures-0").glob("*.png")))
    times = [wall for wall, _ in timings]
    seconds = statistics.median(times)
    cpu_seconds = statistics.median(cpu for _, cpu in timings)
    result = {
        "records": count,
        "figures": figures,
        "jobs": JOBS,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "seconds": seconds,
        "times": times,
        "cpu_seconds": cpu_seconds,
        "load_average_1min": os.getloadavg()[0],
        "target_seconds": args.target,
        "met": seconds <= args.target,
    }
    print(f"stecheck plot, {count:,} records -> {figures} PNG figures: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU "
          f"(medians of {args.repeats}; load average {result['load_average_1min']:.1f}); "
          f"target {args.target:g} s wall: {'met' if result['met'] else 'MISSED'}")
    write_result("plot_speed", result, not args.no_write)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
