"""Weight files at a URL (fsspec): records equal to the same files read by local path, read by byte range.

fsspec's ``memory://`` file system stands in for remote storage (s3://, gs://, https:// go through the
same calls: ``info``, ``ls`` and ranged ``cat_file``), ``file://`` for a shared file system.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

fsspec = pytest.importorskip("fsspec")

from stecheck.weights import open_source, scan, select  # noqa: E402
from stecheck.weights.tensors import CHUNK_ELEMENTS  # noqa: E402
from stecheck.weights.urls import _public, is_url  # noqa: E402
from tests.conftest import SEED, invoke  # noqa: E402
from tests.weights_fixtures import weights_like, write_safetensors, write_sharded  # noqa: E402


def write_checkpoint(directory: Path) -> Path:
    """A sharded checkpoint of 3 files: float32 tensors (one larger than a chunk) and bfloat16 ones."""
    rng = np.random.default_rng(SEED)
    tensors = {
        f"model.layers.{i}.{part}.weight": weights_like(rng, shape, scale).astype(dtype)
        for i in range(3)
        for part, shape, scale, dtype in (("mlp.up_proj", (96, 64), 0.05, np.float32),
                                          ("self_attn.q_proj", (64, 64), 0.02, ml_dtypes.bfloat16))
    }
    tensors["model.layers.3.mlp.down_proj.weight"] = weights_like(rng, (600, 512), 0.03)  # 307,200 values: two chunks
    tensors["model.norm.weight"] = (1.0 + weights_like(rng, (64,), 0.01)).astype(np.float32)
    write_sharded(directory, tensors, shards=3)
    return directory


def to_memory(directory: Path) -> str:
    """Copy ``directory``'s files into fsspec's in-memory file system; returns its ``memory://`` URL."""
    fs = fsspec.filesystem("memory")
    root = f"/stecheck-{uuid.uuid4().hex}"
    for path in sorted(directory.iterdir()):
        fs.pipe_file(f"{root}/{path.name}", path.read_bytes())
    return f"memory://{root}"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("url") / "ckpt")


@pytest.fixture(scope="module")
def memory_url(checkpoint: Path):
    url = to_memory(checkpoint)
    yield url
    fsspec.filesystem("memory").rm(url[len("memory://"):], recursive=True)


_ARGS = ("-k", "1-4", "--h", "1e-3", "--h", "1e-2", "--all", "-Q", "dorefa", "-Q", "absmax(4,group=16)", "--no-save", "--format", "json")


def _records(runner, source: str, *extra: str) -> list[dict]:
    result = invoke(runner, "weights", source, *_ARGS, *extra)
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    assert all(r["source"] == _public(source) for r in records)
    return [{k: v for k, v in r.items() if k != "source"} for r in records]


def test_a_memory_url_gives_the_records_of_the_local_path(runner, checkpoint: Path, memory_url: str) -> None:
    local = _records(runner, str(checkpoint))
    assert _records(runner, f"{memory_url}/model.safetensors.index.json") == local
    assert _records(runner, memory_url) == local  # the directory: its index is found
    assert _records(runner, memory_url, "-j", "2") == local
    assert len({r["tensor"] for r in local if r["kind"] == "tensor"}) == 8


def test_a_file_url_gives_the_records_of_the_local_path(runner, checkpoint: Path) -> None:
    assert _records(runner, checkpoint.as_uri()) == _records(runner, str(checkpoint))


def test_tensors_are_read_by_byte_ranges_of_at_most_one_chunk(memory_url: str, monkeypatch) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    reads: list[tuple[str, int | None, int | None]] = []
    cat_file = MemoryFileSystem.cat_file

    def recording(self, path, start=None, end=None, **kwargs):
        reads.append((path, start, end))
        return cat_file(self, path, start, end, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "cat_file", recording)
    source = open_source(memory_url)
    tensors = select(source.tensors, all_tensors=True)
    scan(source.label, tensors, (2, 3), (1e-3,))
    whole = [path for path, start, end in reads if start is None]
    assert whole == [f"{memory_url[len('memory://'):]}/model.safetensors.index.json"]  # only the index is read whole
    ranged = [(start, end) for _, start, end in reads if start is not None]
    assert max(end - start for start, end in ranged) <= CHUNK_ELEMENTS * 4
    read_bytes = sum(end - start for start, end in ranged)
    data = sum(t.size * t.dtype.itemsize for t in tensors)
    assert data <= read_bytes < 4 * data  # each tensor read a few times (extent, sums, KS), never a shard whole


def test_an_origin_is_the_url_and_the_index(memory_url: str) -> None:
    source = open_source(memory_url)
    assert source.format == "sharded safetensors" and source.info["protocol"] == "memory"
    assert [t.origin for t in source.tensors] == [(memory_url, i) for i in range(len(source.tensors))]


def test_credentials_never_reach_a_label() -> None:
    assert _public("s3://key:secret@bucket/model/x.safetensors?token=abc#f") == "s3://bucket/model/x.safetensors"
    assert is_url("s3://b/x") and is_url("memory://x") and not is_url("hf:org/name") and not is_url("zoo:x") and not is_url("/a/b")


def _fails(runner, tmp_path: Path, source: str, why: str) -> None:
    out = tmp_path / "out"
    result = invoke(runner, "weights", source, "-k", "2", "--out", str(out))
    assert result.exit_code == 2, result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and why in result.stderr, result.stderr
    assert not out.exists()


def test_bad_urls_are_one_line_and_exit_2(runner, tmp_path: Path, memory_url: str) -> None:
    _fails(runner, tmp_path, f"{memory_url}/absent.safetensors", "does not exist")
    _fails(runner, tmp_path, "nosuchprotocol://bucket/model.safetensors", "Protocol not known")
    fs = fsspec.filesystem("memory")
    root = memory_url[len("memory://"):]
    fs.pipe_file(f"{root}-other/model.onnx", b"\x08\x07")
    _fails(runner, tmp_path, f"{memory_url}-other/model.onnx", "safetensors only")
    rng = np.random.default_rng(SEED)
    write_safetensors(tmp_path / "t.safetensors", {"w.weight": weights_like(rng, (64, 64))})
    fs.pipe_file(f"{root}-other/cut.safetensors", (tmp_path / "t.safetensors").read_bytes()[:-100])
    _fails(runner, tmp_path, f"{memory_url}-other/cut.safetensors", "truncated")
    fs.rm(f"{root}-other", recursive=True)


def test_a_protocol_without_its_backend_names_the_package(runner, tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed")
    _fails(runner, tmp_path, "s3://bucket/model.safetensors", "s3fs")


def test_an_http_url_that_cannot_be_read_is_one_line_and_exit_2(runner, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _fails(runner, tmp_path, f"http://127.0.0.1:{port}/model.safetensors", "cannot open")  # no server, or no aiohttp
