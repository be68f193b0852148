"""The one exception family of stecheck.

Library code raises :class:`StecheckError` (or a subclass) for every mistake a user can cause; the CLI
turns it into a single ``error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = ["StecheckError", "SpecError", "ConfigError", "OutputError"]


class StecheckError(Exception):
    """A problem the user can act on (bad argument, bad file, unwritable output)."""


class SpecError(StecheckError):
    """A distribution spec string that cannot be parsed or names an unknown family."""


class ConfigError(StecheckError):
    """An invalid run configuration (bit width, step size, sample count, TOML file)."""


class OutputError(StecheckError):
    """An output location that cannot be written."""
