"""The compiled PCG64 draws equal numpy's, bit for bit, and the scan that draws its own inputs equals numpy
drawing them and the scan reading them (so records do not depend on who draws)."""

from __future__ import annotations

import numpy as np
import pytest

from stecheck.core import fastscan, pcg64
from stecheck.core.distributions import parse_input
from stecheck.core.estimators import CellAccumulator, make_plans
from stecheck.core.kernel import accumulate_chunk
from stecheck.core.quantize import levels
from stecheck.engine.ordered import OrderedFold
from stecheck.engine.sampling import chunk_rng, chunk_words, fused_draw


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5, 0x5E1EC7ED0C0FFEE0DDBA11FAB1E5EED5])
@pytest.mark.parametrize(("kind", "loc", "high_or_sigma"), [(pcg64.UNIFORM, 0.0, 1.0), (pcg64.UNIFORM, -2.5, 7.25),
                                                            (pcg64.NORMAL, 0.0, 1.0), (pcg64.NORMAL, 0.5, 0.15)])
def test_streams_equal_numpy_bit_for_bit_and_continue_where_they_stop(seed, kind, loc, high_or_sigma) -> None:
    n = 300_001  # ~2,000 draws of the normal's rare ziggurat branches (tail and wedges)
    reference = np.random.Generator(np.random.PCG64(seed))
    if kind == pcg64.UNIFORM:
        expected = reference.uniform(loc, high_or_sigma, n)
        spread = high_or_sigma - loc
    else:
        expected = reference.normal(loc, high_or_sigma, n)
        spread = high_or_sigma
    bitgen = np.random.PCG64(seed)
    words = pcg64.load(bitgen)
    out = np.empty(n)
    pcg64.fill(words, kind, loc, spread, out)
    assert np.array_equal(_bits(out), _bits(expected))
    pcg64.store(bitgen, words)
    assert np.random.Generator(bitgen).random(5).tolist() == reference.random(5).tolist()


def test_seeded_words_equal_numpys_pcg64_seeding() -> None:
    for entropy in (0, 1, 12345, 2**127 + 3):
        for key in ((), (7,), (3, 9, 1), (2**62, 0, 1, 8)):
            seq = np.random.SeedSequence(entropy, spawn_key=key)
            again = np.random.SeedSequence(entropy, spawn_key=key)
            assert pcg64.seeded(seq).tolist() == pcg64.load(np.random.PCG64(again)).tolist()


def test_load_refuses_other_bit_generators() -> None:
    with pytest.raises(TypeError, match="PCG64"):
        pcg64.load(np.random.MT19937(1))  # type: ignore[arg-type]


def _fields(acc: CellAccumulator) -> list:
    return [acc.count, acc.power.tobytes(), acc.lowest, acc.highest, acc.zeros, acc.hist.tobytes(),
            None if acc.hist_dev is None else acc.hist_dev.tobytes(), acc.fd_sum, acc.fd_sumsq, acc.fd_zero, acc.ste_count]


@pytest.mark.parametrize("n", [1, 2, 3, fastscan.SUB - 1, fastscan.SUB, fastscan.SUB + 1, 5 * fastscan.SUB + 7,
                               fastscan.BLOCK + 3])
@pytest.mark.parametrize(("spec", "rounding"), [("uniform(0,1)", "half-even"), ("uniform(-3,2.5)", "half-up"),
                                                ("normal(0.5,0.15)", "half-even"), ("normal(-1,4)", "half-up")])
def test_drawing_scan_equals_numpy_draws_then_scan(n: int, spec: str, rounding: str) -> None:
    inp = parse_input(spec)
    k = 3
    plans = make_plans(("forward", "central"), (0.3, 1e-2, 1e-4), levels(k))
    x = inp.dist.draw(chunk_rng(99, inp, 4, 0), n)  # what draw_chunk returns
    reference = accumulate_chunk(x, levels(k), rounding, False, plans)
    draw = fused_draw(99, inp, 4, k)
    assert draw is not None
    kept = np.empty(n)
    fused = accumulate_chunk(kept, levels(k), rounding, False, plans, draw=draw)
    assert _fields(fused) == _fields(reference)
    assert np.array_equal(_bits(kept), _bits(x))  # the draws are stored for the input's other cells
    scratch = np.empty(fastscan.SUB)
    again = fused_draw(99, inp, 4, k)
    assert again is not None
    through = accumulate_chunk(scratch, levels(k), rounding, False, plans, draw=again, samples=n)
    assert _fields(through) == _fields(reference)


