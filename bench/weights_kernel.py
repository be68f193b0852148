"""Per-element cost and per-tensor overhead of the weights scan (compiled path) against its targets.

Two measurements in one process, each the median of interleaved repeats after a warm-up (so numba's
compilation and the imports are not counted), single thread:

- ``elements``: 16 tensors of 1024 x 1024 float32 (normal, sd 0.05), k = 1..8, h = 1e-3, DoReFa: wall time
  per element and bit width of :func:`stecheck.weights.stats.tensor_statistics` (target <= 2.5 ns), and the
  same work on the numpy reference path (``fast=False``, on the first 2 tensors), as a speedup, and numpy's
  ``tanh`` over the same values (the DoReFa transform both paths start with), per element and bit width;
- ``tensors``: 2,000 tensors of 32 x 32 through :func:`stecheck.weights.scan.scan` (records included),
  target <= 1.5 s, and the reference path on 200 of them, as a speedup.

Both paths' statistics are compared (they must be equal bit for bit). Prints one line per measurement with
its ratio to the target; exits 1 on a miss or a difference.

    python bench/weights_kernel.py [--case elements|tensors|all] [--repeats R] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved_times, machine, write_result  # noqa: E402

from stecheck.weights.scan import scan  # noqa: E402
from stecheck.weights.stats import tensor_statistics  # noqa: E402
from stecheck.weights.tensors import TensorRef, array_reader  # noqa: E402

BITS = tuple(range(1, 9))
STEPS = (1e-3,)
SEED = 0x5CA1AB1E


def tensors(count: int, shape: tuple[int, int], seed: int) -> list[TensorRef]:
    rng = np.random.default_rng(seed)
    return [
        TensorRef(f"layer{i}.weight", shape, np.dtype(np.float32), array_reader((0.05 * rng.standard_normal(shape)).astype(np.float32)), role="linear")
        for i in range(count)
    ]


def stats_of(ts: list[TensorRef], fast: bool) -> list:
    return [tensor_statistics(t.chunks, BITS, STEPS, "dorefa", fast=fast) for t in ts]


def elements(repeats: int, target: float) -> tuple[dict, bool]:
    ts = tensors(16, (1024, 1024), SEED)
    same = stats_of(ts[:2], True) == stats_of(ts[:2], False)  # also the warm-up
    values = [t.read(0, t.size) for t in ts]
    out = np.empty(ts[0].size)
    times = interleaved_times({"fast": lambda: stats_of(ts, True), "reference": lambda: stats_of(ts[:2], False),
                               "tanh": lambda: [np.tanh(v, out=out, dtype=np.float64) for v in values]}, repeats)
    work = sum(t.size for t in ts) * len(BITS)
    ns = times["fast"][0] / work * 1e9
    ref_ns = times["reference"][0] / (work / 8) * 1e9
    tanh_ns = times["tanh"][0] / work * 1e9
    print(f"elements: {ns:.2f} ns per element and bit width (16 x 1024x1024 f32, k = 1..8; target {target:g} ns: "
          f"{ns / target:.2f}x of it, {'met' if ns <= target else 'missed'}); numpy reference {ref_ns:.1f} ns, "
          f"{ref_ns / ns:.1f}x slower; equal bit for bit: {'yes' if same else 'NO'}; process CPU {times['fast'][1] / work * 1e9:.2f} ns; "
          f"numpy's tanh alone (DoReFa's transform, in both paths) {tanh_ns:.2f} ns, {tanh_ns / target:.0%} of the target")
    result = {"ns_per_element_bit": ns, "cpu_ns_per_element_bit": times["fast"][1] / work * 1e9, "target_ns": target, "reference_ns": ref_ns,
              "speedup": ref_ns / ns, "identical": same, "tanh_ns_per_element_bit": tanh_ns}
    return result, ns <= target and same


def many(repeats: int, target: float) -> tuple[dict, bool]:
    ts = tensors(2000, (32, 32), SEED + 1)
    same = stats_of(ts[:200], True) == stats_of(ts[:200], False)
    times = interleaved_times({"fast": lambda: scan("bench", ts, BITS, STEPS), "reference": lambda: stats_of(ts[:200], False)}, repeats)
    wall = times["fast"][0]
    ref = times["reference"][0] * 10
    print(f"tensors: 2,000 tensors of 32x32 scanned in {wall:.2f} s (k = 1..8, records included; target {target:g} s: "
          f"{wall / target:.2f}x of it, {'met' if wall <= target else 'missed'}), {1e3 * wall / 2000:.2f} ms per tensor; "
          f"numpy reference {ref:.1f} s (from 200), {ref / wall:.1f}x slower; equal bit for bit: {'yes' if same else 'NO'}; "
          f"process CPU {times['fast'][1]:.2f} s")
    result = {"scan_s": wall, "scan_cpu_s": times["fast"][1], "target_s": target, "per_tensor_ms": 1e3 * wall / 2000, "reference_s": ref, "speedup": ref / wall, "identical": same}
    return result, wall <= target and same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("elements", "tensors", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target-ns", type=float, default=2.5)
    parser.add_argument("--target-s", type=float, default=1.5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result, ok = {"machine": machine(), "repeats": args.repeats}, True
    if args.case in ("elements", "all"):
        result["elements"], good = elements(args.repeats, args.target_ns)
        ok &= good
    if args.case in ("tensors", "all"):
        result["tensors"], good = many(args.repeats, args.target_s)
        ok &= good
    write_result("weights_kernel", result, not args.no_write)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
