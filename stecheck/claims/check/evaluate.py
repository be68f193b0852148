"""Evaluate bounds (see :mod:`stecheck.claims.check.bounds`) against records: one verdict per bound and bit width.

Bounds on a distribution that share a source, a sample count and a seed are evaluated from one engine
run over the union of their bit widths, roundings, schemes and steps. This changes no value: a record
depends only on the seed, the input spec, the sample count and its own cell (:mod:`stecheck.engine.sampling`),
so a verdict is the same whether its bound is checked alone or with others, and the same on every run.

Bounds on weights (``weights = SOURCE``) read the records of :func:`stecheck.weights.scan`, one scan per
(source, transform, tensor pattern): exact population statistics, no randomness. A bound with a
``tensor`` pattern gets one verdict per matching tensor; without one it reads the size-weighted
aggregate row of the default tensor selection.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Final, Sequence

from stecheck.claims.check.bounds import Bound, BoundsError
from stecheck.config import RunConfig
from stecheck.engine.runner import run, total_samples
from stecheck.errors import SpecError, StecheckError
from stecheck.records import Record

if TYPE_CHECKING:
    from stecheck.engine.cluster import Cluster

__all__ = ["CHECK_FIELDS", "RunGroup", "WeightsGroup", "plan_runs", "plan_scans", "condition_holds", "verdict", "evaluate", "total_check_samples", "CheckResult"]

#: Columns of a verdict record, in order.
CHECK_FIELDS: Final = (
    "file",
    "bound",
    "source",
    "quantizer",
    "k",
    "rounding",
    "fd",
    "h",
    "statistic",
    "value",
    "se",
    "upper",
    "target",
    "condition",
    "expect",
    "passed",
    "samples",
    "seed",
)

#: Step used for the one record of a group whose bounds need no finite difference.
_PLACEHOLDER_STEP: Final = 1e-3

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RunGroup:
    """One engine run (``config``) and the indices of the bounds it serves."""

    config: RunConfig
    members: tuple[int, ...]


def _group_key(bound: Bound) -> tuple[str, int | None, int | None, str]:
    return (bound.source, bound.samples, bound.seed, bound.quantizer)


def plan_runs(bounds: Sequence[Bound]) -> list[RunGroup]:
    """Group ``bounds`` by (source, samples, seed, quantizer) and build one :class:`RunConfig` per group.

    The method is ``exact`` when every bound of the group reads an exact statistic, ``mc`` when none
    needs an exact value, else ``both``.
    """
    members: dict[tuple[str, int | None, int | None, str], list[int]] = {}
    for index, bound in enumerate(bounds):
        if not bound.weights:
            members.setdefault(_group_key(bound), []).append(index)
    groups = []
    for (source, samples, seed, quantizer), idx in members.items():
        chosen = [bounds[i] for i in idx]
        stepped = [b for b in chosen if b.stat.needs_step]
        exact_only = all(b.stat.exact for b in chosen)
        needs_exact = any(b.stat.exact or b.target == "exact" for b in chosen)
        config = RunConfig(
            name="check",
            inputs=(source,),
            bits=tuple(sorted({b.k for b in chosen})),
            steps=tuple(sorted({b.h for b in stepped if b.h is not None})) or (_PLACEHOLDER_STEP,),
            schemes=tuple(sorted({b.fd for b in stepped})) or ("forward",),
            roundings=tuple(sorted({b.rounding for b in chosen})),
            samples=1 if samples is None else samples,
            seed=0 if seed is None else seed,
            method="exact" if exact_only else ("both" if needs_exact else "mc"),
            quantizers=(quantizer,),
        )
        groups.append(RunGroup(config, tuple(idx)))
    return groups


@dataclass(frozen=True)
class WeightsGroup:
    """One scan of a weights source and the indices of the bounds it serves."""

    source: str
    transform: str
    tensor: str | None
    bits: tuple[int, ...]
    steps: tuple[float, ...]
    members: tuple[int, ...]
    quantizer: str = "dorefa"


def plan_scans(bounds: Sequence[Bound]) -> list[WeightsGroup]:
    """Group the weights bounds by (source, transform, tensor pattern, quantizer), with the union of k and h."""
    members: dict[tuple[str, str, str | None, str], list[int]] = {}
    for index, bound in enumerate(bounds):
        if bound.weights:
            members.setdefault((bound.source, bound.transform, bound.tensor, bound.quantizer), []).append(index)
    groups = []
    for (source, transform, tensor, quantizer), idx in members.items():
        chosen = [bounds[i] for i in idx]
        steps = tuple(sorted({b.h for b in chosen if b.h is not None})) or (_PLACEHOLDER_STEP,)
        groups.append(WeightsGroup(source, transform, tensor, tuple(sorted({b.k for b in chosen})), steps, tuple(idx), quantizer))
    return groups


def _scan_records(group: WeightsGroup, first: Bound, cluster: Cluster | None = None, threads: int = 1) -> list[Record]:
    """The records of one weights scan (tensor rows for a pattern, else the aggregate rows).

    A source that cannot be opened, or a pattern that selects no tensor, is a :class:`BoundsError`
    naming ``first``, the group's first bound.
    """
    from stecheck.weights import open_source, scan, select  # on use: the loaders import onnx and safetensors

    where = f"{first.file}: bound {first.name!r}"
    try:
        src = open_source(group.source)
    except StecheckError as exc:
        raise BoundsError(f"{where}, field 'weights': {exc}") from None
    try:
        if group.tensor is None:
            tensors = select(src.tensors)
        else:
            tensors = select(src.tensors, include=[group.tensor], all_tensors=True)
    except StecheckError as exc:
        field = "weights" if group.tensor is None else "tensor"
        raise BoundsError(f"{where}, field {field!r}: {exc}") from None
    transform = group.transform if group.quantizer.startswith("dorefa") else "dorefa"  # the others quantize raw weights
    try:
        records = scan(src.label, tensors, group.bits, group.steps, transform, mapper=None if cluster is None else cluster.map,
                       quantizers=(group.quantizer,), threads=threads if cluster is None else 1)
    except SpecError as exc:  # a quantizer whose groups do not fit a tensor
        raise BoundsError(f"{where}, field 'quantizer': {exc}") from None
    return [r for r in records if r["kind"] == ("aggregate" if group.tensor is None else "tensor")]


def condition_holds(
    bound: Bound, value: float, se: float | None, target: float | None, upper: float | None = None
) -> bool:
    """Whether ``value`` satisfies ``bound``'s condition, ``expect = "outside"`` included.

    ``lo <= value <= hi``; ``|value - target| <= within``; ``|value - target| <= within_se * se``.
    When no crossing was observed the standard error is not estimable (None) and the record gives a 95%
    upper confidence bound ``upper`` on the statistic instead (rule of three); a ``within_se`` band is then
    ``value <= target <= upper``: the Monte Carlo is consistent with the target exactly when the target
    lies under that bound. A NaN value satisfies nothing (the bound fails whatever ``expect`` says).
    """
    if math.isnan(value):
        return False
    if bound.interval is not None:
        lo, hi = bound.interval
        inside = lo <= value <= hi
    else:
        assert target is not None
        if bound.within is not None:
            inside = abs(value - target) <= bound.within
        elif se is None and upper is not None:
            inside = value <= target <= upper
        else:
            assert bound.within_se is not None
            inside = abs(value - target) <= bound.within_se * (se if se is not None else math.nan)
    return inside if bound.expect == "inside" else not inside


def _pick(bound: Bound, record: Record, field: str | None) -> float | None:
    if field is None:
        return None
    raw = record.get(field)
    if raw is not None and bound.order is not None:
        raw = raw[bound.order - 1]
    return None if raw is None else bound.stat.scale * float(raw)


def _where(bound: Bound) -> str:
    return f"bound {bound.name!r} (k={bound.k})"


def verdict(bound: Bound, record: Record) -> Record:
    """The verdict record of ``bound`` read from the ``record`` of its cell (engine or weights scan)."""
    stat = bound.stat
    source = f"{bound.source} [{record['tensor']}]" if bound.tensor is not None else bound.source
    value = _pick(bound, record, stat.field)
    if value is None:
        raise BoundsError(f"{_where(bound)}, field 'statistic': {bound.label} has no value for source {source}")
    se = _pick(bound, record, stat.se_field)
    upper = _pick(bound, record, stat.upper_field) if se is None else None
    if bound.within_se is not None and se is None and upper is None:
        raise BoundsError(f"{_where(bound)}, field 'within_se': no standard error for {bound.label}")
    target: float | None
    if bound.target == "exact":
        target = _pick(bound, record, stat.exact_field)
        if target is None:
            raise BoundsError(f"{_where(bound)}, field 'target': no exact value of {bound.label} for source {bound.source}")
    else:
        target = bound.target  # type: ignore[assignment]
    return {
        "file": bound.file,
        "bound": bound.name,
        "source": source,
        "quantizer": bound.cell_quantizer,
        "k": bound.k,
        "rounding": bound.rounding,
        "fd": bound.fd if stat.needs_step else None,
        "h": bound.h,
        "statistic": bound.label,
        "value": value,
        "se": se,
        "upper": upper,
        "target": target,
        "condition": bound.condition_text(),
        "expect": bound.expect,
        "passed": condition_holds(bound, value, se, target, upper),
        "samples": record["size"] if bound.weights else (None if stat.exact else record["samples"]),
        "seed": None if bound.seed is None else str(bound.seed),
    }


def _cell_of(bound: Bound, records: Sequence[Record]) -> Record:
    for rec in records:
        if rec["k"] == bound.k and rec.get("quantizer") == bound.cell_quantizer and rec["rounding"] == bound.rounding and (
            not bound.stat.needs_step or (rec["fd"] == bound.fd and rec["h"] == bound.h)
        ):
            return rec
    raise AssertionError(f"no record for {_where(bound)}")  # the group's grid covers every member


def _tensor_cells(bound: Bound, records: Sequence[Record]) -> list[Record]:
    """The weights records of ``bound``: one per tensor (or the aggregate) at its k and h."""
    cells = [r for r in records if r["k"] == bound.k and r.get("quantizer") == bound.cell_quantizer]
    if bound.stat.needs_step:
        cells = [r for r in cells if r["h"] == bound.h]
    seen: dict[str, Record] = {}
    for rec in cells:
        seen.setdefault(rec["tensor"], rec)  # statistics without h are equal for every h
    return list(seen.values())


@dataclass(frozen=True)
class CheckResult:
    """Verdicts in bound order, with the engine runs' seeds and wall time."""

    verdicts: list[Record]
    runs: list[dict[str, Any]]
    wall_time_s: float

    @property
    def passed(self) -> bool:
        """True when every bound holds."""
        return all(v["passed"] for v in self.verdicts)


