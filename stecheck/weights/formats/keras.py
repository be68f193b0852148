"""Keras models: HDF5 ``.h5``/``.hdf5`` (Keras 2 ``model.save``/``save_weights``) and ``.keras`` archives (Keras 3),
read with h5py (an optional extra: ``pip install 'stecheck[keras]'``).

Only datasets are read: the model config (which may hold marshalled Lambda code) is never deserialized, so no
code runs. Datasets are read lazily, rows at a time, so compressed datasets cannot inflate all at once. The HDF5 tree is walked through hard links only (soft and external links are skipped), and datasets
stored in external files or as virtual datasets are refused, so a file cannot make us read another file.
Keras 2 names its weights ``layer/kernel:0``, ``batch_normalization/moving_mean:0``, ...: the name rules give
their roles. Keras 3 stores ``layers/NAME/vars/I``; the variable's name is recovered from the layer class in
``config.json`` (:data:`KERAS3_VARS`), the tensor keeps its path.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any, Callable, Final, Iterator

import numpy as np

from stecheck.errors import StecheckError
from stecheck.weights.roles import name_role
from stecheck.weights.tensors import TensorRef

__all__ = ["KERAS3_VARS", "keras_tensors"]

#: Largest dataset (read lazily, a few rows at a time) and largest .keras weights member (held in memory).
MAX_BYTES: Final = 1 << 31
#: Keras 3 layer class -> names of its variables in order (``vars/0``, ``vars/1``, ...).
KERAS3_VARS: Final = {
    **{c: ("kernel", "bias") for c in ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
                                        "Conv3DTranspose", "EinsumDense", "DepthwiseConv1D", "DepthwiseConv2D")},
    "SeparableConv1D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "LayerNormalization": ("gamma", "beta"),
    "GroupNormalization": ("gamma", "beta"),
    "Embedding": ("embeddings",),
    **{c: ("kernel", "recurrent_kernel", "bias") for c in ("LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell")},
}


def _import(path: Path) -> Any:
    try:
        import h5py
    except ImportError:
        raise StecheckError(f"reading the Keras model {str(path)!r} needs h5py: pip install 'stecheck[keras]'") from None
    return h5py


def _bad(path: Path, why: str) -> StecheckError:
    return StecheckError(f"{str(path)!r} is not a valid Keras model: {why}")


def _walk(h5py: Any, group: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``(path, dataset)`` through hard links, in name order."""
    if depth > 64:
        return
    for key in sorted(group.keys()):
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        item = group[key]
        name = f"{prefix}{key}"
        if isinstance(item, h5py.Dataset):
            yield name, item
        elif isinstance(item, h5py.Group):
            yield from _walk(h5py, item, name + "/", depth + 1)


def _classes(config: Any) -> dict[str, str]:
    """Layer name -> class name, from a Keras 3 ``config.json`` (nested models included)."""
    found: dict[str, str] = {}
    todo = [config]
    while todo and len(found) < 100_000:
        node = todo.pop()
        if isinstance(node, dict):
            conf = node.get("config")
            if isinstance(node.get("class_name"), str) and isinstance(conf, dict) and isinstance(conf.get("name"), str):
                found.setdefault(conf["name"], node["class_name"])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _keras3_role(name: str, shape: tuple[int, ...], floating: bool, classes: dict[str, str]) -> str | None:
    """Role of ``layers/.../LAYER[/cell]/vars/I`` from the layer's class, else None."""
    parts = name.split("/")
    if len(parts) < 3 or parts[-2] != "vars" or not parts[-1].isdigit():
        return None
    layer = next((p for p in reversed(parts[:-2]) if p in classes and p != "cell"), None)
    names = KERAS3_VARS.get(classes.get(layer, ""), ())
    index = int(parts[-1])
    if index >= len(names):
        return None
    return name_role(f"{layer}/{names[index]}", shape, floating)


