"""NumPy ``.npy`` (memory-mapped) and ``.npz`` archives, never unpickling (``allow_pickle=False``)."""

from __future__ import annotations

import math
import tokenize
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
    except (OSError, ValueError, EOFError, tokenize.TokenError) as exc:  # TokenError: a mangled header dict
        raise _fail(path, exc) from None
    return [TensorRef(path.stem, tuple(array.shape), array.dtype, array_reader(array))]


def npz_tensors(path: Path) -> list[TensorRef]:
    """The arrays of a ``.npz`` archive (each member is read whole: zip members cannot be memory-mapped)."""
    path = Path(path)
    try:
        with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            out = []
            for info in archive.infolist():
                member = info.filename
                _check_member(info, archive)
                with archive.open(member) as entry:
                    array = np.lib.format.read_array(entry, allow_pickle=False)  # object arrays raise here
                name = member[:-4] if member.endswith(".npy") else member
                out.append(TensorRef(name, tuple(array.shape), array.dtype, array_reader(array)))
    except (OSError, ValueError, EOFError, tokenize.TokenError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        # zipfile raises RuntimeError (encrypted members) and NotImplementedError (unknown methods/versions)
        raise _fail(path, exc) from None
    return out


#: Largest .npz member read into memory (members cannot be memory-mapped; extract bigger ones to .npy).
MAX_MEMBER_BYTES = 1 << 31


def _check_member(info: zipfile.ZipInfo, archive: zipfile.ZipFile) -> None:
    """Refuse a member before reading it whole: too large, or a header promising more data than it holds."""
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"member {info.filename!r} holds {info.file_size} bytes, over the {MAX_MEMBER_BYTES} read into memory; save it as .npy")
    with archive.open(info) as entry:
        version = np.lib.format.read_magic(entry)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = reader(entry)
        header_bytes = entry.tell()
    if dtype.hasobject:
        raise ValueError(f"member {info.filename!r} is an object array (reading it would unpickle code)")
    need = math.prod(shape) * dtype.itemsize
    if need != info.file_size - header_bytes:
        raise ValueError(f"member {info.filename!r} declares shape {list(shape)} ({need} bytes) but holds {info.file_size - header_bytes}")
