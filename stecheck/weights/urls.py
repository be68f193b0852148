"""Weight files at a URL (fsspec: ``s3://``, ``gs://``, ``https://``, ``file://``, ``memory://``, ...), read by byte range.

A SOURCE with a scheme (``PROTOCOL://...``) is opened through fsspec (https://filesystem-spec.readthedocs.io),
the PyData ecosystem's file-system layer, with the backend of its protocol (``s3fs`` for ``s3://``, ``gcsfs``
for ``gs://``, ``aiohttp`` for ``https://``; ``file://`` and ``memory://`` are built in). fsspec comes with the
``dask`` extra (``pip install 'stecheck[dask]'``) and is imported only for such a source.

Safetensors only: a ``.safetensors`` file, a sharded checkpoint's ``model.safetensors.index.json`` (shards
next to it), or a directory holding either. The header is read by two range requests, each tensor chunk
by chunk by one range request per chunk (:data:`stecheck.weights.tensors.CHUNK_ELEMENTS` elements), so
memory stays as for a local file and a cluster worker reads only its own tensors' bytes. A tensor's
``origin`` is the URL it was opened from and its index there, which a cluster worker opens again.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Callable, Final
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from stecheck.errors import ConfigError, StecheckError
from stecheck.safe_io import MAX_TEXT_BYTES, load_json, safe_name
from stecheck.weights.formats.safetensors import header_tensors, parse_header
from stecheck.weights.tensors import TensorRef

__all__ = ["is_url", "open_url", "url_stamp"]

_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INDEX_SUFFIX: Final = ".safetensors.index.json"
#: Most shard files a remote index may name (a 405B checkpoint has about 190).
MAX_SHARDS: Final = 100_000


def is_url(spec: str) -> bool:
    """True for ``PROTOCOL://...`` (fsspec's URL form); ``hf:`` and ``zoo:`` have no ``//``."""
    return bool(_SCHEME.match(spec))


