"""The ``phase`` computation as records: the map, the rule of thumb, and Monte Carlo spot checks.

Builds on :mod:`stecheck.claims.phase.map` (the mathematics) and :func:`stecheck.engine.runner.simulate` (the spot
checks); no I/O here. Three record sets share the project's writers:

- rule records, one per (family, input standard deviation): ``sigma_s*`` and ``k_min``;
- map records, one per (family, sigma_s): the worst case over offsets and the agreement of the two
  exact evaluations;
- spot-check records: the engine's Monte Carlo E[D_h] at a few grid points against the CDF sum (and
  against ``stecheck.core.exact.exact_mean_fd`` on the same input, ``exact_ref_mean_fd``).

Fields: ``lh`` is the step ``L h`` in quantization steps (0: the limit h -> 0); ``sigma_s`` is L times the
standard deviation of r; ``offset`` is ``(L * centre) mod 1``; ``worst_dev`` is ``max |E[D] - 1|`` over the
grid offsets (CDF sums) and ``worst_offset`` where it occurs; ``fd_gap`` is the largest
``|E[D]_CDF - E[D]_Fourier| / max(1, |E[D]|)`` and ``n_gap`` the largest ``|E[n]_CDF - E[n]_Fourier|`` over
the offsets; ``holds`` is ``worst_dev <= tolerance``; ``sigma_bound`` is where the analytic bound of
:func:`stecheck.claims.phase.map.stability_bound` reaches the tolerance.
"""

from __future__ import annotations

import math
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Final

import numpy as np

from stecheck.claims.phase.map import (
    DEFAULT_FAMILIES,
    PhaseMap,
    Rule,
    cdf_sums,
    check_step,
    check_tolerance,
    min_bits,
    offset_grid,
    parse_family,
    phase_map,
    rule_of_thumb,
    sigma_grid,
)
from stecheck.config import parse_seed
from stecheck.core.distributions import parse_input
from stecheck.core.exact import exact_mean_fd
from stecheck.engine.runner import simulate
from stecheck.errors import ConfigError
from stecheck.records import Record, config_as_dict, provenance
from stecheck.seeds import PHASE_SEED

if TYPE_CHECKING:
    from stecheck.engine.cluster import Cluster

__all__ = [
    "RULE_FIELDS",
    "MAP_FIELDS",
    "SPOT_FIELDS",
    "RULE_MD_COLUMNS",
    "MAP_MD_COLUMNS",
    "SPOT_MD_COLUMNS",
    "SIGMA_DEFINITION",
    "PhaseConfig",
    "PhaseResult",
    "family_block",
    "run_phase",
    "map_records",
    "rule_records",
    "spot_checks",
    "spot_z",
]

#: Most grid points along either axis of the map.
MAX_GRID_POINTS: Final = 10_000
#: Most terms (offsets x thresholds) of one CDF-sum array: 2^25 float64 values, 256 MiB each.
MAX_CDF_TERMS: Final = 1 << 25


SIGMA_DEFINITION: Final = "sigma_s = L * (standard deviation of r); offset = (L * centre of r) mod 1 (0: level, 1/2: threshold)"
#: Bit width and level at which the spot checks place their inputs (s = L r, L = 15).
SPOT_BITS: Final = 4
SPOT_LEVEL: Final = 7
#: Step (in quantization steps) of the spot checks when the map is the limit h -> 0.
SPOT_ETA_FOR_LIMIT: Final = 0.1
#: Spot-check grid points: sigma_s near these values, offsets nearest to these.
SPOT_SIGMAS: Final = (0.15, 0.4)
SPOT_OFFSETS: Final = (0.0, 0.5, 0.25)
#: A spot check fails beyond this many standard errors.
SPOT_Z: Final = 5.0

