"""Wall time of ``stecheck COMMAND --help`` against its 0.3-second target, whole process.

Each command's help runs in a fresh process (the installed ``stecheck`` script: interpreter start,
imports, Typer, printing), ``--repeats`` times, interleaved across commands; the figure is the slowest
command's median. ``--help`` imports no numpy, scipy, numba, matplotlib, onnx, rich or pydantic (the
commands import them when they run), so it is start-up cost only. The child processes' CPU time (user +
system) is reported beside the wall time: on a shared machine it shows how much of the wall time was
waiting for a core.

The warm-up run writes the package's compiled bytecode even when PYTHONDONTWRITEBYTECODE is set (as pip
does when it installs the package; an editable install otherwise compiles every module on every run).

    python bench/help_time.py [--repeats R] [--target SECONDS] [--no-write]

Writes results/bench/help_time.json; exits 1 if the slowest median misses the target.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from _common import interleaved_times, machine, write_result

COMMANDS = ("", "simulate", "audit", "phase", "weights", "check", "plot", "report", "cache")


def stecheck_command() -> list[str]:
    """The ``stecheck`` console script next to this interpreter (else on PATH, else ``python -m stecheck``)."""
    here = Path(sys.executable).with_name("stecheck")
    if here.exists():
        return [str(here)]
    found = shutil.which("stecheck")
    return [found] if found else [sys.executable, "-m", "stecheck"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    base = stecheck_command()

    child_cpu: dict[str, list[float]] = {}

    def runner(name: str, command: str, env: dict[str, str] | None = None):
        argv = [*base, *([command] if command else []), "--help"]

        def run() -> None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            child_cpu.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

        return run

    compiling = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    for command in COMMANDS:
        runner("warm-up", command, compiling)()  # the file cache, compiled bytecode
    fns = {command or "(root)": runner(command or "(root)", command) for command in COMMANDS}
    medians = {name: wall for name, (wall, _) in interleaved_times(fns, args.repeats).items()}
    cpu = {name: statistics.median(child_cpu[name]) for name in fns}
    slowest = max(medians, key=medians.__getitem__)
    result = {
        "command": "stecheck" if len(base) == 1 else "python -m stecheck",
        "repeats": args.repeats,
        "median_s": medians,
        "median_cpu_s": cpu,
        "slowest": slowest,
        "slowest_s": medians[slowest],
        "target_s": args.target,
        "ratio": medians[slowest] / args.target,
        **machine(),
    }
    for name, value in medians.items():
        print(f"stecheck {name} --help: {value * 1000:.0f} ms ({cpu[name] * 1000:.0f} ms CPU)")
    print(f"slowest: {slowest} {medians[slowest]:.3f} s vs target {args.target:.2f} s (ratio {result['ratio']:.2f})")
    write_result("help_time", result, not args.no_write)
    if medians[slowest] > args.target:
        print(f"missed target: {medians[slowest]:.3f} s > {args.target:.2f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
