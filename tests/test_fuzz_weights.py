"""Untrusted weight files: crafted attacks and mutation fuzzing of every format.

The only acceptable outcomes of opening and scanning any file are correct records or a StecheckError:
never another exception, a hang (hypothesis deadline) or a memory blow-up (tracemalloc peak bound).
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stecheck.errors import StecheckError
from stecheck.weights.scan import WEIGHTS_FIELDS, scan, select
from stecheck.weights.sources import open_path

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

#: Peak Python-tracked allocation allowed while opening and scanning a file of a few kilobytes.
PEAK_BYTES = 64 << 20
FUZZ = settings(max_examples=100, deadline=5000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _rng() -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(0x9E3779B97F4A7C15F39CC0605CEDC834))


def outcome(path: Path) -> str:
    """Open and scan ``path``: ``"records"`` or ``"refused: ..."``; any other exception propagates."""
    tracemalloc.start()
    try:
        source = open_path(path)
        tensors = select(source.tensors, all_tensors=True)
        records = scan(str(path), tensors, bits=(1, 8), steps=(1e-3,), transform="dorefa")
        assert records and all(set(r) == set(WEIGHTS_FIELDS) for r in records)
        result = "records"
    except StecheckError as exc:
        assert "\n" not in str(exc).strip()
        result = f"refused: {exc}"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{path.name}: peak allocation {peak} bytes"
    return result


# ---------------------------------------------------------------- valid files of each format


def _safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return save(tensors)


def _onnx_model(tensors: dict[str, np.ndarray]) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(a, name) for name, a in tensors.items()]
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])], initializer=inits)
    return helper.make_model(graph)


def _weights() -> dict[str, np.ndarray]:
    rng = _rng()
    return {"w1": rng.normal(0, 0.1, (4, 6)).astype(np.float32), "w2": rng.normal(0, 1, (3, 5)).astype(np.float16)}


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Bytes of one small valid file per format."""
    w = _weights()
    out = {".safetensors": _safetensors_bytes(w)}
    buf = io.BytesIO()
    np.save(buf, w["w1"])
    out[".npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, **w)
    out[".npz"] = buf.getvalue()
    out[".onnx"] = _onnx_model(w).SerializeToString()
    return out


@pytest.mark.parametrize("suffix", [".safetensors", ".npy", ".npz", ".onnx"])
def test_valid_files_give_records(valid: dict[str, bytes], tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(valid[suffix])
    assert outcome(path) == "records"


# ---------------------------------------------------------------- mutation fuzzing


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, int]]:
    ops = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, size - 1), st.integers(1, 255)),
        st.tuples(st.just("set"), st.integers(0, size - 1), st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("9"), ord("-")])),
        st.tuples(st.just("cut"), st.integers(0, size), st.just(0)),
        st.tuples(st.just("insert"), st.integers(0, size), st.integers(0, 255)),
    )
    return draw(st.lists(ops, min_size=1, max_size=6))


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in ops:
        pos = min(pos, len(buf))
        if op == "flip" and pos < len(buf):
            buf[pos] ^= value
        elif op == "set" and pos < len(buf):
            buf[pos] = value
        elif op == "cut":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = bytes([value])
    return bytes(buf)


def _fuzz(valid: dict[str, bytes], tmp_path: Path, suffix: str, ops: list[tuple[str, int, int]]) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(_mutate(valid[suffix], ops))
    outcome(path)


