"""Small results directories for the plot and report tests: two engine runs and synthetic weights records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from stecheck.cli.render import SIMULATE_MD_COLUMNS
from stecheck.config import RunConfig
from stecheck.engine.runner import run
from stecheck.records import SIMULATE_FIELDS, Record, provenance, write_run

SEED = 0x6A09E667F3BCC908B2FB1366EA957D3E
WEIGHTS_FIELDS = ("tensor", "shape", "dtype", "size", "transform", "k", "h", "mean_n", "var_n", "ks_stat", "ks_pvalue",
                  "fourier_abs", "mean_fd", "ste", "sqnr_db", "sqnr_uniform_db", "nonfinite")

SIMULATE_CONFIG = RunConfig(
    name="small", inputs=("uniform(0,1)", "normal(0.3,0.1)", "onlevel(0.4)"), bits=(1, 2, 3),
    steps=(1e-1, 1e-2, 1e-3), samples=20_000, seed=SEED, method="both",
)
VARIANTS_CONFIG = RunConfig(
    name="variants-small", inputs=tuple(f"point({i / 10:g})" for i in range(11)), bits=(2,), steps=(0.1,),
    schemes=("forward",), roundings=("half-even", "stochastic", "dither"), samples=4_000, seed=SEED, method="mc",
)


def write_simulate(out_dir: Path, config: RunConfig = SIMULATE_CONFIG) -> Path:
    """Run ``config`` with the engine and write its results directory."""
    result = run(config)
    write_run(out_dir, result.meta, result.records, SIMULATE_FIELDS, SIMULATE_MD_COLUMNS, config.name)
    return out_dir


def weights_records() -> list[Record]:
    """Synthetic records with the fields of ``stecheck weights`` (three tensors, k = 1..4, one h)."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    records = []
    for t, (name, size) in enumerate((("conv1.weight", 864), ("layer1.0.conv.weight", 36864), ("fc.weight", 5120))):
        for k in range(1, 5):
            spread = float(rng.uniform(0.5, 1.5)) if k < 3 else float(rng.uniform(0.97, 1.03))
            sqnr_uniform = 10 * math.log10(12 * (2**k - 1) ** 2 * 0.02)
            records.append({
                "tensor": name, "shape": [size], "dtype": "float32", "size": size, "transform": "dorefa", "k": k,
                "h": 1e-3, "mean_n": float(rng.normal(0, 0.01)), "var_n": spread / 12, "ks_stat": float(rng.uniform(0, 0.2)),
                "ks_pvalue": float(rng.uniform()), "fourier_abs": [float(v) for v in rng.uniform(0, 0.1, 8)],
                "mean_fd": 0.0 if (t, k) == (0, 1) else float(rng.uniform(0.3, 3.0)), "ste": 1.0,
                "sqnr_db": sqnr_uniform + float(rng.normal(0, 1.5)), "sqnr_uniform_db": sqnr_uniform, "nonfinite": 0,
            })
    return records


def write_weights(out_dir: Path) -> Path:
    """A ``weights`` results directory with :func:`weights_records`."""
    meta = provenance("weights", {"source": "synthetic"}, seed=None, wall_time_s=0.0)
    write_run(out_dir, meta, weights_records(), WEIGHTS_FIELDS, [("tensor", "tensor"), ("k", "k")], "weights")
    return out_dir
