"""Speed of `stecheck weights` against a plain per-tensor numpy + scipy loop, on all-MiniLM-L6-v2.

Both compute the same statistics for every tensor the command selects (floating, ndim >= 2) at
k = 1..8, h = 1e-3, DoReFa transform: E[n], Var(n), exact KS statistic and p-value, |E exp(2 pi i l n)|
(l = 1..8), E[D_h], measured and predicted SQNR. The baseline (bench/weights_baseline.py) has every
tensor already in memory; the scan reads the file. Both results are compared (max abs difference <= 1e-6)
in the same run, and the scan's compiled path against its numpy reference path (equal bit for bit). The
figure is the ratio of median wall times.

    python bench/weights_speed.py [--repeats R] [--baseline-repeats R] [--min-ratio X]

Writes results/bench/weights_speed.json; exits 1 if the ratio is below --min-ratio (default 200) or the
results differ.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from weights_baseline import plain_statistics  # noqa: E402

from stecheck.weights import open_source, select, tensor_statistics  # noqa: E402

BITS = tuple(range(1, 9))
STEPS = (1e-3,)
KEYS = ("mean_n", "var_n", "ks_stat", "ks_pvalue", "sqnr_db", "sqnr_uniform_db")


def median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def max_difference(fast, plain) -> float:
    worst = 0.0
    for st, ref in zip(fast, plain):
        for k in BITS:
            b, r = st.per_bits[k], ref[k]
            worst = max(worst, *(abs(getattr(b, key) - r[key]) for key in KEYS))
            worst = max(worst, float(np.max(np.abs(np.subtract(b.fourier_abs, r["fourier_abs"])))))
            worst = max(worst, float(np.max(np.abs(np.subtract(b.mean_fd, r["mean_fd"])))))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="zoo:all-minilm-l6-v2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-repeats", type=int, default=1)
    parser.add_argument("--min-ratio", type=float, default=200.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    tensors = select(open_source(args.source).tensors)
    arrays = [np.concatenate(list(t.raw_chunks())) for t in tensors]
    fast_s, fast = median_time(lambda: [tensor_statistics(t.chunks, BITS, STEPS, "dorefa") for t in tensors], args.repeats)
    plain_s, plain = median_time(lambda: [plain_statistics(a, BITS, STEPS, "dorefa") for a in arrays], args.baseline_repeats)
    diff = max_difference(fast, plain)
    identical = fast == [tensor_statistics(t.chunks, BITS, STEPS, "dorefa", fast=False) for t in tensors]
    ratio = plain_s / fast_s
    result = {
        "source": args.source,
        "tensors": len(tensors),
        "weights": int(sum(a.size for a in arrays)),
        "bits": list(BITS),
        "h": list(STEPS),
        "scan_s": fast_s,
        "baseline_s": plain_s,
        "repeats": args.repeats,
        "baseline_repeats": args.baseline_repeats,
        "ratio": ratio,
        "target_ratio": args.min_ratio,
        "max_abs_difference": diff,
        "compiled_equals_reference": identical,
        "cpu_count": os.cpu_count(),
    }
    print(f"weights scan {fast_s:.2f} s vs plain numpy+scipy loop {plain_s:.2f} s: {ratio:.1f}x faster "
          f"(target {args.min_ratio:g}x); max |difference| {diff:.2e}; compiled path equal to the numpy reference path: "
          f"{'yes' if identical else 'NO'}")
    write_result("weights_speed", result, not args.no_write)
    if not identical:
        print("the compiled path differs from the numpy reference path", file=sys.stderr)
        return 1
    if diff > 1e-6:
        print(f"results differ: {diff:.3g} > 1e-6", file=sys.stderr)
        return 1
    if ratio < args.min_ratio:
        print(f"missed target: {ratio:.1f}x < {args.min_ratio:g}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
