"""The argument "Lemma Two" (tensorpack issue #31) checked step by step: configuration and the run (no I/O).

Every step of the argument becomes one :class:`AuditRow`: the claim in plain words, the numbers
computed for it on the spot (one :class:`Case` per input, bit width, point or step size), and a verdict
*derived from those numbers* by a stated rule -- never written down in advance:

- a case passes when its value agrees with the step's claim: a Monte Carlo estimate within ``z``
  standard errors of the claimed value (``abs(estimate - target) <= z SE``, z = 5), an exact or
  algebraic value within a floating-point tolerance;
- a step **holds** when every case passes, **fails** when none does, and **holds-only-if** when some do
  (the condition then names where it holds). Step (9) is an implication, so one counterexample
  among the inputs satisfying its premise makes it fail.

Positive rows state what is true instead (THEORY.md): identity A, ``E[D_h] = F_n(L h - 1/2) / (L h)``
with ``E[D_h] = 1`` for every ``h <= Delta`` iff n is uniform; stochastic rounding and uniform dither,
``d/dr E[q(r)] = 1`` at every r; and the Fourier prediction of ``lim_{h->0} E[D_h] - 1`` for smooth inputs.

Every row's decisive case is one that could have gone the other way: cases fixed in advance (identity A
at ``L h = 1``, Fourier predictions below what can be resolved, inputs outside an implication's premise)
are shown but not counted (:class:`stecheck.claims.audit.rows.Case`).

The rules and rows live in :mod:`stecheck.claims.audit.rows`, the steps in :mod:`stecheck.claims.audit.steps`, the
positive rows in :mod:`stecheck.claims.audit.truths`; this module configures an audit and runs it.

All random numbers derive from one root seed: the Monte Carlo numbers through :func:`stecheck.engine.runner.run`
(streams keyed by seed, input and chunk), the algebraic checks of steps 1-7 through
``SeedSequence(seed, spawn_key=(ALGEBRA_STREAM, step))``, the stratified noise of rows 4, SR and DITHER
through ``SeedSequence(seed, spawn_key=(SLOPE_STREAM,))``. So an audit is reproducible from its seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from stecheck.claims.audit.rows import AUDIT_FIELDS, VERDICTS, AuditRow, Case, RecordIndex, verdict_all, verdict_implication
from stecheck.claims.audit.steps import (
    step_adds_n,
    step_cancel,
    step_conclusion,
    step_definition,
    step_identity_slope,
    step_mean_zero,
    step_p_zero,
    step_round_question,
    step_scale_factors,
    step_zero_error_slope,
)
from stecheck.claims.audit.sums import slope_noise
from stecheck.claims.audit.truths import (
    FOURIER_FLOOR,
    IDENTITY_GRID,
    fourier_decides,
    fourier_prediction,
    fourier_row,
    identity_a_row,
    location_scale,
    randomized_rounding_row,
    slope_cases,
    weights_conclusion_row,
    weights_mean_zero_row,
)
from stecheck.config import RunConfig, parse_bits, parse_seed
from stecheck.core.distributions import parse_input
from stecheck.core.quantize import check_rounding, levels
from stecheck.engine.runner import run, total_samples
from stecheck.errors import ConfigError
from stecheck.records import Record, config_as_dict, provenance
from stecheck.seeds import AUDIT_SEED

__all__ = [
    "AUDIT_FIELDS",
    "VERDICTS",
    "AuditConfig",
    "AuditResult",
    "AuditRow",
    "Case",
    "RecordIndex",
    "audit",
    "audit_samples",
    "engine_configs",
    "fourier_prediction",
    "fourier_row",
    "location_scale",
    "verdict_all",
    "verdict_implication",
    "weights_conclusion_row",
    "weights_mean_zero_row",
]

Progress = Callable[[int], None]


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class AuditConfig:
    """What the audit evaluates. Every field is an input the verdicts are computed from.

    Attributes
    ----------
    bits : tuple of int or str
        Bit widths (as ``--bits``: ``1-4``, ``2``, ``1,3``).
    samples : int
        Monte Carlo samples per input, and draws of the rounding noise (shared by every point, k and scheme
        of rows 4, SR and DITHER; at most :data:`stecheck.claims.audit.sums.MAX_SLOPE_SAMPLES`). At the default the
        standard error of every SR/DITHER slope puts a slope of 0.95 more than 5 SE from 1.
    seed : int or str, optional
        Root seed (default :data:`stecheck.seeds.AUDIT_SEED`, as ``stecheck audit``); ``"random"`` or None
        draws fresh OS entropy (recorded).
    h : float
        Finite-difference step of steps 9, SR, DITHER and F.
    inputs : tuple of str
        Input specs of steps 8, 8', 9 and identity A (unclipped, deterministic rounding); the default has
        one with point masses on the levels, the kind of input for which step 8 can hold. Its mass sits at
        r = 1, the level L (odd): at Lh = 1/2 the window end L + 1/2 is a tie that half-even rounds up, as
        identity A counts it; on an even level identity A fails there (tests/test_audit.py).
    smooth_inputs : tuple of str
        Symmetric location-scale inputs of the Fourier row (normal, logistic, laplace, uniform, t).
    points : tuple of float
        Points r at which stochastic rounding and dither are differentiated.
    randomized : tuple of str
        The roundings of the positive rows (``stochastic``, ``dither``).
    z : float
        Standard errors allowed between an estimate and its target.
    """

    bits: tuple[int | str, ...] = ("1-4",)
    samples: int = 500_000
    seed: int | str | None = AUDIT_SEED
    h: float = 1e-3
    inputs: tuple[str, ...] = ("uniform(0,1)", "normal(0.5,0.15)", "normal(0.3,0.1)", "onlevel(0.4)", "onthreshold(0.1)",
                               "mix(0.6*point(1),0.4*uniform(0,1))")
    smooth_inputs: tuple[str, ...] = ("normal(0.5,0.15)", "normal(0.3,0.1)", "logistic(0.4,0.05)")
    points: tuple[float, ...] = (0.0, 0.5, 0.37)
    randomized: tuple[str, ...] = ("stochastic", "dither")
    z: float = 5.0

    def validated(self) -> AuditConfig:
        """This config with canonical values, or :class:`ConfigError` / :class:`SpecError`."""
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples <= 0:
            raise ConfigError(f"sample count {self.samples!r} must be a positive integer")
        if not (isinstance(self.h, (int, float)) and math.isfinite(self.h) and self.h > 0):
            raise ConfigError(f"step size h={self.h!r} must be a finite number > 0")
        if not all(isinstance(p, (int, float)) and math.isfinite(p) and abs(p) <= 1e6 for p in self.points):
            raise ConfigError(f"points {self.points!r} must be finite numbers of magnitude at most 1e6 (beyond, L (r + h) "
                              "keeps too few bits of h for a finite difference)")
        if not (math.isfinite(self.z) and self.z > 0):
            raise ConfigError(f"z={self.z!r} must be a finite number > 0")
        if not self.inputs or not self.smooth_inputs or not self.points or not self.randomized:
            raise ConfigError("the audit needs at least one input, one smooth input, one point and one rounding")
        inputs = tuple(dict.fromkeys(parse_input(s).spec for s in self.inputs))
        smooth = tuple(dict.fromkeys(parse_input(s).spec for s in self.smooth_inputs))
        for spec in inputs + smooth:
            if parse_input(spec).path != "none":
                raise ConfigError(f"audit input {spec!r}: the argument is about the unclipped quantizer; no clip/dorefa")
        for spec in smooth:
            location_scale(spec)
        bits = parse_bits(self.bits)
        if not any(fourier_decides(spec, k) for spec in smooth for k in bits):
            raise ConfigError(f"the Fourier row needs a smooth input whose predicted h -> 0 error is at least {FOURIER_FLOOR:g} at "
                              f"one of the bit widths {','.join(map(str, bits))} (none is): add k = 1 or 2, or a narrower input")
        for rounding in self.randomized:
            check_rounding(rounding)
        return replace(
            self, bits=bits, seed=parse_seed(self.seed), h=float(self.h),
            inputs=inputs, smooth_inputs=smooth, points=tuple(float(p) for p in self.points),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for provenance (:func:`stecheck.records.config_as_dict`)."""
        return config_as_dict(self)


