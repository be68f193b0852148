"""NumPy ``.npy`` (memory-mapped) and ``.npz`` archives, never unpickling (``allow_pickle=False``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from stecheck.errors import StecheckError
from stecheck.weights.tensors import TensorRef, array_reader

__all__ = ["npy_tensors", "npz_tensors"]


def _fail(path: Path, exc: Exception) -> StecheckError:
    if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
        return StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}")
    return StecheckError(f"{str(path)!r} is not a valid NumPy file: {exc}")


def npy_tensors(path: Path) -> list[TensorRef]:
    """The array of a ``.npy`` file, memory-mapped; named after the file."""
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(path, exc) from None
    return [TensorRef(path.stem, tuple(array.shape), array.dtype, array_reader(array))]


def npz_tensors(path: Path) -> list[TensorRef]:
    """The arrays of a ``.npz`` archive, each read (whole) when first scanned."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        out = []
        for name in archive.files:
            array = archive[name]  # object arrays raise here: allow_pickle is off
            out.append(TensorRef(name, tuple(array.shape), array.dtype, array_reader(array)))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, exc) from None
    return out
