"""Shared helpers of the README section renderers."""

from __future__ import annotations

from pathlib import Path

from stecheck.records import fmt

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"


def pm(value: float | None, se: float | None) -> str:
    """``value ± se`` in compact form (``-`` when missing)."""
    if value is None:
        return "-"
    return fmt(value) if se is None else f"{fmt(value)} ± {fmt(se, 2)}"
