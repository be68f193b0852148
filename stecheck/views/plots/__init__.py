"""Figures from records (matplotlib, Agg backend). Figures read records; they never recompute statistics."""

from __future__ import annotations

from stecheck.views.plots.style import FIGURE_FORMATS, apply_style, new_figure, save_figure

__all__ = ["FIGURE_FORMATS", "apply_style", "new_figure", "save_figure"]
