"""README section: the engine-cost benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402


def render() -> str:
    """The engine-cost benchmark (bench/engine_cost.py writes results/bench/engine_cost.json)."""
    data = json.loads((RESULTS / "bench" / "engine_cost.json").read_text())
    return (
        f"`python bench/engine_cost.py` ({data['cpu_count']} cores, {data['samples']:,} samples, median of "
        f"{data['repeats']} runs): the engine costs **{data['ratio']:.2f}x** the bare cost of drawing the same "
        f"samples ({data['engine_ns_per_sample']:.1f} ns vs {data['draw_ns_per_sample']:.1f} ns per sample; "
        f"{data['cell']})."
    )
