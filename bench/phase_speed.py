"""Wall time of the default ``stecheck phase`` map against its 5-second target.

The default map: 4 families x 200 sigma_s x 100 offsets, each point by CDF sums and by the Fourier
series (E[D] and E[n]), plus the rule of thumb per family (the part of ``stecheck phase`` that is not
Monte Carlo). The figure is the median of repeated runs in this process, single thread.

    python bench/phase_speed.py [--repeats R] [--target SECONDS] [--no-write]

Writes results/bench/phase_speed.json; exits 1 if the median misses the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from stecheck.claims.phase.map import DEFAULT_FAMILIES, offset_grid, parse_family, phase_map, rule_of_thumb, sigma_grid
from stecheck.claims.phase.run import PhaseConfig

from _common import write_result



def default_map(config: PhaseConfig) -> tuple[float, float]:
    """Seconds spent on the maps and on the rules of every default family."""
    sigmas = sigma_grid(config.sigma_min, config.sigma_max, config.sigma_points)
    offsets = offset_grid(config.offset_points)
    t_map = t_rule = 0.0
    for name in config.families:
        family = parse_family(name)
        start = time.perf_counter()
        phase_map(family, sigmas, offsets, config.h)
        mid = time.perf_counter()
        rule_of_thumb(family, config.h, config.tolerance)
        t_map += mid - start
        t_rule += time.perf_counter() - mid
    return t_map, t_rule


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    config = PhaseConfig()
    default_map(config)  # warm-up: imports and caches
    runs = [default_map(config) for _ in range(args.repeats)]
    total = statistics.median(m + r for m, r in runs)
    result = {
        "families": list(DEFAULT_FAMILIES),
        "sigma_points": config.sigma_points,
        "offset_points": config.offset_points,
        "points": len(DEFAULT_FAMILIES) * config.sigma_points * config.offset_points,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "map_s": statistics.median(m for m, _ in runs),
        "rule_s": statistics.median(r for _, r in runs),
        "total_s": total,
        "target_s": args.target,
        "ratio": total / args.target,
    }
    print(
        f"default phase map ({result['points']:,} points x 2 evaluations + rules): {total:.2f} s "
        f"vs target {args.target:.1f} s (ratio {result['ratio']:.2f}; map {result['map_s']:.2f} s, rule {result['rule_s']:.2f} s)"
    )
    write_result("phase_speed", result, not args.no_write)
    if total > args.target:
        print(f"missed target: {total:.2f} s > {args.target:.1f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
