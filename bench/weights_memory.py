"""Peak memory of `stecheck weights` on a generated 2 GB bfloat16 safetensors file (target: < 400 MB RSS).

Writes the file chunk by chunk (8 tensors of 8192 x 16384 bfloat16 Student-t weights, 2 GiB of data), then
runs `stecheck weights FILE -k 1-8` in a child process and reads the child's peak resident set size
(its own ``VmHWM`` at exit; see ``child_peak_rss``). The file is read by offset, chunk by chunk, never memory-mapped whole.

    python bench/weights_memory.py [--gib G] [--max-mb M] [--threads N] [--keep FILE]

``--threads N`` scans with ``-j N`` (N tensors at a time, each read chunk by chunk).

Writes results/bench/weights_memory.json; exits 1 if the peak RSS reaches --max-mb (default 400).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ml_dtypes
import numpy as np

from _common import write_result

ROWS, COLS = 8192, 16384


def write_file(path: Path, tensors: int, seed: int = 20240601) -> int:
    """A bf16 safetensors file of ``tensors`` (ROWS, COLS) tensors, written 1024 rows at a time."""
    nbytes = ROWS * COLS * 2
    header = {f"layers.{i}.weight": {"dtype": "BF16", "shape": [ROWS, COLS], "data_offsets": [i * nbytes, (i + 1) * nbytes]}
              for i in range(tensors)}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(seed)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        for i in range(tensors):
            for _ in range(0, ROWS, 1024):
                block = (0.02 * rng.standard_t(5, size=(1024, COLS))).astype(np.float32).astype(ml_dtypes.bfloat16)
                handle.write(block.tobytes())
    return path.stat().st_size


#: Run in the child before its command: at exit, print the high-water mark of its own memory (``VmHWM``).
#: Not ``ru_maxrss`` (of ``os.wait4``): Linux carries it across ``execve``, so a child forked from this
#: script reports at least this script's size at the fork (275 MB right after writing the file).
_REPORT_PEAK = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as status:\n"
    "        kib = next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))\n"
    "    sys.stderr.write(f'\\nstecheck-bench-vmhwm-kib {kib}\\n')\n"
    "atexit.register(_peak)\n"
)


def child_peak_rss(command: list[str]) -> tuple[int, float, int]:
    """``(exit status, wall seconds, peak RSS in bytes)`` of ``[sys.executable, "-c", CODE, ...]`` or
    ``[sys.executable, "-m", MODULE, ...]``: the child's own ``VmHWM`` where /proc has it, else ``ru_maxrss``."""
    import tempfile

    if sys.platform.startswith("linux") and command[1] in ("-c", "-m"):
        if command[1] == "-c":
            command = [command[0], "-c", _REPORT_PEAK + command[2], *command[3:]]
        else:
            run = f"import runpy\nsys.argv[0] = {command[2]!r}\nrunpy.run_module({command[2]!r}, run_name='__main__', alter_sys=True)\n"
            command = [command[0], "-c", _REPORT_PEAK + run, *command[3:]]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        reported = [int(line.split()[1]) for line in err.read().splitlines() if line.startswith("stecheck-bench-vmhwm-kib ")]
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = reported[-1] * 1024 if reported else usage.ru_maxrss * 1024  # KiB on Linux
    return proc.returncode, wall, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="file size in GiB (multiples of 0.25)")
    parser.add_argument("--max-mb", type=float, default=400.0)
    parser.add_argument("--threads", type=int, default=1, help="scan with -j N")
    parser.add_argument("--keep", type=Path, default=None, help="write (or reuse) the file here instead of a temp dir")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    tensors = max(1, round(args.gib * 4))
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "generated-bf16.safetensors"
        size = path.stat().st_size if path.exists() else write_file(path, tensors)
        command = [sys.executable, "-m", "stecheck", "weights", str(path), "--bits", "1-8", "--no-save", "--format", "json", "--quiet", "-j", str(args.threads)]
        status, wall, peak = child_peak_rss(command)
    baseline_status, _, baseline_peak = child_peak_rss([sys.executable, "-c", "import stecheck.cli.app"])
    result = {
        "file_bytes": size,
        "tensors": tensors,
        "dtype": "bfloat16",
        "bits": "1-8",
        "threads": args.threads,
        "peak_rss_mb": peak / 1e6,
        "import_rss_mb": baseline_peak / 1e6,
        "wall_s": wall,
        "target_mb": args.max_mb,
        "cpu_count": os.cpu_count(),
    }
    print(f"scan of a {size / 2**30:.2f} GiB bf16 safetensors file ({args.threads} thread(s)): peak RSS {peak / 1e6:.0f} MB "
          f"(target < {args.max_mb:g} MB; importing stecheck alone: {baseline_peak / 1e6:.0f} MB), {wall:.1f} s")
    if status != 0 or baseline_status != 0:
        print("the scan failed", file=sys.stderr)
        return 1
    write_result("weights_memory", result, not args.no_write)
    if peak / 1e6 >= args.max_mb:
        print(f"missed target: {peak / 1e6:.0f} MB >= {args.max_mb:g} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