RULE_FIELDS: Final = ("family", "lh", "tolerance", "sigma_s_star", "worst_at_star", "sigma_bound", "sd", "k_min")
MAP_FIELDS: Final = (
    "family", "lh", "sigma_s", "offsets", "worst_dev", "worst_offset", "mean_fd_min", "mean_fd_max",
    "mean_fd_level", "mean_fd_threshold", "max_abs_mean_n", "fd_gap", "n_gap", "holds",
)
SPOT_FIELDS: Final = (
    "family", "sigma_s", "offset", "lh", "k", "dist", "samples", "seed", "mean_fd", "mean_fd_se",
    "exact_mean_fd", "exact_ref_mean_fd", "z", "ok",
)
RULE_MD_COLUMNS: Final = (
    ("family", "family"), ("lh", "L h"), ("tolerance", "tolerance"), ("sigma_s_star", "sigma_s*"),
    ("sd", "input sd"), ("k_min", "k_min"),
)
MAP_MD_COLUMNS: Final = (
    ("family", "family"), ("sigma_s", "sigma_s"), ("worst_dev", "max |E[D]-1|"), ("worst_offset", "at offset"),
    ("mean_fd_level", "E[D] on a level"), ("mean_fd_threshold", "E[D] on a threshold"),
    ("max_abs_mean_n", "max |E[n]|"), ("fd_gap", "CDF vs Fourier"), ("holds", "holds"),
)
SPOT_MD_COLUMNS: Final = (
    ("family", "family"), ("sigma_s", "sigma_s"), ("offset", "offset"), ("lh", "L h"), ("samples", "N"),
    ("mean_fd", "MC E[D_h]"), ("mean_fd_se", "SE"), ("exact_mean_fd", "exact"), ("z", "z"), ("ok", "ok"),
)


