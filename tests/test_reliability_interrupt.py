"""Interruption, resume and concurrent writers, with real processes and real signals.

- SIGINT / SIGTERM while ``simulate`` runs: exit 130 / 143, one stderr line, the previous results in --out
  byte for byte unchanged, no temporary or lock file left; ``--resume`` then finishes the run, and its
  records.csv and the records of records.json equal an uninterrupted run's byte for byte.
- Two runs on the same --out: exactly one wins, the other exits 2 at once; the winner's files agree.
- In-process: the lock excludes a second holder, and signals are deferred while a result set is written.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stecheck.engine.runstate import STATE_DIR
from stecheck.errors import OutputError
from stecheck.records import SIMULATE_FIELDS, to_csv_text
from stecheck.safety import interruptible, lock_path, out_dir_lock, signals_deferred
from tests.conftest import invoke

RESULT_FILES = ["meta.json", "records.csv", "records.json", "records.md"]
#: Four inputs of a fraction of a second each: long enough to signal between inputs.
LONG = [
    "simulate", "--dist", "normal(0.5,0.15)", "--dist", "uniform(0,1)", "--dist", "laplace(0.5,0.2)",
    "--dist", "logistic(0.5,0.1)", "--bits", "1-3", "--h", "1e-3", "--fd", "forward", "--method", "mc",
    "--samples", "800000", "--seed", "0x9E3779B97F4A7C15F39CC0605CEDC834", "--quiet",
]
PREVIOUS = ["simulate", "--dist", "point(0.3)", "--bits", "2", "--h", "0.1", "--samples", "10", "--seed", "1", "--quiet"]


def _stecheck(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stecheck", *args], capture_output=True, text=True, timeout=600, **kwargs)


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "stecheck", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"process ended before {path.name} appeared: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def _csv_differences(a: Path, b: Path) -> list[tuple[int, str]]:
    rows_a = list(csv.DictReader((a / "records.csv").read_text().splitlines()))
    rows_b = list(csv.DictReader((b / "records.csv").read_text().splitlines()))
    assert len(rows_a) == len(rows_b)
    return [(i, key) for i, (x, y) in enumerate(zip(rows_a, rows_b)) for key in x if x[key] != y[key]]


def _records_text(out: Path) -> str:
    return json.dumps(json.loads((out / "records.json").read_text())["records"], indent=1)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run everything is compared against."""
    out = tmp_path_factory.mktemp("clean") / "out"
    proc = _stecheck(*LONG, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES
    return out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_keeps_previous_results_and_resume_matches_a_clean_run(
    clean_run: Path, tmp_path: Path, signum: int
) -> None:
    out = tmp_path / "out"
    assert invoke(CliRunner(), *PREVIOUS, "--out", str(out)).exit_code == 0
    previous = _snapshot(out)

    proc = _start(*LONG, "--out", str(out))
    _wait_for(out / STATE_DIR / "input-0000.json", proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, stderr
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("error: interrupted, nothing written;") and "--resume" in stderr
    assert _snapshot(out) == previous  # the old result set, byte for byte
    assert sorted(p.name for p in out.iterdir()) == sorted([*RESULT_FILES, STATE_DIR])  # no temp or lock file
    finished = sorted(p.name for p in (out / STATE_DIR).iterdir())
    assert "input-0000.json" in finished and all(not name.endswith(".tmp") for name in finished)

    resumed = _stecheck(*LONG, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES  # state removed once written
    assert _csv_differences(out, clean_run) == []
    assert (out / "records.csv").read_bytes() == (clean_run / "records.csv").read_bytes()
    assert (out / "records.md").read_bytes() == (clean_run / "records.md").read_bytes()
    assert _records_text(out) == _records_text(clean_run)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["resumed_inputs"] == len(finished) - 1 >= 1  # plan.json plus the finished inputs
    assert meta["config"] == json.loads((clean_run / "meta.json").read_text())["config"]


@pytest.mark.slow
def test_two_runs_on_one_out_dir_one_wins_the_other_errors(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _start(*LONG, "--out", str(out))
    second = _start(*LONG, "--out", str(out))
    (_, err1), (_, err2) = first.communicate(timeout=600), second.communicate(timeout=600)
    codes = sorted([first.returncode, second.returncode])
    # on a loaded machine the first run may end before the second starts: then both win, one after the other
    # (the overlap itself is certain in test_a_second_run_fails_fast_while_the_first_holds_the_lock)
    assert codes in ([0, 2], [0, 0]), (err1, err2)
    if codes == [0, 2]:
        loser = err1 if first.returncode == 2 else err2
        assert loser.count("\n") == 1 and loser.startswith(f"error: another stecheck run is writing to {str(out)!r} (pid ")
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES
    records = json.loads((out / "records.json").read_text())["records"]
    assert (out / "records.csv").read_text() == to_csv_text(records, SIMULATE_FIELDS)  # one run's files, not a mix


@pytest.mark.slow
def test_a_second_run_fails_fast_while_the_first_holds_the_lock(clean_run: Path, tmp_path: Path) -> None:
    """The first run is stopped (SIGSTOP) while it holds the lock, so the overlap is certain."""
    out = tmp_path / "out"
    first = _start(*LONG, "--out", str(out))
    _wait_for(lock_path(out), first)
    first.send_signal(signal.SIGSTOP)
    try:
        second = _stecheck(*LONG, "--out", str(out))
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2 and f"(pid {first.pid})" in second.stderr, second.stderr
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES
    assert (out / "records.csv").read_bytes() == (clean_run / "records.csv").read_bytes()


def test_lock_excludes_a_second_holder_and_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with out_dir_lock(out) as path:
        assert path == tmp_path / ".out.stecheck.lock" and path.read_text().strip() == str(os.getpid())
        with pytest.raises(OutputError, match=rf"another stecheck run .* \(pid {os.getpid()}\)"):
            with out_dir_lock(out):
                pass
    assert sorted(tmp_path.iterdir()) == []
    with out_dir_lock(out):  # free again
        pass


def test_signals_are_delivered_only_after_a_deferred_block() -> None:
    done = []
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with interruptible():
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("written")
            time.sleep(1.0)  # the pending signal arrives here, as KeyboardInterrupt
            done.append("not reached")
    assert done == ["written"]
    assert signal.getsignal(signal.SIGTERM) is before


class _FailsWhenFreed:
    """An object whose finaliser raises, as one a JIT compiler left half-built when a signal landed."""

    def __del__(self) -> None:
        raise RuntimeError("finaliser of a half-built object")


def test_finalisers_failing_after_a_signal_add_nothing_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before a signal, a failing finaliser is reported as Python always does; once a signal was taken (in
    the block, and after it while the traceback is freed) it is not, so the run's error line stays alone."""
    reported: list[str] = []

    def record(unraisable: object) -> None:
        reported.append(str(unraisable.exc_value))  # type: ignore[attr-defined]

    monkeypatch.setattr(sys, "unraisablehook", record)
    with interruptible():
        _FailsWhenFreed()
    assert reported == ["finaliser of a half-built object"]
    assert sys.unraisablehook is record  # a block without a signal leaves the hook as it found it
    with pytest.raises(KeyboardInterrupt):
        with interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)
    _FailsWhenFreed()
    assert reported == ["finaliser of a half-built object"]
    with interruptible():  # a new block, no signal: reports reach the hook again, which is restored at its end
        _FailsWhenFreed()
    assert len(reported) == 2


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_weights_keeps_previous_results(tmp_path: Path, signum: int) -> None:
    """The run is stopped (SIGSTOP) as soon as it holds the lock, signalled, then continued: mid-scan for sure."""
    from safetensors.numpy import save_file

    rng = np.random.Generator(np.random.PCG64(0x9E3779B97F4A7C15F39CC0605CEDC834))
    small, big = tmp_path / "small.safetensors", tmp_path / "big.safetensors"
    save_file({"w": rng.normal(0, 0.1, (16, 16)).astype(np.float32)}, str(small))
    save_file({f"layer{i}.w": rng.normal(0, 0.1, (512, 1024)).astype(np.float32) for i in range(8)}, str(big))
    out = tmp_path / "out"
    assert invoke(CliRunner(), "weights", str(small), "--bits", "1-2", "--quiet", "--out", str(out)).exit_code == 0
    previous = _snapshot(out)

    proc = _start("weights", str(big), "--bits", "1-8", "--quiet", "--out", str(out))
    _wait_for(lock_path(out), proc)
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert stderr.startswith("error: interrupted, nothing written") and stderr.count("\n") == 1, stderr
    assert _snapshot(out) == previous
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES  # no temporary or lock file


def test_resume_in_process_equals_one_uninterrupted_run(tmp_path: Path) -> None:
    """Interrupt after the first input (from the progress callback), resume, compare with engine.run."""
    from stecheck.config import RunConfig
    from stecheck.engine.runner import run
    from stecheck.engine.runstate import ResumableRun

    config = RunConfig(inputs=("normal(0.5,0.15)", "uniform(0,1)", "laplace(0.5,0.2)"), bits=(1, 2), steps=(1e-3, 0.3),
                       samples=50_000, seed=0x9E3779B97F4A7C15F39CC0605CEDC834)
    expected = json.loads(json.dumps(run(config).records))

    def stop_after_first_input(_n: int) -> None:
        if (tmp_path / STATE_DIR / "input-0000.json").exists():
            raise KeyboardInterrupt

    job = ResumableRun.open(config, tmp_path, resume=False)
    with pytest.raises(KeyboardInterrupt):
        job.run(progress=stop_after_first_input)
    assert sorted(p.name for p in (tmp_path / STATE_DIR).iterdir()) == ["input-0000.json", "plan.json"]

    resumed = ResumableRun.open(RunConfig(**{**config.__dict__, "seed": None}), tmp_path, resume=True)
    assert resumed.pending() == [1, 2] and resumed.config.seed == config.seed
    result = resumed.run()
    assert result.records == expected
    assert result.meta["resumed_inputs"] == 1


# ---------------------------------------------------------------- all-or-nothing result sets (issue 14, items 1-3)

BOUNDS = """
[defaults]
source = "normal(0.5,0.15)"
samples = 2000
seed = "0x9e3779b97f4a7c15f39cc0605cedc834"
h = 1e-3

[[bound]]
name = "E[n] = 0"
k = 1
statistic = "mean_n"
target = 0.0
within_se = 5
"""
SMALL_SIM = ["simulate", "--dist", "normal(0.5,0.15)", "--bits", "1", "--h", "1e-3", "--samples", "1000", "--quiet"]
SMALL_PHASE = ["phase", "--family", "normal", "--sigma-points", "5", "--offset-points", "4", "--quiet"]


def _setup_sets(tmp: Path) -> None:
    """Inputs of the writing commands: a weights file, a bounds file, a results directory to plot and report."""
    from safetensors.numpy import save_file

    rng = np.random.Generator(np.random.PCG64(0x9E3779B97F4A7C15F39CC0605CEDC834))
    save_file({"w": rng.normal(0, 0.1, (16, 16)).astype(np.float32)}, str(tmp / "m.safetensors"))
    (tmp / "b.toml").write_text(BOUNDS, encoding="utf-8")
    assert invoke(CliRunner(), *SMALL_SIM, "--seed", "5", "--out", str(tmp / "run")).exit_code == 0


#: For each writing command: the run that leaves the previous results, then the run whose writes fail.
#: ``OUT`` is the output: a directory (with a foreign file and folder beside the set), or a file.
WRITERS = {
    "simulate": ([*SMALL_SIM, "--seed", "1", "--out", "OUT"], [*SMALL_SIM, "--bits", "1-2", "--seed", "2", "--out", "OUT"]),
    "weights": (["weights", "TMP/m.safetensors", "--bits", "1", "--quiet", "--out", "OUT"],
                ["weights", "TMP/m.safetensors", "--bits", "1-2", "--quiet", "--out", "OUT"]),
    "audit": (["audit", "--bits", "1", "--samples", "1000", "--seed", "1", "--quiet", "--out", "OUT"],
              ["audit", "--bits", "1", "--samples", "1000", "--seed", "2", "--quiet", "--out", "OUT"]),
    "phase": ([*SMALL_PHASE, "--samples", "1000", "--seed", "1", "--out", "OUT"], [*SMALL_PHASE, "--samples", "0", "--tolerance", "0.1", "--out", "OUT"]),
    "plot": (["plot", "TMP/run", "--dpi", "20", "--quiet", "--out", "OUT"], ["plot", "TMP/run", "--dpi", "24", "--quiet", "--out", "OUT"]),
    "check --out": (["check", "TMP/b.toml", "--quiet", "--format", "json", "--out", "OUT"],
                    ["check", "TMP/b.toml", "--quiet", "--format", "md", "--out", "OUT"]),
    "report": (["report", "TMP/run", "--out", "OUT"], ["report", "TMP/run", "TMP/run", "--out", "OUT"]),
}
FILE_OUTPUTS = {"check --out": "verdicts.txt", "report": "report.md"}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root``: file bytes, None for a directory (simulate's resume state left out: a
    run whose results could not be written keeps it for --resume)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))
            if STATE_DIR not in p.parts}


