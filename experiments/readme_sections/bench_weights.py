"""README section: speed and memory of `stecheck weights` (bench/weights_speed.py, bench/weights_memory.py,
bench/weights_kernel.py, bench/weights_quantizer.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402


def kernel_text(kernel: dict) -> str:
    """The per-element and per-tensor costs of bench/weights_kernel.py (results/bench/weights_kernel.json)."""
    el, many = kernel["elements"], kernel["tensors"]
    return (
        f"\n\n`python bench/weights_kernel.py` (single thread, load average {kernel['machine']['load_average'][0]}; medians of "
        f"{kernel['repeats']}): **{el['ns_per_element_bit']:.2f} ns** per element and bit width on 16 x 1024x1024 float32 "
        f"at k = 1..8 (target {el['target_ns']:g} ns: {'met' if el['ns_per_element_bit'] <= el['target_ns'] else 'not met'}; "
        f"the numpy reference path {el['speedup']:.1f}x slower)" + (
            f". Of that, numpy's `tanh` (the DoReFa transform, which both paths call so that they agree to the bit) "
            f"costs {el['tanh_ns_per_element_bit']:.2f} ns per element and bit width by itself, "
            f"{el['tanh_ns_per_element_bit'] / el['target_ns']:.0%} of the target" if "tanh_ns_per_element_bit" in el else ""
        ) + f"; 2,000 tensors of 32x32 scanned in "
        f"**{many['scan_s']:.2f} s**, records included (target {many['target_s']:g} s: "
        f"{'met' if many['scan_s'] <= many['target_s'] else 'not met'}; {many['per_tensor_ms']:.2f} ms per tensor). The "
        "compiled path equals the numpy reference path bit for bit in both runs "
        f"({'yes' if el['identical'] and many['identical'] else 'NO'}): it forms every sum in numpy's pairwise order."
    )


def quantizer_text(bench: dict) -> str:
    """The cost of a quantizer's scan against DoReFa's (bench/weights_quantizer.py, results/bench/weights_quantizer.json)."""
    return (
        f"\n\n`python bench/weights_quantizer.py` (single thread, load average {bench['machine']['load_average'][0]}; medians of "
        f"{bench['repeats']}): `weights --quantizer '{bench['quantizer']}'` costs **{bench['quantizer_ns_per_element']:.1f} ns** "
        f"per element on {bench['tensors']}, against {bench['dorefa_k4_ns_per_element']:.1f} ns for the DoReFa scan at k = 4: "
        f"**{bench['ratio']:.2f}x** (target at most {bench['target']:g}x: {'met' if bench['ratio'] <= bench['target'] else 'not met'}); "
        f"its compiled path equals the numpy path bit for bit ({'yes' if bench['identical'] else 'NO'})."
    )


def render() -> str:
    """The weights benchmarks, from results/bench/weights_speed.json, weights_memory.json and (once run)
    weights_kernel.json."""
    speed = json.loads((RESULTS / "bench" / "weights_speed.json").read_text())
    memory = json.loads((RESULTS / "bench" / "weights_memory.json").read_text())
    return (
        f"`python bench/weights_speed.py` ({speed['cpu_count']} shared cores): the k = 1..8 scan of `{speed['source']}` "
        f"({speed['tensors']} tensors, {speed['weights']:,} weights) takes {speed['scan_s']:.1f} s (median of "
        f"{speed['repeats']}) against {speed['baseline_s']:.1f} s for a plain per-tensor numpy + scipy loop computing the "
        f"same statistics: **{speed['ratio']:.1f}x** faster (target {speed['target_ratio']:g}x: "
        f"{'met' if speed['ratio'] >= speed['target_ratio'] else 'not met'}), largest difference "
        f"between the two {speed['max_abs_difference']:.1e}. Both timings come from one run; the ratio drops when other "
        "jobs share the cores and memory bandwidth (the scan is memory-bound, the baseline compute-bound).\n\n"
        f"`python bench/weights_memory.py`: scanning a generated {memory['file_bytes'] / 2**30:.2f} GiB bfloat16 "
        f"safetensors file ({memory['tensors']} tensors, k = {memory['bits']}) peaks at **{memory['peak_rss_mb']:.0f} MB** "
        f"resident (target < {memory['target_mb']:g} MB: {'met' if memory['peak_rss_mb'] < memory['target_mb'] else 'not met'}; "
        f"importing stecheck alone: {memory['import_rss_mb']:.0f} MB), "
        f"in {memory['wall_s']:.0f} s."
    ) + (kernel_text(json.loads(kernel.read_text())) if (kernel := RESULTS / "bench" / "weights_kernel.json").exists() else "") + (
        quantizer_text(json.loads(quant.read_text())) if (quant := RESULTS / "bench" / "weights_quantizer.json").exists() else "")
