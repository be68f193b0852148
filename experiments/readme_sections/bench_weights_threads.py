"""README section: `bench/weights_threads.py` (`weights --threads 2` against `--threads 1`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402


def render() -> str:
    """From results/bench/weights_threads.json; a note naming the command while it has not been run."""
    path = RESULTS / "bench" / "weights_threads.json"
    if not path.exists():
        return ("`python bench/weights_threads.py` (`weights --threads 2` against `--threads 1` on 16 x 1024x1024 float32, 16 x 4096x4096 bfloat16 and "
                "`zoo:all-minilm-l6-v2`, k = 1..8, target 1.7x with byte-identical records) has not been run on this checkout yet: "
                "it writes `results/bench/weights_threads.json`, from which this section is generated.")
    b = json.loads(path.read_text())
    lines = [f"`python bench/weights_threads.py` ({b['cpu_count']} cores, load average {b['load_average'][0]:g} before; medians of "
             f"{b['repeats']} interleaved runs): `weights --threads 2` against `--threads 1`, target {b['target_speedup']:g}x."]
    for s in b["scans"].values():
        ok = s["records_identical"] and s["speedup"] >= b["target_speedup"]
        lines.append(
            f"- {s['scan']}: {s['seconds_1_thread']:.2f} s on 1 thread, {s['seconds_2_threads']:.2f} s on 2: **{s['speedup']:.2f}x** "
            f"({'met' if ok else 'not met'}); records identical: {'yes' if s['records_identical'] else 'NO'}; the process got "
            f"{s['cores_used_1_thread']:.2f} and {s['cores_used_2_threads']:.2f} cores."
        )
    return "\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:])
