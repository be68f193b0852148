"""Pieces every command shares: one-line errors, output formats, consoles and progress bars."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, ClassVar, Iterator, Mapping, Optional, Sequence

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup
from typer.main import get_command as typer_command

from stecheck.cli.lazy import LazyCommands
from stecheck.errors import StecheckError
from stecheck.safety import interrupt_exit_code, interruptible, is_interrupt, raise_if_interrupted

try:  # typer >= 0.22 vendors click; older versions use the click package
    from typer import _click as click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    import click  # type: ignore[no-redef]
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_USAGE",
    "OneLineErrorGroup",
    "OutputFormat",
    "stdout_console",
    "progress_bar",
    "count",
    "jobs_option",
    "VersionFlag",
    "shows_progress",
    "emit",
    "claimed_output",
    "check_threads",
    "cluster_option",
    "cluster_session",
    "INTERRUPTED",
    "MAX_THREADS",
]

#: Most worker threads (or plot processes) a command accepts: each engine thread keeps two chunks of
#: 2^18 samples with their per-k arrays in memory, and threads beyond the cores only add memory.
MAX_THREADS = 256

#: The one line printed when SIGINT or SIGTERM stops a command.
INTERRUPTED = "interrupted, nothing written"

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _refuse_empty_out(args: Sequence[str]) -> None:
    """``--out ''`` would become ``Path('.')`` and write into the current directory: refuse it."""
    for i, arg in enumerate(args):
        empty_value = arg in ("--out", "-o") and i + 1 < len(args) and not args[i + 1].strip()
        if empty_value or arg.strip() == "--out=":
            raise StecheckError("--out '' names no directory: give a path (use --out . for the current directory)")
        if arg == "--":
            return


def _print_version(value: bool) -> None:
    if value:
        from stecheck import __version__

        click.echo(f"stecheck {__version__}")
        raise typer.Exit(0)


#: ``--version`` on every command: prints ``stecheck VERSION`` and exits 0 (eager: before any other check).
#: A plain ``bool`` defaulting to False: Typer then passes the flag's value through without its value
#: coercion, which imports pydantic (about 0.15 s), so ``stecheck COMMAND --version`` stays fast.
VersionFlag = Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                           help="Print the stecheck version and exit.")]


class _PlainArgument(TyperArgument):
    """An argument whose help line shows its placeholder only, not Typer's ``<list[path]>`` type label."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain_arguments(command: Any) -> Any:
    """``command`` with its Typer arguments shown by their placeholders only (:class:`_PlainArgument`)."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _PlainArgument
    return command


def _committed() -> list[Path]:
    """:data:`stecheck.resultset.COMMITTED`, the result sets this run has completed; an empty list while that
    module is not loaded (nothing can have been written; ``--version`` and ``--help`` do not load it)."""
    resultset = sys.modules.get("stecheck.resultset")
    return [] if resultset is None else resultset.COMMITTED


class OneLineErrorGroup(TyperGroup):
    """A Typer group whose user errors end as one ``error: ...`` line on stderr and exit code 2.

    Usage errors (bad option values, unknown options) and :class:`StecheckError` from the library both
    take this path; a check that ran and failed exits 1 through ``typer.Exit``. Arguments' help lines
    show plain placeholders (``SOURCE``, ``BOUNDS.toml...``), as options do. SIGINT and SIGTERM stop
    every command the same way: the writers' clean-up runs, then one ``error: interrupted ...`` line and
    exit code 130 (SIGINT) or 143 (SIGTERM).

    The commands of :attr:`command_functions` are built by Typer when first used
    (:class:`stecheck.cli.lazy.LazyCommands`): ``stecheck COMMAND ...`` builds one command, ``stecheck
    --help`` none (it lists them from their docstrings).
    """

    #: The command functions by name, in --help order (set by the application's subclass).
    command_functions: ClassVar[Mapping[str, Callable[..., Any]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            _plain_arguments(command)
        self.commands = LazyCommands(self.command_functions, self._build_command, self.commands)

    def _build_command(self, name: str, function: Callable[..., Any]) -> Any:
        """The Click command Typer makes of ``function``, as ``app.command(name)`` on this group's app would."""
        single = typer.Typer(add_completion=False, rich_markup_mode=self.rich_markup_mode)
        single.command(name)(function)
        return _plain_arguments(typer_command(single))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def _listed(self, name: str) -> Any:
        """The command of ``name`` if built, else a bare command with its help text (for the command list)."""
        built = self.commands.built(name)
        return built if built is not None else TyperCommand(name, help=self.commands.docstring(name))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The "Commands" section of the group's help, as Typer writes it, without building the commands."""
        commands = [(name, command) for name in self.list_commands(ctx) if not (command := self._listed(name)).hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])

    def invoke(self, ctx: Any) -> Any:
        _committed().clear()
        with interruptible():
            try:
                result = super().invoke(ctx)
                raise_if_interrupted()
                return result
            except BaseException as exc:
                if not is_interrupt(exc) or isinstance(exc, typer.Exit):
                    raise
                done = ", ".join(str(path) for path in _committed())
                click.echo(f"error: {INTERRUPTED}" if not done else f"error: interrupted after writing {done} (complete); nothing else written",
                           err=True)
                raise typer.Exit(interrupt_exit_code()) from None

    def get_help_option(self, ctx: Any) -> Any:
        """Click's help option, absent from the command line as False rather than None: Typer coerces a None
        flag value with pydantic (about 0.15 s to import), which ``stecheck COMMAND --version`` does not need."""
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def _command_help(self, args: Sequence[str], prog_name: str | None) -> str | None:
        """The help page of ``stecheck COMMAND -h|--help`` (exactly those two words), else None.

        Printed from the command's parameters without parsing them: Typer's value coercion imports
        pydantic (about 0.15 s) on the first parsed option, which a help page does not need. Any other
        command line, including help requested among other options, takes Click's own path.
        """
        if len(args) != 2 or args[1] not in self.context_settings.get("help_option_names", ("--help",)):
            return None
        command = self.commands.get(args[0])
        if command is None or hasattr(command, "commands"):  # a group: its own parsing
            return None
        from importlib import import_module

        _detect_program_name = import_module(f"{click.__name__}.utils")._detect_program_name
        root = click.Context(self, info_name=prog_name or _detect_program_name(), **self.context_settings)
        return command.get_help(click.Context(command, info_name=args[0], parent=root))

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            argv = sys.argv[1:] if args is None else list(args)
            _refuse_empty_out(argv)
            page = self._command_help(argv, prog_name)
            if page is not None:
                click.echo(page)
                code = 0
            else:
                code = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help(), err=True)
            code = EXIT_USAGE
        except click_exceptions.ClickException as exc:
            click.echo(f"error: {_one_line(exc.format_message())}", err=True)
            code = EXIT_USAGE
        except StecheckError as exc:
            click.echo(f"error: {_one_line(str(exc))}", err=True)
            code = EXIT_USAGE
        except typer.Abort:
            click.echo("error: aborted", err=True)
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


