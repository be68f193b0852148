"""Target 1: all default statistics of one cell at most 2x the bare cost of drawing its samples.

One cell -- uniform(0,1) input (its draw is the generator's uniform stream), k = 4, half-even rounding --
with every default statistic: moments, KS, chi-square, 8 Fourier magnitudes, forward and central E[D_h]
for 8 step sizes. Timed single-thread, in this process, medians of interleaved repeats:

- engine: the Monte Carlo part of the engine for the cell (seeded chunk streams, draws, the compiled
  scan, chunk merges, the summaries of every statistic);
- draw: the same chunks drawn with the same generators and nothing else;
- numpy: bench/numpy_baseline.py on the same samples (materialised, one pass per statistic), on a
  smaller sample count, reported per sample.

    python bench/engine_cost.py [--samples N] [--repeats R] [--max-ratio X] [--no-write]

Prints engine/draw and numpy/engine; writes results/bench/engine_cost.json; exits 1 if engine/draw
exceeds --max-ratio (default 2).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from _common import interleaved_medians, machine, write_result
from numpy_baseline import numpy_cell
from stecheck.config import RunConfig
from stecheck.core.distributions import parse_input
from stecheck.core.estimators import HIST_BINS
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.fastscan import binned_fourier_bound
from stecheck.engine.runner import monte_carlo
from stecheck.engine.sampling import CHUNK_SIZE, DRAW, chunk_plan, chunk_rng

SPEC, K, SEED = "uniform(0,1)", 4, 0x5EED0F5EED0F5EED0F5EED0F5EED0F5E
STEPS = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5)


def draw_all(samples: int, keep: bool = False) -> np.ndarray | None:
    """Draw the cell's chunks with their generators (concatenated only when ``keep``)."""
    inp = parse_input(SPEC)
    plan = chunk_plan(inp, samples)
    parts = [inp.dist.draw(chunk_rng(SEED, inp, i, DRAW), plan.length(i)) for i in range(plan.count)]
    return np.concatenate(parts) if keep else None


def engine_cell(config: RunConfig) -> None:
    """The engine's Monte Carlo work for the cell, summaries included."""
    acc = monte_carlo(config, parse_input(SPEC), SEED, threads=1)[(K, "half-even")]
    acc.error_summary()
    for i in range(len(acc.plans)):
        acc.slope_summary(i)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64 * CHUNK_SIZE)
    parser.add_argument("--baseline-samples", type=int, default=4 * CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-ratio", type=float, default=2.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    config = RunConfig(name="bench", inputs=(SPEC,), bits=(K,), steps=STEPS, samples=args.samples, seed=SEED,
                       method="mc").validated()
    engine_cell(config)  # compile / warm up
    t = interleaved_medians({"engine": lambda: engine_cell(config), "draw": lambda: draw_all(args.samples)},
                            args.repeats)
    r = draw_all(args.baseline_samples, keep=True)
    small = RunConfig(name="bench", inputs=(SPEC,), bits=(K,), steps=STEPS, samples=args.baseline_samples,
                      seed=SEED, method="mc").validated()
    b = interleaved_medians({"numpy": lambda: numpy_cell(r, K, STEPS), "engine": lambda: engine_cell(small)},
                            max(3, args.repeats // 2))
    ratio = t["engine"] / t["draw"]
    speedup = b["numpy"] / b["engine"]
    result = {
        "cell": f"{SPEC}, k={K}, half-even: moments, KS, chi-square, 8 Fourier magnitudes, "
                f"forward+central E[D_h] x {len(STEPS)} steps",
        "samples": args.samples,
        "baseline_samples": args.baseline_samples,
        "repeats": args.repeats,
        **machine(),
        "engine_ns_per_sample": 1e9 * t["engine"] / args.samples,
        "draw_ns_per_sample": 1e9 * t["draw"] / args.samples,
        "numpy_ns_per_sample": 1e9 * b["numpy"] / args.baseline_samples,
        "ratio": ratio,
        "target_ratio": args.max_ratio,
        "speedup_vs_numpy": speedup,
        "met": ratio <= args.max_ratio,
        "fourier_bound": float(binned_fourier_bound(HIST_BINS, FOURIER_ORDERS)[-1]),
    }
    print(f"engine/draw cost ratio: {ratio:.2f} (target <= {args.max_ratio}; {result['engine_ns_per_sample']:.1f} vs "
          f"{result['draw_ns_per_sample']:.1f} ns/sample); speedup over plain numpy: {speedup:.1f}x "
          f"({result['numpy_ns_per_sample']:.0f} ns/sample)")
    write_result("engine_cost", result, not args.no_write)
    if not result["met"]:
        print(f"missed target: ratio {ratio:.2f} > {args.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
