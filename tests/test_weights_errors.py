"""User errors of `stecheck weights`: one line on stderr, exit code 2, no traceback, no files written."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stecheck.weights import zoo
from tests.conftest import SEED, invoke
from tests.weights_fixtures import weights_like, write_onnx, write_safetensors, write_sharded


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_safetensors(tmp_path / "good.safetensors", {"w": weights_like(np.random.default_rng(SEED), (40, 50))})


def test_corrupt_truncated_and_wrong_format_files(runner, tmp_path: Path, good: Path) -> None:
    data = good.read_bytes()
    cases = {
        "garbage.safetensors": (os.urandom(4096), "not a valid safetensors"),
        "truncated.safetensors": (data[: len(data) - 100], "truncated"),
        "header.safetensors": (data[:8] + b"{not json" + data[17:], "not JSON"),
        "text.onnx": (b"this is not a protobuf model \xff\xfe" * 20, "ONNX"),
        "zip.npz": (b"PK\x03\x04 broken zip", "NumPy"),
        "bad.npy": (b"\x93NUMPY garbage", "NumPy"),
        "weights.txt": (b"1 2 3", "unsupported file type"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / f"out-{name}"
        assert_one_line_error(invoke(runner, "weights", str(path), "--out", str(out), "-q"), fragment)
        assert not out.exists() or not any(out.iterdir()), name  # no partial output files


@pytest.mark.parametrize("suffix", [".safetensors", ".onnx", ".npz", ".npy", ".pt"])
def test_empty_files(runner, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    result = invoke(runner, "weights", str(path), "-q")
    if suffix == ".pt":
        try:
            import torch  # noqa: F401
        except ImportError:
            assert_one_line_error(result, "stecheck[torch]")
            return
    assert_one_line_error(result, str(path))


def test_onnx_external_data_missing_or_short(runner, tmp_path: Path) -> None:
    model = write_onnx(tmp_path / "m.onnx", {"w": weights_like(np.random.default_rng(SEED), (10, 10))}, external=True)
    data = tmp_path / "m.onnx.data"
    data.write_bytes(data.read_bytes()[:100])
    assert_one_line_error(invoke(runner, "weights", str(model), "-q"), "truncated")
    data.unlink()
    assert_one_line_error(invoke(runner, "weights", str(model), "-q"), "missing")


def test_pickled_npz_and_object_arrays_are_refused(runner, tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_one_line_error(invoke(runner, "weights", str(tmp_path / "obj.npy"), "-q"), "pickle")


def test_sharded_index_naming_a_missing_shard(runner, tmp_path: Path) -> None:
    index = write_sharded(tmp_path / "ck", {"a": np.ones((4, 4), np.float32), "b": np.ones((4, 4), np.float32)})
    (tmp_path / "ck" / "model-00002-of-00002.safetensors").unlink()
    assert_one_line_error(invoke(runner, "weights", str(index), "-q"), "missing shard")


def test_pt_without_torch_names_the_extra(runner, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert_one_line_error(invoke(runner, "weights", str(path), "-q"), "pip install 'stecheck[torch]'")


class Payload:
    """Unpickling this would run code: weights_only refuses it."""

    def __reduce__(self):
        return (print, ("side effect",))


def test_pickle_that_is_not_weights_only_is_refused(runner, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": Payload()}))
    result = invoke(runner, "weights", str(path), "-q")
    assert_one_line_error(result, "weights-only")
    assert "side effect" not in result.stdout


def test_usage_errors(runner, tmp_path: Path, good: Path) -> None:
    assert_one_line_error(invoke(runner, "weights", str(tmp_path / "missing.safetensors")), "does not exist")
    assert_one_line_error(invoke(runner, "weights"), "missing SOURCE")
    assert_one_line_error(invoke(runner, "weights", str(good), "--transform", "nope"), "unknown transform")
    assert_one_line_error(invoke(runner, "weights", str(good), "--bits", "0"), "out of range")
    assert_one_line_error(invoke(runner, "weights", str(good), "--h", "-1"), "step size")
    assert_one_line_error(invoke(runner, "weights", str(good), "--include", "nothing-matches"), "no tensor is selected")
    assert_one_line_error(invoke(runner, "weights", str(good), "--include", "("), "bad tensor pattern")
    assert_one_line_error(invoke(runner, "weights", "zoo:nope"), "no zoo model")
    assert_one_line_error(invoke(runner, "weights", "hf:not a repo"), "not a Hub model id")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert_one_line_error(invoke(runner, "weights", str(good), "--out", str(blocked / "sub")), "cannot write")


def test_error_is_one_line_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00" * 3)
    done = subprocess.run([sys.executable, "-m", "stecheck", "weights", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr


# ---------------------------------------------------------------- zoo (local wheels) and hub


def test_list_zoo(runner) -> None:
    result = invoke(runner, "weights", "--list-zoo")
    assert result.exit_code == 0
    for name in zoo.ZOO:
        assert name in result.stdout
    assert len(zoo.ZOO) >= 3


def _fake_wheel(cache: Path, member_bytes: bytes) -> zoo.ZooEntry:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "fake_pkg-1.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fake_pkg/model.safetensors", member_bytes)
    import hashlib

    return zoo.ZooEntry("fake", "fake-pkg", "1.0", "fake_pkg/model.safetensors", hashlib.sha256(member_bytes).hexdigest(),
                        len(member_bytes), "test", "a model in a local wheel")


def test_zoo_reads_the_model_out_of_the_wheel_and_checks_its_hash(runner, tmp_path: Path, good: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("STECHECK_CACHE", str(cache))
    entry = _fake_wheel(cache, good.read_bytes())
    monkeypatch.setitem(zoo.ZOO, "fake", entry)
    out = tmp_path / "out"
    result = invoke(runner, "weights", "zoo:fake", "-k", "2", "--out", str(out), "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)["meta"]
    assert meta["source_info"]["sha256"] == entry.sha256 and meta["source_info"]["package"] == "fake-pkg==1.0"
    assert (cache / "models" / "fake" / "model.safetensors").read_bytes() == good.read_bytes()
    monkeypatch.setitem(zoo.ZOO, "fake", zoo.ZooEntry(**{**entry.__dict__, "sha256": "0" * 64}))
    assert_one_line_error(invoke(runner, "weights", "zoo:fake", "--no-save", "-q"), "sha256")


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch) -> Path:
    """huggingface_hub offline (HF_HUB_OFFLINE) with an empty cache of its own; returns the cache directory."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_hub_offline_without_cache_is_a_one_line_error(runner, offline_hub: Path) -> None:
    result = invoke(runner, "weights", "hf:sentence-transformers/all-MiniLM-L6-v2", "-q")
    assert_one_line_error(result, "offline", "hf:sentence-transformers/all-MiniLM-L6-v2")


def test_hub_reads_a_locally_cached_snapshot_offline(runner, offline_hub: Path, good: Path) -> None:
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = offline_hub / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(good.read_bytes())
    result = invoke(runner, "weights", "hf:org/tiny", "-k", "3", "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["tensor"] for r in data["records"] if r["kind"] == "tensor"] == ["w"]
    assert data["meta"]["source_info"]["hub_repo"] == "org/tiny"