class OutputFormat(str, Enum):
    """What a command prints to stdout."""

    table = "table"
    csv = "csv"
    json = "json"
    md = "md"


def stdout_console() -> Console:
    """Console for results on stdout; wide when stdout is not a terminal, so tables stay whole."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 320, soft_wrap=False)


def shows_progress(quiet: bool) -> bool:
    """Progress goes to stderr whenever stderr is a terminal (also when stdout is piped), unless quiet."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, description: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr, advanced by the yielded callback; silent when quiet or stderr is not a terminal."""
    if total <= 0 or not shows_progress(quiet):
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def count(text: str) -> int:
    """A count from the command line: ``1000000``, ``1_000_000`` or ``1e6`` (an exact integer in any case)."""
    cleaned = str(text).strip().replace("_", "")
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        raise click_exceptions.BadParameter(f"{text!r} is not a whole number") from None
    if not value.is_integer() or abs(value) > 2.0**53:
        raise click_exceptions.BadParameter(f"{text!r} is not an exact whole number")
    return int(value)


def jobs_option(what: str = "results do not depend on it") -> Any:
    """The one meaning of ``-j``: how many CPU cores to use at once (``--jobs``, alias ``--threads``)."""
    return typer.Option("--jobs", "--threads", "-j", metavar="N", help=f"Parallel workers: use up to N CPU cores ({what}).")


@contextmanager
def claimed_output(out: Optional[Path], directory: bool = True) -> Iterator[Optional[Path]]:
    """The checked absolute path of ``--out`` (None for none), locked for the block and recovered first.

    A directory output is then replaced with :func:`stecheck.resultset.replace_set`; a file output with
    one atomic rename.
    """
    from stecheck.resultset import claim, target_path

    if out is None:
        yield None
        return
    target = target_path(out, directory=directory)
    with claim(target):
        yield target


def check_threads(threads: int, what: str = "thread count") -> int:
    """``threads`` if it is in [1, :data:`MAX_THREADS`], else :class:`ConfigError` with the reason."""
    from stecheck.errors import ConfigError

    if threads < 1:
        raise ConfigError(f"{what} {threads} must be a positive integer")
    if threads > MAX_THREADS:
        raise ConfigError(f"{what} {threads} is above the limit of {MAX_THREADS}: every worker holds its own chunks in "
                          f"memory, and more workers than CPU cores make a run no faster")
    return threads


def cluster_option() -> Any:
    """``--cluster ADDRESS``: run the command's tasks on Dask (:mod:`stecheck.engine.cluster`)."""
    return typer.Option(
        "--cluster", metavar="ADDRESS",
        help="Run on a Dask cluster: local[:N] (N worker processes here), tcp://HOST:PORT (a running scheduler) or env "
             "($DASK_SCHEDULER_ADDRESS). Results are the same as without it. Needs pip install 'stecheck[dask]'.",
    )


@contextmanager
def cluster_session(address: Optional[str], threads: int, quiet: bool) -> Iterator[Any]:
    """The open :class:`stecheck.engine.cluster.Cluster` of ``--cluster`` for the block (None without it).

    The address is checked first; then the cluster starts or the scheduler is reached within
    :data:`stecheck.engine.cluster.CONNECT_TIMEOUT_S`, and its dashboard link goes to stderr (unless quiet).
    """
    if address is None:
        yield None
        return
    from stecheck.engine.cluster import Cluster
    from stecheck.errors import ConfigError

    if threads != 1:
        raise ConfigError(f"--jobs {threads} and --cluster contradict each other: with --cluster the workers are the cluster's")
    with Cluster(address) as cluster:
        link = cluster.dashboard_link
        if link and not quiet:
            click.echo(f"dask dashboard: {link}", err=True)
        yield cluster


def emit(text: str) -> None:
    """Write machine-readable text to stdout as is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the Exit(2) to raise."""
    click.echo(f"error: {_one_line(message)}", err=True)
    return typer.Exit(EXIT_USAGE)
