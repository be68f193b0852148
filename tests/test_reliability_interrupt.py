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

from stecheck.errors import OutputError
from stecheck.records import SIMULATE_FIELDS, to_csv_text
from stecheck.runstate import STATE_DIR
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
    assert codes == [0, 2], (err1, err2)
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
    from stecheck.engine import run
    from stecheck.runstate import ResumableRun

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
