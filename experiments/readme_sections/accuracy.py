"""README section: the measured accuracy of the exact fields, per family and field."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json  # noqa: E402

from _common import RESULTS  # noqa: E402

FIELDS = (
    ("exact_mean_n", "E[n]"),
    ("exact_var_n", "Var(n)"),
    ("exact_fourier_abs", "Fourier l=1..8"),
    ("exact_mean_fd", "E[D_h] (relative)"),
)


def render() -> str:
    """experiments/accuracy.py writes results/accuracy/accuracy.json."""
    path = RESULTS / "accuracy" / "accuracy.json"
    if not path.is_file():
        return "Not measured yet: run `python experiments/accuracy.py`, then `python experiments/update_readme.py`."
    data = json.loads(path.read_text())
    bits = ", ".join(str(k) for k in data["bits"])
    steps = ", ".join(f"{h:g}" for h in data["steps_in_cells"])
    lines = [
        f"`python experiments/accuracy.py` (k = {bits}; E[D_h] forward at L h = {steps}): the largest absolute "
        "error of each exact field against an independent 30-digit or closed-form reference "
        "(the script's docstring names them).",
        "",
        "| family | cases | " + " | ".join(label for _, label in FIELDS) + " | not computed (cell cap) |",
        "|---|---:|" + "---:|" * len(FIELDS) + "---|",
    ]
    for family, entry in data["families"].items():
        errors = entry["max_abs_error"]
        null = ", ".join(entry["null"]) or "-"
        lines.append(
            f"| {family} | {entry['cases']} | " + " | ".join(f"{errors[f]:.1e}" for f, _ in FIELDS) + f" | {null} |"
        )
    return "\n".join(lines)
