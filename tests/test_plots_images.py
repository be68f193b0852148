"""Image comparison at low dpi: the headline figure and the rounding-variants figure against committed baselines.

The records are committed too (tests/baseline/*.json), so a baseline changes only when the drawing does.
Regenerate after an intended change with ``STECHECK_UPDATE_BASELINES=1 python -m pytest tests/test_plots_images.py``
and look at the new PNGs before committing them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.testing.compare import compare_images

from stecheck.views.plots.simulate import slope_vs_h
from stecheck.views.plots.style import save_figure
from stecheck.views.plots.variants import rounding_variants

BASELINE = Path(__file__).resolve().parent / "baseline"
DPI = 40
#: RMS tolerance (0-255 grey levels): absorbs font-rasterisation differences between freetype builds.
TOLERANCE = 6.0
#: Deterministic text: the font bundled with matplotlib, no hinting differences from the rc of the host.
RC = {"font.family": "DejaVu Sans", "mathtext.fontset": "dejavusans", "text.hinting": "none"}


def _records(name: str) -> list[dict]:
    return json.loads((BASELINE / f"{name}.json").read_text())["records"]


@pytest.mark.parametrize(
    "stem, draw",
    [("slope_vs_h", lambda: slope_vs_h(_records("small_simulate"))), ("variants", lambda: rounding_variants(_records("small_variants")))],
)
def test_figure_matches_baseline(tmp_path: Path, stem: str, draw) -> None:
    with plt.rc_context(RC):
        (actual,) = save_figure(draw(), tmp_path / stem, ("png",), dpi=DPI, tight=False)
    expected = BASELINE / f"{stem}.png"
    if os.environ.get("STECHECK_UPDATE_BASELINES") == "1":
        shutil.copyfile(actual, expected)
    assert expected.is_file(), f"missing baseline {expected}: see the module docstring"
    failure = compare_images(str(expected), str(actual), tol=TOLERANCE)
    assert failure is None, failure


def test_a_changed_figure_is_detected(tmp_path: Path) -> None:
    """The comparison can fail: a figure drawn from altered records differs from the baseline."""
    records = _records("small_simulate")
    for rec in records:
        if rec["dist"] == "uniform(0,1)" and rec["mean_fd"] is not None:
            rec["mean_fd"] *= 3.0
    with plt.rc_context(RC):
        (actual,) = save_figure(slope_vs_h(records), tmp_path / "slope_vs_h", ("png",), dpi=DPI, tight=False)
    assert compare_images(str(BASELINE / "slope_vs_h.png"), str(actual), tol=TOLERANCE) is not None


def test_symlog_axes_label_plain_numbers_at_every_1_2_5_step() -> None:
    """A slope panel spanning 0 to 40 reads 0, 0.5, 1, 2, 5, 10, 20 (not only 0, 10^0, 10^1)."""
    from stecheck.views.plots.style import symlog_y

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.0, 3.0, 40.0])
    symlog_y(ax, linthresh=1.0, linscale=1.5)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)
    assert {"0", "0.5", "1", "2", "5", "10", "20"} <= set(labels), labels
    assert not any("$" in label or "^" in label for label in labels), labels
