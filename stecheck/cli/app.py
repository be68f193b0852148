"""The ``stecheck`` application: registers one command per module of stecheck/cli/, in --help order.

Every module of the library is imported inside the command that uses it, so ``--help`` and
``--version`` answer without importing numpy, scipy, numba or matplotlib.
"""

from __future__ import annotations

import os

import typer

from stecheck.cli.support import OneLineErrorGroup, VersionFlag
from stecheck.safety import interrupt_exit_code, is_interrupt

__all__ = ["app", "main"]

app = typer.Typer(
    cls=OneLineErrorGroup,
    name="stecheck",
    help="Check whether the straight-through estimator's 'derivative 1 in expectation' is true.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(version: VersionFlag = None) -> None:
    """Check whether the straight-through estimator's 'derivative 1 in expectation' is true."""


from stecheck.cli.simulate import simulate  # noqa: E402
app.command()(simulate)


# The other commands live in one module each (stecheck/cli/<name>.py) and are registered here.
from stecheck.cli.plot import plot  # noqa: E402
from stecheck.cli.report import report  # noqa: E402
app.command("plot")(plot)
app.command("report")(report)

from stecheck.cli.check import check  # noqa: E402
app.command("check")(check)

from stecheck.cli.audit import audit_command  # noqa: E402
app.command("audit")(audit_command)
from stecheck.cli.cache import cache_command  # noqa: E402
app.command("cache")(cache_command)
from stecheck.cli.weights import weights_command  # noqa: E402
app.command("weights")(weights_command)
from stecheck.cli.phase import phase  # noqa: E402
app.command("phase")(phase)


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
