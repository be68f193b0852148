"""NumPy ``.npy`` (memory-mapped) and ``.npz`` archives, never unpickling (``allow_pickle=False``)."""

from __future__ import annotations

import io

import math
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from stecheck.errors import StecheckError
from stecheck.safe_io import require_regular
from stecheck.weights.tensors import TensorRef, array_reader, check_shape

__all__ = ["npy_tensors", "npz_tensors"]


def _fail(path: Path, exc: Exception) -> StecheckError:
    if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
        return StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}")
    return StecheckError(f"{str(path)!r} is not a valid NumPy file: {exc}")


def npy_tensors(path: Path) -> list[TensorRef]:
    """The array of a ``.npy`` file, memory-mapped; named after the file."""
    path = Path(path)
    require_regular(path, "NumPy file")
    try:
        with path.open("rb") as handle:  # the header alone: a shape numpy cannot hold is refused first
            version = np.lib.format.read_magic(handle)
            check_shape(_header_reader(version)(handle, max_header_size=_MAX_HEADER)[0])
        # open_memmap closes its handle on failure (np.load does not) and refuses object arrays
        array = np.lib.format.open_memmap(path, mode="r")
    except (OSError, ValueError, EOFError, tokenize.TokenError, OverflowError) as exc:  # TokenError: a mangled header dict
        raise _fail(path, exc) from None
    return [TensorRef(path.stem, tuple(array.shape), array.dtype, array_reader(array))]


def npz_tensors(path: Path) -> list[TensorRef]:
    """The arrays of a ``.npz`` archive, each streamed from its zip member (never read whole).

    Zip members cannot be memory-mapped: a member is decompressed anew, block by block, on each pass
    over it, so memory stays at one chunk. The archive may declare at most :data:`MAX_NPZ_BYTES`
    decompressed in all (a zip bomb inflates a few megabytes into gigabytes), and no member name twice.
    """
    path = Path(path)
    require_regular(path, "NumPy archive")
    try:
        with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
            _check_archive(infos)
            out = []
            for info in infos:
                shape, dtype, header_bytes = _check_member(info, archive)
                member = info.filename
                name = member[:-4] if member.endswith(".npy") else member
                out.append(TensorRef(name, shape, dtype, _member_reader(path, info, header_bytes, dtype)))
    except (OSError, ValueError, EOFError, tokenize.TokenError, zipfile.BadZipFile, RuntimeError, NotImplementedError, OverflowError) as exc:
        # zipfile raises RuntimeError (encrypted members) and NotImplementedError (unknown methods/versions)
        raise _fail(path, exc) from None
    return out


#: Largest .npy header parsed (numpy's own default limit).
_MAX_HEADER = 10_000
#: Most bytes an .npz archive may declare decompressed, all members together (4 GiB): every pass
#: decompresses them again; bigger arrays belong in .npy or safetensors files, which are read in place.
MAX_NPZ_BYTES = 1 << 32
#: Decompressed bytes read per step while skipping to a position inside a member.
_SKIP_BLOCK = 1 << 20


def _header_reader(version: tuple[int, int]):
    """A header parser for format ``version`` that checks the declared header length before reading it.

    numpy's own parsers read the whole declared header before comparing it with ``max_header_size``, so a
    mangled length field (a 4-byte length of ~660 MB after a flipped version byte) would be allocated
    first. The length is checked here, then numpy parses the bounded bytes (3.0 headers as 2.0 ones, UTF-8
    aside). Unknown versions are refused.
    """
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    width = 2 if version == (1, 0) else 4
    parse = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0

    def read(handle, max_header_size: int = _MAX_HEADER):
        raw = handle.read(width)
        if len(raw) < width:
            raise EOFError("the .npy header length is cut off")
        length = int.from_bytes(raw, "little")
        if length > max_header_size:
            raise ValueError(f"the .npy header declares {length} bytes, more than the limit of {max_header_size}")
        return parse(io.BytesIO(raw + handle.read(length)), max_header_size=max_header_size)

    return read


def _check_archive(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse duplicate member names and a declared decompressed total over :data:`MAX_NPZ_BYTES`."""
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise ValueError(f"the archive holds two members named {info.filename!r} (which one is the array?)")
        seen.add(info.filename)
    total = sum(info.file_size for info in infos)
    if total > MAX_NPZ_BYTES:
        raise ValueError(
            f"its members declare {total} bytes decompressed, over the {MAX_NPZ_BYTES} allowed for an archive "
            "(a guard against zip bombs); save the arrays as .npy or safetensors"
        )


def _check_member(info: zipfile.ZipInfo, archive: zipfile.ZipFile) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, header length)`` of a member, refused when its data does not match its header."""
    with archive.open(info) as entry:
        version = np.lib.format.read_magic(entry)
        shape, _fortran, dtype = _header_reader(version)(entry, max_header_size=_MAX_HEADER)
        header_bytes = entry.tell()
    shape = check_shape(shape)
    if dtype.hasobject:
        raise ValueError(f"member {info.filename!r} is an object array (reading it would unpickle code)")
    need = math.prod(shape) * dtype.itemsize
    if need != info.file_size - header_bytes:
        raise ValueError(f"member {info.filename!r} declares shape {list(shape)} ({need} bytes) but holds {info.file_size - header_bytes}")
    return shape, dtype, header_bytes


def _member_reader(path: Path, info: zipfile.ZipInfo, header_bytes: int, dtype: np.dtype):
    """``read(start, count)`` streaming one member: sequential reads continue, any other reopens it.

    The elements come in the member's storage order (C or Fortran): the statistics are of the population.
    """
    state: dict = {"position": None, "archive": None, "entry": None}

    def close() -> None:
        for key in ("entry", "archive"):
            if state[key] is not None:
                state[key].close()
                state[key] = None
        state["position"] = None

    def read_exactly(nbytes: int) -> bytes:
        parts, left = [], nbytes
        while left:
            block = state["entry"].read(min(left, _SKIP_BLOCK) if nbytes > _SKIP_BLOCK else left)
            if not block:
                break
            parts.append(block)
            left -= len(block)
        return b"".join(parts)

    def read(first: int, count: int) -> np.ndarray:
        try:
            if state["position"] != first:
                close()
                state["archive"] = zipfile.ZipFile(path)
                state["entry"] = state["archive"].open(info)
                skip = header_bytes + first * dtype.itemsize
                while skip:
                    got = len(state["entry"].read(min(skip, _SKIP_BLOCK)))
                    if not got:
                        break
                    skip -= got
            data = read_exactly(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise ValueError("member ended early")
            state["position"] = first + count
            if state["position"] * dtype.itemsize + header_bytes >= info.file_size:
                close()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
            close()
            raise StecheckError(f"{str(path)!r}: member {info.filename!r} cannot be read: {exc}") from None
        return np.frombuffer(data, dtype=dtype)

    return read
