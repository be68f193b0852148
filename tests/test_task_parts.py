"""What a cluster task of ``simulate`` sends back, checked without a cluster.

A task adds its chunks up as one thread does and keeps each chunk's floating-point sums apart
(:func:`stecheck.engine.runner._chunk_range_part`); the client merges the tasks in order
(:func:`stecheck.engine.runner._fold_part`). The result must be the one-thread run's accumulators bit for bit,
whatever the cut into tasks; the tables travel packed (:mod:`stecheck.core.packing`), exactly.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stecheck.config import RunConfig
from stecheck.core.distributions import parse_input
from stecheck.core.estimators import EXACT_DEVIATION_SAMPLES, HIST_BINS, CellAccumulator, make_plans
from stecheck.core.fastscan import DEV_SCALE, MODE_HALF_EVEN
from stecheck.core.packing import pack, unpack
from stecheck.engine.runner import (
    CHUNKS_PER_TASK, MIN_CHUNKS_PER_TASK, _chunk_range_part, _fold_part, _guided_tasks, monte_carlo,
)
from stecheck.engine.sampling import chunk_plan
from tests.conftest import SEED


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _same(a: CellAccumulator, b: CellAccumulator) -> None:
    """Every statistic of ``a`` and ``b`` equal, floats bit for bit."""
    assert a.count == b.count and a.zeros == b.zeros and a.ste_count == b.ste_count
    assert (a.fd_sum, a.fd_sumsq, a.fd_zero) == (b.fd_sum, b.fd_sumsq, b.fd_zero)
    assert _bits(a.power) == _bits(b.power) and _bits(a.fourier) == _bits(b.fourier)
    assert np.float64(a.lowest).tobytes() == np.float64(b.lowest).tobytes()
    assert np.float64(a.highest).tobytes() == np.float64(b.highest).tobytes()
    assert _bits(a.hist) == _bits(b.hist)
    assert (a.hist_dev is None) == (b.hist_dev is None)
    if a.hist_dev is not None:
        assert _bits(a.hist_dev) == _bits(b.hist_dev)


_CONFIG = RunConfig(inputs=("normal(0.5,0.15)",), bits=(1, 3), steps=(1e-3, 0.7), schemes=("forward", "central"),
                    roundings=("half-even", "stochastic"), samples=5 * (1 << 18) + 1001, seed=SEED, method="mc").validated()


@pytest.mark.parametrize("spec", ["normal(0.5,0.15)", "laplace(0.5,0.1)", "clip(normal(0.5,0.4))", "dorefa(normal(0,0.05),size=4096)"])
@pytest.mark.parametrize("cuts", [(1, 1, 1, 1, 1), (2, 3), (2, 1, 2)])
@pytest.mark.parametrize("fast", [True, False])
def test_tasks_folded_in_order_equal_one_thread_bit_for_bit(spec: str, cuts: tuple[int, ...], fast: bool) -> None:
    inp = parse_input(spec)
    config = RunConfig(**{**_CONFIG.__dict__, "inputs": (spec,)})
    plan = chunk_plan(inp, config.samples)
    cuts = (*cuts[:-1], plan.count - sum(cuts[:-1]))  # the last task takes the rest (a dorefa input rounds up)
    reference = monte_carlo(config, inp, SEED, threads=1, fast=fast)
    total = None
    first = 0
    for size in cuts:
        part = _chunk_range_part(config, inp, SEED, first, tuple(plan.length(i) for i in range(first, first + size)), fast)
        total = _fold_part(total, pickle.loads(pickle.dumps(part)))  # as it travels from a worker
        first += size
    assert first == plan.count and total is not None and total.keys() == reference.keys()
    for key in reference:
        _same(total[key], reference[key])


def test_summing_the_chunks_floating_sums_inside_a_task_would_be_seen() -> None:
    """The check above can fail: pre-adding a task's power sums (a different grouping) changes their bits."""
    inp = parse_input("normal(0.5,0.15)")
    reference = monte_carlo(_CONFIG, inp, SEED, threads=1)
    plan = chunk_plan(inp, _CONFIG.samples)
    accs, ordered = _chunk_range_part(_CONFIG, inp, SEED, 0, tuple(plan.length(i) for i in range(plan.count)), True)
    differs = 0
    for key, acc in accs.items():
        power = ordered[key].power
        grouped = sum(power[1:], np.zeros(4))
        differs += _bits(power[0] + grouped) != _bits(reference[key].power)
    assert differs > 0


def test_a_task_adds_its_chunks_as_merging_them_one_by_one() -> None:
    """A task's counts and tables equal its chunks' merged; each chunk's ordered sums equal the chunk's alone."""
    inp = parse_input("laplace(0.5,0.1)")
    plan = chunk_plan(inp, _CONFIG.samples)
    accs, ordered = _chunk_range_part(_CONFIG, inp, SEED, 2, (plan.length(2), plan.length(3), plan.length(4)), True)
    assert all(sums.lowest.shape == (3,) and sums.power.shape == (3, 4) for sums in ordered.values())
    merged = None
    for i in range(3):
        alone, single = _chunk_range_part(_CONFIG, inp, SEED, 2 + i, (plan.length(2 + i),), True)
        for key, own in ordered.items():
            sums = single[key]
            assert _bits(own.power[i]) == _bits(sums.power[0]) and own.lowest[i] == sums.lowest[0]
            assert own.highest[i] == sums.highest[0] and _bits(own.fourier[i]) == _bits(sums.fourier[0])
        if merged is None:
            merged = alone
        else:
            for key, acc in alone.items():
                merged[key].merge_counts(acc)
    assert merged is not None
    for key, acc in accs.items():
        _same(acc, merged[key])  # the ordered sums of both are reset: equal too
        assert acc.count == sum(plan.length(i) for i in (2, 3, 4))
        assert np.all(acc.power == 0) and acc.lowest == np.inf and acc.highest == -np.inf


