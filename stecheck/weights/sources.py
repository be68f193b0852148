"""A SOURCE string -> the tensors it names: a file, a sharded checkpoint, a directory, ``hf:...`` or ``zoo:...``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Final

from stecheck.errors import StecheckError
from stecheck.weights.numpy_format import npy_tensors, npz_tensors
from stecheck.weights.onnx_format import onnx_tensors
from stecheck.weights.safetensors_format import safetensors_tensors
from stecheck.weights.tensors import TensorRef
from stecheck.weights.torch_format import torch_tensors

__all__ = ["LOADERS", "Source", "open_source", "open_path"]

LOADERS: Final[dict[str, Callable[[Path], list[TensorRef]]]] = {
    ".safetensors": safetensors_tensors,
    ".onnx": onnx_tensors,
    ".npz": npz_tensors,
    ".npy": npy_tensors,
    ".pt": torch_tensors,
    ".pth": torch_tensors,
    ".bin": torch_tensors,
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
    """Tensors of ``model.safetensors.index.json``: ``{"weight_map": {tensor: shard file}}``."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = list(dict.fromkeys(weight_map.values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise StecheckError(f"{str(index)!r} is not a safetensors index (a JSON object with a 'weight_map')") from None
    out: list[TensorRef] = []
    for shard in shards:
        path = (index.parent / str(shard)).resolve()
        if index.parent.resolve() not in path.parents or not path.is_file():
            raise StecheckError(f"{str(index)!r} names a missing shard {shard!r}")
        tensors = {t.name: t for t in safetensors_tensors(path)}
        for name, where in weight_map.items():
            if where == shard:
                if name not in tensors:
                    raise StecheckError(f"{str(index)!r}: tensor {name!r} is not in shard {shard!r}")
                out.append(tensors[name])
    return out


def _directory(path: Path) -> tuple[str, list[TensorRef]]:
    indexes = sorted(path.glob(f"*{_INDEX_SUFFIX}"))
    if indexes:
        return "sharded safetensors", _sharded(indexes[0])
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in LOADERS)
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    files = safetensors or files  # a checkpoint directory often holds one model in several formats
    if not files:
        raise StecheckError(f"directory {str(path)!r} holds no weight file ({', '.join(LOADERS)})")
    out = []
    for file in files:
        for tensor in LOADERS[file.suffix](file):
            if len(files) > 1:
                tensor.name = f"{file.name}:{tensor.name}"
            out.append(tensor)
    return "directory", out


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
        kind, tensors = path.suffix.lower().lstrip("."), LOADERS[path.suffix.lower()](path)
    else:
        raise StecheckError(f"{str(path)!r}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(LOADERS)}, a directory, hf:ORG/NAME or zoo:NAME")
    if not tensors:
        raise StecheckError(f"{str(path)!r} contains no tensors")
    return Source(str(path), kind, tensors, {"path": str(path)})


def open_source(spec: str, progress: bool = False) -> Source:
    """Open ``zoo:NAME``, ``hf:ORG/NAME[@REVISION]`` or a local path (``progress``: a zoo download's bar on stderr)."""
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
