from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stecheck.core.quantize import (
    dither_round,
    dorefa_weight_transform,
    levels,
    quantize,
    round_scaled,
    rounding_error,
    stochastic_round,
)
from stecheck.errors import ConfigError
from tests.conftest import SEED

finite = st.floats(min_value=-4.0, max_value=4.0, allow_nan=False)
bits = st.integers(min_value=1, max_value=24)


@given(r=finite, k=bits, rounding=st.sampled_from(["half-even", "half-up"]))
def test_quantizer_is_idempotent_and_error_bounded(r: float, k: int, rounding: str) -> None:
    q = quantize(r, k, rounding)
    assert quantize(q, k, rounding) == q
    n = rounding_error(r, k, rounding)
    assert abs(n) <= 0.5
    assert q == pytest.approx(r + n / levels(k), abs=1e-12)


@pytest.mark.parametrize("k", [0, 25, 99, -1])
def test_bit_width_out_of_range_is_refused(k: int) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        quantize(0.3, k)


def test_rounding_modes_differ_only_on_ties() -> None:
    s = np.array([0.5, 1.5, 2.5, -0.5, 0.49, 0.51])
    assert round_scaled(s, "half-even").tolist() == [0, 2, 2, -0, 0, 1]
    assert round_scaled(s, "half-up").tolist() == [1, 2, 3, 0, 0, 1]


def test_clip_maps_to_unit_interval_levels() -> None:
    assert quantize([-0.3, 1.7, 0.4], 2, clip=True).tolist() == pytest.approx([0.0, 1.0, 1 / 3])


def test_stochastic_rounding_and_dither_are_unbiased() -> None:
    rng = np.random.Generator(np.random.PCG64(SEED))
    s = 0.3
    u = rng.random(400_000)
    for values in (stochastic_round(s, u), dither_round(s, u - 0.5)):
        se = values.std() / np.sqrt(values.size)
        assert abs(values.mean() - s) < 5 * se
        assert set(np.unique(values)) == {0.0, 1.0}


def test_dorefa_weight_transform_maps_into_unit_interval_with_zero_at_half() -> None:
    w = np.array([[-0.2, 0.0, 0.1], [0.0, 0.0, 0.0]])
    r = dorefa_weight_transform(w, axis=-1)
    assert r[0].tolist() == pytest.approx([0.0, 0.5, 0.5 + np.tanh(0.1) / (2 * np.tanh(0.2))])
    assert r[1].tolist() == [0.5, 0.5, 0.5]
    # w = 0 lies on the threshold 1/2 at every k
    for k in range(1, 9):
        assert (levels(k) * 0.5) % 1 == 0.5


@settings(max_examples=50)
@given(w=st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=50))
def test_dorefa_transform_range(w: list[float]) -> None:
    r = dorefa_weight_transform(np.array(w))
    assert np.all((r >= 0) & (r <= 1))