def _ran(result) -> bool:
    """The command ran and wrote its results (phase exits 1 when a spot check fails; that is a finding)."""
    return result.exit_code in (0, 1) and result.stderr == ""


def _argv(args: list[str], tmp: Path, out: Path) -> list[str]:
    return [str(out) if a == "OUT" else a.replace("TMP", str(tmp)) for a in args]


class _FailingReplace:
    """``os.replace`` that fails with ENOSPC at call number ``fail_at`` (counting from 0); counts calls."""

    def __init__(self, fail_at: int | None) -> None:
        self.fail_at, self.calls, self.real = fail_at, 0, os.replace

    def __call__(self, src, dst, **kwargs) -> None:
        index, self.calls = self.calls, self.calls + 1
        if index == self.fail_at:
            raise OSError(28, "No space left on device")
        self.real(src, dst, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
@pytest.mark.parametrize("command", list(WRITERS))
def test_a_write_failing_at_any_file_keeps_the_previous_set(command: str, exchange: bool, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rename of the set (each file's, each carried entry's, the swap's) made to fail in turn: the
    previous results stay byte for byte, and nothing else is left beside them."""
    from stecheck import resultset

    if not exchange:
        monkeypatch.setattr(resultset, "_exchange", lambda a, b: False)
    _setup_sets(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    out = work / FILE_OUTPUTS.get(command, "out")
    before_args, after_args = WRITERS[command]
    runner = CliRunner()
    first = invoke(runner, *_argv(before_args, tmp_path, out))
    assert _ran(first), first.stderr
    if out.is_dir():
        (out / "notes.txt").write_text("the user's", encoding="utf-8")  # carried into each new set
        (out / "figures").mkdir(exist_ok=True)
        (out / "figures" / "mine.txt").write_text("kept", encoding="utf-8")
    previous = _tree(work)

    counter = _FailingReplace(None)
    with monkeypatch.context() as patch:  # count the renames of a successful run on a copy of the same state
        copy = tmp_path / "copy"
        import shutil
        shutil.copytree(work, copy)
        patch.setattr(os, "replace", counter)
        assert _ran(invoke(runner, *_argv(after_args, tmp_path, copy / out.name)))
    assert counter.calls >= (1 if command in FILE_OUTPUTS else 2)
    for fail_at in range(counter.calls):
        with monkeypatch.context() as patch:
            patch.setattr(os, "replace", _FailingReplace(fail_at))
            result = invoke(runner, *_argv(after_args, tmp_path, out))
        assert result.exit_code == 2, (fail_at, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert "No space left on device" in result.stderr
        assert _tree(work) == previous, f"{command}: rename {fail_at} of {counter.calls} failed and changed the results"

    if exchange and command not in FILE_OUTPUTS:  # the atomic exchange itself failing
        def broken(a: Path, b: Path) -> bool:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(resultset, "_exchange", broken)
        result = invoke(runner, *_argv(after_args, tmp_path, out))
        assert result.exit_code == 2 and _tree(work) == previous


@pytest.mark.parametrize("command", [c for c in WRITERS if c not in FILE_OUTPUTS])
def test_a_successful_run_replaces_the_whole_set_and_keeps_foreign_entries(command: str, tmp_path: Path) -> None:
    """The new set equals a run into an empty directory (nothing of the old set is left, e.g. phase's
    spot/ when the new run has no spot checks), and entries that are not the command's are kept."""
    _setup_sets(tmp_path)
    before_args, after_args = WRITERS[command]
    runner = CliRunner()
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert _ran(invoke(runner, *_argv(before_args, tmp_path, out)))
    (out / "notes.txt").write_text("the user's", encoding="utf-8")
    assert _ran(invoke(runner, *_argv(after_args, tmp_path, out)))
    assert _ran(invoke(runner, *_argv(after_args, tmp_path, fresh)))
    expected = {**_tree(fresh), "notes.txt": b"the user's"}
    got = _tree(out)
    assert set(got) == set(expected)
    for name in ("records.csv", "records.md"):  # deterministic files (meta.json carries dates and wall times)
        if name in expected:
            assert got[name] == expected[name]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no box, no lock left


def test_recover_undoes_a_replacement_killed_between_its_two_renames(tmp_path: Path) -> None:
    """A box left by a killed run (previous set moved aside, new set not yet in place, a foreign entry
    carried): the next run's claim puts the previous set and the carried entry back."""
    from stecheck.resultset import BOX_INFIX, boxes, claim

    out = tmp_path / "out"
    box = tmp_path / f".out{BOX_INFIX}abc123"
    (box / "old").mkdir(parents=True)
    (box / "old" / "records.csv").write_text("old", encoding="utf-8")
    (box / "set" / "figures").mkdir(parents=True)
    (box / "set" / "records.csv").write_text("new", encoding="utf-8")
    (box / "carried.json").write_text('["figures"]', encoding="utf-8")
    with claim(out):
        assert _tree(out) == {"figures": None, "records.csv": b"old"}
        assert boxes(out) == []
    # killed after the swap: the box holds the previous set only, the new one stays
    (box / "old").mkdir(parents=True)
    (box / "old" / "records.csv").write_text("older", encoding="utf-8")
    with claim(out):
        assert _tree(out) == {"figures": None, "records.csv": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["audit", "phase"])
def test_audit_and_phase_take_the_out_lock(command: str, tmp_path: Path) -> None:
    """While one run holds --out (stopped with SIGSTOP right after taking the lock), a second run on the
    same --out exits 2 at once naming the holder; the first then finishes and its set is whole."""
    out = tmp_path / "out"
    args = {"audit": ["audit", "--bits", "1-2", "--samples", "20000", "--seed", "1", "--quiet"],
            "phase": [*SMALL_PHASE, "--samples", "20000", "--seed", "1"]}[command]
    first = _start(*args, "--out", str(out))
    _wait_for(lock_path(out), first)
    first.send_signal(signal.SIGSTOP)
    try:
        second = _stecheck(*args, "--seed", "2", "--out", str(out))
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert second.stderr == f"error: another stecheck run is writing to {str(out)!r} (pid {first.pid}); wait for it to finish or choose another --out\n"
    _, err = first.communicate(timeout=600)
    assert first.returncode in (0, 1) and err == "", err  # phase exits 1 when a spot check fails: a finding, results written
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == "1" and json.loads((out / "records.json").read_text())["meta"]["seed"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


#: Long enough runs of the other commands to be signalled mid-run (stopped with SIGSTOP once they hold the lock).
LONG_RUNS = {
    "audit": ["audit", "--samples", "2000000", "--seed", "2", "--quiet"],
    "phase": ["phase", "--sigma-points", "400", "--offset-points", "200", "--samples", "200000", "--seed", "2", "--quiet"],
    "check": ["check", "TMP/long.toml", "--quiet", "--out", "OUT"],
    "plot": ["plot", "TMP/run", "--format", "png", "--format", "svg", "--format", "pdf", "--dpi", "200", "--quiet", "--out", "OUT"],
}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", list(LONG_RUNS))
def test_signal_during_any_command_keeps_previous_results(command: str, signum: int, tmp_path: Path) -> None:
    """audit, phase, check and plot stopped by SIGINT / SIGTERM: exit 130 / 143, one stderr line, the
    previous results byte for byte, no temporary file (no 0-byte PNG) and no lock left."""
    _setup_sets(tmp_path)
    (tmp_path / "long.toml").write_text(BOUNDS.replace("samples = 2000", "samples = 20000000"), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    out = work / ("verdicts.txt" if command == "check" else "out")
    previous_args = {"audit": WRITERS["audit"][0], "phase": WRITERS["phase"][0], "check": WRITERS["check --out"][0],
                     "plot": WRITERS["plot"][0]}[command]
    assert _ran(invoke(CliRunner(), *_argv(previous_args, tmp_path, out)))
    previous = _tree(work)
    args = _argv(LONG_RUNS[command], tmp_path, out)
    proc = _start(*args, *([] if "OUT" in LONG_RUNS[command] else ["--out", str(out)]))
    _wait_for(lock_path(out), proc)
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 128 + signum, stderr
    assert stdout == "" and stderr == "error: interrupted, nothing written\n"
    assert _tree(work) == previous


def _signal_self(signum: int):
    """A stand-in for a command's work that signals its own process, as a user's Ctrl-C or kill would."""
    def work(*args, **kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(30)  # the handler raises before this ends
        raise AssertionError("the signal was not delivered")

    return work


def _signal_self_in_extension_init(signum: int):
    """As :func:`_signal_self`, but the signal lands while a C extension initialises, which turns the
    handler's KeyboardInterrupt into ``ImportError: initialization failed`` (matplotlib's Agg backend does)."""
    def work(*args, **kwargs):
        try:
            _signal_self(signum)()
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    return work


def _signal_swallowed(signum: int, real):
    """As :func:`_signal_self_in_extension_init`, inside a library that takes the ImportError for "not
    installed" and goes on (PIL's plugin imports do): the command's real work then runs to its end."""
    def work(*args, **kwargs):
        try:
            _signal_self_in_extension_init(signum)()
        except ImportError:
            pass
        return real(*args, **kwargs)

    return work


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("where", ["python", "extension-init", "swallowed"])
@pytest.mark.parametrize("command", ["audit", "check", "plot", "phase", "weights"])
def test_every_command_ends_a_signal_with_one_line_and_128_plus_signum(command: str, where: str, signum: int,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """In process: the command's work is replaced by one that signals the process; the command group turns
    it into ``error: interrupted, nothing written`` and exit 130 (SIGINT) or 143 (SIGTERM), and --out is untouched.
    Also when the interrupt surfaces as another exception (a signal inside a C extension's initialisation), and
    when a library swallows that exception and the work runs to its end: nothing is swapped in."""
    import stecheck.claims.audit.run
    import stecheck.claims.check.evaluate
    import stecheck.claims.phase.run
    import stecheck.views.plots.runs
    import stecheck.weights

    _setup_sets(tmp_path)
    # the commands import their library functions when they run: patched where they are defined
    patches = {"audit": (stecheck.claims.audit.run, "audit"), "check": (stecheck.claims.check.evaluate, "evaluate"),
               "plot": (stecheck.views.plots.runs, "_draw_all"), "phase": (stecheck.claims.phase.run, "run_phase"),
               "weights": (stecheck.weights, "scan")}
    if where == "swallowed":
        monkeypatch.setattr(*patches[command], _signal_swallowed(signum, getattr(*patches[command])))
    else:
        monkeypatch.setattr(*patches[command], (_signal_self if where == "python" else _signal_self_in_extension_init)(signum))
    name = {"check": "check --out"}.get(command, command)
    out = tmp_path / FILE_OUTPUTS.get(name, "out")
    before = _tree(tmp_path)
    result = invoke(CliRunner(), *_argv(WRITERS[name][1], tmp_path, out))
    assert result.exit_code == 128 + signum
    assert result.stdout == "" and result.stderr == "error: interrupted, nothing written\n"
    assert _tree(tmp_path) == before  # no --out, no box, no lock, no 0-byte figure


def test_a_full_disk_while_saving_resume_state_is_one_line_and_keeps_the_results(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import stecheck.engine.runstate

    out = tmp_path / "out"
    assert invoke(CliRunner(), *SMALL_SIM, "--seed", "1", "--out", str(out)).exit_code == 0
    previous = _tree(out)
    real = stecheck.engine.runstate.write_text_atomic

    def full(path: Path, text: str) -> None:
        if path.name.startswith("input-"):
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(stecheck.engine.runstate, "write_text_atomic", full)
    result = invoke(CliRunner(), *SMALL_SIM, "--seed", "2", "--out", str(out))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr and "--resume" in result.stderr
    assert _tree(out) == previous


@pytest.mark.slow
@pytest.mark.parametrize("command", ["simulate", "phase"])
def test_a_file_size_limit_midway_keeps_the_previous_set(command: str, tmp_path: Path) -> None:
    """The issue's reproduction: ``ulimit -f`` (RLIMIT_FSIZE) then a larger run over an earlier one, in a
    real process. The new set cannot be written whole, so the old one stays, byte for byte."""
    import resource

    _setup_sets(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    before_args, after_args = WRITERS[command]
    assert _ran(invoke(CliRunner(), *_argv(before_args, tmp_path, out)))
    previous = _tree(work)
    # bytes: the earlier set's files fit, the larger run's do not
    limit = 30 * 1024 if command == "phase" else 1 + max(len(data) for data in previous.values() if data is not None)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "stecheck", *_argv(after_args, tmp_path, out)], capture_output=True, text=True,
                          timeout=600, preexec_fn=limited)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "File too large" in proc.stderr, proc.stderr
    assert _tree(work) == previous


def test_plot_and_report_never_read_a_temporary_box(tmp_path: Path) -> None:
    """A box left by a killed run holds a records.json; finding runs under results/ skips it."""
    from stecheck.views.plots.runs import find_runs

    for run in ("run", ".run.stecheck-abc123/set"):
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "records.json").write_text('{"meta": {}, "records": []}', encoding="utf-8")
    assert find_runs([], root=tmp_path) == [tmp_path / "run"]


def test_a_signal_while_the_lock_is_taken_leaves_no_lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT between creating the lock file and writing the pid: the run stops, and the file is removed."""
    import fcntl

    import stecheck.safety

    real_flock = fcntl.flock

    def flock_then_signal(fd: int, operation: int) -> None:
        real_flock(fd, operation)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(stecheck.safety.fcntl, "flock", flock_then_signal)
    out = tmp_path / "out"
    entered = False
    with pytest.raises(KeyboardInterrupt), interruptible():
        with out_dir_lock(out):
            entered = True
    assert not entered
    assert not lock_path(out).exists() and list(tmp_path.iterdir()) == []


def test_the_busy_message_names_the_holder_once_it_has_written_its_pid(tmp_path: Path) -> None:
    from stecheck.safety import _holder

    lock = tmp_path / ".out.stecheck.lock"
    lock.write_text("")
    assert _holder(lock, patience_s=0.05) == ""
    lock.write_text("1234\n")
    assert _holder(lock) == " (pid 1234)"


def test_a_signal_a_command_took_does_not_reach_later_python_api_calls(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The interrupt a command took ends that command only: a result set written afterwards through the
    Python API (outside any command) is swapped in."""
    import stecheck.views.plots.runs
    from stecheck.resultset import replace_set

    _setup_sets(tmp_path)
    monkeypatch.setattr(stecheck.views.plots.runs, "_draw_all", _signal_self(signal.SIGINT))
    result = invoke(CliRunner(), *_argv(WRITERS["plot"][1], tmp_path, tmp_path / "out"))
    assert result.exit_code == 130
    replace_set(tmp_path / "api", lambda directory: (directory / "a.txt").write_text("1"), ("a.txt",))
    assert (tmp_path / "api" / "a.txt").read_text() == "1"
