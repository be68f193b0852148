"""``stecheck phase``: where the STE claim holds, as a map over (sigma_s, offset) and a rule of thumb."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Optional, Sequence

import typer

from stecheck.cli.support import (
    EXIT_CHECK_FAILED, OutputFormat, VersionFlag, claimed_output, cluster_option, cluster_session, count, emit, progress_bar,
    stdout_console,
)
from stecheck.errors import ConfigError
from stecheck.seeds import PHASE_SEED

if TYPE_CHECKING:
    from rich.table import Table

    from stecheck.claims.phase.run import PhaseResult
    from stecheck.records import Record

__all__ = ["phase_entries", "phase", "write_phase", "write_phase_files", "rule_table"]

DEFAULT_OUT = Path("results") / "phase"
#: The family kinds and default families of :mod:`stecheck.claims.phase.map`, for the help text (a test keeps them equal).
FAMILY_HELP: Final = ("normal", "laplace", "logistic", "uniform", "t(df)")
DEFAULT_FAMILY_HELP: Final = ("normal", "laplace", "logistic", "uniform")


def rule_table(records: Sequence[Record], title: str | None) -> Table:
    """One row per family: sigma_s* and k_min for each input standard deviation."""
    from rich.markup import escape
    from rich.table import Table

    from stecheck.records import fmt

    sds = list(dict.fromkeys(rec["sd"] for rec in records))
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("family")
    table.add_column("sigma_s*", justify="right")
    for sd in sds:
        table.add_column(f"k_min sd={fmt(sd)}", justify="right")
    for family in dict.fromkeys(rec["family"] for rec in records):
        rows = {rec["sd"]: rec for rec in records if rec["family"] == family}
        first = next(iter(rows.values()))
        table.add_row(escape(family), fmt(first["sigma_s_star"]), *(str(rows[sd]["k_min"]) if sd in rows else "" for sd in sds))
    return table


def spot_table(records: Sequence[Record], width: int | None = None) -> Table:
    """Monte Carlo spot checks against the exact CDF sum, fitted to ``width`` columns (numbers never cut)."""
    from stecheck.claims.phase.run import SPOT_Z
    from stecheck.cli.tables import Column, fitted_table
    from stecheck.records import fmt

    columns = [
        Column("family", [rec["family"] for rec in records], "left", 0, text=True),
        Column("sigma_s", [fmt(rec["sigma_s"]) for rec in records], "right", 0),
        Column("offset", [fmt(rec["offset"]) for rec in records], "right", 0),
        Column("L h", [fmt(rec["lh"]) for rec in records], "right", 4),
        Column("N", [str(rec["samples"]) for rec in records], "right", 5),
        Column("MC E[D_h] ± SE", [f"{fmt(rec['mean_fd'])} ± {fmt(rec['mean_fd_se'], 2)}" for rec in records], "right", 1),
        Column("exact", [fmt(rec["exact_mean_fd"]) for rec in records], "right", 2),
        Column("z", [fmt(rec["z"], 2) for rec in records], "right", 0),
        Column("ok", ["yes" if rec["ok"] else "NO" for rec in records], "left", 0),
    ]
    return fitted_table(f"Monte Carlo spot checks (engine, k=4; fail beyond {SPOT_Z:g} SE)", columns, width,
                        hint="a wider terminal or spot/records.md")


def phase_entries() -> tuple[str, ...]:
    """Entries of a phase results directory: the rule set, map/, spot/ and the two figures (replaced together)."""
    from stecheck.records import RUN_FILES

    return (*RUN_FILES, "map", "spot", *(f"{stem}.{ext}" for stem in ("phase_map", "worst_case") for ext in ("png", "svg", "pdf")))


def write_phase_files(directory: Path, result: "PhaseResult") -> list[Path]:
    """Rule records in ``directory``, the map in ``directory/map``, spot checks in ``directory/spot``, and figures."""
    from stecheck.claims.phase.run import MAP_FIELDS, MAP_MD_COLUMNS, RULE_FIELDS, RULE_MD_COLUMNS, SPOT_FIELDS, SPOT_MD_COLUMNS
    from stecheck.records import write_run_files
    from stecheck.views.plots.phase import plot_phase_map, plot_worst_case

    tol = result.config.tolerance
    written = write_run_files(directory, result.meta, result.rule_records, RULE_FIELDS, RULE_MD_COLUMNS, "stecheck phase: rule of thumb")
    written += write_run_files(directory / "map", result.meta, result.map_records, MAP_FIELDS, MAP_MD_COLUMNS, "stecheck phase: map")
    if result.spot_records:
        written += write_run_files(directory / "spot", result.meta, result.spot_records, SPOT_FIELDS, SPOT_MD_COLUMNS,
                                   "stecheck phase: spot checks")
    written += plot_phase_map(result.maps, tol, directory / "phase_map")
    written += plot_worst_case(result.map_records, result.rule_records, tol, directory / "worst_case")
    return written


def write_phase(target: Path, result: "PhaseResult") -> list[Path]:
    """Replace the phase results in ``target`` (rule, map/, spot/, figures) as one set, all at once."""
    from stecheck.resultset import replace_set, target_path

    relative = replace_set(target_path(target), lambda d: [p.relative_to(d) for p in write_phase_files(d, result)], phase_entries())
    return [Path(target) / path for path in relative]


def phase(
    family: Annotated[Optional[list[str]], typer.Option("--family", metavar="FAMILY", help=f"{' | '.join(FAMILY_HELP)} (repeatable; default: {', '.join(DEFAULT_FAMILY_HELP)}).")] = None,
    h: Annotated[float, typer.Option("--h", metavar="FLOAT", help="Forward-difference step in quantization steps, L h in [0, 1]; 0 is the limit h -> 0.")] = 0.0,
    tolerance: Annotated[float, typer.Option("--tolerance", metavar="FLOAT", help="Allowed |E[D] - 1| for the rule of thumb.")] = 0.05,
    sd: Annotated[Optional[list[float]], typer.Option("--sd", metavar="FLOAT", help="Input standard deviation for the k_min table (repeatable).")] = None,
    sigma_points: Annotated[int, typer.Option("--sigma-points", metavar="N", parser=count, help="Grid points in sigma_s (log-spaced).")] = 200,
    offset_points: Annotated[int, typer.Option("--offset-points", metavar="N", parser=count, help="Grid points in the offset mu_s mod 1.")] = 100,
    sigma_min: Annotated[float, typer.Option("--sigma-min", metavar="FLOAT", help="Smallest sigma_s of the map.")] = 0.02,
    sigma_max: Annotated[float, typer.Option("--sigma-max", metavar="FLOAT", help="Largest sigma_s of the map.")] = 10.0,
    samples: Annotated[int, typer.Option("--samples", "-n", metavar="N", parser=count, help="Monte Carlo samples per spot check (0: none; 2e5 accepted).")] = 200_000,
    seed: Annotated[str, typer.Option("--seed", metavar="SEED", help="Root seed of the spot checks (decimal or 0x hex), or 'random' for fresh entropy (recorded).")] = str(PHASE_SEED),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help=f"Results directory (default {DEFAULT_OUT}).")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Write no files (not with --out).")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout (the rule records): table, csv, json or md.")] = OutputFormat.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    cluster: Annotated[Optional[str], cluster_option()] = None,
    version: VersionFlag = False,
) -> None:
    """Where E[D_h] is within a tolerance of the STE's 1, for location-scale inputs.

    Computes E[D_h] and E[n] exactly over a grid of sigma_s = L * sd(r) and offset = L * centre mod 1,
    by CDF sums and by Fourier series, checks a few points by Monte Carlo, and derives the smallest
    sigma_s* beyond which |E[D] - 1| <= tolerance at every offset, with k_min = ceil(log2(1 + sigma_s*/sd)).
    Writes results/phase/ unless --out or --no-save; exits 1 if a spot check fails.
    """
    from stecheck.claims.phase.map import DEFAULT_FAMILIES
    from stecheck.claims.phase.run import RULE_FIELDS, RULE_MD_COLUMNS, PhaseConfig, run_phase
    from rich.markup import escape

    from stecheck.records import to_csv_text, to_json_text, to_markdown_text
    from stecheck.resultset import replace_set

    if no_save and out is not None:
        raise ConfigError("--no-save and --out contradict each other: pass one of them")
    config = PhaseConfig(
        families=tuple(family) if family else DEFAULT_FAMILIES, h=h, tolerance=tolerance,
        sds=tuple(sd) if sd else PhaseConfig.sds, sigma_min=sigma_min, sigma_max=sigma_max,
        sigma_points=sigma_points, offset_points=offset_points, samples=samples, seed=seed,  # type: ignore[arg-type]
    ).validated()
    target = None if no_save else (out if out is not None else DEFAULT_OUT)
    with cluster_session(cluster, 1, quiet) as dask, claimed_output(target) as locked:  # one writer per --out; the rule, map/, spot/ and figures swap in together
        with progress_bar(len(config.families), "phase", quiet) as advance:
            result = run_phase(config, progress=advance, cluster=dask)
        if locked is not None:
            replace_set(locked, lambda d: write_phase_files(d, result), phase_entries())
    title = f"stecheck phase: sigma_s* for |E[D] - 1| <= {config.tolerance:g} at every offset"
    if output_format is OutputFormat.json:
        emit(to_json_text(result.meta, result.rule_records))
    elif output_format is OutputFormat.csv:
        emit(to_csv_text(result.rule_records, RULE_FIELDS))
    elif output_format is OutputFormat.md:
        emit(to_markdown_text(result.rule_records, RULE_MD_COLUMNS, title))
    else:
        console = stdout_console()
        console.print(escape(title))
        console.print(rule_table(result.rule_records, None))
        console.print("k_min = ceil(log2(1 + sigma_s* / sd)): the fewest bits with L * sd >= sigma_s*.")
        if result.spot_records:
            console.print(spot_table(result.spot_records, console.width))
        if target is not None:
            console.print(f"wrote {target}/ (rule), {target}/map/, {target}/spot/, phase_map.png, worst_case.png", markup=False)
    if not result.spot_ok:
        raise typer.Exit(EXIT_CHECK_FAILED)
