"""README section: the plot-speed benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402


def render() -> str:
    """The plot-speed benchmark (bench/plot_speed.py writes results/bench/plot_speed.json)."""
    data = json.loads((RESULTS / "bench" / "plot_speed.json").read_text())
    verdict = "met" if data["met"] else "missed"
    return (
        f"`python bench/plot_speed.py` ({data['cpu_count']} cores, median of {data['repeats']} runs): `stecheck plot` on a run "
        f"of {data['records']:,} records ({data['figures']} PNG figures, whole process, `-j {data['jobs']}`) takes **{data['seconds']:.2f} s** "
        f"against a target of {data['target_seconds']:g} s ({verdict}; {data['cpu_seconds']:.2f} s of CPU, load average "
        f"{data['load_average_1min']:.1f} while measuring)."
    )
