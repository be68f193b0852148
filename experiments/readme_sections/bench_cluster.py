"""README section: `bench/cluster.py` (LocalCluster of 2 workers vs 1 thread) and the scale-out projection."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json  # noqa: E402
from typing import Callable  # noqa: E402

from _common import RESULTS  # noqa: E402
from cluster_projection import table  # noqa: E402


def large_sweep_text(b: dict, cores: Callable[[dict], str]) -> str:
    """The line of the sweep run with more samples, and the fixed cost per cluster run both sweeps imply: with
    ``T = F + s c`` at ``s`` and ``m s`` samples, ``F = (m T_1 - T_m) / (m - 1)``."""
    if "sweep_large" not in b:
        return ""
    small, large = b["sweep"], b["sweep_large"]
    m = large["samples"] / small["samples"]
    fixed = max(0.0, (m * small["cluster_s"] - large["cluster_s"]) / (m - 1))
    ok = "met" if large["ratio"] >= b["target_ratio"] else "not met"
    return (
        f"- The same sweep at {large['samples']:,} samples per input: {large['local_s']:.2f} s on 1 thread, "
        f"{large['cluster_s']:.2f} s on the cluster: **{large['ratio']:.2f}x** (target {b['target_ratio']:g}x: {ok}){cores(large)}. "
        f"Both sweeps together put a run's fixed cost on the cluster at about {fixed:.2f} s (if a sample cost the same in both; "
        f"one thread took {large['local_s'] / small['local_s']:.2f} times as long for {m:.0f} times the samples): the first task's "
        "start, the last result's way back, and the last input's records, which can only be built after its last task.\n"
    )


def render() -> str:
    """From results/bench/cluster.json; a note naming the command while it has not been run."""
    path = RESULTS / "bench" / "cluster.json"
    if not path.exists():
        return "`python bench/cluster.py` has not been run on this checkout yet: it writes `results/bench/cluster.json`, from which this section and the projection are generated."
    b = json.loads(path.read_text())
    sweep, scan = b["sweep"], b["scan"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    rss = max(scan["worker_peak_rss_mb"])

    def cores(part: dict) -> str:
        """The cores each side got (CPU time over wall time) and the two-core ceiling, when the run recorded them."""
        if "local_cores" not in part:
            return ""
        text = f" (cores got: {part['local_cores']:.2f} on 1 thread, {part['cluster_cores']:.2f} on the cluster)"
        if "threads_ratio" in part:
            text += (f"; 2 local threads, no Dask: {part['threads_ratio']:.2f}x, so the cluster reaches "
                     f"{part['ratio'] / part['threads_ratio']:.0%} of what two cores give one process here")
        return text
    return (
        f"`python bench/cluster.py` ({b['cpu_count']} cores, load average {b['load_average'][0]:g} before; median of {b['repeats']} "
        f"interleaved runs): a LocalCluster of {b['workers']} worker processes against 1 local thread, records identical: "
        f"{'yes' if sweep['identical'] and scan['identical'] and b.get('sweep_large', sweep)['identical'] else 'NO'}.\n\n"
        f"- Sweep ({sweep['cells']} cells, {sweep['samples']:,} samples per input, Monte Carlo): {sweep['local_s']:.2f} s on 1 thread, "
        f"{sweep['cluster_s']:.2f} s on the cluster: **{sweep['ratio']:.2f}x** (target {b['target_ratio']:g}x: "
        f"{verdict(sweep['ratio'] >= b['target_ratio'])}){cores(sweep)}.\n" + large_sweep_text(b, cores) +
        f"- Sharded scan ({scan['tensors']} bfloat16 tensors in {scan['shards']} safetensors shards, {scan['bytes'] / 2**30:.2f} GiB, "
        f"k = {scan['bits']}): {scan['local_s']:.2f} s on 1 thread, {scan['cluster_s']:.2f} s on the cluster: **{scan['ratio']:.2f}x** "
        f"(target {b['target_ratio']:g}x: {verdict(scan['ratio'] >= b['target_ratio'])}){cores(scan)}; peak resident memory per worker "
        f"**{rss:.0f} MB** (target < {b['target_mb']:g} MB: {verdict(rss < b['target_mb'])}).\n\n"
        f"Projected from the measured {scan['bytes_per_s_one_core'] / 1e6:.0f} MB/s per core and the 2-worker efficiency "
        f"(`python experiments/cluster_projection.py`, whose docstring states the assumptions: storage that keeps up, "
        f"the same efficiency at W workers):\n\n" + table(b)
    )
