"""Reading untrusted files and showing untrusted names, within stated bounds.

- Only regular files are read: a FIFO would block the reader forever and a link to ``/dev/zero`` would
  feed it without end, so both are refused before they are opened (:func:`require_regular`,
  :func:`open_regular`).
- A text file (a JSON index, a TOML config) is read whole, so its size is capped
  (:data:`MAX_TEXT_BYTES`, :func:`read_text`); JSON nesting is capped too (:data:`MAX_JSON_DEPTH`,
  :func:`load_json`), and duplicate keys can be refused.
- Names from files (tensor names, file names) may hold lone surrogates (a non-UTF-8 file name decodes to
  them, and JSON can spell them) that no UTF-8 writer accepts: :func:`safe_name` escapes them as
  ``\\udcff``, once, where a name enters, so every output shows the same text. Control characters and
  Markdown's ``|`` are escaped only for display (:func:`visible`, :func:`md_cell`).
"""

from __future__ import annotations

import json
import os
import stat
import unicodedata
from pathlib import Path
from typing import Any, Final

from stecheck.errors import StecheckError

__all__ = [
    "MAX_TEXT_BYTES",
    "MAX_JSON_DEPTH",
    "require_regular",
    "open_regular",
    "read_text",
    "load_json",
    "safe_name",
    "visible",
    "md_cell",
]

#: Largest text file read whole (index JSON, TOML): 16 MiB, far above any real one (a 1000-shard
#: checkpoint index is under 1 MiB), small enough that reading it cannot exhaust memory.
MAX_TEXT_BYTES: Final = 16 << 20
#: Deepest JSON nesting accepted: real files nest a few levels; Python's parser recurses per level.
MAX_JSON_DEPTH: Final = 64

_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _not_regular(path: Path | str, what: str, mode: int) -> StecheckError:
    return StecheckError(
        f"{what} {str(path)!r} is {_kind(mode)}, not a regular file: refusing to read it (it could block or never end)"
    )


def require_regular(path: Path | str, what: str = "file") -> os.stat_result:
    """``os.stat(path)`` (links followed) of a regular file; a one-line error for anything else."""
    try:
        info = os.stat(path)
    except ValueError:  # an embedded NUL
        raise StecheckError(f"{what} {str(path)!r} is not a valid path (it contains a NUL character)") from None
    except OSError as exc:
        raise StecheckError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, what, info.st_mode)
    return info


def open_regular(path: Path | str, what: str = "file") -> int:
    """A read-only descriptor of a regular file, checked on the open descriptor (no race with a swap).

    ``O_NONBLOCK`` keeps the open itself from waiting for a FIFO's writer; it changes nothing for a
    regular file. The caller closes the descriptor.
    """
    require_regular(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise StecheckError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, what, mode)
    return fd


def read_text(path: Path | str, what: str = "file", limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes; a one-line error otherwise."""
    fd = open_regular(path, what)
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise StecheckError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise StecheckError(
            f"{what} {str(path)!r} is larger than {limit} bytes, the most read into memory for a text file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StecheckError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start})") from None


def _depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of JSON text, outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_json(text: str, where: str, max_depth: int = MAX_JSON_DEPTH, unique_keys: bool = False) -> Any:
    """Parse JSON text, refusing nesting deeper than ``max_depth`` (and, optionally, duplicate keys).

    ``where`` starts the error message (e.g. ``"'model.safetensors.index.json'"``).
    """
    if text.count("[") + text.count("{") > max_depth:  # only then can the nesting be deeper
        deepest = _depth(text)
        if deepest > max_depth:
            raise StecheckError(f"{where} nests JSON {deepest} levels deep, over the limit of {max_depth}")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates if unique_keys else None)
    except RecursionError:
        raise StecheckError(f"{where} nests JSON too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, over-long integers
        raise StecheckError(f"{where} is not valid JSON: {exc}") from None


def safe_name(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udcff`` escapes, so any UTF-8 writer accepts it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _escape_char(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` for a terminal: control and format characters (C0, DEL, C1, bidi overrides, line and
    paragraph separators) and lone surrogates written as backslash escapes; a backslash stays as is."""
    text = safe_name(text)
    if text.isprintable():
        return text
    return "".join(
        _escape_char(c) if not c.isprintable() and (c != " ") and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
        else c
        for c in text
    )


def md_cell(text: str) -> str:
    """``text`` for one Markdown table cell: :func:`visible`, with ``|`` escaped as ``\\|``."""
    return visible(text).replace("|", "\\|")
