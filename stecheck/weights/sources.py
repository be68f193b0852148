"""A SOURCE string -> the tensors it names: a file, a sharded checkpoint, a directory, ``hf:...`` or ``zoo:...``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Final

import importlib

from stecheck.errors import StecheckError
from stecheck.safe_io import load_json, read_text, require_regular, safe_name
from stecheck.weights.formats.safetensors import safetensors_tensors
from stecheck.weights.roles import name_roles
from stecheck.weights.tensors import TensorRef

__all__ = ["LOADERS", "Source", "open_source", "open_path"]


class _Loader:
    """``function(path)`` of a format module, imported on first use: opening a safetensors file (what a
    cluster worker does) loads neither onnx nor protobuf."""

    def __init__(self, module: str, function: str) -> None:
        self.module, self.function = module, function

    def __call__(self, path: Path) -> list[TensorRef]:
        return getattr(importlib.import_module(f"stecheck.weights.formats.{self.module}"), self.function)(path)

    def __repr__(self) -> str:
        return f"stecheck.weights.formats.{self.module}.{self.function}"


LOADERS: Final[dict[str, Callable[[Path], list[TensorRef]]]] = {
    ".safetensors": safetensors_tensors,
    ".onnx": _Loader("onnx", "onnx_tensors"),
    ".npz": _Loader("numpy", "npz_tensors"),
    ".npy": _Loader("numpy", "npy_tensors"),
    ".pt": _Loader("torch", "torch_tensors"),
    ".pth": _Loader("torch", "torch_tensors"),
    ".bin": _Loader("torch", "torch_tensors"),
    ".gguf": _Loader("gguf", "gguf_tensors"),
    ".h5": _Loader("keras", "keras_tensors"),
    ".hdf5": _Loader("keras", "keras_tensors"),
    ".keras": _Loader("keras", "keras_tensors"),
    ".tflite": _Loader("tflite", "tflite_tensors"),
}
_INDEX_SUFFIX: Final = ".safetensors.index.json"


@dataclass
class Source:
    """What was opened: a label, the format, the tensors, and facts for the provenance record."""

    label: str
    format: str
    tensors: list[TensorRef]
    info: dict[str, Any] = field(default_factory=dict)


def _sharded(index: Path) -> list[TensorRef]:
    """Tensors of ``model.safetensors.index.json``: ``{"weight_map": {tensor: shard file}}``.

    The index is a regular file of at most :data:`stecheck.safe_io.MAX_TEXT_BYTES`, nested at most
    :data:`stecheck.safe_io.MAX_JSON_DEPTH` levels; shards are plain file names inside its directory.
    """
    data = load_json(read_text(index, "safetensors index"), f"safetensors index {str(index)!r}")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise StecheckError(f"{str(index)!r} is not a safetensors index (a JSON object with a 'weight_map' of tensor names to shard files)")
    shards = list(dict.fromkeys(weight_map.values()))
    base = index.parent.resolve()
    out: list[TensorRef] = []
    for shard in shards:
        if "\x00" in shard or safe_name(shard) != shard:
            raise StecheckError(f"{str(index)!r} names a shard {shard[:80]!r} that is not a valid file name (a NUL or a lone surrogate)")
        path = (index.parent / shard).resolve()
        if base not in path.parents or not path.exists():
            raise StecheckError(f"{str(index)!r} names a missing shard {shard!r}")
        require_regular(path, "shard")
        tensors = {t.name: t for t in safetensors_tensors(path)}
        for name, where in weight_map.items():
            if where == shard:
                if name not in tensors:
                    raise StecheckError(f"{str(index)!r}: tensor {name!r} is not in shard {shard!r}")
                out.append(tensors[name])
    return out


def _inside(directory: Path, entry: Path) -> Path:
    """``entry`` of a directory source, refused when it is a link that leads outside the directory."""
    if directory.resolve() not in entry.resolve().parents:
        raise StecheckError(f"{str(entry)!r} links outside the directory {str(directory)!r}: refusing to follow it")
    return entry


def _directory(path: Path) -> tuple[str, list[TensorRef]]:
    indexes = sorted(path.glob(f"*{_INDEX_SUFFIX}"))
    if indexes:
        return "sharded safetensors", _sharded(_inside(path, indexes[0]))
    files = sorted(_inside(path, p) for p in path.iterdir() if p.suffix in LOADERS and not p.is_dir())
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    files = safetensors or files  # a checkpoint directory often holds one model in several formats
    if not files:
        raise StecheckError(f"directory {str(path)!r} holds no weight file ({', '.join(LOADERS)})")
    out = []
    for file in files:
        require_regular(file, "weights file")
        for tensor in LOADERS[file.suffix](file):
            if len(files) > 1:
                tensor.name = f"{file.name}:{tensor.name}"
            out.append(tensor)
    return "directory", out


def assign_name_roles(tensors: list[TensorRef]) -> None:
    """Give every tensor without a role (all but ONNX, GGUF and Keras ones) its role from the naming conventions."""
    todo = [t for t in tensors if t.role is None]
    for tensor, role in zip(todo, name_roles([(t.name, t.shape, t.floating) for t in todo])):
        tensor.role = role


def open_path(path: Path) -> Source:
    """Open a local file or directory."""
    path = Path(path)
    if path.is_dir():
        kind, tensors = _directory(path)
    elif not path.exists():
        raise StecheckError(f"{str(path)!r} does not exist")
    elif path.name.endswith(_INDEX_SUFFIX):
        kind, tensors = "sharded safetensors", _sharded(path)
    elif path.suffix.lower() in LOADERS:
        require_regular(path, "weights file")  # a FIFO would block the loader, /dev/zero never end
        kind, tensors = path.suffix.lower().lstrip("."), LOADERS[path.suffix.lower()](path)
    else:
        raise StecheckError(f"{str(path)!r}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(LOADERS)}, a directory, hf:ORG/NAME or zoo:NAME")
    if not tensors:
        raise StecheckError(f"{str(path)!r} contains no tensors")
    where = str(path.absolute())
    for index, tensor in enumerate(tensors):  # names from files may hold lone surrogates: escaped once, here
        tensor.name = safe_name(tensor.name)
        tensor.origin = (where, index)
    assign_name_roles(tensors)
    return Source(safe_name(str(path)), kind, tensors, {"path": safe_name(str(path))})


def open_source(spec: str, progress: bool = False) -> Source:
    """Open ``zoo:NAME``, ``hf:ORG/NAME[@REVISION]``, a URL (``PROTOCOL://...``, :mod:`stecheck.weights.urls`) or a
    local path (``progress``: a zoo download's bar on stderr)."""
    from stecheck.weights.urls import is_url

    if is_url(spec):
        from stecheck.weights.urls import open_url

        return open_url(spec)
    if spec.startswith("zoo:"):
        from stecheck.weights.zoo import fetch

        entry, path = fetch(spec[4:], progress)
        source = open_path(path)
        return Source(spec, source.format, source.tensors, {**entry.describe(), "path": str(path)})
    if spec.startswith("hf:"):
        from stecheck.weights.hub import snapshot

        path, info = snapshot(spec[3:])
        source = open_path(path)
        return Source(spec, source.format, source.tensors, {**info, "path": str(path)})
    return open_path(Path(spec))