def keras_tensors(path: Path) -> list[TensorRef]:
    """The weight datasets of a Keras ``.h5``/``.hdf5`` file or ``.keras`` archive, in name order."""
    path = Path(path)
    h5py = _import(path)
    classes: dict[str, str] = {}
    try:
        if path.stat().st_size == 0:
            raise _bad(path, "the file is empty")
        if path.suffix.lower() == ".keras":
            source: Any = _keras_archive(path)
            classes = source[1]
            source = source[0]
        else:
            source = str(path)
        with h5py.File(source, "r") as handle:
            return _tensors(path, h5py, handle, classes, source)
    except StecheckError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the operating system's error (permissions, ...)
            raise StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
        raise _bad(path, str(exc)[:200]) from None  # HDF5 reports a corrupt file as OSError without errno
    except Exception as exc:  # h5py raises KeyError, ValueError, RuntimeError, ... on corrupt files
        raise _bad(path, f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _keras_archive(path: Path) -> tuple[io.BytesIO, dict[str, str]]:
    """The weights HDF5 (in memory, size-checked) and the layer classes of a ``.keras`` zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {i.filename: i for i in archive.infolist()}
            info = members.get("model.weights.h5")
            if info is None:
                raise _bad(path, "the archive has no model.weights.h5")
            if info.file_size > MAX_BYTES:
                raise _bad(path, f"model.weights.h5 holds {info.file_size} bytes, over the {MAX_BYTES} read into memory")
            classes: dict[str, str] = {}
            conf = members.get("config.json")
            if conf is not None and conf.file_size <= 100_000_000:
                try:
                    classes = _classes(json.loads(archive.read(conf).decode("utf-8")))
                except (ValueError, RecursionError):
                    raise _bad(path, "config.json is not JSON") from None
            with archive.open(info) as member:
                data = member.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise _bad(path, f"model.weights.h5 inflates past the {MAX_BYTES} bytes read into memory")
    except zipfile.BadZipFile as exc:
        raise _bad(path, f"not a .keras zip archive: {exc}") from None
    return io.BytesIO(data), classes


def _reader(path: Path, h5py: Any, source: Any, name: str, shape: tuple[int, ...]) -> Callable[[int, int], np.ndarray]:
    """``read(first, count)``: reopen the file and read only the rows of the first axis that cover the range."""

    def read(first: int, count: int) -> np.ndarray:
        try:
            return _read_rows(h5py, source, name, shape, first, count)
        except Exception as exc:  # the file changed or a chunk is corrupt (h5py: OSError, KeyError, ValueError)
            raise _bad(path, f"dataset {name!r} cannot be read: {type(exc).__name__}: {str(exc)[:200]}") from None

    return read


def _read_rows(h5py: Any, source: Any, name: str, shape: tuple[int, ...], first: int, count: int) -> np.ndarray:
    """Elements ``first .. first + count`` (C order) of dataset ``name``, reading whole rows of its first axis."""
    row = math.prod(shape[1:]) if shape else 1
    with h5py.File(source, "r") as handle:
        dataset = handle[name]
        if not shape or row == 0:
            flat, start = np.asarray(dataset[()]).reshape(-1), first
        else:
            r0, r1 = first // row, -(-(first + count) // row)
            flat, start = np.asarray(dataset[r0:r1]).reshape(-1), first - r0 * row
    return flat[start:start + count].astype(flat.dtype.newbyteorder("="), copy=False)


def _tensors(path: Path, h5py: Any, handle: Any, classes: dict[str, str], source: Any) -> list[TensorRef]:
    out = []
    for name, dataset in _walk(h5py, handle):
        if dataset.external or dataset.is_virtual:
            raise _bad(path, f"dataset {name!r} keeps its data in another file (external or virtual storage)")
        dtype = dataset.dtype
        if dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype is not None:
            continue  # strings, references, compound types: not weights
        shape = tuple(int(d) for d in dataset.shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > MAX_BYTES:
            raise _bad(path, f"dataset {name!r} of shape {list(shape)} holds {nbytes} bytes, over the {MAX_BYTES} read into memory")
        ref = TensorRef(name, shape, dtype.newbyteorder("="), _reader(path, h5py, source, name, shape))
        if name.startswith("optimizer_weights/"):
            ref.role = "other"  # optimizer state (Adam moments, iteration count) saved with the model
        else:
            ref.role = _keras3_role(name, shape, ref.floating, classes) if classes else None
        out.append(ref)
    return out
