"""Per-element cost of the weights scan under ``absmax(4,group=128)`` against the DoReFa scan at one bit width.

One process, single thread, the median of interleaved repeats after a warm-up (numba's compilation and the
imports are not counted), on the same 16 tensors of 1024 x 1024 float32 (normal, sd 0.05):

- ``quantizer``: :func:`stecheck.weights.quantized.quantized_statistics` with ``absmax(4,group=128)`` and
  h = 1e-3 (the compiled integer-grid path: scales per group of 128, every field, the exact KS statistic by
  sorting all 2^20 values of n per tensor);
- ``dorefa``: :func:`stecheck.weights.stats.tensor_statistics` (the compiled DoReFa scan) at k = 4 only,
  h = 1e-3 (tanh transform, every field, the KS statistic by histogram and exact refinement).

Both are wall time per element of the whole call (extent pass and records' statistics included, no file
reading: the tensors are in memory). Prints the ratio quantizer / dorefa against the target (issue 17:
at most 1.5) and whether the compiled quantizer path equals the numpy one bit for bit on the first tensor;
exits 1 on a miss or a difference.

    python bench/weights_quantizer.py [--repeats R] [--target T] [--no-write]
"""

from __future__ import annotations

import argparse
import struct
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved_times, machine, write_result  # noqa: E402

from stecheck.core.quantizers import parse_quantizer  # noqa: E402
from stecheck.weights.quantized import quantized_statistics  # noqa: E402
from stecheck.weights.stats import tensor_statistics  # noqa: E402
from stecheck.weights.tensors import TensorRef, array_reader  # noqa: E402

SPEC = "absmax(4,group=128)"
BITS = (4,)
STEPS = (1e-3,)
SEED = 0x5CA1AB1E
COUNT = 16
SHAPE = (1024, 1024)


def tensors() -> list[TensorRef]:
    rng = np.random.default_rng(SEED)
    return [
        TensorRef(f"layer{i}.weight", SHAPE, np.dtype(np.float32), array_reader((0.05 * rng.standard_normal(SHAPE)).astype(np.float32)), role="linear")
        for i in range(COUNT)
    ]


def as_bits(value: object) -> object:
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, (tuple, list)):
        return [as_bits(v) for v in value]
    if isinstance(value, dict):
        return {k: as_bits(v) for k, v in value.items()}
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=1.5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    ts = tensors()
    q = parse_quantizer(SPEC)
    fast = quantized_statistics(ts[0], q, STEPS)  # also the warm-up of both paths
    same = as_bits(asdict(fast)) == as_bits(asdict(quantized_statistics(ts[0], q, STEPS, fast=False)))
    tensor_statistics(ts[0].chunks, BITS, STEPS, "dorefa")
    times = interleaved_times({
        "quantizer": lambda: [quantized_statistics(t, q, STEPS) for t in ts],
        "dorefa": lambda: [tensor_statistics(t.chunks, BITS, STEPS, "dorefa") for t in ts],
    }, args.repeats)
    elements = COUNT * SHAPE[0] * SHAPE[1]
    ns = {name: wall / elements * 1e9 for name, (wall, _) in times.items()}
    ratio = ns["quantizer"] / ns["dorefa"]
    ok = ratio <= args.target and same
    print(f"weights --quantizer '{SPEC}': {ns['quantizer']:.1f} ns per element; DoReFa scan at k = 4: {ns['dorefa']:.1f} ns "
          f"(16 x 1024x1024 f32, h = 1e-3); ratio {ratio:.2f} (target <= {args.target:g}: {'met' if ratio <= args.target else 'missed'}); "
          f"compiled path equal to the numpy path bit for bit: {'yes' if same else 'NO'}")
    result = {
        "machine": machine(), "repeats": args.repeats, "quantizer": SPEC, "tensors": f"{COUNT} x {SHAPE[0]}x{SHAPE[1]} float32",
        "quantizer_ns_per_element": ns["quantizer"], "dorefa_k4_ns_per_element": ns["dorefa"],
        "cpu_ns_per_element": {name: cpu / elements * 1e9 for name, (_, cpu) in times.items()},
        "ratio": ratio, "target": args.target, "identical": same,
    }
    write_result("weights_quantizer", result, not args.no_write)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