def _public(url: str) -> str:
    """``url`` without a user name, password, query or fragment (credentials never reach a record)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return safe_name(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def _filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec file system, path in it)`` of ``url``, or a :class:`StecheckError` naming the missing piece."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ConfigError(f"a URL source ({_public(url)[:80]}) needs fsspec: pip install 'stecheck[dask]' (or pip install fsspec)") from None
    try:
        return url_to_fs(url)
    except ImportError as exc:  # a known protocol whose backend is not installed ("Install s3fs to access S3")
        raise ConfigError(f"cannot open {_public(url)!r}: {' '.join(str(exc).split())[:200]}") from None
    except ValueError as exc:  # "Protocol not known: foo"
        raise ConfigError(f"cannot open {_public(url)!r}: {' '.join(str(exc).split())[:200]}") from None


def _failure(url: str, exc: BaseException, what: str = "read") -> StecheckError:
    if isinstance(exc, FileNotFoundError):
        return StecheckError(f"{_public(url)!r} does not exist")
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return StecheckError(f"cannot {what} {_public(url)!r}: {reason[:200]}")


def _call(url: str, fn: Callable[[], Any], what: str = "read") -> Any:
    """``fn()``, any error of the storage backend (connection refused, access denied, no such key, time-outs:
    each backend raises its own types) turned into one :class:`StecheckError` line naming ``url``."""
    try:
        return fn()
    except StecheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - the backends' error types differ (OSError, aiohttp's, botocore's)
        raise _failure(url, exc, what) from None


def url_stamp(url: str) -> tuple[Any, ...]:
    """What identifies the current contents at ``url``: its size and modification time or entity tag."""
    fs, path = _filesystem(url)
    info = _call(url, lambda: fs.info(path), "open")
    mark = next((info[key] for key in ("mtime", "LastModified", "last_modified", "ETag", "etag", "created", "updated") if info.get(key)), None)
    return (info.get("size"), str(mark))


def _ranged_reader(fs: Any, path: str, url: str, offset: int, dtype: np.dtype) -> Callable[[int, int], np.ndarray]:
    """``read(first, count)``: ``count`` elements from element ``first`` of the tensor at byte ``offset``, one range request."""

    def read(first: int, count: int) -> np.ndarray:
        start = offset + first * dtype.itemsize
        nbytes = count * dtype.itemsize
        data = _call(url, lambda: fs.cat_file(path, start, start + nbytes))
        if len(data) != nbytes:
            raise StecheckError(f"{_public(url)!r} is not a valid safetensors file: truncated while reading")
        return np.frombuffer(data, dtype=dtype)

    return read


def _safetensors(fs: Any, path: str, url: str, size: int) -> list[TensorRef]:
    label = _public(url)
    header, start = parse_header(label, size, lambda offset, nbytes: _call(url, lambda: fs.cat_file(path, offset, offset + nbytes)))
    return header_tensors(label, header, start, size, lambda offset, dtype: _ranged_reader(fs, path, url, offset, dtype))


def _sharded(fs: Any, path: str, url: str, size: int) -> list[TensorRef]:
    """Tensors of a remote ``model.safetensors.index.json``; shards are file names beside it."""
    label = _public(url)
    if size > MAX_TEXT_BYTES:
        raise StecheckError(f"safetensors index {label!r} is {size:,} bytes, above the limit of {MAX_TEXT_BYTES:,}")
    raw = _call(url, lambda: fs.cat_file(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StecheckError(f"{label!r} is not a safetensors index (not UTF-8 text)") from None
    data = load_json(text, f"safetensors index {label!r}")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise StecheckError(f"{label!r} is not a safetensors index (a JSON object with a 'weight_map' of tensor names to shard files)")
    shards = list(dict.fromkeys(weight_map.values()))
    if len(shards) > MAX_SHARDS:
        raise StecheckError(f"{label!r} names {len(shards):,} shard files, above the limit of {MAX_SHARDS:,}")
    base = posixpath.dirname(path)
    out: list[TensorRef] = []
    for shard in shards:
        if not shard or "\x00" in shard or safe_name(shard) != shard or shard.startswith("/") or ".." in shard.split("/"):
            raise StecheckError(f"{label!r} names a shard {shard[:80]!r} that is not a file name beside the index")
        shard_path = posixpath.join(base, shard)
        shard_url = fs.unstrip_protocol(shard_path)
        info = _call(shard_url, lambda: fs.info(shard_path), "open")
        if info.get("type") != "file":
            raise StecheckError(f"{label!r} names a shard {shard!r} that is not a file")
        tensors = {t.name: t for t in _safetensors(fs, shard_path, shard_url, int(info["size"]))}
        for name, where in weight_map.items():
            if where == shard:
                if name not in tensors:
                    raise StecheckError(f"{label!r}: tensor {name!r} is not in shard {shard!r}")
                out.append(tensors[name])
    return out


def _kind_and_tensors(fs: Any, path: str, url: str) -> tuple[str, list[TensorRef]]:
    info = _call(url, lambda: fs.info(path), "open")
    if info.get("type") == "directory":
        entries = sorted(_call(url, lambda: fs.ls(path, detail=True), "list"), key=lambda e: e["name"])
        files = [e for e in entries if e.get("type") == "file"]
        indexes = [e for e in files if e["name"].endswith(_INDEX_SUFFIX)]
        if indexes:
            entry = indexes[0]
            return "sharded safetensors", _sharded(fs, entry["name"], fs.unstrip_protocol(entry["name"]), int(entry["size"]))
        shards = [e for e in files if e["name"].endswith(".safetensors")]
        if not shards:
            raise StecheckError(f"{_public(url)!r} holds no .safetensors file or {_INDEX_SUFFIX} (URL sources are safetensors only)")
        out = []
        for entry in shards:
            for tensor in _safetensors(fs, entry["name"], fs.unstrip_protocol(entry["name"]), int(entry["size"])):
                if len(shards) > 1:
                    tensor.name = f"{posixpath.basename(entry['name'])}:{tensor.name}"
                out.append(tensor)
        return "directory", out
    if path.endswith(_INDEX_SUFFIX):
        return "sharded safetensors", _sharded(fs, path, url, int(info["size"]))
    if path.endswith(".safetensors"):
        return "safetensors", _safetensors(fs, path, url, int(info["size"]))
    raise StecheckError(f"{_public(url)!r}: a URL source is read by byte range, which stecheck does for safetensors only "
                        f"(a .safetensors file, a {_INDEX_SUFFIX} or a directory of them); copy other formats to a local file")


def open_url(url: str) -> Any:
    """Open the safetensors file, sharded index or directory at ``url`` (a :class:`stecheck.weights.sources.Source`).

    Every tensor's ``origin`` is ``(url, index)``; the label and the provenance hold the URL without
    credentials.
    """
    from stecheck.weights.sources import Source, assign_name_roles

    fs, path = _filesystem(url)
    kind, tensors = _kind_and_tensors(fs, path, url)
    if not tensors:
        raise StecheckError(f"{_public(url)!r} contains no tensors")
    for index, tensor in enumerate(tensors):
        tensor.name = safe_name(tensor.name)
        tensor.origin = (url, index)
    assign_name_roles(tensors)
    return Source(_public(url), kind, tensors, {"url": _public(url), "protocol": urlsplit(url).scheme})
