"""``weights --threads N``: tensors scanned by N threads give the records of one thread, byte for byte.

The checkpoints mix what changes the code path of a tensor: hundreds of small tensors (batched), a tensor
above the size where KS switches from sorting to the histogram, bfloat16 (distinct values with counts),
a constant tensor (degenerate), non-finite values, and quantizers other than DoReFa.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import importlib

import ml_dtypes
import numpy as np
import pytest

from stecheck.errors import ConfigError
from stecheck.records import to_json_text
from stecheck.weights import open_source, scan, select
from stecheck.weights.scan import BATCH_COST, LOOKAHEAD_PER_THREAD, MAX_THREADS, TENSOR_COST, batches, lookahead
from stecheck.weights.tensors import TensorRef, array_reader
from tests.conftest import SEED, invoke
from tests.weights_fixtures import weights_like, write_safetensors

scan_module = importlib.import_module("stecheck.weights.scan")
QUANTIZERS = ("dorefa", "absmax(4,group=16)", "fp(e4m3,axis=none)", "nvfp4")


def _mixed(path: Path, small: int = 120) -> Path:
    rng = np.random.default_rng(SEED)
    tensors: dict[str, np.ndarray] = {f"model.layers.{i}.mlp.weight": weights_like(rng, (8, 16), 0.05) for i in range(small)}
    tensors["model.big.weight"] = weights_like(rng, (300, 400), 0.05)  # 120,000 values: KS by histogram and refinement
    tensors["model.bf16.weight"] = weights_like(rng, (64, 48), 0.02).astype(ml_dtypes.bfloat16)
    tensors["model.constant.weight"] = np.full((4, 16), 0.25, dtype=np.float32)
    odd = weights_like(rng, (16, 16), 0.05)
    odd[0, 0], odd[3, 5], odd[7, 1] = np.nan, np.inf, -np.inf
    tensors["model.nonfinite.weight"] = odd
    tensors.update({f"model.tail.{i}.weight": weights_like(rng, (32, 32), 0.1) for i in range(12)})
    return write_safetensors(path, tensors)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _mixed(tmp_path_factory.mktemp("threads") / "mixed.safetensors")


def _cli(runner, path: Path, *extra: str) -> str:
    args = ["weights", str(path), "-k", "1-4", "--h", "1e-3", "--h", "1e-2", "--all", "--no-save"]
    for q in QUANTIZERS:
        args += ["-Q", q]
    result = invoke(runner, *args, *extra)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_cli_records_are_byte_identical_for_one_two_and_three_threads(runner, mixed: Path) -> None:
    one = _cli(runner, mixed, "--threads", "1", "--format", "csv")
    assert _cli(runner, mixed, "--threads", "2", "--format", "csv") == one
    assert _cli(runner, mixed, "-j", "3", "--format", "csv") == one
    records = json.loads(_cli(runner, mixed, "-j", "2", "--format", "json"))["records"]
    quantizers = {r["quantizer"] for r in records}
    assert {"absmax(4,group=16)", "fp(e4m3,axis=none)", "nvfp4", "dorefa(1)", "dorefa(4)"} <= quantizers
    tensors = {r["tensor"] for r in records if r["kind"] == "tensor"}
    assert len(tensors) == 120 + 4 + 12
    assert any(r["degenerate"] for r in records) and any(r["nonfinite"] == 3 for r in records)


def test_api_records_are_byte_identical_and_the_work_runs_on_two_threads(mixed: Path, monkeypatch) -> None:
    source = open_source(str(mixed))
    tensors = select(source.tensors, all_tensors=True)
    kwargs = dict(quantizers=QUANTIZERS)
    one = to_json_text({}, scan(source.label, tensors, (1, 2, 3, 4), (1e-3, 1e-2), **kwargs))
    seen: set[str] = set()
    work = scan_module._work

    def recording(*args, **kw):
        seen.add(threading.current_thread().name)
        return work(*args, **kw)

    monkeypatch.setattr(scan_module, "_work", recording)
    two = to_json_text({}, scan(source.label, tensors, (1, 2, 3, 4), (1e-3, 1e-2), threads=2, **kwargs))
    assert two == one
    assert len(seen) == 2 and all(name.startswith("stecheck-scan") for name in seen)


def test_at_most_two_batches_per_thread_are_submitted_ahead_of_the_results(mixed: Path, monkeypatch) -> None:
    source = open_source(str(mixed))
    tensors = select(source.tensors, all_tensors=True)
    groups = batches(tensors)
    first = {id(group[0]): i for i, group in enumerate(groups)}
    started: list[int] = []
    work = scan_module._batch_work

    def recording(group, *args):
        started.append(first[id(group[0])])
        return work(group, *args)

    monkeypatch.setattr(scan_module, "_batch_work", recording)
    handed = [0]
    ahead = []

    ends = np.cumsum([len(g) for g in groups])

    def progress(size: int) -> None:
        handed[0] += 1
        time.sleep(0.001)  # a slow consumer: the threads would run far ahead if nothing bounded them
        ahead.append(len(started) - int(np.searchsorted(ends, handed[0], side="right")))

    scan(source.label, tensors, (2,), (1e-3,), progress=progress, threads=2)
    assert len(groups) > 8 and sorted(started) == list(range(len(groups)))
    costs = [sum(t.size + TENSOR_COST for t in g) for g in groups]
    bound = max(2 * 2, *(1 + sum(1 for j in range(i + 1, len(costs)) if sum(costs[i + 1:j]) < costs[i]) for i in range(len(costs))))
    assert max(ahead) <= min(bound, LOOKAHEAD_PER_THREAD * 2)


def test_lookahead_covers_the_other_threads_while_a_large_batch_runs() -> None:
    """Beyond 2 per thread, batches are submitted until those behind the awaited one hold (threads - 1)
    times its cost, and never more than LOOKAHEAD_PER_THREAD per thread."""
    def allowed(costs: list[int], threads: int) -> bool:
        return lookahead(len(costs), costs[0], sum(costs[1:]), threads)

    assert allowed([10] * 3, 2) and not allowed([10] * 4, 2)
    assert allowed([100, 10, 10, 10], 2) and allowed([100] + [10] * 9, 2) and not allowed([100] + [10] * 10, 2)
    assert allowed([100] + [10] * 19, 3) and not allowed([100] + [10] * 20, 3)
    assert not allowed([10**12] + [1] * (LOOKAHEAD_PER_THREAD * 2 - 1), 2)


def test_a_large_first_tensor_does_not_hold_back_the_other_thread(monkeypatch) -> None:
    """A first tensor of 40 batches' cost waits, at its first read, until every small batch behind it has
    started: that happens only if the second thread is given all of them while the first one runs (with two
    batches per thread submitted ahead, it would wait out its timeout)."""
    small = [TensorRef(f"s{i}", (BATCH_COST,), np.dtype(np.float32), array_reader(np.linspace(-1, 1, BATCH_COST, dtype=np.float32) * (i + 2)))
             for i in range(30)]
    all_started = threading.Event()
    waited = []
    read_big = array_reader(np.linspace(-1, 1, 40 * BATCH_COST, dtype=np.float32))

    def gated(start: int, count: int):
        if not waited:
            waited.append(all_started.wait(timeout=60))
        return read_big(start, count)

    big = TensorRef("big", (40 * BATCH_COST,), np.dtype(np.float32), gated)
    started = set()
    work = scan_module._batch_work

    def recording(group, *args):
        started.add(group[0].name)
        if len(started) == 1 + len(small):
            all_started.set()
        return work(group, *args)

    monkeypatch.setattr(scan_module, "_batch_work", recording)
    scan("t", [big, *small], (2,), (1e-3,), threads=2)
    assert waited == [True]


def test_batches_keep_the_order_and_pack_small_tensors() -> None:
    sizes = [128] * 40 + [BATCH_COST] + [10] * 3 + [BATCH_COST // 2] * 3 + [1]
    tensors = [TensorRef(f"t{i}", (n,), np.dtype(np.float32), lambda start, count: np.zeros(count, np.float32))
               for i, n in enumerate(sizes)]
    groups = batches(tensors)
    assert [t.name for g in groups for t in g] == [t.name for t in tensors]
    assert [len(g) for g in groups] == [15, 15, 10, 1, 3 + 1, 1, 2]
    for g in groups:
        assert len(g) == 1 or sum(t.size + TENSOR_COST for t in g) <= BATCH_COST
    assert [len(g) for g in batches(tensors, 1)] == [1] * len(tensors)


def test_a_16_bit_tensors_value_table_is_not_kept_after_the_scan(mixed: Path) -> None:
    tensors = select(open_source(str(mixed)).tensors, all_tensors=True)
    bf16 = [t for t in tensors if t.dtype == np.dtype(ml_dtypes.bfloat16)]
    assert bf16
    for threads in (1, 2):
        scan("x", tensors, (2,), (1e-3,), threads=threads)
        assert all(t._distinct is None for t in bf16)


def test_an_interrupt_stops_the_threads(tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    path = write_safetensors(tmp_path / "big.safetensors", {f"layer.{i}.weight": weights_like(rng, (512, 1024)) for i in range(12)})
    tensors = select(open_source(str(path)).tensors)

    def interrupt(_size: int) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        scan("x", tensors, tuple(range(1, 9)), (1e-3,), progress=interrupt, threads=2)
    assert time.monotonic() - started < 60
    assert not [t for t in threading.enumerate() if t.name.startswith("stecheck-scan")]


@pytest.mark.parametrize("threads", [0, -1, MAX_THREADS + 1, True, 1.5])
def test_the_api_refuses_a_thread_count_out_of_bounds(mixed: Path, threads) -> None:
    tensors = select(open_source(str(mixed)).tensors)[:2]
    with pytest.raises(ConfigError, match="thread count"):
        scan("x", tensors, (2,), (1e-3,), threads=threads)


def test_threads_and_a_mapper_contradict(mixed: Path) -> None:
    tensors = select(open_source(str(mixed)).tensors)[:2]
    with pytest.raises(ConfigError, match="contradict"):
        scan("x", tensors, (2,), (1e-3,), threads=2, mapper=lambda fn, tasks: (fn(*a) for a in tasks))


@pytest.mark.parametrize("value, why", [("0", "must be a positive integer"), (str(MAX_THREADS + 1), f"above the limit of {MAX_THREADS}")])
def test_cli_refuses_a_thread_count_out_of_bounds_in_one_line_and_writes_nothing(runner, mixed: Path, tmp_path: Path,
                                                                                 value: str, why: str) -> None:
    out = tmp_path / "out"
    result = invoke(runner, "weights", str(mixed), "-k", "2", "--threads", value, "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and why in result.stderr
    assert not out.exists()


def test_cli_threads_and_cluster_contradict(runner, mixed: Path) -> None:
    result = invoke(runner, "weights", str(mixed), "-k", "2", "-j", "2", "--cluster", "tcp://127.0.0.1:1", "--no-save")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "contradict" in result.stderr


def test_meta_records_the_thread_count(runner, mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(runner, "weights", str(mixed), "-k", "2", "-j", "2", "--out", str(out), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "meta.json").read_text())["threads"] == 2
