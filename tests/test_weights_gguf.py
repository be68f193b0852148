"""GGUF files written with gguf's own GGUFWriter: float tensors by offset, Q8_0 and Q4_K dequantized, every number
equal to a plain numpy computation on values dequantized here by the block layouts of ggml-quants.c."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from tests.conftest import SEED
from tests.test_weights_formats import assert_matches_plain, scan_json

gguf = pytest.importorskip("gguf")
Q = gguf.GGMLQuantizationType


def dequant_q8_0(raw: np.ndarray) -> np.ndarray:
    """Q8_0: blocks of 34 bytes, an f16 scale d then 32 int8 q; y = d * q."""
    blocks = np.asarray(raw, np.uint8).reshape(-1, 34)
    d = blocks[:, :2].copy().view("<f2").astype(np.float64)
    q = blocks[:, 2:].copy().view(np.int8).astype(np.float64)
    return (d * q).astype(np.float32).reshape(-1)


def _scale_min_k4(j: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """get_scale_min_k4 of ggml-quants.c: the 6-bit scale and min of sub-block j from the 12 packed bytes."""
    s = s.astype(np.int64)
    if j < 4:
        return s[:, j] & 63, s[:, j + 4] & 63
    return (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4), (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)


def dequant_q4_k(raw: np.ndarray) -> np.ndarray:
    """Q4_K: super-blocks of 144 bytes (f16 d, f16 dmin, 12 bytes of scales, 128 bytes of nibbles) for 256 values."""
    blocks = np.asarray(raw, np.uint8).reshape(-1, 144)
    d = blocks[:, 0:2].copy().view("<f2").astype(np.float64)[:, 0]
    dmin = blocks[:, 2:4].copy().view("<f2").astype(np.float64)[:, 0]
    scales, qs = blocks[:, 4:16], blocks[:, 16:].astype(np.int64)
    out = np.empty((len(blocks), 256))
    for half in range(4):  # 64 values per step: low nibbles with sub-block 2*half, high nibbles with 2*half + 1
        q = qs[:, 32 * half:32 * half + 32]
        sc1, m1 = _scale_min_k4(2 * half, scales)
        sc2, m2 = _scale_min_k4(2 * half + 1, scales)
        out[:, 64 * half:64 * half + 32] = (d * sc1)[:, None] * (q & 0xF) - (dmin * m1)[:, None]
        out[:, 64 * half + 32:64 * half + 64] = (d * sc2)[:, None] * (q >> 4) - (dmin * m2)[:, None]
    return out.astype(np.float32).reshape(-1)


def _q4_k_bytes(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Random Q4_K data with small finite f16 scales (the byte layout is all a reader needs)."""
    blocks = rng.integers(0, 256, (rows * cols // 256, 144), dtype=np.uint8)
    blocks[:, 0:2] = rng.uniform(1e-3, 1e-2, (len(blocks), 1)).astype("<f2").view(np.uint8)
    blocks[:, 2:4] = rng.uniform(1e-3, 1e-2, (len(blocks), 1)).astype("<f2").view(np.uint8)
    return blocks.reshape(rows, cols // 256 * 144)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def write_llama_gguf(path: Path, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, str]]:
    """A one-block LLaMA-layout GGUF: name -> (the values a reader must produce, role)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    want: dict[str, tuple[np.ndarray, str]] = {}
    emb = (0.05 * rng.standard_t(4, (32, 64))).astype(np.float32)
    writer.add_tensor("token_embd.weight", emb)
    want["token_embd.weight"] = (emb, "weight")
    norm = (1 + 0.1 * rng.standard_normal(64)).astype(np.float32)
    writer.add_tensor("blk.0.attn_norm.weight", norm)
    want["blk.0.attn_norm.weight"] = (norm, "norm")
    q = (0.05 * rng.standard_t(4, (64, 64))).astype(np.float16)
    writer.add_tensor("blk.0.attn_q.weight", q)
    want["blk.0.attn_q.weight"] = (q, "weight")
    up = (0.05 * rng.standard_t(4, (96, 64))).astype(np.float32)
    bf = gguf.quants.quantize(up, Q.BF16)
    writer.add_tensor("blk.0.ffn_up.weight", bf, raw_dtype=Q.BF16)
    want["blk.0.ffn_up.weight"] = (up.astype(ml_dtypes.bfloat16), "weight")
    down = (0.05 * rng.standard_t(4, (64, 96))).astype(np.float32)
    q8 = gguf.quants.quantize(down, Q.Q8_0)
    writer.add_tensor("blk.0.ffn_down.weight", q8, raw_dtype=Q.Q8_0)
    want["blk.0.ffn_down.weight"] = (dequant_q8_0(q8).reshape(64, 96), "quantized")
    k4 = _q4_k_bytes(rng, 16, 512)
    writer.add_tensor("blk.0.attn_k.weight", k4, raw_dtype=Q.Q4_K)
    want["blk.0.attn_k.weight"] = (dequant_q4_k(k4).reshape(16, 512), "quantized")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return want


def test_gguf_written_by_ggufwriter_matches_plain(runner, tmp_path: Path, rng) -> None:
    path = tmp_path / "tiny-llama.gguf"
    want = write_llama_gguf(path, rng)
    data = scan_json(runner, str(path), "--all")
    rows = {r["tensor"]: r for r in data["records"] if r["kind"] == "tensor"}
    assert set(rows) == set(want)
    for name, (array, role) in want.items():
        assert rows[name]["role"] == role and rows[name]["shape"] == list(array.shape)
        assert_matches_plain(data["records"], name, array)
    assert rows["blk.0.ffn_down.weight"]["dtype"] == "Q8_0" and rows["blk.0.attn_k.weight"]["dtype"] == "Q4_K"
    assert rows["blk.0.ffn_up.weight"]["dtype"] == "bfloat16"


def test_gguf_default_scan_leaves_quantized_tensors_out_and_says_so(runner, tmp_path: Path, rng) -> None:
    path = tmp_path / "tiny-llama.gguf"
    want = write_llama_gguf(path, rng)
    data = scan_json(runner, str(path))
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == {n for n, (_a, r) in want.items() if r == "weight"}
    summary = data["meta"]["left_out"]
    got = {(r["role"], r["type"]): (r["tensors"], r["elements"]) for r in summary["left_out"]}
    assert got == {("norm", None): (1, 64), ("quantized", "Q4_K"): (1, 16 * 512), ("quantized", "Q8_0"): (1, 64 * 96)}
    assert "--role quantized scans the dequantized values" in summary["text"]
    data = scan_json(runner, str(path), "--role", "quantized")
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == {"blk.0.ffn_down.weight", "blk.0.attn_k.weight"}


def test_gguf_chunked_reads_cross_block_boundaries(tmp_path: Path, rng) -> None:
    """Reads at arbitrary element ranges (not block-aligned) return the same values as one whole read."""
    from stecheck.weights.formats.gguf import gguf_tensors

    path = tmp_path / "m.gguf"
    want = write_llama_gguf(path, rng)
    for tensor in gguf_tensors(path):
        whole = np.asarray(want[tensor.name][0]).reshape(-1)
        for start, count in ((0, tensor.size), (1, 37), (33, 30), (tensor.size - 300, 300), (tensor.size - 5, 5)):
            start = max(start, 0)
            count = min(count, tensor.size - start)
            np.testing.assert_array_equal(tensor.read(start, count), whole[start:start + count])


def _patch_tensor_info(data: bytes, name: str, dims: list[int] | None = None, offset: int | None = None) -> bytes:
    """Rewrite one tensor info of a GGUF file: name (u64 length + bytes), n_dims u32, dims u64[n], type u32, offset u64."""
    import struct

    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.index(key) + len(key)
    (n,) = struct.unpack_from("<I", data, at)
    buf = bytearray(data)
    if dims is not None:
        assert len(dims) == n
        struct.pack_into(f"<{n}Q", buf, at + 4, *dims)
    if offset is not None:
        struct.pack_into("<Q", buf, at + 4 + 8 * n + 4, offset)
    return bytes(buf)


@pytest.mark.parametrize("dims,offset,needle", [
    ([1 << 40, 1 << 40], None, "not a valid GGUF file"),
    ([1 << 63, 2], None, "not a valid GGUF file"),
    (None, 1 << 50, "not a valid GGUF file"),
    ([64, 7], None, "not a valid GGUF file"),
])
def test_crafted_gguf_tensor_infos_are_refused(tmp_path: Path, dims, offset, needle: str) -> None:
    """Absurd shapes and offsets past the end of the file: one-line refusals, nothing allocated or read."""
    from tests.test_fuzz_weights import outcome
    from tests.weights_new_formats import gguf_bytes

    path = tmp_path / "attack.gguf"
    path.write_bytes(_patch_tensor_info(gguf_bytes(), "token_embd.weight", dims, offset))
    result = outcome(path)
    assert result.startswith("refused: ") and needle in result, result