# ---------------------------------------------------------------- the engine runs and the audit


@dataclass(frozen=True)
class AuditResult:
    """Audit records (one per step and positive row), the rows themselves, and provenance."""

    config: AuditConfig
    rows: list[AuditRow]
    records: list[Record]
    meta: dict[str, Any]


def engine_configs(cfg: AuditConfig) -> list[RunConfig]:
    """The engine runs an audit needs (``cfg`` validated, seed set): one per k for the deterministic
    inputs (steps h and ``a / L`` for identity A). The randomised roundings at fixed points are estimated
    by the audit itself (:func:`stecheck.claims.audit.sums.stratified_slope`)."""
    specs = tuple(dict.fromkeys(cfg.inputs + cfg.smooth_inputs))
    out = []
    for k in cfg.bits:
        scale = levels(k)  # type: ignore[arg-type]
        steps = tuple(dict.fromkeys((cfg.h, *(a / scale for a in IDENTITY_GRID))))
        out.append(RunConfig(name="audit", inputs=specs, bits=(k,), steps=steps, schemes=("forward",),
                             roundings=("half-even",), samples=cfg.samples, seed=cfg.seed, method="both"))
    return out


def prepared(cfg: AuditConfig) -> AuditConfig:
    """``cfg`` validated, with a seed (fresh OS entropy when unset; recorded in meta)."""
    cfg = cfg.validated()
    if cfg.seed is None:
        cfg = replace(cfg, seed=int(np.random.SeedSequence().entropy))  # type: ignore[arg-type]
    return cfg


