"""README section: the speed of the default phase map."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402


def render() -> str:
    """bench/phase_speed.py writes results/bench/phase_speed.json."""
    data = json.loads((RESULTS / "bench" / "phase_speed.json").read_text())
    return (
        f"`python bench/phase_speed.py` ({data['cpu_count']} cores, median of {data['repeats']} runs): the default "
        f"`stecheck phase` map, {data['points']:,} points ({len(data['families'])} families x {data['sigma_points']} "
        f"x {data['offset_points']}) by CDF sums and by Fourier series plus the rules of thumb, takes "
        f"**{data['total_s']:.2f} s** against a target of {data['target_s']:.0f} s (map {data['map_s']:.2f} s, "
        f"rules {data['rule_s']:.2f} s)."
    )