def test_adding_into_a_running_accumulator_equals_merging_new_ones() -> None:
    inp = parse_input("normal(0.5,0.15)")
    plans = make_plans(("forward", "central"), (1e-1, 1e-3), levels(4))
    chunks = [inp.dist.draw(chunk_rng(5, inp, i, 0), 70_001) for i in range(3)]
    for rounding, fast in (("half-even", True), ("half-even", False), ("stochastic", True)):
        noise = [chunk_rng(5, inp, i, 1).random(c.size) for i, c in enumerate(chunks)]
        merged = accumulate_chunk(chunks[0], 15, rounding, False, plans, noise[0], fast)
        into = accumulate_chunk(chunks[0], 15, rounding, False, plans, noise[0], fast)
        for c, u in zip(chunks[1:], noise[1:]):
            merged.merge(accumulate_chunk(c, 15, rounding, False, plans, u, fast))
            accumulate_chunk(c, 15, rounding, False, plans, u, fast, into=into)
        assert _fields(into) == _fields(merged)
        assert into.fourier.tobytes() == merged.fourier.tobytes()


def test_fused_draw_only_for_affine_inputs_off_the_dorefa_path() -> None:
    assert fused_draw(1, parse_input("uniform(0,1)"), 0, 2) is not None
    assert fused_draw(1, parse_input("clip(normal(0.3,0.4))"), 0, 2) is not None
    assert fused_draw(1, parse_input("onlevel(0.4)"), 0, 2) is not None  # uniform at each k, own stream per k
    for spec in ("laplace(0.5,0.1)", "mix(0.7*normal(0.5,0.1),0.3*uniform(0,1))", "dorefa(normal(0,0.05),size=64)"):
        assert fused_draw(1, parse_input(spec), 0, 2) is None
    inp = parse_input("onlevel(0.4)")
    words = chunk_words(1, inp, 0, 0, 2)
    assert words.tolist() == pcg64.load(chunk_rng(1, inp, 0, 0, 2).bit_generator).tolist()  # type: ignore[arg-type]


def test_scan_refuses_drawn_errors_and_a_short_scratch() -> None:
    inp = parse_input("uniform(0,1)")
    plans = make_plans(("forward",), (0.1,), 7)
    draw = fused_draw(1, inp, 0, 3)
    assert draw is not None
    with pytest.raises(ValueError, match="errors"):
        CellAccumulator.scanned(plans, np.empty(10), 7, fastscan.MODE_ERRORS, crossings=False, draw=draw)
    with pytest.raises(ValueError, match="scratch"):
        accumulate_chunk(np.empty(8), 7, "half-even", False, plans, draw=draw, samples=fastscan.SUB * 2)
    with pytest.raises(ValueError, match="fused scan"):
        accumulate_chunk(np.empty(8), 7, "stochastic", False, plans, noise=np.zeros(8), draw=draw)


@pytest.mark.parametrize("spec", ["uniform(0,1)", "normal(0.5,0.15)", "uniform(-0.3,2)"])
def test_kept_chunks_merge_exactly_as_stored_ones(spec: str) -> None:
    """A chunk that keeps its packed words (the threaded engine's) merges, and settles on its own, to the same
    bytes as one unpacked into tables; lengths around a scan block's end."""
    inp = parse_input(spec)
    plans = make_plans(("forward", "central"), (0.3, 1e-2, 1e-4), levels(5))
    lengths = (fastscan.BLOCK, 3, fastscan.SUB + 1, fastscan.BLOCK - 1)
    results = {}
    for keep in (False, True):
        parts = []
        for i, n in enumerate(lengths):
            draw = fused_draw(7, inp, i, 5)
            assert draw is not None
            parts.append(accumulate_chunk(np.empty(fastscan.SUB), levels(5), "half-even", False, plans, draw=draw,
                                          samples=n, keep=keep))
        parts[-1].settle()  # a kept chunk unpacked into tables of its own
        alone = _fields(parts[-1])
        total = parts[0]
        for part in parts[1:]:
            total.merge(part)
        results[keep] = (_fields(total), alone, total.error_summary())
    assert results[True] == results[False]


def test_ordered_fold_merges_in_index_order_whatever_the_arrival() -> None:
    inp = parse_input("normal(0.5,0.15)")
    plans = make_plans(("forward",), (1e-2,), levels(3))

    def part(i: int) -> dict:
        draw = fused_draw(3, inp, i, 3)
        assert draw is not None
        return {0: accumulate_chunk(np.empty(fastscan.SUB), levels(3), "half-even", False, plans, draw=draw,
                                    samples=5000 + i, keep=True)}

    sequential = part(0)[0]
    for i in range(1, 6):
        sequential.merge(part(i)[0])
    fold: OrderedFold[int] = OrderedFold()
    for i in (3, 1, 0, 5, 2, 4):
        fold.add(i, part(i))
    total = fold.total(6)[0]
    total.settle()
    assert _fields(total) == _fields(sequential)
    with pytest.raises(RuntimeError, match="merged"):
        OrderedFold().total(1)