@dataclass(frozen=True)
class PhaseConfig:
    """Options of ``stecheck phase`` (``h`` in quantization steps, 0 = the limit h -> 0)."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    h: float = 0.0
    tolerance: float = 0.05
    sds: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    sigma_min: float = 0.02
    sigma_max: float = 10.0
    sigma_points: int = 200
    offset_points: int = 100
    samples: int = 200_000
    seed: int | str | None = PHASE_SEED  # as `stecheck phase`; "random" or None: fresh OS entropy (recorded)

    def validated(self) -> PhaseConfig:
        """This config with canonical family names, or :class:`ConfigError` / :class:`SpecError`."""
        if not self.families:
            raise ConfigError("no family given")
        families = tuple(dict.fromkeys(parse_family(f).name for f in self.families))
        check_step(self.h)
        check_tolerance(self.tolerance)
        if not self.sds or not all(math.isfinite(s) and s > 0 for s in self.sds):
            raise ConfigError(f"input standard deviations must be finite and > 0, got {list(self.sds)}")
        for name, count in (("--sigma-points", self.sigma_points), ("--offset-points", self.offset_points)):
            if count > MAX_GRID_POINTS:
                raise ConfigError(f"{name} {count} is above the limit of {MAX_GRID_POINTS}: every point is an exact computation "
                                  f"over all thresholds, and the map is smooth well below that resolution")
        sigma_grid(self.sigma_min, self.sigma_max, self.sigma_points)
        offset_grid(self.offset_points)
        for name in families:
            fam = parse_family(name)
            terms = self.offset_points * (2.0 * fam.half_width() * float(fam.scale(self.sigma_max)) + 5.0)
            if not terms <= MAX_CDF_TERMS:
                raise ConfigError(
                    f"--sigma-max {self.sigma_max:g} with --offset-points {self.offset_points} needs CDF sums of {terms:.3g} terms "
                    f"for the {name} family (offsets x thresholds within its tails), above the limit of {MAX_CDF_TERMS:,} "
                    f"(256 MiB for each float64 array of the sums): lower --sigma-max or --offset-points"
                )
        if self.samples < 0:
            raise ConfigError(f"spot-check sample count {self.samples} must be >= 0 (0 skips the spot checks)")
        return PhaseConfig(**{**asdict(self), "families": families, "seed": parse_seed(self.seed)})

    def as_dict(self) -> dict[str, Any]:
        """Plain data for provenance (:func:`stecheck.records.config_as_dict`)."""
        return config_as_dict(self)


@dataclass(frozen=True)
class PhaseResult:
    """Maps and rules per family, the three record sets, and provenance."""

    config: PhaseConfig
    maps: list[PhaseMap]
    rules: list[Rule]
    rule_records: list[Record]
    map_records: list[Record]
    spot_records: list[Record]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spot_ok(self) -> bool:
        """True when every spot check is within :data:`SPOT_Z` standard errors."""
        return all(rec["ok"] for rec in self.spot_records)


def map_records(pm: PhaseMap, tolerance: float) -> list[Record]:
    """One record per sigma_s: worst case over the offsets and the CDF-sum vs Fourier gaps."""
    dev = np.abs(pm.mean_fd_cdf - 1.0)
    level = int(np.argmin(np.abs(pm.offset - 0.0)))
    threshold = int(np.argmin(np.abs(pm.offset - 0.5)))
    fd_gap = np.max(np.abs(pm.mean_fd_cdf - pm.mean_fd_fourier) / np.maximum(1.0, np.abs(pm.mean_fd_cdf)), axis=1)
    n_gap = np.max(np.abs(pm.mean_n_cdf - pm.mean_n_fourier), axis=1)
    out = []
    for i, sd in enumerate(pm.sigma):
        worst = int(np.argmax(dev[i]))
        out.append({
            "family": pm.family.name,
            "lh": pm.eta,
            "sigma_s": float(sd),
            "offsets": int(pm.offset.size),
            "worst_dev": float(dev[i, worst]),
            "worst_offset": float(pm.offset[worst]),
            "mean_fd_min": float(pm.mean_fd_cdf[i].min()),
            "mean_fd_max": float(pm.mean_fd_cdf[i].max()),
            "mean_fd_level": float(pm.mean_fd_cdf[i, level]),
            "mean_fd_threshold": float(pm.mean_fd_cdf[i, threshold]),
            "max_abs_mean_n": float(np.max(np.abs(pm.mean_n_cdf[i]))),
            "fd_gap": float(fd_gap[i]),
            "n_gap": float(n_gap[i]),
            "holds": bool(dev[i, worst] <= tolerance),
        })
    return out


def rule_records(rule: Rule, sds: tuple[float, ...]) -> list[Record]:
    """One record per input standard deviation: ``k_min = ceil(log2(1 + sigma_s* / sd))``."""
    bits = min_bits(rule.sigma_star, np.asarray(sds))
    return [
        {
            "family": rule.family.name,
            "lh": rule.eta,
            "tolerance": rule.tolerance,
            "sigma_s_star": rule.sigma_star,
            "worst_at_star": rule.worst_at_star,
            "sigma_bound": rule.sigma_bound,
            "sd": float(sd),
            "k_min": int(k),
        }
        for sd, k in zip(sds, bits)
    ]


def _nearest(values: np.ndarray, target: float) -> float:
    return float(values[int(np.argmin(np.abs(np.log(values / target))))]) if target > 0 else float(values[0])


def spot_z(mean_fd: float, se: float | None, exact: float, samples: int, eta: float) -> float:
    """The z-score of a spot check's Monte Carlo ``E[D_h]`` against the exact value.

    With a standard error, ``(mean_fd - exact) / se``. Without one (``se`` None or 0: every sample gave the
    same D_h, i.e. no crossing was observed and ``mean_fd`` is 0), the normal quantile of the probability of
    seeing no crossing in N samples: a sample's crossing count C = L h D_h is at most floor(L h) + 1, so
    P(C > 0) >= E[C] / (floor(L h) + 1) with E[C] = L h E[D_h], and

        P(no crossing in N) <= exp(-N L h E[D_h] / (floor(L h) + 1)),   z = min(0, Phi^-1(that bound)).

    A run whose expected number of crossings is small passes with none observed; one expecting many fails.
    """
    if se is not None and se > 0:
        return (mean_fd - exact) / se
    if mean_fd == exact:
        return 0.0
    if mean_fd != 0.0 or exact < 0.0:
        return math.copysign(math.inf, mean_fd - exact)
    from scipy.special import ndtri

    log_p = -samples * eta * exact / (math.floor(eta) + 1)
    return min(0.0, float(ndtri(math.exp(log_p)))) if log_p > -700.0 else -math.inf


def spot_checks(pm: PhaseMap, samples: int, seed: int, cluster: Cluster | None = None) -> list[Record]:
    """Monte Carlo ``E[D_h]`` from the engine at a few grid points, against the CDF sum (z-scores).

    Each point is placed at k = 4 (L = 15) with centre ``(7 + offset) / L`` and standard deviation
    ``sigma_s / L``; the step is ``L h = eta`` (``SPOT_ETA_FOR_LIMIT`` when the map is the limit, since
    Monte Carlo cannot take h = 0; its standard error grows like ``1 / sqrt(eta N)``). With a ``cluster``
    the engine's chunks run on it (same records).
    """
    eta = pm.eta if pm.eta > 0 else SPOT_ETA_FOR_LIMIT
    scale = (1 << SPOT_BITS) - 1
    points = [
        (_nearest(pm.sigma, s), float(pm.offset[int(np.argmin(np.abs(pm.offset - o)))]))
        for s in SPOT_SIGMAS
        for o in SPOT_OFFSETS
    ][: len(SPOT_OFFSETS) + 1]
    specs = [pm.family.r_spec((SPOT_LEVEL + off) / scale, sd / scale) for sd, off in points]
    records = simulate(specs, bits=SPOT_BITS, h=eta / scale, fd="forward", samples=samples, seed=seed, method="mc",
                       cluster=cluster)
    out = []
    for (sd, off), spec, rec in zip(points, specs, records):
        exact = float(cdf_sums(pm.family, sd, [off], eta)[0][0])
        z = spot_z(rec["mean_fd"], rec["mean_fd_se"], exact, rec["samples"], eta)
        out.append({
            "family": pm.family.name,
            "sigma_s": sd,
            "offset": off,
            "lh": eta,
            "k": SPOT_BITS,
            "dist": rec["dist"],
            "samples": rec["samples"],
            "seed": rec["seed"],
            "mean_fd": rec["mean_fd"],
            "mean_fd_se": rec["mean_fd_se"],
            "exact_mean_fd": exact,
            "exact_ref_mean_fd": exact_mean_fd(parse_input(spec), SPOT_BITS, "half-even", "forward", eta / scale),
            "z": z,
            "ok": bool(abs(z) <= SPOT_Z),
        })
    return out


def family_block(name: str, sigmas: np.ndarray, offsets: np.ndarray, eta: float, tolerance: float) -> tuple[PhaseMap, Rule, float, float]:
    """One family's block of the grid: its map over ``sigmas x offsets``, its rule, and the seconds each took.

    A pure function of its arguments (the task a cluster worker runs per family). The map is one block
    because the Fourier evaluation sums as many terms as its smallest sigma needs, over the whole block.
    """
    family = parse_family(name)
    t0 = time.perf_counter()
    pm = phase_map(family, sigmas, offsets, eta)
    t1 = time.perf_counter()
    rule = rule_of_thumb(family, eta, tolerance)
    return pm, rule, t1 - t0, time.perf_counter() - t1


def run_phase(config: PhaseConfig, progress: Callable[[int], None] | None = None, cluster: Cluster | None = None) -> PhaseResult:
    """Map, rule and spot checks for every family of ``config`` (validated here).

    ``progress`` is called with 1 after each family. The seed (default :data:`stecheck.seeds.PHASE_SEED`;
    ``"random"`` or None: fresh OS entropy) is recorded; it only affects the spot checks. With a ``cluster``
    (:class:`stecheck.engine.cluster.Cluster`) each family's block (:func:`family_block`) is one task and
    the spot checks' chunks run on it too; the records are the same.
    """
    config = config.validated()
    seed = config.seed if config.seed is not None else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    config = PhaseConfig(**{**asdict(config), "seed": seed})
    sigmas = sigma_grid(config.sigma_min, config.sigma_max, config.sigma_points)
    offsets = offset_grid(config.offset_points)
    timing = {"map_s": 0.0, "rule_s": 0.0, "spot_s": 0.0}
    maps, rules, rule_recs, map_recs, spot_recs = [], [], [], [], []
    started = time.perf_counter()
    tasks = [(name, sigmas, offsets, config.h, config.tolerance) for name in config.families]
    blocks = (family_block(*task) for task in tasks) if cluster is None else cluster.map(family_block, tasks)
    with closing(blocks):  # a cluster's pending tasks are cancelled on an interrupt
        for pm, rule, map_s, rule_s in blocks:
            t2 = time.perf_counter()
            if config.samples > 0:
                spot_recs.extend(spot_checks(pm, config.samples, seed, cluster))
            timing["map_s"] += map_s
            timing["rule_s"] += rule_s
            timing["spot_s"] += time.perf_counter() - t2
            maps.append(pm)
            rules.append(rule)
            map_recs.extend(map_records(pm, config.tolerance))
            rule_recs.extend(rule_records(rule, config.sds))
            if progress is not None:
                progress(1)
    wall = time.perf_counter() - started
    extra = {} if cluster is None else {"cluster": cluster.describe()}
    meta = provenance(
        "phase", config.as_dict(), seed=seed, wall_time_s=wall, sigma_definition=SIGMA_DEFINITION,
        h_units="quantization steps (L h); 0 is the limit h -> 0", timing_s={k: round(v, 3) for k, v in timing.items()}, **extra,
    )
    meta["seed"] = str(seed)
    return PhaseResult(config, maps, rules, rule_recs, map_recs, spot_recs, meta)