def test_guided_tasks_cover_every_chunk_once_in_order_and_shrink_towards_the_end() -> None:
    config = RunConfig(**{**_CONFIG.__dict__, "inputs": ("normal(0.5,0.15)", "uniform(0,1)"), "samples": 96 * (1 << 18)})
    inputs = [parse_input(s) for s in config.inputs]
    for workers in (1, 2, 3, 8, 64):
        tasks = _guided_tasks(config, inputs, SEED, True, workers)
        for index, inp in enumerate(inputs):
            mine = [args for i, args, _ in tasks if i == index]
            firsts = [args[3] for args in mine]
            sizes = [len(args[4]) for args in mine]
            assert firsts == list(np.cumsum([0, *sizes[:-1]])) and sum(sizes) == chunk_plan(inp, config.samples).count
            assert max(sizes) <= CHUNKS_PER_TASK and min(sizes[:-1] or [MIN_CHUNKS_PER_TASK]) >= MIN_CHUNKS_PER_TASK
        sizes = [len(args[4]) for _, args, _ in tasks]
        assert sizes[-1] <= sizes[0]
        assert sum(samples for _, _, samples in tasks) == 2 * config.samples


# ------------------------------------------------------------------ packing


@given(st.lists(st.integers(-(2**40), 2**40), min_size=0, max_size=300), st.integers(0, 200))
@settings(max_examples=200, deadline=None)
def test_packed_integer_tables_come_back_identical(values: list[int], offset: int) -> None:
    table = np.zeros(offset + len(values) + 7, dtype=np.int64)
    table[offset:offset + len(values)] = values
    back = unpack(pickle.loads(pickle.dumps(pack(table))))
    assert back.dtype == table.dtype and _bits(back) == _bits(table)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=200), st.integers(0, 100))
@settings(max_examples=300, deadline=None)
def test_packed_float_tables_come_back_bit_for_bit(values: list[float], offset: int) -> None:
    table = np.zeros(offset + len(values) + 3)
    table[offset:offset + len(values)] = values
    back = unpack(pack(table))
    assert back.dtype == table.dtype and _bits(back) == _bits(table)


@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_whole_multiples_of_the_deviation_unit_pack_into_32_bits_exactly(units: list[int]) -> None:
    table = np.zeros(HIST_BINS)
    table[100:100 + len(units)] = np.asarray(units, dtype=np.float64) / DEV_SCALE
    packed = pack(table)
    assert packed[4].dtype.itemsize <= 4
    assert _bits(unpack(packed)) == _bits(table)


def test_negative_zero_and_fractions_of_the_unit_are_kept() -> None:
    table = np.zeros(64)
    table[3], table[5], table[9] = -0.0, 1.5 / DEV_SCALE, 3.0 / DEV_SCALE
    assert _bits(unpack(pack(table))) == _bits(table)
    table[5] = 2.0 / DEV_SCALE
    table[3] = -0.0
    assert _bits(unpack(pack(table))) == _bits(table)


def test_unpacking_into_a_used_table_overwrites_all_of_it() -> None:
    table = np.zeros(32, dtype=np.int64)
    table[10:12] = (5, -3)
    used = np.full(32, 99, dtype=np.int64)
    assert _bits(unpack(pack(table), used)) == _bits(table)


def test_unpacking_into_a_table_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        unpack(pack(np.ones(8, dtype=np.int64)), np.zeros(9, dtype=np.int64))


def test_a_scanned_chunk_packs_to_about_a_fifth_and_pickles_back_identical() -> None:
    plans = make_plans(("forward", "central"), (1e-3,), 7)
    x = np.random.default_rng(SEED % 2**32).normal(0.5, 0.15, 1 << 18)
    acc = CellAccumulator.scanned(plans, x, 7, MODE_HALF_EVEN, crossings=True)
    back = pickle.loads(pickle.dumps(acc))
    _same(back, acc)
    assert len(pickle.dumps(acc)) < 0.25 * (acc.hist.nbytes + acc.hist_dev.nbytes)


def test_deviation_sums_are_whole_units_within_the_bound_of_exact_addition() -> None:
    """What makes a task's tables add up in any grouping (EXACT_DEVIATION_SAMPLES): every per-bin deviation sum
    is a whole multiple of 2^-36 of at most 2^20 units per sample in the bin."""
    plans = make_plans(("forward",), (1e-3,), 3)
    rng = np.random.default_rng(SEED % 2**32)
    acc = CellAccumulator.scanned(plans, rng.laplace(0.5, 0.1, 1 << 18), 3, MODE_HALF_EVEN, crossings=True)
    acc.add_scan(rng.laplace(0.5, 0.1, 1 << 18), 3, MODE_HALF_EVEN, crossings=True)
    units = acc.hist_dev * DEV_SCALE
    assert np.array_equal(units, np.rint(units))
    assert np.all(np.abs(units) <= acc.hist * 2.0**20)
    assert EXACT_DEVIATION_SAMPLES * 2**20 <= 2**53
