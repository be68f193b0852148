"""README section: how long ``stecheck COMMAND --help`` takes (bench/help_time.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402


def render() -> str:
    """From results/bench/help_time.json, or a line saying how to measure it when it is missing."""
    path = RESULTS / "bench" / "help_time.json"
    if not path.is_file():
        return "`python bench/help_time.py` measures `stecheck COMMAND --help` (whole process, target 0.3 s): not measured yet."
    data = json.loads(path.read_text())
    met = "met" if data["slowest_s"] <= data["target_s"] else "missed"
    cpu = data.get("median_cpu_s", {}).get(data["slowest"])  # measured since the CPU time is recorded
    cpu_text = "" if cpu is None else f" (CPU time {cpu:.2f} s)"
    return (
        f"`python bench/help_time.py` ({data['cpu_count']} cores, load average {data['load_average'][0]:.1f}; median of "
        f"{data['repeats']} whole-process runs per command): the slowest `stecheck COMMAND --help` "
        f"(`{data['slowest']}`) answers in **{data['slowest_s']:.2f} s**{cpu_text} against a target of {data['target_s']:.1f} s "
        f"({met}); help imports none of numpy, scipy, numba, matplotlib or onnx."
    )
