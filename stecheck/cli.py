"""The ``stecheck`` command line: parses options, calls the library, renders results.

Every module of the library is imported inside the command that uses it, so ``--help`` and
``--version`` answer without importing numpy, scipy, numba or matplotlib.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from stecheck.cli_support import OneLineErrorGroup, OutputFormat, VersionFlag, count, emit, fail, jobs_option, progress_bar, stdout_console
from stecheck.errors import ConfigError

if TYPE_CHECKING:
    from stecheck.config import RunConfig

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


def _resolve_config(config_file: Optional[Path], **changes: object) -> "RunConfig":
    from stecheck.config import default_config, load_config, override

    base = load_config(config_file) if config_file is not None else default_config()
    if config_file is None and changes.get("inputs"):
        base = override(base, name="adhoc", description="")
    return override(base, **changes)


@app.command()
def simulate(
    dist: Annotated[Optional[list[str]], typer.Option("--dist", "-d", metavar="SPEC", help="Input spec, e.g. 'normal(0.5,0.15)' (repeatable).")] = None,
    bits: Annotated[Optional[list[str]], typer.Option("--bits", "-k", metavar="K", help="Bit widths: 3, 1-8 or 1,2,6-8 (repeatable).")] = None,
    h: Annotated[Optional[list[float]], typer.Option("--h", metavar="FLOAT", help="Finite-difference step (repeatable).")] = None,
    fd: Annotated[Optional[list[str]], typer.Option("--fd", metavar="SCHEME", help="forward or central (repeatable).")] = None,
    rounding: Annotated[Optional[list[str]], typer.Option("--rounding", metavar="MODE", help="half-even, half-up, stochastic or dither (repeatable).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", "-n", metavar="N", parser=count, help="Monte Carlo samples per input (1000000, 1_000_000 or 1e6).")] = None,
    seed: Annotated[Optional[str], typer.Option("--seed", metavar="SEED", help="Root seed (decimal or 0x hex), or 'random' for fresh entropy (recorded). Default: the experiment's seed, also for --dist runs.")] = None,
    method: Annotated[Optional[str], typer.Option("--method", metavar="METHOD", help="mc | exact | both.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="Experiment TOML file (default: the built-in default experiment).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Write records.csv/json/md and meta.json here.")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files (not with --out).")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout: table, csv, json or md.")] = OutputFormat.table,
    threads: Annotated[int, jobs_option()] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run into the same --out, skipping finished inputs.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Table with every column, even wider than the terminal (default: the columns that fit).")] = False,
    version: VersionFlag = None,
) -> None:
    """Monte Carlo and exact E[n], uniformity of n and E[D_h] of quantize_k, against the STE value 1.

    With no options runs the default experiment and writes results/default/. Options override the
    experiment's fields; with --dist and no --out nothing is written.
    """
    from stecheck.engine import run, total_samples
    from stecheck.records import SIMULATE_FIELDS, prepare_out_dir, to_csv_text, to_json_text, write_run
    from stecheck.render import SIMULATE_CAPTION, SIMULATE_MD_COLUMNS, simulate_columns, simulate_markdown
    from stecheck.runstate import STATE_DIR, ResumableRun
    from stecheck.safety import EXIT_INTERRUPTED, interruptible, out_dir_lock, signals_deferred
    from stecheck.tables import print_table

    if no_save and out is not None:
        raise ConfigError("--no-save and --out contradict each other: pass one of them")
    cfg = _resolve_config(
        config, inputs=tuple(dist or ()), bits=tuple(bits or ()), steps=tuple(h or ()), schemes=tuple(fd or ()),
        roundings=tuple(rounding or ()), samples=samples, seed=seed, method=method,
    ).validated()
    if threads < 1:
        raise ConfigError(f"thread count {threads} must be a positive integer")
    target = out if out is not None else (None if dist else Path("results") / cfg.name)
    if no_save:
        target = None
    if resume and target is None:
        raise ConfigError("--resume needs the output directory of the interrupted run (--out DIR, without --no-save)")
    with ExitStack() as stack:
        job = None
        stack.enter_context(interruptible())  # before the lock: a SIGTERM once the lock exists unwinds cleanly
        if target is not None:
            prepare_out_dir(target)
            stack.enter_context(out_dir_lock(target))
        try:
            job = ResumableRun.open(cfg, target, resume) if target is not None else None
            total = job.total_samples() if job is not None else total_samples(cfg)
            with progress_bar(total, f"simulate {cfg.name}", quiet) as advance:
                result = job.run(threads, advance) if job is not None else run(cfg, threads=threads, progress=advance)
        except KeyboardInterrupt:
            kept = "" if job is None else f"; {len(job.finished)} finished input(s) kept in {target / STATE_DIR}, continue with --resume"
            fail(f"interrupted, nothing written{kept}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if target is not None and job is not None:
            with signals_deferred():
                write_run(target, result.meta, result.records, SIMULATE_FIELDS, SIMULATE_MD_COLUMNS, f"stecheck simulate: {cfg.name}")
                job.discard()
    if output_format is OutputFormat.json:
        emit(to_json_text(result.meta, result.records))
    elif output_format is OutputFormat.csv:
        emit(to_csv_text(result.records, SIMULATE_FIELDS))
    elif output_format is OutputFormat.md:
        emit(simulate_markdown(result.records, f"stecheck simulate: {cfg.name}"))
    else:
        console = stdout_console()
        print_table(console, f"stecheck simulate: {cfg.name} (seed {result.meta['seed']})", simulate_columns(result.records),
                    wide, SIMULATE_CAPTION)
        if target is not None:
            console.print(f"wrote {target}/records.csv, records.json, records.md, meta.json", markup=False)


# The other commands live in one module each (stecheck/cli_<name>.py) and are registered here.
from stecheck.cli_plot import plot, report  # noqa: E402
app.command("plot")(plot)
app.command("report")(report)

from stecheck.cli_check import check  # noqa: E402
app.command("check")(check)

from stecheck.cli_audit import audit_command  # noqa: E402
app.command("audit")(audit_command)
from stecheck.cli_cache import cache_command  # noqa: E402
app.command("cache")(cache_command)
from stecheck.cli_weights import weights_command  # noqa: E402
app.command("weights")(weights_command)
from stecheck.cli_phase import phase  # noqa: E402
app.command("phase")(phase)


def main() -> None:
    """Console-script entry point."""
    app()
