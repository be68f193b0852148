"""`weights --threads 2` against `--threads 1` on the same scans: at least 1.7x faster, byte-identical records.

The scans (DoReFa, k = 1..8, h = 1e-3; ``stecheck.weights.scan`` in this process):

- ``f32``: 16 tensors of 1024 x 1024 float32 Student-t weights in a generated safetensors file (read by
  offset, as the CLI reads it; the file is in the page cache after the warm-up);
- ``bf16``: 16 tensors of 4096 x 4096 bfloat16 weights, the same law, in a second generated file: a 16-bit
  tensor's scan is mostly the count of its bit patterns, then the statistics of its distinct values;
- ``minilm``: ``zoo:all-minilm-l6-v2`` (40 tensors, 22.7M weights) when it is in the zoo cache already
  (``stecheck weights zoo:all-minilm-l6-v2`` fetches it once; ``--fetch`` here does the same), else skipped.

Each scan runs once per thread count as a warm-up (numba's kernels load; the records of both are
serialised to JSON and compared byte for byte), then medians of interleaved repeats. Process CPU time
over wall time is reported for each: the cores the scan actually got (on a shared machine other jobs
take cores, and no thread count can beat the cores it is given).

    python bench/weights_threads.py [--repeats R] [--min-speedup X] [--fetch] [--no-write]

Writes results/bench/weights_threads.json (``--no-write``: print only); exits 1 if a ratio is below
--min-speedup (default 1.7) or records differ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import interleaved_times, machine, write_result

from stecheck.records import to_json_text
from stecheck.weights import open_source, scan, select

BITS, STEPS = tuple(range(1, 9)), (1e-3,)
TENSORS, ROWS, COLS = 16, 1024, 1024
#: Shape of the bfloat16 tensors: 16M values each, so counting their patterns outweighs their distinct values' statistics.
BF16_SHAPE = (4096, 4096)
ZOO_MODEL = "all-minilm-l6-v2"


def write_weights(path: Path, dtype: str = "F32", rows: int = ROWS, cols: int = COLS, seed: int = 20241129) -> Path:
    """TENSORS tensors of ``rows x cols`` Student-t (5 degrees of freedom) weights in one safetensors file, as
    ``dtype`` (``F32`` or ``BF16``)."""
    import json
    import struct

    import ml_dtypes

    stored = {"F32": np.dtype("<f4"), "BF16": np.dtype(ml_dtypes.bfloat16)}[dtype]
    nbytes = rows * cols * stored.itemsize
    header = {f"layers.{i}.weight": {"dtype": dtype, "shape": [rows, cols], "data_offsets": [i * nbytes, (i + 1) * nbytes]}
              for i in range(TENSORS)}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        for _ in range(TENSORS):
            handle.write((0.02 * rng.standard_t(5, size=(rows, cols))).astype(stored).tobytes())
    return path


def zoo_source(fetch: bool) -> str | None:
    """``zoo:all-minilm-l6-v2`` if its model file is cached (or ``fetch``), else None."""
    from stecheck.weights.zoo import ZOO, cache_dir

    entry = ZOO[ZOO_MODEL]
    cached = (cache_dir() / entry.name).is_dir() and any((cache_dir() / entry.name).iterdir())
    return f"zoo:{ZOO_MODEL}" if cached or fetch else None


def bench(source: str, repeats: int) -> dict:
    opened = open_source(source)
    tensors = select(opened.tensors)

    def run(threads: int) -> list:
        return scan(opened.label, tensors, BITS, STEPS, threads=threads)

    identical = to_json_text({}, run(1)) == to_json_text({}, run(2))
    times = interleaved_times({"1": lambda: run(1), "2": lambda: run(2)}, repeats)
    wall = {name: w for name, (w, _) in times.items()}
    cores = {name: cpu / w for name, (w, cpu) in times.items()}
    return {"tensors": len(tensors), "elements": sum(t.size for t in tensors), "seconds_1_thread": wall["1"],
            "seconds_2_threads": wall["2"], "cores_used_1_thread": cores["1"], "cores_used_2_threads": cores["2"],
            "speedup": wall["1"] / wall["2"], "records_identical": identical}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-speedup", type=float, default=1.7)
    parser.add_argument("--fetch", action="store_true", help=f"fetch zoo:{ZOO_MODEL} if it is not cached")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    before = machine()
    scans: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_weights(Path(tmp) / "f32.safetensors")
        scans["f32"] = {"scan": f"{TENSORS} x {ROWS}x{COLS} float32, k = 1..8", **bench(str(path), args.repeats)}
        path.unlink()
        path = write_weights(Path(tmp) / "bf16.safetensors", "BF16", *BF16_SHAPE)
        scans["bf16"] = {"scan": f"{TENSORS} x {BF16_SHAPE[0]}x{BF16_SHAPE[1]} bfloat16, k = 1..8", **bench(str(path), args.repeats)}
    zoo = zoo_source(args.fetch)
    if zoo is not None:
        scans["minilm"] = {"scan": f"{zoo}, k = 1..8", **bench(zoo, args.repeats)}
    else:
        print(f"zoo:{ZOO_MODEL} is not cached: skipped (run `stecheck weights zoo:{ZOO_MODEL}` once, or pass --fetch)")
    met = {name: s["records_identical"] and s["speedup"] >= args.min_speedup for name, s in scans.items()}
    result = {**before, "load_average_after": machine()["load_average"], "repeats": args.repeats,
              "target_speedup": args.min_speedup, "scans": scans, "met": met}
    for name, s in scans.items():
        print(f"{s['scan']}: 2 threads vs 1: {s['speedup']:.2f}x (target >= {args.min_speedup:g}; {s['seconds_1_thread']:.2f} s vs "
              f"{s['seconds_2_threads']:.2f} s, medians of {args.repeats}); records byte-identical: {s['records_identical']}; "
              f"cores the process got: {s['cores_used_1_thread']:.2f} with 1 thread, {s['cores_used_2_threads']:.2f} with 2")
    print(f"load average {before['load_average']} before, {result['load_average_after']} after; "
          + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in met.items()))
    write_result("weights_threads", result, not args.no_write)
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
