"""Target 1: all default statistics of one cell against numpy's raw generator writing into a reused buffer.

Two cells -- a uniform(0,1) input and a normal(0.5,0.15) input (both of the default experiment), k = 4,
half-even rounding -- with every statistic ``stecheck simulate`` computes by default: moments, KS,
chi-square, 8 Fourier magnitudes, forward and central E[D_h] at the default experiment's steps. Timed
single-thread, in this process, medians of interleaved repeats (wall time and process CPU time):

- engine: the Monte Carlo part of the engine for the cell (seeded chunk streams, draws, the compiled
  scan, chunk merges, the summaries of every statistic), from a fresh run each repeat;
- anchors: ``Generator(PCG64).random(out=buf)`` and ``Generator(PCG64).standard_normal(out=buf)`` filling
  one reused buffer of a chunk's length, as many samples as the engine draws: the bare cost of the
  random numbers, with no allocation and no other pass;
- numpy: bench/numpy_baseline.py on the uniform cell's samples (materialised, one pass per statistic),
  on a smaller sample count, reported per sample.

    python bench/engine_cost.py [--samples N] [--repeats R] [--max-uniform X] [--max-normal Y] [--no-write]

Prints engine/anchor per input (CPU time and wall time); writes results/bench/engine_cost.json; exits 1
if a CPU-time ratio exceeds its limit (2.5 for the uniform input, 1.5 for the normal one). CPU time is
the gate because the runs are single-threaded: it leaves out the time the process waits for a core on a
shared machine, and equals wall time on an idle one.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

import numpy as np

from _common import interleaved_medians, interleaved_times, machine, write_result
from numpy_baseline import numpy_cell
from stecheck.config import RunConfig, default_config
from stecheck.core.distributions import parse_input
from stecheck.core.estimators import HIST_BINS
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.fastscan import binned_fourier_bound
from stecheck.engine.runner import monte_carlo
from stecheck.engine.sampling import CHUNK_SIZE, DRAW, chunk_plan, chunk_rng

K, SEED = 4, 0x5EED0F5EED0F5EED0F5EED0F5EED0F5E
#: input -> (anchor name, the generator method it is drawn from)
CASES = {"uniform(0,1)": "random", "normal(0.5,0.15)": "standard_normal"}


def cell_config(spec: str, samples: int) -> RunConfig:
    """One cell of the default experiment's statistics: ``spec`` at k = 4, half-even, default steps and schemes."""
    default = default_config()
    return RunConfig(name="bench", inputs=(spec,), bits=(K,), steps=default.steps, schemes=default.schemes,
                     roundings=("half-even",), samples=samples, seed=SEED, method="mc").validated()


def engine_cell(config: RunConfig) -> None:
    """The engine's Monte Carlo work for the cell, summaries included."""
    acc = monte_carlo(config, parse_input(config.inputs[0]), SEED, threads=1)[(K, "half-even")]
    acc.error_summary()
    for i in range(len(acc.plans)):
        acc.slope_summary(i)


def raw_anchor(method: str, samples: int) -> Callable[[], None]:
    """``samples`` draws of ``Generator(PCG64).<method>(out=buf)`` into one reused chunk-sized buffer."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    buf = np.empty(CHUNK_SIZE)
    fill = getattr(rng, method)
    full, rest = divmod(samples, CHUNK_SIZE)
    tail = buf[:rest]

    def run() -> None:
        for _ in range(full):
            fill(out=buf)
        if rest:
            fill(out=tail)

    return run


def uniform_draws(samples: int) -> np.ndarray:
    """The uniform cell's samples, concatenated (for the numpy baseline)."""
    inp = parse_input("uniform(0,1)")
    plan = chunk_plan(inp, samples)
    return np.concatenate([inp.dist.draw(chunk_rng(SEED, inp, i, DRAW), plan.length(i)) for i in range(plan.count)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64 * CHUNK_SIZE)
    parser.add_argument("--baseline-samples", type=int, default=4 * CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--max-uniform", type=float, default=2.5)
    parser.add_argument("--max-normal", type=float, default=1.5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    limits = {"uniform(0,1)": args.max_uniform, "normal(0.5,0.15)": args.max_normal}
    configs = {spec: cell_config(spec, args.samples) for spec in CASES}
    fns: dict[str, Callable[[], object]] = {}
    for spec, method in CASES.items():
        fns[f"engine {spec}"] = lambda c=configs[spec]: engine_cell(c)
        fns[f"{method}(out=buf)"] = raw_anchor(method, args.samples)
    for fn in fns.values():  # compile / warm up
        fn()
    t = interleaved_times(fns, args.repeats)
    ns = {name: (1e9 * wall / args.samples, 1e9 * cpu / args.samples) for name, (wall, cpu) in t.items()}
    cases = {}
    for spec, method in CASES.items():
        engine, anchor = ns[f"engine {spec}"], ns[f"{method}(out=buf)"]
        ratio_cpu, ratio_wall = engine[1] / anchor[1], engine[0] / anchor[0]
        cases[spec] = {
            "anchor": f"Generator(PCG64).{method}(out=buf)",
            "engine_ns_per_sample": engine[0], "engine_cpu_ns_per_sample": engine[1],
            "anchor_ns_per_sample": anchor[0], "anchor_cpu_ns_per_sample": anchor[1],
            "ratio": ratio_cpu, "ratio_wall": ratio_wall, "target_ratio": limits[spec], "met": ratio_cpu <= limits[spec],
        }
    r = uniform_draws(args.baseline_samples)
    small = cell_config("uniform(0,1)", args.baseline_samples)
    b = interleaved_medians({"numpy": lambda: numpy_cell(r, K, small.steps), "engine": lambda: engine_cell(small)},
                            max(3, args.repeats // 3))
    default = configs["uniform(0,1)"]
    result = {
        "cell": f"k={K}, half-even: moments, KS, chi-square, {FOURIER_ORDERS} Fourier magnitudes, "
                f"{'+'.join(default.schemes)} E[D_h] x {len(default.steps)} steps",
        "samples": args.samples,
        "baseline_samples": args.baseline_samples,
        "repeats": args.repeats,
        "gate": "CPU time ratio (single-threaded runs)",
        **machine(),
        "cases": cases,
        "numpy_ns_per_sample": 1e9 * b["numpy"] / args.baseline_samples,
        "speedup_vs_numpy": b["numpy"] / b["engine"],
        "met": all(c["met"] for c in cases.values()),
        "fourier_bound": float(binned_fourier_bound(HIST_BINS, FOURIER_ORDERS)[-1]),
    }
    for spec, c in cases.items():
        print(f"{spec}: engine / {c['anchor']} = {c['ratio']:.2f} CPU time, {c['ratio_wall']:.2f} wall "
              f"(limit {c['target_ratio']:g}; engine {c['engine_cpu_ns_per_sample']:.2f} ns/sample CPU, "
              f"{c['engine_ns_per_sample']:.2f} wall; anchor {c['anchor_cpu_ns_per_sample']:.2f} CPU, "
              f"{c['anchor_ns_per_sample']:.2f} wall) {'met' if c['met'] else 'MISSED'}")
    print(f"speedup over plain numpy: {result['speedup_vs_numpy']:.1f}x ({result['numpy_ns_per_sample']:.0f} ns/sample); "
          f"load average {result['load_average']}")
    write_result("engine_cost", result, not args.no_write)
    missed = [spec for spec, c in cases.items() if not c["met"]]
    if missed:
        print("missed target: " + ", ".join(f"{s} ratio {cases[s]['ratio']:.2f} > {cases[s]['target_ratio']:g}"
                                            for s in missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
