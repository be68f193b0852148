"""A LocalCluster of 2 worker processes against 1 local thread: a Monte Carlo sweep and a sharded checkpoint scan.

Both sides compute the same records (checked here, byte for byte): the sweep with
``stecheck.engine.runner.run`` (threads=1, then ``cluster=``), the scan with ``stecheck.weights.scan``
(in-process, then ``mapper=cluster.map``, each tensor one task that reads its shard by path). Timings are
medians of interleaved runs after one warm-up on each side (numba's kernels load in every worker process
once; the checkpoint is then in the page cache for both sides). Each side's CPU time over its wall time is
the cores it actually got (the client's process time for the local side; the workers' and the client's
for the cluster), so a ratio measured on a busy machine can be read against the cores there were.

A third side runs the same work on 2 local threads (``threads=2``, no Dask): the speedup two cores give this
machine's own process, the ceiling a cluster of 2 workers on these 2 cores can approach. The cluster's ratio
over it is the share of that ceiling left after Dask's costs (the scheduler and the client share the cores
with the workers).

After the scan, each worker reports its peak resident set size: ``VmHWM`` of ``/proc/self/status``, the
high-water mark of the worker's own memory. Not ``ru_maxrss``: Linux carries it across ``execve``, so a
worker started by a nanny forked from a large client reports the client's size at that moment (this
script's process holds the sweep's results by then: 434 MB was measured that way, for workers whose own
peak was about 265 MB). A fresh cluster serves the scan, so the peak is the scan's.

    python bench/cluster.py [--gib G] [--repeats R] [--target 1.7] [--max-mb 400] [--keep DIR] [--no-write]

The sweep runs twice: as :data:`SWEEP` (about 2 s on one thread) and with :data:`LARGE_SWEEP` times its samples.
Targets: a ratio of at least 1.7x for each on two idle cores, and under 400 MB per worker. Writes
results/bench/cluster.json (``--no-write``: print only); exits 1 on a missed target. The throughput per
core it records feeds the scale-out projection in the README (experiments/readme_sections/bench_cluster.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import ml_dtypes
import numpy as np

from _common import machine, write_result

from stecheck.config import RunConfig
from stecheck.engine.cluster import Cluster
from stecheck.engine.runner import run
from stecheck.records import to_json_text
from stecheck.weights import open_source, scan, select

#: Tensors of the generated checkpoint: ROWS x COLS bfloat16 (128 MiB each), TENSORS_PER_SHARD per file.
ROWS, COLS, TENSORS_PER_SHARD = 8192, 8192, 2
SWEEP = RunConfig(
    inputs=("normal(0.5,0.15)", "laplace(0.5,0.1)"), bits=(1, 2, 3, 4, 5, 6, 7, 8), steps=(1e-3, 1e-4), schemes=("forward", "central"),
    roundings=("half-even",), samples=48 * (1 << 18), seed=0x5E1EC7ED0C0FFEE0DDBA11FAB1E5EED5, method="mc",
)


#: The sweep is also run with this many times its samples: a run's fixed cost on the cluster (the first task's
#: start, the last result's trip back, the last input's records, built after its last task) then weighs less.
LARGE_SWEEP = 4


def write_checkpoint(directory: Path, gib: float, seed: int = 20240601) -> tuple[int, int]:
    """A sharded bfloat16 safetensors checkpoint of about ``gib`` GiB; returns (bytes, tensors)."""
    directory.mkdir(parents=True, exist_ok=True)
    index = directory / "model.safetensors.index.json"
    tensors = max(2, round(gib * 2**30 / (ROWS * COLS * 2)))
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        if len(weight_map) == tensors:
            return sum(p.stat().st_size for p in directory.glob("*.safetensors")), tensors
    rng = np.random.default_rng(seed)
    nbytes = ROWS * COLS * 2
    shards = math.ceil(tensors / TENSORS_PER_SHARD)
    weight_map = {}
    for s in range(shards):
        names = [f"model.layers.{i}.mlp.up_proj.weight" for i in range(s * TENSORS_PER_SHARD, min(tensors, (s + 1) * TENSORS_PER_SHARD))]
        header = {n: {"dtype": "BF16", "shape": [ROWS, COLS], "data_offsets": [j * nbytes, (j + 1) * nbytes]} for j, n in enumerate(names)}
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        with (directory / file).open("wb") as handle:
            handle.write(struct.pack("<Q", len(text)) + text)
            for _ in names:
                for _ in range(0, ROWS, 1024):
                    block = (0.02 * rng.standard_t(5, size=(1024, COLS))).astype(np.float32).astype(ml_dtypes.bfloat16)
                    handle.write(block.tobytes())
        weight_map.update({n: file for n in names})
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return sum(p.stat().st_size for p in directory.glob("*.safetensors")), tensors


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (run on each worker): ``VmHWM`` (module docstring)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux; see the module docstring


def _cpu_seconds() -> float:
    """User plus system CPU time of this process (run on each worker)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fns: dict[str, tuple[Callable[[], object], Callable[[], float]]], repeats: int) -> dict[str, dict[str, float]]:
    """Median wall time and cores got per side, over ``repeats`` interleaved rounds.

    ``fns`` maps a side to ``(run, cpu)``: ``cpu()`` is read before and after each run, outside its timing.
    """
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cores: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, cpu) in fns.items():
            before = cpu()
            start = time.perf_counter()
            fn()
            wall = time.perf_counter() - start
            walls[name].append(wall)
            cores[name].append((cpu() - before) / wall)
    return {name: {"wall_s": statistics.median(walls[name]), "cores": statistics.median(cores[name])} for name in fns}


