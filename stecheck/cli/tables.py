"""Terminal tables that never cut a number: columns are chosen to fit the console's width.

A number column is as wide as its widest cell and never wraps or truncates; a text column (an input
spec, a tensor name) may fold onto more lines. When every column does not fit, the columns of lowest
priority are left out (listed in the caption) and ``wide=True`` shows them all, on a console made as
wide as the table needs (the terminal then wraps whole lines; no cell is ever shortened).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Sequence

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["Column", "fit", "fitted_table", "table_width", "print_table"]

#: Width a wrapping text column keeps at least (or its natural width, if smaller).
TEXT_MIN_WIDTH: Final = 24
#: Columns the default box style adds per column (padding) and per table (borders).
_PAD: Final = 2


@dataclass(frozen=True)
class Column:
    """One table column: header, cells (already formatted), and how it may be shown.

    ``priority``: lower is kept first when the table must lose columns (0: never dropped).
    ``text``: free text that may wrap onto more lines at spaces; otherwise the cells are kept whole.
    ``split_words``: a text word may be cut across lines (an input spec, a tensor name); when False
    (words that are numbers), the column stays as wide as its longest word.
    """

    header: str
    cells: Sequence[str]
    justify: str = "right"
    priority: int = 0
    text: bool = False
    split_words: bool = True

    def natural_width(self) -> int:
        """Width of the widest cell or header line."""
        return max([len(line) for cell in (self.header, *self.cells) for line in str(cell).splitlines() or [""]])

    def longest_word(self) -> int:
        """Width of the longest space-separated word of any cell or the header."""
        return max([len(word) for cell in (self.header, *self.cells) for word in str(cell).split()] or [0])

    def min_width(self) -> int:
        """The narrowest this column may be rendered."""
        if not self.text:
            return self.natural_width()
        floor = min(self.natural_width(), max(TEXT_MIN_WIDTH, len(self.header)))
        return floor if self.split_words else max(floor, self.longest_word())


def table_width(columns: Sequence[Column], minimal: bool = True) -> int:
    """Characters a rich table of ``columns`` takes (default box: padding 1 each side, one border per column + 1)."""
    widths = [c.min_width() if minimal else c.natural_width() for c in columns]
    return sum(widths) + (_PAD + 1) * len(widths) + 1


def fit(columns: Sequence[Column], width: int | None, wide: bool = False) -> tuple[list[Column], list[Column]]:
    """(shown, hidden): every column when ``wide`` or ``width`` is None, else the most important that fit."""
    if wide or width is None:
        return list(columns), []
    shown = [c for c in columns if c.priority == 0]
    for col in sorted((c for c in columns if c.priority > 0), key=lambda c: c.priority):
        trial = [c for c in columns if c in shown or c is col]
        if table_width(trial) <= width:
            shown = trial
    return [c for c in columns if c in shown], [c for c in columns if c not in shown]


def fitted_table(title: str | None, columns: Sequence[Column], width: int | None, wide: bool = False,
                 caption: str | None = None, hint: str = "--wide") -> Table:
    """A rich Table of the columns of ``columns`` that fit ``width`` (see :func:`fit`); cells are plain text."""
    from rich.markup import escape
    from rich.table import Table

    shown, hidden = fit(columns, width, wide)
    table = Table(title=None if title is None else escape(title), title_justify="left", header_style="bold")
    for col in shown:
        table.add_column(escape(col.header), justify=col.justify,  # type: ignore[arg-type]
                         no_wrap=not col.text, overflow="fold", min_width=col.min_width())
    rows = len(shown[0].cells) if shown else 0
    for i in range(rows):
        table.add_row(*(escape(str(col.cells[i])) for col in shown))
    notes = [caption] if caption else []
    if hidden:
        notes.append(f"Not shown at this width: {', '.join(c.header for c in hidden)} (all columns: {hint}).")
    if notes:
        table.caption = escape(" ".join(notes))
    return table


def print_table(console: Console, title: str | None, columns: Sequence[Column], wide: bool = False,
                caption: str | None = None, hint: str = "--wide") -> None:
    """Print the fitted table; with ``wide`` on a console at least as wide as the whole table."""
    table = fitted_table(title, columns, console.width, wide, caption, hint)
    if wide and table_width(columns, minimal=False) > console.width:
        saved = console.width
        console.width = table_width(columns, minimal=False)
        try:
            console.print(table)
        finally:
            console.width = saved
        return
    console.print(table)
