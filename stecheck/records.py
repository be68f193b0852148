"""The record schema shared by every command, provenance, and atomic writers (CSV, JSON, Markdown).

A record is a plain ``dict`` whose keys are :data:`SIMULATE_FIELDS` (for ``simulate``); lists (Fourier
magnitudes) are JSON lists, and a missing value is ``None`` (JSON ``null``, an empty CSV cell).
Writers read records and never recompute statistics.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import sys
import tempfile
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Iterable, Mapping, Sequence

from stecheck.errors import OutputError, StecheckError
from stecheck.safe_io import md_cell, visible

__all__ = [
    "SIMULATE_FIELDS",
    "Record",
    "provenance",
    "config_as_dict",
    "to_json_text",
    "to_csv_text",
    "to_markdown_text",
    "prepare_out_dir",
    "write_text_atomic",
    "FILE_MODE",
    "RUN_FILES",
    "write_run_files",
    "write_run",
    "read_run",
    "check_value_types",
    "fmt",
]

Record = dict[str, Any]

#: Columns of a ``simulate`` record, in order (the machine-readable contract: keep these names).
SIMULATE_FIELDS: Final = (
    "dist",
    "path",
    "quantizer",
    "k",
    "rounding",
    "fd",
    "h",
    "samples",
    "seed",
    "mean_n",
    "mean_n_se",
    "var_n",
    "var_n_se",
    "var12_n",
    "p_n_zero",
    "ks_stat",
    "ks_resolution",
    "ks_pvalue",
    "chi2_stat",
    "chi2_pvalue",
    "fourier_abs",
    "hist_n",
    "mean_fd",
    "mean_fd_se",
    "mean_fd_upper",
    "p_fd_zero",
    "ste",
    "exact_mean_n",
    "exact_var_n",
    "exact_fourier_abs",
    "exact_mean_fd",
    "exact_p_fd_zero",
    "exact_note",
)


def _clean(value: Any) -> Any:
    """JSON-safe value: non-finite floats become None (JSON has no NaN or infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


@lru_cache(maxsize=None)
def _package_version(name: str) -> str | None:
    """The installed version of ``name`` (read once per process: the modules loaded do not change)."""
    from importlib import metadata  # imported here: provenance only, not the command line's startup

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _git_revision() -> str | None:
    """The revision of the checkout this package was imported from (read once per process, as its code is loaded once)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def config_as_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain data for provenance, its ``seed`` as text (JSON readers lose integers
    above 2^53, and seeds are 128-bit)."""
    data = dataclasses.asdict(config)
    if "seed" in data:
        data["seed"] = None if data["seed"] is None else str(data["seed"])
    return data


def provenance(command: str, config: Mapping[str, Any], seed: int | None, wall_time_s: float, **extra: Any) -> dict[str, Any]:
    """Provenance of a result: versions, git revision, platform, the resolved config, seed, date, wall time."""
    import platform

    from stecheck import __version__

    return {
        "command": command,
        "stecheck_version": __version__,
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "numpy": _package_version("numpy"),
        "scipy": _package_version("scipy"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "argv": sys.argv,
        "config": dict(config),
        "seed": seed,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time_s, 3),
        **extra,
    }


# ---------------------------------------------------------------- text formats


def to_json_text(meta: Mapping[str, Any], records: Sequence[Record]) -> str:
    """``{"meta": {...}, "records": [...]}`` as indented JSON (floats round-trip exactly)."""
    return json.dumps(_clean({"meta": dict(meta), "records": list(records)}), indent=1, allow_nan=False) + "\n"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return json.dumps(_clean(list(value)))
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return value


def to_csv_text(records: Sequence[Record], fields: Sequence[str]) -> str:
    """CSV with the record columns; lists are JSON text, missing values empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for rec in records:
        writer.writerow([_csv_cell(rec.get(f)) for f in fields])
    return buf.getvalue()


def fmt(value: Any, digits: int = 4) -> str:
    """Compact human text for a number (``-`` for a missing value)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, 2) for v in value) + "]"
    return str(value)


