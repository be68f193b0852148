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
        # open_memmap closes its handle on failure (np.load does not) and refuses object arrays
        array = np.lib.format.open_memmap(path, mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise _fail(path, exc) from None
    return [TensorRef(path.stem, tuple(array.shape), array.dtype, array_reader(array))]


def npz_tensors(path: Path) -> list[TensorRef]:
    """The arrays of a ``.npz`` archive (each member is read whole: zip members cannot be memory-mapped)."""
    path = Path(path)
    try:
        with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            out = []
            for member in archive.namelist():
                with archive.open(member) as entry:
                    array = np.lib.format.read_array(entry, allow_pickle=False)  # object arrays raise here
                name = member[:-4] if member.endswith(".npy") else member
                out.append(TensorRef(name, tuple(array.shape), array.dtype, array_reader(array)))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, exc) from None
    return out
