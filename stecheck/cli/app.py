"""The ``stecheck`` application: one command per module of stecheck/cli/, in --help order.

Every module of the library, and rich, is imported inside the command that uses it, so ``--help`` and
``--version`` answer without importing numpy, scipy, numba, matplotlib, rich or the record writers, and
Typer builds only the command a command line names (tests/test_cli_conventions.py checks both).
"""

from __future__ import annotations

import os

import typer

from stecheck.cli.audit import audit_command
from stecheck.cli.cache import cache_command
from stecheck.cli.check import check
from stecheck.cli.phase import phase
from stecheck.cli.plot import plot
from stecheck.cli.report import report
from stecheck.cli.simulate import simulate
from stecheck.cli.support import OneLineErrorGroup, VersionFlag
from stecheck.cli.weights import weights_command
from stecheck.safety import interrupt_exit_code, is_interrupt

__all__ = ["COMMANDS", "app", "main"]

#: The commands, one module each (stecheck/cli/<name>.py), in --help order. Typer builds a command's
#: parameters only when a command line names it (see :class:`stecheck.cli.support.OneLineErrorGroup`).
COMMANDS = {
    "simulate": simulate,
    "plot": plot,
    "report": report,
    "check": check,
    "audit": audit_command,
    "cache": cache_command,
    "weights": weights_command,
    "phase": phase,
}


class StecheckGroup(OneLineErrorGroup):
    """The ``stecheck`` group: :data:`COMMANDS` under the shared error handling."""

    command_functions = COMMANDS


app = typer.Typer(
    cls=StecheckGroup,
    name="stecheck",
    help="Check whether the straight-through estimator's 'derivative 1 in expectation' is true.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(version: VersionFlag = False) -> None:
    """Check whether the straight-through estimator's 'derivative 1 in expectation' is true."""


def main() -> None:
    """Console-script entry point.

    A signal that lands outside a command (before its handler is set, or while the error line is being
    written) still ends with 130 or 143, not with Python's own death by SIGINT. Once a run has been
    interrupted the process leaves at once (after flushing its output): worker threads still finishing a
    chunk are not waited for, so a late or repeated signal cannot turn the exit into a death by signal.
    """
    import signal
    import sys

    try:
        app()
        return
    except SystemExit as exc:
        if exc.code not in (130, 143):
            raise
        code = int(exc.code)
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        code = interrupt_exit_code()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