def total_check_samples(bounds: Sequence[Bound]) -> int:
    """Monte Carlo samples :func:`evaluate` will draw (a progress bar's total)."""
    return sum(total_samples(group.config) for group in plan_runs(bounds))


def evaluate(
    bounds: Sequence[Bound], threads: int = 1, progress: Progress | None = None, cluster: Cluster | None = None
) -> CheckResult:
    """Run the engine once per group of ``bounds`` and return one verdict per bound, in order.

    With a ``cluster`` (:class:`stecheck.engine.cluster.Cluster`) every engine run's chunks and every weights
    scan's tensors are tasks on it; the verdicts are the same.
    """
    started = time.perf_counter()
    verdicts: list[list[Record]] = [[] for _ in bounds]
    runs = []
    for wgroup in plan_scans(bounds):
        records = _scan_records(wgroup, bounds[wgroup.members[0]], cluster, threads)
        for index in wgroup.members:
            verdicts[index] = [verdict(bounds[index], rec) for rec in _tensor_cells(bounds[index], records)]
        runs.append({"source": wgroup.source, "quantizer": wgroup.quantizer, "samples": None, "seed": None,
                     "method": f"weights ({wgroup.transform})",
                     "bits": list(wgroup.bits), "bounds": len(wgroup.members)})
    for group in plan_runs(bounds):
        result = run(group.config, threads=threads, progress=progress, cluster=cluster)
        for index in group.members:
            verdicts[index] = [verdict(bounds[index], _cell_of(bounds[index], result.records))]
        cfg = result.config
        monte_carlo = cfg.method != "exact"
        runs.append({"source": cfg.inputs[0], "quantizer": cfg.quantizers[0], "samples": cfg.samples if monte_carlo else None,
                     "seed": str(cfg.seed) if monte_carlo else None, "method": cfg.method, "bits": list(cfg.bits),
                     "bounds": len(group.members)})
    return CheckResult([v for per_bound in verdicts for v in per_bound], runs, time.perf_counter() - started)
