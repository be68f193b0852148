"""Target 2: two worker threads at least 1.7x faster than one on the same run, byte-identical records.

The run: normal(0.5,0.15) at k = 1..8, half-even, forward and central at the 5 default steps (80
records), Monte Carlo only. Medians of interleaved repeats with 1 and 2 threads, in this process; the
records of both are serialised to JSON and compared byte for byte. Process CPU time over wall time is
reported for each: the cores the run actually got (on a shared machine other jobs take cores, and no
thread count can beat the cores it is given).

    python bench/threads.py [--samples N] [--repeats R] [--min-speedup X] [--no-write]

Writes results/bench/threads.json; exits 1 if the speedup is below --min-speedup (default 1.7) or the
records differ.
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import interleaved_times, machine, write_result
from stecheck.config import RunConfig
from stecheck.engine.runner import run
from stecheck.engine.sampling import CHUNK_SIZE

SEED = 0x7A1E5EED7A1E5EED7A1E5EED7A1E5EED


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32 * CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-speedup", type=float, default=1.7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    config = RunConfig(name="bench-threads", inputs=("normal(0.5,0.15)",), bits=tuple(range(1, 9)),
                       samples=args.samples, seed=SEED, method="mc")
    texts = {t: json.dumps(run(config, threads=t).records) for t in (1, 2)}  # warm-up and identity check
    identical = texts[1] == texts[2]
    times = interleaved_times({"1": lambda: run(config, threads=1), "2": lambda: run(config, threads=2)}, args.repeats)
    t = {name: wall for name, (wall, _) in times.items()}
    cores = {name: cpu / wall for name, (wall, cpu) in times.items()}
    speedup = t["1"] / t["2"]
    result = {
        "run": "normal(0.5,0.15), k=1..8, half-even, forward+central x 5 steps (80 records), Monte Carlo",
        "samples": args.samples,
        "repeats": args.repeats,
        **machine(),
        "seconds_1_thread": t["1"],
        "seconds_2_threads": t["2"],
        "cores_used_1_thread": cores["1"],
        "cores_used_2_threads": cores["2"],
        "speedup": speedup,
        "target_speedup": args.min_speedup,
        "records_identical": identical,
        "met": identical and speedup >= args.min_speedup,
    }
    print(f"2 threads vs 1: {speedup:.2f}x (target >= {args.min_speedup}; {t['1']:.2f} s vs {t['2']:.2f} s); "
          f"records byte-identical: {identical}; cores the process got: {cores['1']:.2f} with 1 thread, "
          f"{cores['2']:.2f} with 2")
    write_result("threads", result, not args.no_write)
    if not result["met"]:
        print("missed target" + ("" if identical else ": records differ between thread counts"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