def _sides(local: Callable[[], object], remote: Callable[[], object], threads: Callable[[], object],
           cluster: Cluster) -> dict[str, tuple[Callable[[], object], Callable[[], float]]]:
    def cluster_cpu() -> float:
        return time.process_time() + sum(cluster.client.run(_cpu_seconds).values())

    return {"local": (local, time.process_time), "cluster": (remote, cluster_cpu), "threads": (threads, time.process_time)}


def _ratios(times: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each side's wall time and cores, the cluster's ratio to 1 thread, and the 2 threads' (the ceiling)."""
    local, cluster, threads = (times[side] for side in ("local", "cluster", "threads"))
    return {"local_s": local["wall_s"], "cluster_s": cluster["wall_s"], "threads_s": threads["wall_s"],
            "ratio": local["wall_s"] / cluster["wall_s"], "threads_ratio": local["wall_s"] / threads["wall_s"],
            "local_cores": local["cores"], "cluster_cores": cluster["cores"], "threads_cores": threads["cores"]}


def bench_sweep(repeats: int, scale: int = 1) -> dict:
    """The sweep :data:`SWEEP` with ``scale`` times its samples per input."""
    sweep = dataclasses.replace(SWEEP, samples=scale * SWEEP.samples)
    with Cluster("local:2") as cluster:
        local = run(sweep)
        remote = run(sweep, cluster=cluster)  # warm-up: numba compiles in each worker
        threads = run(sweep, threads=2)
        identical = to_json_text({}, local.records) == to_json_text({}, remote.records) == to_json_text({}, threads.records)
        times = timed(_sides(lambda: run(sweep), lambda: run(sweep, cluster=cluster), lambda: run(sweep, threads=2), cluster), repeats)
    cells = len(sweep.inputs) * len(sweep.bits) * len(sweep.roundings)
    return {"inputs": list(sweep.inputs), "bits": "1-8", "samples": sweep.samples, "cells": cells, "records": len(local.records),
            **_ratios(times), "identical": identical}


def bench_scan(directory: Path, repeats: int) -> dict:
    source = open_source(str(directory))
    tensors = select(source.tensors)
    bits, steps = tuple(range(1, 9)), (1e-3,)

    def local() -> list:
        return scan(source.label, tensors, bits, steps)

    with Cluster("local:2") as cluster:
        first = local()
        identical = (to_json_text({}, first) == to_json_text({}, scan(source.label, tensors, bits, steps, mapper=cluster.map))
                     == to_json_text({}, scan(source.label, tensors, bits, steps, threads=2)))
        times = timed(_sides(local, lambda: scan(source.label, tensors, bits, steps, mapper=cluster.map),
                             lambda: scan(source.label, tensors, bits, steps, threads=2), cluster), repeats)
        rss = sorted(cluster.client.run(_peak_rss).values())
    nbytes = sum(t.size * t.dtype.itemsize for t in tensors)
    return {"tensors": len(tensors), "shards": len(list(directory.glob("*.safetensors"))), "bytes": nbytes, "dtype": "bfloat16",
            "bits": "1-8", **_ratios(times), "identical": identical,
            "bytes_per_s_one_core": nbytes / times["local"]["wall_s"], "worker_peak_rss_mb": [r / 1e6 for r in rss]}


def _ceiling(part: dict) -> str:
    """The 2 local threads' ratio (the machine's two-core ceiling), the cluster's share of it, and the cores got."""
    return (f"2 local threads {part['threads_s']:.2f} s: {part['threads_ratio']:.2f}x, the cluster {part['ratio'] / part['threads_ratio']:.0%} "
            f"of that; cores got: {part['local_cores']:.2f} local, {part['threads_cores']:.2f} threads, {part['cluster_cores']:.2f} cluster")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="checkpoint size in GiB (multiples of 0.125)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.7)
    parser.add_argument("--max-mb", type=float, default=400.0)
    parser.add_argument("--keep", type=Path, default=None, help="write (or reuse) the checkpoint in this directory")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    before = machine()
    sweep = bench_sweep(args.repeats)
    sweep_large = bench_sweep(args.repeats, LARGE_SWEEP)
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp) / "checkpoint"
        write_checkpoint(directory, args.gib)
        scan_result = bench_scan(directory, args.repeats)
    result = {**before, "load_average_after": machine()["load_average"], "workers": 2, "threads_per_worker": 1,
              "repeats": args.repeats, "target_ratio": args.target, "target_mb": args.max_mb, "sweep": sweep, "sweep_large": sweep_large, "scan": scan_result,
              "wall_s": time.perf_counter() - started}
    met = {
        "sweep ratio": sweep["ratio"] >= args.target,
        f"sweep ratio at {LARGE_SWEEP}x the samples": sweep_large["ratio"] >= args.target,
        "scan ratio": scan_result["ratio"] >= args.target,
        "records identical": sweep["identical"] and sweep_large["identical"] and scan_result["identical"],
        "worker peak RSS": max(scan_result["worker_peak_rss_mb"]) < args.max_mb,
    }
    result["met"] = met
    print(f"sweep ({sweep['cells']} cells, {sweep['samples']:,} samples per input): 1 thread {sweep['local_s']:.2f} s, "
          f"LocalCluster 2 workers {sweep['cluster_s']:.2f} s: {sweep['ratio']:.2f}x (target {args.target:g}x), "
          f"records identical: {sweep['identical']}; {_ceiling(sweep)}")
    print(f"the same sweep at {sweep_large['samples']:,} samples per input: 1 thread {sweep_large['local_s']:.2f} s, "
          f"LocalCluster 2 workers {sweep_large['cluster_s']:.2f} s: {sweep_large['ratio']:.2f}x, records identical: {sweep_large['identical']}; "
          f"{_ceiling(sweep_large)}")
    print(f"scan ({scan_result['tensors']} bf16 tensors in {scan_result['shards']} shards, {scan_result['bytes'] / 2**30:.2f} GiB, k = 1-8): "
          f"1 thread {scan_result['local_s']:.2f} s, LocalCluster 2 workers {scan_result['cluster_s']:.2f} s: "
          f"{scan_result['ratio']:.2f}x (target {args.target:g}x), records identical: {scan_result['identical']}; {_ceiling(scan_result)}; "
          f"worker peak RSS {', '.join(f'{m:.0f}' for m in scan_result['worker_peak_rss_mb'])} MB (target < {args.max_mb:g} MB)")
    print(f"load average {before['load_average']} before, {result['load_average_after']} after; "
          + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in met.items()))
    write_result("cluster", result, not args.no_write)
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
