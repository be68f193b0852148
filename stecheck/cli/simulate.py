"""``stecheck simulate``: a grid of inputs x bit widths, Monte Carlo and exact, written as records."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Optional

import typer

from stecheck.cli.support import (
    INTERRUPTED, OutputFormat, VersionFlag, check_threads, claimed_output, click, cluster_option, cluster_session, count, emit, fail,
    jobs_option, progress_bar, stdout_console,
)
from stecheck.errors import ConfigError
from stecheck.safety import interrupt_exit_code, is_interrupt

if TYPE_CHECKING:
    from stecheck.config import RunConfig

__all__ = ["simulate"]

#: Default cap on ``--samples`` (per input): about 20 ns per sample and cell, so 3 min per cell at the cap.
SAMPLES_CAP: Final = 10**10
#: Engine cost per sample and cell (input, k, rounding) with 8 steps and both schemes (bench/engine_cost.py).
NS_PER_SAMPLE_CELL: Final = 20.0
#: Runs estimated to take longer than this get a line on stderr first.
ANNOUNCE_AFTER_S: Final = 60.0


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _check_samples(cfg: RunConfig, cap: int, threads: int) -> None:
    """Refuse ``--samples`` above ``cap``; announce on stderr a run estimated to take over a minute."""
    if cap < 1:
        raise ConfigError(f"--samples-cap {cap} must be a positive integer")
    cells = (len(cfg.bits) * len(cfg.roundings) + len(cfg.quantizers)) * len(cfg.inputs)
    seconds = 0.0 if cfg.method == "exact" else cfg.samples * cells * NS_PER_SAMPLE_CELL * 1e-9 / min(threads, os.cpu_count() or 1)
    if cfg.method != "exact" and cfg.samples > cap:
        raise ConfigError(f"--samples {cfg.samples:,} is above the cap of {cap:,} samples per input (this run would take about "
                          f"{_duration(seconds)}); pass --samples-cap {cfg.samples} to run it anyway")
    if seconds > ANNOUNCE_AFTER_S:
        click.echo(f"note: estimated run time about {_duration(seconds)} ({cfg.samples:,} samples x {cells} cells at "
                   f"~{NS_PER_SAMPLE_CELL:g} ns each on {min(threads, os.cpu_count() or 1)} core(s)); Ctrl-C stops it", err=True)



def _resolve_config(config_file: Optional[Path], **changes: object) -> "RunConfig":
    from stecheck.config import default_config, load_config, override

    base = load_config(config_file) if config_file is not None else default_config()
    if config_file is None and changes.get("inputs"):
        base = override(base, name="adhoc", description="")
    return override(base, **changes)


def simulate(
    dist: Annotated[Optional[list[str]], typer.Option("--dist", "-d", metavar="SPEC", help="Input spec, e.g. 'normal(0.5,0.15)' (repeatable).")] = None,
    bits: Annotated[Optional[list[str]], typer.Option("--bits", "-k", metavar="K", help="Bit widths: 3, 1-8 or 1,2,6-8 (repeatable).")] = None,
    h: Annotated[Optional[list[float]], typer.Option("--h", metavar="FLOAT", help="Finite-difference step (repeatable).")] = None,
    fd: Annotated[Optional[list[str]], typer.Option("--fd", metavar="SCHEME", help="forward or central (repeatable).")] = None,
    quantizer: Annotated[Optional[list[str]], typer.Option("--quantizer", "-Q", metavar="SPEC", help="Quantizer (repeatable): dorefa (default; at every --bits), dorefa(k), 'fixed(4,0.1)', 'absmax(8,scale=0.01)', 'affine(4,scale=0.1,zero=8)', 'fp(e4m3,scale=1)'. Parametric inputs need a stated scale.")] = None,
    rounding: Annotated[Optional[list[str]], typer.Option("--rounding", metavar="MODE", help="half-even, half-up, stochastic or dither (repeatable).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", "-n", metavar="N", parser=count, help="Monte Carlo samples per input (1000000, 1_000_000 or 1e6).")] = None,
    seed: Annotated[Optional[str], typer.Option("--seed", metavar="SEED", help="Root seed (decimal or 0x hex), or 'random' for fresh entropy (recorded). Default: the experiment's seed, also for --dist runs.")] = None,
    method: Annotated[Optional[str], typer.Option("--method", metavar="METHOD", help="mc | exact | both.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help="Experiment TOML file (default: the built-in default experiment).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Write records.csv/json/md and meta.json here.")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files (not with --out).")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout: table, csv, json or md.")] = OutputFormat.table,
    threads: Annotated[int, jobs_option()] = 1,
    cluster: Annotated[Optional[str], cluster_option()] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run into the same --out, skipping finished inputs.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Table with every column, even wider than the terminal (default: the columns that fit).")] = False,
    version: VersionFlag = False,
    samples_cap: Annotated[int, typer.Option("--samples-cap", metavar="N", parser=count, help=f"Refuse --samples above this (default {SAMPLES_CAP:.0e}); raise it for longer runs.")] = SAMPLES_CAP,
) -> None:
    """Monte Carlo and exact E[n], uniformity of n and E[D_h] of a quantizer (DoReFa's quantize_k by default), against the STE value 1.

    With no options runs the default experiment and writes results/default/. Options override the
    experiment's fields; with --dist and no --out nothing is written.
    """
    from stecheck.cli.render import SIMULATE_CAPTION, SIMULATE_MD_COLUMNS, simulate_columns, simulate_markdown
    from stecheck.cli.tables import print_table
    from stecheck.engine.runner import run, total_samples
    from stecheck.engine.runstate import STATE_DIR, ResumableRun
    from stecheck.records import RUN_FILES, SIMULATE_FIELDS, to_csv_text, to_json_text, write_run_files
    from stecheck.resultset import replace_set

    if no_save and out is not None:
        raise ConfigError("--no-save and --out contradict each other: pass one of them")
    cfg = _resolve_config(
        config, inputs=tuple(dist or ()), bits=tuple(bits or ()), steps=tuple(h or ()), schemes=tuple(fd or ()),
        roundings=tuple(rounding or ()), samples=samples, seed=seed, method=method, quantizers=tuple(quantizer or ()),
    ).validated()
    check_threads(threads)
    _check_samples(cfg, samples_cap, threads)
    target = out if out is not None else (None if dist else Path("results") / cfg.name)
    if no_save:
        target = None
    if resume and target is None:
        raise ConfigError("--resume needs the output directory of the interrupted run (--out DIR, without --no-save)")
    with cluster_session(cluster, threads, quiet) as dask, claimed_output(target) as locked:  # one writer per --out, taken before the run
        job = None
        try:
            job = ResumableRun.open(cfg, locked, resume) if locked is not None else None
            total = job.total_samples() if job is not None else total_samples(cfg)
            with progress_bar(total, f"simulate {cfg.name}", quiet) as advance:
                result = (job.run(threads, advance, cluster=dask) if job is not None
                          else run(cfg, threads=threads, progress=advance, cluster=dask))
        except BaseException as exc:
            if not is_interrupt(exc) or isinstance(exc, typer.Exit):
                raise
            kept = "" if job is None else f"; {len(job.finished)} finished input(s) kept in {target / STATE_DIR}, continue with --resume"
            fail(f"{INTERRUPTED}{kept}")
            raise typer.Exit(interrupt_exit_code()) from None
        if locked is not None and job is not None:
            title = f"stecheck simulate: {cfg.name}"
            replace_set(locked, lambda d: write_run_files(d, result.meta, result.records, SIMULATE_FIELDS, SIMULATE_MD_COLUMNS, title),
                        (*RUN_FILES, STATE_DIR))  # the resume state goes with the previous set
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