@FUZZ
@given(data=st.data())
def test_fuzz_safetensors(valid: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid, tmp_path, ".safetensors", data.draw(mutations(len(valid[".safetensors"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_npy(valid: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid, tmp_path, ".npy", data.draw(mutations(len(valid[".npy"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_npz(valid: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid, tmp_path, ".npz", data.draw(mutations(len(valid[".npz"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_onnx(valid: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid, tmp_path, ".onnx", data.draw(mutations(len(valid[".onnx"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_torch_checkpoint(tmp_path: Path, data: st.DataObject) -> None:
    """torch.load(weights_only=True) on mutated checkpoints: records or a refusal, never code or a crash."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "valid.pt"
    if not path.exists():
        torch.save({k: torch.from_numpy(v.astype(np.float32)) for k, v in _weights().items()}, path)
    valid = {".pt": path.read_bytes()}
    _fuzz(valid, tmp_path, ".pt", data.draw(mutations(len(valid[".pt"]))))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(entry=st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "BOOL", "F8_E4M3", "X", 3]) | _JSON_VALUES,
    "shape": st.lists(st.integers(-3, 2**62) | st.sampled_from([0, 1, 4, 6]), max_size=4) | _JSON_VALUES,
    "data_offsets": st.lists(st.integers(-10, 2**63), min_size=2, max_size=2) | _JSON_VALUES,
}), extra=st.binary(max_size=200))
def test_fuzz_safetensors_header_fields(tmp_path: Path, entry: dict, extra: bytes) -> None:
    """Arbitrary header entries (types, shapes, offsets) over arbitrary data: records or a refusal."""
    path = tmp_path / "fields.safetensors"
    header = json.dumps({"t": entry}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + extra)
    outcome(path)


# ---------------------------------------------------------------- crafted attacks


def _raw_safetensors(path: Path, header: dict | bytes, data: bytes, length: int | None = None) -> Path:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)
    return path


ATTACKS = {
    "2 GB header length": ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16), 2**31),
    "header length 2^64 - 1": ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16), 2**64 - 1),
    "offsets beyond the file": ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [1 << 40, (1 << 40) + 16]}}, bytes(16), None),
    "end before begin": ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 0]}}, bytes(16), None),
    "overlapping tensors": ({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                             "b": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}, bytes(24), None),
    "same bytes twice": ({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                          "b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(16), None),
    "absurd shape overflowing int64": ({"w": {"dtype": "F32", "shape": [2**32, 2**32, 2**2], "data_offsets": [0, 0]}}, b"", None),
    "absurd shape": ({"w": {"dtype": "F32", "shape": [10**12, 10**12], "data_offsets": [0, 16]}}, bytes(16), None),
    "negative dimension": ({"w": {"dtype": "F32", "shape": [-4, -1], "data_offsets": [0, 16]}}, bytes(16), None),
    "fractional dimension": ({"w": {"dtype": "F32", "shape": [2.5, 1.6], "data_offsets": [0, 16]}}, bytes(16), None),
    "infinite dimension": (b'{"w": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 16]}}', bytes(16), None),
    "deeply nested header": (b"[" * 100_000 + b"]" * 100_000, b"", None),
    "header not an object": (b"[1, 2, 3]", b"", None),
    "unknown dtype": ({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16), None),
    "entry not an object": ({"w": [1, 2, 3]}, b"", None),
    "header not UTF-8": (b'{"\xff": 1}', b"", None),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_crafted_safetensors_are_refused(tmp_path: Path, name: str) -> None:
    header, data, length = ATTACKS[name]
    path = _raw_safetensors(tmp_path / "attack.safetensors", header, data, length)
    assert outcome(path).startswith("refused: ")


def test_npy_with_an_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "obj.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    assert outcome(path).startswith("refused: ")
    assert not marker.exists()


def test_npz_with_an_object_member_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "obj.npz"
    np.savez(path, good=np.ones((2, 2), np.float32), bad=np.array([_Payload(marker)], dtype=object))
    assert outcome(path).startswith("refused: ")
    assert not marker.exists()


def test_npz_member_claiming_a_huge_array_is_refused(tmp_path: Path) -> None:
    """A member whose header claims 10^12 elements over a few bytes must not allocate them."""
    header = np.lib.format.header_data_from_array_1_0(np.ones((2, 2), np.float32))
    header["shape"] = (10**6, 10**6)
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(bytes(16))
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", member.getvalue())
    assert outcome(path).startswith("refused: ")


class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_torch_checkpoint_with_code_is_refused_without_running_it(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(_torch_like_pickle({"w": _Payload(marker)}, tmp_path))
    assert outcome(path).startswith("refused: ")
    assert not marker.exists()


def _torch_like_pickle(obj: object, tmp: Path) -> bytes:
    import torch

    path = tmp / "plain.pt"
    torch.save(obj, path)
    return path.read_bytes()


def _external_model(tmp: Path, location: str, offset: str = "0", length: str | None = None, dims: tuple[int, ...] = (2, 2)) -> Path:
    tensor = onnx.TensorProto()
    tensor.name = "w"
    tensor.data_type = onnx.TensorProto.FLOAT
    tensor.dims.extend(dims)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entries = {"location": location, "offset": offset, **({} if length is None else {"length": length})}
    for key, value in entries.items():
        item = tensor.external_data.add()
        item.key, item.value = key, value
    model = _onnx_model({})
    model.graph.initializer.append(tensor)
    path = tmp / "model" / "model.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin", "link.bin"])
def test_onnx_external_data_escaping_the_model_directory_is_refused(tmp_path: Path, location: str) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = _external_model(tmp_path, location)
    (path.parent / "link.bin").symlink_to(secret)
    result = outcome(path)
    assert result.startswith("refused: ") and "outside the model's directory" in result


@pytest.mark.parametrize("offset,length,dims", [
    ("-8", None, (2, 2)), ("abc", None, (2, 2)), ("0", "-16", (2, 2)), ("0", "1e3", (2, 2)), ("0", None, (-2, 2)),
    ("0", None, (2**40, 2**40)), ("99999999999999999999999", None, (2, 2)),
])
def test_onnx_malformed_external_data_fields_are_refused(tmp_path: Path, offset: str, length: str | None, dims: tuple[int, ...]) -> None:
    path = _external_model(tmp_path, "data.bin", offset, length, dims)
    (path.parent / "data.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    assert outcome(path).startswith("refused: ")


def test_onnx_external_data_inside_the_directory_is_read(tmp_path: Path) -> None:
    path = _external_model(tmp_path, "data.bin")
    (path.parent / "data.bin").write_bytes(np.array([0.1, 0.4, 0.6, 0.9], dtype=np.float32).tobytes())
    assert outcome(path) == "records"


# ---------------------------------------------------------------- numeric content of weights


def _scan_one(tmp: Path, array: np.ndarray) -> list[dict]:
    path = tmp / "t.safetensors"
    path.write_bytes(_safetensors_bytes({"w": array}))
    assert outcome(path) == "records"
    return [r for r in scan("t", select(open_path(path).tensors, all_tensors=True), bits=(1, 8), steps=(1e-3,)) if r["kind"] == "tensor"]


def test_nan_and_inf_weights_are_counted_and_left_out(tmp_path: Path) -> None:
    clean = _rng().normal(0, 1, (8, 16)).astype(np.float32)
    dirty = clean.copy().reshape(-1)
    dirty[[3, 50, 77]] = [np.nan, np.inf, -np.inf]
    rows = _scan_one(tmp_path, dirty.reshape(8, 16))
    assert all(r["nonfinite"] == 3 for r in rows)
    assert all(r["mean_n"] is None or np.isfinite(r["mean_n"]) for r in rows)


@pytest.mark.parametrize("shape", [(0, 4), (4, 0)])
def test_empty_tensors_are_refused_or_degenerate(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "t.safetensors"
    path.write_bytes(_safetensors_bytes({"w": np.zeros(shape, np.float32)}))
    result = outcome(path)
    if result == "records":
        rows = scan("t", select(open_path(path).tensors, all_tensors=True), bits=(1,), steps=(1e-3,))
        assert all(r["degenerate"] and r["mean_n"] is None for r in rows if r["kind"] == "tensor")


def test_constant_tensors_are_degenerate(tmp_path: Path) -> None:
    rows = _scan_one(tmp_path, np.full((4, 4), 0.25, np.float32))
    assert all(r["degenerate"] for r in rows)


# ---------------------------------------------------------------- hardening: where data comes from, what a file is


def _constant_external_model(tmp: Path, location: str = "data.bin") -> Path:
    """A model whose only weight is a Constant node with external data ``location`` (Paddle2ONNX style)."""
    tensor = onnx.TensorProto()
    tensor.name = "c"
    tensor.data_type = onnx.TensorProto.FLOAT
    tensor.dims.extend((2, 2))
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "16"}.items():
        item = tensor.external_data.add()
        item.key, item.value = key, value
    model = _onnx_model({})
    model.graph.node.append(helper.make_node("Constant", [], ["const_out"], value=tensor))
    path = tmp / "model" / "model.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def test_onnx_constant_external_data_is_read_from_the_model_directory_not_the_cwd(tmp_path: Path, monkeypatch) -> None:
    path = _constant_external_model(tmp_path)
    mine = np.array([0.1, 0.4, 0.6, 0.9], dtype=np.float32)
    (path.parent / "data.bin").write_bytes(mine.tobytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data.bin").write_bytes(np.full(4, 7.0, np.float32).tobytes())
    monkeypatch.chdir(elsewhere)
    (tensor,) = open_path(path).tensors
    assert tensor.name == "const_out" and tensor.shape == (2, 2)
    assert np.array_equal(tensor.read(0, 4), mine)
    (path.parent / "data.bin").unlink()  # never falls back to the file of the same name in the cwd
    assert "missing" in outcome(path)


@pytest.mark.parametrize("location,needle", [("sub", "is a directory"), ("da\x00ta.bin", "NUL")])
def test_onnx_external_location_that_is_a_directory_or_holds_nul_is_refused(tmp_path: Path, location: str, needle: str) -> None:
    path = _external_model(tmp_path, location)
    (path.parent / "sub").mkdir()
    result = outcome(path)
    assert result.startswith("refused: ") and needle in result
    (tmp_path / "constant").mkdir()
    path = _constant_external_model(tmp_path / "constant", location)
    (path.parent / "sub").mkdir()
    result = outcome(path)
    assert result.startswith("refused: ") and needle in result


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = np.lib.format.header_data_from_array_1_0(np.ones((2, 2), np.float32))
    header["shape"] = shape
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


@pytest.mark.parametrize("suffix", [".safetensors", ".npy", ".npz"])
def test_shapes_overflowing_64_bits_are_refused(tmp_path: Path, suffix: str) -> None:
    """[0, 2**64] describes no bytes, yet numpy cannot hold it: refused, not an OverflowError."""
    path = tmp_path / f"overflow{suffix}"
    if suffix == ".safetensors":
        _raw_safetensors(path, {"w": {"dtype": "F32", "shape": [0, 2**64], "data_offsets": [0, 0]}}, b"")
    elif suffix == ".npy":
        path.write_bytes(_npy_header((0, 2**64)))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("w.npy", _npy_header((0, 2**64)))
    result = outcome(path)
    assert result.startswith("refused: ") and "overflows 64-bit" in result


def test_safetensors_header_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    entry = '{"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}'
    path = _raw_safetensors(tmp_path / "dup.safetensors", f'{{"w": {entry}, "w": {entry}}}'.encode(), bytes(16))
    result = outcome(path)
    assert result.startswith("refused: ") and "repeats the key 'w'" in result


def test_npz_with_duplicate_member_names_is_refused(tmp_path: Path) -> None:
    import warnings

    first, second = io.BytesIO(), io.BytesIO()
    np.save(first, np.ones((2, 2), np.float32))
    np.save(second, np.zeros((2, 2), np.float32))
    path = tmp_path / "dup.npz"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name" and writes both
        archive.writestr("w.npy", first.getvalue())
        archive.writestr("w.npy", second.getvalue())
    result = outcome(path)
    assert result.startswith("refused: ") and "two members named 'w.npy'" in result


def test_npz_decompressed_total_is_capped(tmp_path: Path, monkeypatch) -> None:
    """Each member under any per-member limit, the archive's total over the cap: refused before reading."""
    import stecheck.weights.formats.numpy as npf

    monkeypatch.setattr(npf, "MAX_NPZ_BYTES", 3 << 20, raising=False)
    monkeypatch.setattr(npf, "MAX_MEMBER_BYTES", 2 << 20, raising=False)
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **{f"w{i}": np.zeros((256, 1024), np.float32) for i in range(4)})  # 4 x 1 MiB, a few KB zipped
    assert path.stat().st_size < 100_000
    result = outcome(path)
    assert result.startswith("refused: ") and "zip bombs" in result


def test_npz_members_are_streamed_not_read_whole(tmp_path: Path) -> None:
    """A 32 MiB member is read chunk by chunk: the peak allocation stays far below the member's size."""
    from stecheck.weights.tensors import CHUNK_ELEMENTS

    w = np.zeros(8 << 20, np.float32)
    w[::7] = 0.05 * _rng().standard_normal(w[::7].size)
    path = tmp_path / "big.npz"
    np.savez_compressed(path, w=w)
    tracemalloc.start()
    try:
        (tensor,) = open_path(path).tensors
        total = 0.0
        for start, chunk in zip(range(0, w.size, CHUNK_ELEMENTS), tensor.raw_chunks()):
            assert np.array_equal(chunk, w[start:start + CHUNK_ELEMENTS])
            total += float(chunk.sum(dtype=np.float64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, peak  # the member alone is 32 MiB
    assert tensor.read(5, 3).tolist() == w[5:8].tolist()  # a jump back reopens the member


def test_directory_source_refuses_links_leading_outside(tmp_path: Path) -> None:
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(_safetensors_bytes({"w": np.ones((2, 2), np.float32)}))
    model = tmp_path / "model"
    model.mkdir()
    (model / "a.safetensors").write_bytes(_safetensors_bytes({"w": np.ones((2, 2), np.float32)}))
    (model / "b.safetensors").symlink_to(outside)
    result = outcome(model)
    assert result.startswith("refused: ") and "links outside the directory" in result
    (model / "b.safetensors").unlink()
    (model / "c.safetensors").symlink_to(model / "a.safetensors")  # a link that stays inside is fine
    assert outcome(model) == "records"


def _index(tmp: Path, weight_map: object) -> Path:
    (tmp / "shard.safetensors").write_bytes(_safetensors_bytes({"w": np.ones((2, 2), np.float32)}))
    path = tmp / "model.safetensors.index.json"
    path.write_text(json.dumps({"weight_map": weight_map}), encoding="utf-8")
    return path


@pytest.mark.parametrize("shard,needle", [("shard.safe\x00tensors", "not a valid file name"), ("shard\ud800.safetensors", "not a valid file name")])
def test_index_shard_names_with_nul_or_a_lone_surrogate_are_refused(tmp_path: Path, shard: str, needle: str) -> None:
    result = outcome(_index(tmp_path, {"w": shard}))
    assert result.startswith("refused: ") and needle in result


def test_index_json_nested_100000_deep_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors.index.json"
    path.write_text('{"weight_map": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    result = outcome(path)
    assert result.startswith("refused: ") and "levels deep" in result


def test_index_json_larger_than_the_text_cap_is_refused(tmp_path: Path) -> None:
    from stecheck.safe_io import MAX_TEXT_BYTES

    path = tmp_path / "model.safetensors.index.json"
    with path.open("wb") as handle:
        handle.write(b'{"weight_map": {}}')
        handle.truncate(MAX_TEXT_BYTES + 1)  # a hole: costs no disk
    result = outcome(path)
    assert result.startswith("refused: ") and f"larger than {MAX_TEXT_BYTES} bytes" in result


def test_names_with_lone_surrogates_are_escaped_once(tmp_path: Path) -> None:
    path = _raw_safetensors(tmp_path / "s.safetensors", b'{"w\\ud800": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}',
                            np.array([0.1, 0.2, 0.3, 0.4], np.float32).tobytes())
    assert outcome(path) == "records"
    (tensor,) = open_path(path).tensors
    assert tensor.name == "w\\ud800"
    tensor.name.encode("utf-8")
# ---------------------------------------------------------------- GGUF, Keras and TFLite


@pytest.fixture(scope="module")
def valid_new(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Bytes of one small valid file per optional format (written by each format's own writer)."""
    for module in ("gguf", "h5py", "tflite", "flatbuffers"):
        pytest.importorskip(module)
    from tests.weights_new_formats import BUILDERS

    return {suffix: build() for suffix, build in BUILDERS.items()}


NEW_FORMATS = [".gguf", ".h5", ".keras", ".tflite"]


@pytest.mark.parametrize("suffix", NEW_FORMATS)
def test_valid_new_format_files_give_records(valid_new: dict[str, bytes], tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(valid_new[suffix])
    assert outcome(path) == "records"


@pytest.mark.parametrize("suffix", NEW_FORMATS)
@pytest.mark.parametrize("cut", [0, 7, 0.5, -1])
def test_truncated_new_format_files_are_refused(valid_new: dict[str, bytes], tmp_path: Path, suffix: str, cut: float) -> None:
    """Empty, a few bytes, half and all but the last byte: one-line refusals (HDF5 may still read a file missing only
    unused trailing bytes, then the records must be right)."""
    data = valid_new[suffix]
    keep = int(len(data) * cut) if isinstance(cut, float) else (len(data) + cut if cut < 0 else cut)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:keep])
    result = outcome(path)
    assert result.startswith("refused: ") or (cut == -1 and result == "records"), result


@FUZZ
@given(data=st.data())
def test_fuzz_gguf(valid_new: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid_new, tmp_path, ".gguf", data.draw(mutations(len(valid_new[".gguf"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_keras_h5(valid_new: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid_new, tmp_path, ".h5", data.draw(mutations(len(valid_new[".h5"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_keras_archive(valid_new: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid_new, tmp_path, ".keras", data.draw(mutations(len(valid_new[".keras"]))))


@FUZZ
@given(data=st.data())
def test_fuzz_tflite(valid_new: dict[str, bytes], tmp_path: Path, data: st.DataObject) -> None:
    _fuzz(valid_new, tmp_path, ".tflite", data.draw(mutations(len(valid_new[".tflite"]))))


@pytest.mark.parametrize("version", [b"\x00\x00", b"\x02\x00", b"\x07\x00"])
def test_npy_header_length_is_checked_before_it_is_read(tmp_path: Path, version: bytes) -> None:
    """A flipped version byte makes the next four bytes a ~660 MB header length: refused before allocating."""
    data = bytearray(_npy_header((4, 6)) + bytes(96))
    data[6:8] = version
    path = tmp_path / "mangled.npy"
    path.write_bytes(bytes(data))
    result = outcome(path)  # asserts the peak allocation stays under PEAK_BYTES
    assert result.startswith("refused: "), result