def to_markdown_text(records: Sequence[Record], columns: Sequence[tuple[str, str]], title: str | None = None) -> str:
    """A Markdown table of ``columns`` (pairs of record key and header)."""
    lines = [f"# {visible(title)}", ""] if title else []
    lines.append("| " + " | ".join(md_cell(h) for _, h in columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for rec in records:  # names from files may hold newlines, control characters or '|': escaped per cell
        lines.append("| " + " | ".join(md_cell(fmt(rec.get(key))) for key, _ in columns) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- files


def prepare_out_dir(path: Path) -> Path:
    """Create ``path`` if needed and check it is writable, before any work is done."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".stecheck-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of the files stecheck writes: what ``open()`` would give (0666 less the umask), not mkstemp's 0600.
FILE_MODE: Final = 0o666 & ~_umask()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


#: The files of one result set, in the order they are written.
RUN_FILES: Final = ("records.csv", "records.json", "records.md", "meta.json")


def write_run_files(
    out_dir: Path,
    meta: Mapping[str, Any],
    records: Sequence[Record],
    fields: Sequence[str],
    md_columns: Sequence[tuple[str, str]],
    title: str,
) -> list[Path]:
    """Write :data:`RUN_FILES` into ``out_dir`` (created if needed): the files of one result set.

    All texts are rendered before the first file is touched. This writes in place: a command writes into
    the temporary directory of :func:`stecheck.resultset.replace_set`, which swaps the set in at once.
    """
    out_dir = Path(out_dir)
    texts = {
        "records.csv": to_csv_text(records, fields),
        "records.json": to_json_text(meta, records),
        "records.md": to_markdown_text(records, md_columns, title),
        "meta.json": json.dumps(_clean(dict(meta)), indent=1, allow_nan=False) + "\n",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_text_atomic(out_dir / name, text)
    return [out_dir / name for name in texts]


def write_run(
    out_dir: Path,
    meta: Mapping[str, Any],
    records: Sequence[Record],
    fields: Sequence[str],
    md_columns: Sequence[tuple[str, str]],
    title: str,
) -> list[Path]:
    """Replace the result set in ``out_dir`` by ``records.csv``, ``records.json``, ``records.md`` and ``meta.json``.

    The four files change together or not at all (:func:`stecheck.resultset.replace_set`); other entries
    of ``out_dir`` (a ``figures/`` folder) are kept. Commands also hold the ``--out`` lock meanwhile.
    """
    from stecheck.resultset import replace_set, target_path

    target = target_path(out_dir)
    replace_set(target, lambda d: write_run_files(d, meta, records, fields, md_columns, title), RUN_FILES)
    return [Path(out_dir) / name for name in RUN_FILES]


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[Record]]:
    """Read ``records.json`` of a results directory: ``(meta, records)``."""
    path = Path(run_dir) / "records.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StecheckError(f"{str(run_dir)!r} is not a results directory: {path.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StecheckError(f"cannot read {str(path)!r}: {exc}") from None
    except RecursionError:
        raise StecheckError(f"cannot read {str(path)!r}: JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list) or not isinstance(data.get("meta"), dict):
        raise StecheckError(f"{str(path)!r} is malformed: expected an object with 'meta' and 'records'")
    return data["meta"], data["records"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(v is None or _is_number(v) for v in value)


#: What the values of the ``simulate`` and ``weights`` record fields must be (checked by :func:`check_value_types`).
VALUE_TYPES: Final = {
    "text": (lambda v: isinstance(v, str), ("dist", "path", "quantizer", "rounding", "fd", "transform", "kind")),
    "text or null": (lambda v: v is None or isinstance(v, str), ("tensor", "dtype", "source")),
    "an integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), ("k", "samples")),
    "an integer or null": (lambda v: v is None or isinstance(v, int) and not isinstance(v, bool), ("size", "nonfinite")),
    "a number": (_is_number, ("h", "ste")),
    "a number or null": (lambda v: v is None or _is_number(v), (
        "mean_n", "mean_n_se", "var_n", "var_n_se", "var12_n", "p_n_zero", "ks_stat", "ks_resolution", "ks_pvalue",
        "chi2_stat", "chi2_pvalue", "mean_fd", "mean_fd_se", "p_fd_zero", "exact_mean_n", "exact_var_n", "exact_mean_fd",
        "exact_p_fd_zero", "sqnr_db", "sqnr_uniform_db", "share_holds", "smallest_k_holds")),
    "a list of numbers or null": (lambda v: v is None or _is_number_list(v), ("fourier_abs", "hist_n", "exact_fourier_abs")),
    "a list of integers or null": (lambda v: v is None or isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v), ("shape",)),
    "true, false or null": (lambda v: v is None or isinstance(v, bool), ("degenerate", "claim_holds")),
}
_FIELD_CHECKS: Final = {field: (what, test) for what, (test, fields) in VALUE_TYPES.items() for field in fields}


def check_value_types(records: Sequence[Any], source: str) -> None:
    """Every record an object, and each field of :data:`VALUE_TYPES` it has of its type (a bool is no number).

    Raises
    ------
    StecheckError
        Naming the first record and field that are wrong.
    """
    for index, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise StecheckError(f"{source}: record {index} is not an object")
        for field, value in rec.items():
            check = _FIELD_CHECKS.get(field)
            if check is not None and not check[1](value):
                shown = json.dumps(value)[:40]
                raise StecheckError(f"{source}: record {index} has {field} = {shown}, which is not {check[0]}")


def iter_records(runs: Iterable[Path]) -> Iterable[Record]:
    """All records of several results directories, in order."""
    for run in runs:
        yield from read_run(run)[1]