def audit_samples(cfg: AuditConfig) -> int:
    """Monte Carlo samples an audit draws (a progress bar's total)."""
    return sum(total_samples(c) for c in engine_configs(prepared(replace(cfg, seed=cfg.seed or 0))))


def audit(cfg: AuditConfig = AuditConfig(), threads: int = 1, progress: Progress | None = None,
          weights: Sequence[Record] | None = None) -> AuditResult:
    """Run the audit: every step of the argument and the positive rows, verdicts computed from numbers.

    Parameters
    ----------
    cfg : AuditConfig
        The inputs; a missing seed is drawn from fresh OS entropy and recorded in ``meta["seed"]``.
    threads : int
        Engine worker threads (results do not depend on it).
    progress : callable, optional
        Called with the number of Monte Carlo samples finished.
    weights : list of records, optional
        Records of :func:`stecheck.weights.scan` (DoReFa transform) at the audit's k and h; adds rows 8'W and 9W.
    """
    cfg = prepared(cfg)
    seed = cfg.seed
    assert isinstance(seed, int)
    bits: tuple[int, ...] = cfg.bits  # type: ignore[assignment]
    started = time.perf_counter()
    records: list[Record] = []
    for run_cfg in engine_configs(cfg):
        records.extend(run(run_cfg, threads=threads, progress=progress).records)
    index = RecordIndex.of(records, cfg.samples)
    noise = slope_noise(seed, cfg.samples)
    positive = [randomized_rounding_row(rounding, cfg.points, bits, cfg.h, cfg.z, noise) for rounding in cfg.randomized]
    deterministic = slope_cases("half-even", cfg.points, bits, cfg.h, cfg.z, noise, label="deterministic round()")
    rows = [
        step_definition(bits, seed),
        step_cancel(bits, seed),
        step_identity_slope(bits, seed),
        step_round_question(bits, seed, deterministic, positive, cfg.z),
        step_adds_n(bits, seed),
        step_zero_error_slope(bits),
        step_scale_factors(bits, seed),
        step_p_zero(index, cfg.inputs, bits, cfg.h, cfg.z),
        step_mean_zero(index, cfg.inputs, bits, cfg.h, cfg.z),
        step_conclusion(index, cfg.inputs, bits, cfg.h, cfg.z),
        identity_a_row(index, cfg.inputs, bits, cfg.z),
        *positive,
        fourier_row(index, cfg.smooth_inputs, bits, cfg.h, cfg.z),
    ]
    if weights is not None:
        rows += [weights_mean_zero_row(weights, bits, cfg.h, cfg.z), weights_conclusion_row(weights, bits, cfg.h, cfg.z)]
    wall = time.perf_counter() - started
    meta = provenance("audit", cfg.as_dict(), seed=seed, wall_time_s=wall, threads=threads)
    meta["seed"] = str(seed)
    meta["verdict_rule"] = (
        "a step holds when every counted case passes, fails when none does, holds-only-if when some do; steps 8' "
        "and 9 (implications) fail on one counterexample among the cases satisfying their premise. Cases fixed "
        "in advance are shown with counted = false. Each row states its case rule."
    )
    return AuditResult(cfg, rows, [row.record() for row in rows], meta)
