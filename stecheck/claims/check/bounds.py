"""Bounds files: TOML tables of claims about record statistics, parsed and validated.

A bounds file has an optional ``[defaults]`` table and one ``[[bound]]`` table per claim::

    [defaults]
    samples = 200000
    seed = "0x5eed"
    fd = "forward"

    [[bound]]
    name = "uniform inputs: E[n] = 0"
    source = "uniform(0,1)"
    k = "1-8"
    statistic = "mean_n"
    target = 0.0
    within_se = 5

A bound's fields (any of them may come from ``[defaults]``, the bound's own value wins):

- ``name`` (text, unique), ``source`` (a distribution spec), ``k`` (a bit width, a range ``"1-8"`` or a
  list: one check per bit width), ``statistic`` (a record field, see :data:`STATISTICS`;
  ``fourier_abs[l]`` and ``exact_fourier_abs[l]`` select order l = 1..8);
- ``rounding`` (default ``half-even``), ``fd`` (``forward`` or ``central``, default ``forward``) and ``h``
  (the step; required for the finite-difference statistics ``mean_fd``, ``p_fd_zero``, ...);
- ``samples`` and ``seed``: required unless the statistic is exact (verdicts must be reproducible);
- exactly one condition: ``interval = [lo, hi]`` (``lo <= hi``; ``inf`` and ``-inf`` allowed),
  ``within = X`` with ``target`` (``|value - target| <= X``) or ``within_se = z`` with ``target``
  (``|value - target| <= z * SE``, SE the record's Monte Carlo standard error of that statistic). Where
  no crossing was observed the SE of ``mean_fd`` is not estimable; the band is then ``0 <= target <= U``
  with ``U`` the record's 95% upper confidence bound ``mean_fd_upper`` (rule of three).
  ``target`` is a number or ``"exact"``: the exact reference of the same statistic in the same record;
- ``expect``: ``"inside"`` (default) or ``"outside"``: the statistic must lie outside the interval or
  band, which keeps a counterexample checked.

Instead of ``source``, ``weights`` names a weight SOURCE as ``stecheck weights`` takes it (a file, a
directory, ``zoo:NAME``, ``hf:ORG/NAME``), with ``transform`` (``dorefa`` default, ``absmax``,
``minmax``) and optionally ``tensor``, a regular expression choosing tensors (one check per matching
tensor; without it the size-weighted aggregate of the default selection is checked). A tensor is a whole
population, so its statistics are exact: no ``samples``, ``seed`` or ``within_se``; ``sqnr_db``,
``sqnr_uniform_db`` and ``share_holds`` exist only for weights.

``quantizer`` (any bound) names the quantizer as ``--quantizer`` takes it (default ``dorefa``: DoReFa at
every ``k``). Another quantizer has its own bit width, so ``k`` may be left out (if given, it must equal
the quantizer's width; ``dorefa(k)`` likewise). On a distribution it needs a fixed grid (``fixed``, or a
stated ``scale=``), half-even rounding and an input without DoReFa's input paths, as for ``simulate``; on
weights any quantizer runs with each tensor's own scales (``transform`` is DoReFa's only), and ``p_n_zero``
(weights exactly on a level) may be bounded.

Every mistake raises :class:`BoundsError` naming the file, the bound and the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Mapping

from stecheck.config import SCHEMES, _check_quantizers, parse_bits, parse_seed, read_toml
from stecheck.core.distributions import parse_input
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.quantize import check_rounding
from stecheck.core.quantizers import DEFAULT_QUANTIZER, Quantizer, parse_quantizer
from stecheck.errors import ConfigError, StecheckError

__all__ = [
    "BoundsError",
    "Statistic",
    "STATISTICS",
    "FIELDS",
    "Bound",
    "parse_statistic",
    "parse_bounds",
    "load_bounds",
]


class BoundsError(ConfigError):
    """A bounds file that cannot be read or has a bound with a missing, unknown or invalid field."""


@dataclass(frozen=True)
class Statistic:
    """How to read one statistic from a record.

    The value is ``scale * record[field]`` (element ``l - 1`` of it when ``indexed``), its Monte Carlo
    standard error ``scale * record[se_field]`` and its exact reference ``scale * record[exact_field]``;
    ``needs_step``: the statistic depends on the finite difference (``fd``, ``h``); ``exact``: the
    statistic itself is an exact reference.
    """

    field: str
    scale: float = 1.0
    se_field: str | None = None
    exact_field: str | None = None
    needs_step: bool = False
    exact: bool = False
    indexed: bool = False
    #: Field of the one-sided upper confidence bound a record gives when the standard error is not
    #: estimable (no crossing observed: ``mean_fd_upper``, rule of three).
    upper_field: str | None = None
    #: Where the statistic exists: in ``simulate`` records (distribution sources), ``weights`` records, or both.
    for_dist: bool = True
    for_weights: bool = False


#: The statistics a bound may name (record fields of ``stecheck simulate``, plus ``var12_n``).
STATISTICS: Final[dict[str, Statistic]] = {
    "mean_n": Statistic("mean_n", se_field="mean_n_se", exact_field="exact_mean_n", for_weights=True),
    "var_n": Statistic("var_n", se_field="var_n_se", exact_field="exact_var_n", for_weights=True),
    "var12_n": Statistic("var_n", scale=12.0, se_field="var_n_se", exact_field="exact_var_n", for_weights=True),
    "p_n_zero": Statistic("p_n_zero", for_weights=True),
    "ks_stat": Statistic("ks_stat", for_weights=True),
    "ks_pvalue": Statistic("ks_pvalue", for_weights=True),
    "chi2_stat": Statistic("chi2_stat"),
    "chi2_pvalue": Statistic("chi2_pvalue"),
    "fourier_abs": Statistic("fourier_abs", exact_field="exact_fourier_abs", indexed=True, for_weights=True),
    "mean_fd": Statistic(
        "mean_fd", se_field="mean_fd_se", exact_field="exact_mean_fd", needs_step=True, for_weights=True,
        upper_field="mean_fd_upper",
    ),
    "p_fd_zero": Statistic("p_fd_zero", exact_field="exact_p_fd_zero", needs_step=True),
    "ste": Statistic("ste", needs_step=True),
    "exact_mean_n": Statistic("exact_mean_n", exact=True),
    "exact_var_n": Statistic("exact_var_n", exact=True),
    "exact_var12_n": Statistic("exact_var_n", scale=12.0, exact=True),
    "exact_fourier_abs": Statistic("exact_fourier_abs", exact=True, indexed=True),
    "exact_mean_fd": Statistic("exact_mean_fd", exact=True, needs_step=True),
    "exact_p_fd_zero": Statistic("exact_p_fd_zero", exact=True, needs_step=True),
    "sqnr_db": Statistic("sqnr_db", for_dist=False, for_weights=True),
    "sqnr_uniform_db": Statistic("sqnr_uniform_db", for_dist=False, for_weights=True),
    "share_holds": Statistic("share_holds", for_dist=False, for_weights=True),
}

#: The fields a ``[[bound]]`` (or ``[defaults]``) table may have.
FIELDS: Final = (
    "name", "source", "weights", "tensor", "transform", "quantizer", "k", "statistic", "rounding", "fd", "h", "samples",
    "seed", "interval", "within", "within_se", "target", "expect",
)
_CONDITIONS: Final = ("interval", "within", "within_se")
_INDEXED = re.compile(r"^([a-z_0-9]+)\[(\d+)\]$")


@dataclass(frozen=True)
class Bound:
    """One claim at one bit width (a bound with ``k = "1-8"`` becomes eight of these).

    The condition is ``lo <= value <= hi`` for an interval; ``|value - target| <= within`` or
    ``|value - target| <= within_se * SE`` for a band; ``expect = "outside"`` negates it.
    """

    name: str
    source: str
    k: int
    statistic: str
    order: int | None
    rounding: str
    fd: str
    h: float | None
    samples: int | None
    seed: int | None
    interval: tuple[float, float] | None
    within: float | None
    within_se: float | None
    target: float | str | None
    expect: str
    #: For a weights source: ``weights`` is True, ``source`` the SOURCE string of ``stecheck weights``,
    #: ``tensor`` a regex choosing tensors (None: the size-weighted aggregate row), ``transform`` w -> r.
    weights: bool = False
    tensor: str | None = None
    transform: str = "dorefa"
    #: The bounds file the bound comes from (as given to :func:`parse_bounds`).
    file: str = ""
    #: The quantizer's canonical spec (:func:`stecheck.core.quantizers.parse_quantizer`); ``dorefa``: DoReFa at ``k``.
    quantizer: str = DEFAULT_QUANTIZER

    @property
    def cell_quantizer(self) -> str:
        """The ``quantizer`` field of the record this bound reads (``dorefa(k)`` for DoReFa)."""
        return f"dorefa({self.k})" if self.quantizer == DEFAULT_QUANTIZER else self.quantizer

    @property
    def stat(self) -> Statistic:
        """The :class:`Statistic` this bound reads."""
        return STATISTICS[self.statistic]

    @property
    def label(self) -> str:
        """The statistic as written, e.g. ``fourier_abs[1]``."""
        return self.statistic if self.order is None else f"{self.statistic}[{self.order}]"

    def condition_text(self) -> str:
        """The condition in words: ``in [0.9, 1.1]``, ``within 5 SE of 0``, ``beyond 0.1 of exact`` ..."""
        outside = self.expect == "outside"
        if self.interval is not None:
            lo, hi = self.interval
            return f"{'outside' if outside else 'in'} [{_num(lo)}, {_num(hi)}]"
        target = self.target if isinstance(self.target, str) else _num(self.target)
        width = _num(self.within) if self.within is not None else f"{_num(self.within_se)} SE"
        return f"{'beyond' if outside else 'within'} {width} of {target}"


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return format(x, "g") if math.isfinite(x) else ("inf" if x > 0 else "-inf")


class _Fields:
    """The merged fields of one bound, with errors that name the file, the bound and the field."""

    def __init__(self, where: str, name: str, data: Mapping[str, Any]) -> None:
        self.where = where
        self.name = name
        self.data = data

    def error(self, field: str, message: str) -> BoundsError:
        return BoundsError(f"{self.where}: bound {self.name!r}, field {field!r}: {message}")

    def has(self, field: str) -> bool:
        return field in self.data

    def get(self, field: str, default: Any = None) -> Any:
        return self.data.get(field, default)

    def require(self, field: str) -> Any:
        if field not in self.data:
            raise self.error(field, "missing field (set it in the bound or in [defaults])")
        return self.data[field]

    def number(self, field: str, *, allow_infinite: bool = False) -> float:
        value = self.require(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(field, f"{value!r} is not a number")
        value = float(value)
        if math.isnan(value) or (not allow_infinite and math.isinf(value)):
            raise self.error(field, f"{value!r} must be a finite number")
        return value

    def text(self, field: str) -> str:
        value = self.require(field)
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, f"{value!r} is not a non-empty text")
        return value.strip()

    def checked(self, field: str, check: Any, *args: Any) -> Any:
        """``check(*args)`` with its :class:`StecheckError` re-raised naming this bound and field."""
        try:
            return check(*args)
        except StecheckError as exc:
            raise self.error(field, str(exc)) from None


def _weights_fields(f: _Fields) -> str | None:
    """Check ``tensor`` (a regex) and ``transform`` of a weights bound; return the regex or None."""
    from stecheck.weights import TRANSFORMS

    transform = f.get("transform", "dorefa")
    if transform not in TRANSFORMS:
        raise f.error("transform", f"unknown transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")
    if not f.has("tensor"):
        return None
    pattern = f.text("tensor")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise f.error("tensor", f"bad regular expression {pattern!r}: {exc}") from None
    return pattern


def parse_statistic(text: str) -> tuple[str, int | None]:
    """``"mean_fd"`` -> ``("mean_fd", None)``; ``"fourier_abs[2]"`` -> ``("fourier_abs", 2)``.

    Raises :class:`ValueError` with a message listing the known statistics.
    """
    match = _INDEXED.match(text)
    name, order = (match.group(1), int(match.group(2))) if match else (text, None)
    known = ", ".join(f"{s}[l]" if st.indexed else s for s, st in STATISTICS.items())
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {text!r}; known: {known}")
    if STATISTICS[name].indexed and order is None:
        raise ValueError(f"{name} needs a Fourier order: {name}[l] with l in 1..{FOURIER_ORDERS}")
    if not STATISTICS[name].indexed and order is not None:
        raise ValueError(f"{name} takes no index")
    if order is not None and not 1 <= order <= FOURIER_ORDERS:
        raise ValueError(f"Fourier order {order} is out of range 1..{FOURIER_ORDERS}")
    return name, order


def _condition(f: _Fields, stat: Statistic, weights: bool) -> dict[str, Any]:
    given = [c for c in _CONDITIONS if f.has(c)]
    if len(given) != 1:
        field = "interval|within|within_se"
        if not given:
            raise f.error(field, "missing condition: give one of interval = [lo, hi], within = X, within_se = z")
        raise f.error(field, f"give only one condition (got {' and '.join(given)})")
    cond: dict[str, Any] = {"interval": None, "within": None, "within_se": None, "target": None}
    kind = given[0]
    if kind == "interval":
        value = f.get("interval")
        if not isinstance(value, list) or len(value) != 2:
            raise f.error("interval", f"{value!r} is not a pair [lo, hi]")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) for v in value):
            raise f.error("interval", f"{value!r} must hold two numbers")
        lo, hi = float(value[0]), float(value[1])
        if lo > hi:
            raise f.error("interval", f"impossible interval: lo {_num(lo)} > hi {_num(hi)}")
        if f.has("target"):
            raise f.error("target", "an interval takes no target (target goes with within or within_se)")
        cond["interval"] = (lo, hi)
        return cond
    width = f.number(kind)
    if width < 0:
        raise f.error(kind, f"{_num(width)} must be >= 0")
    if kind == "within_se" and (stat.se_field is None or weights):
        kinds = "is exact" if stat.exact or weights else "has no standard error in the records"
        kinds += " (a weight tensor is the whole population)" if weights else ""
        raise f.error("within_se", f"statistic {stat.field} {kinds}: use within = X or an interval")
    cond[kind] = width
    target = f.require("target")
    if target == "exact":
        if stat.exact_field is None or weights:
            raise f.error("target", f"statistic {stat.field} has no exact reference to target")
        cond["target"] = "exact"
    else:
        cond["target"] = f.number("target")
    return cond


def _expand(where: str, index: int, table: Any, defaults: Mapping[str, Any], seen: set[str]) -> list[Bound]:
    label = f"#{index + 1}"
    if not isinstance(table, dict):
        raise BoundsError(f"{where}: bound {label} is not a table ([[bound]])")
    raw_name = table.get("name", defaults.get("name"))
    name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else label
    f = _Fields(where, name, {**defaults, **table})
    for key in table:
        if key not in FIELDS:
            raise f.error(key, f"unknown field; known: {', '.join(FIELDS)}")
    if "name" not in table:
        raise f.error("name", "missing field (every bound needs a unique name)")
    name = f.text("name")
    if name in seen:
        raise f.error("name", "duplicate bound name")
    seen.add(name)
    weights = f.has("weights")
    if weights == f.has("source"):
        raise f.error("source|weights", "give exactly one of source (a distribution spec) and weights (a weight SOURCE)")
    if weights:
        source = f.text("weights")
        tensor = _weights_fields(f)
    else:
        source = f.checked("source", lambda s: parse_input(s).spec, f.text("source"))
        tensor = None
        for key in ("tensor", "transform"):
            if key in table:
                raise f.error(key, "only a weights source takes this field")
    quantizer = _quantizer(f, weights, table)
    if quantizer is not None and (quantizer.kind != "dorefa" or quantizer.bits):
        bits = [quantizer.bits]
        if f.has("k"):
            raw_k = f.get("k")
            given = f.checked("k", parse_bits, raw_k if isinstance(raw_k, list) else [raw_k])
            if list(given) != bits:
                raise f.error("k", f"quantizer {quantizer.spec} has bit width {quantizer.bits}: give k = {quantizer.bits} "
                                   "or leave k out")
    else:
        raw_k = f.require("k")
        bits = f.checked("k", parse_bits, raw_k if isinstance(raw_k, list) else [raw_k])
    try:
        statistic, order = parse_statistic(f.text("statistic"))
    except ValueError as exc:
        raise f.error("statistic", str(exc)) from None
    stat = STATISTICS[statistic]
    if not (stat.for_weights if weights else stat.for_dist):
        kind = "a weights source" if weights else "a distribution source (it needs weights = SOURCE)"
        raise f.error("statistic", f"{statistic} is not available for {kind}")
    rounding = f.checked("rounding", check_rounding, f.get("rounding", "half-even"))
    fd = f.get("fd", "forward")
    if fd not in SCHEMES:
        raise f.error("fd", f"unknown finite-difference scheme {fd!r}: expected forward or central")
    if weights and (rounding, fd) != ("half-even", "forward"):
        field = "rounding" if rounding != "half-even" else "fd"
        raise f.error(field, "weights are scanned with half-even rounding and forward differences only")
    h = None
    if stat.needs_step:
        h = f.number("h")
        if h <= 0:
            raise f.error("h", f"step size {_num(h)} must be > 0")
    samples = seed = None
    if not (stat.exact or weights):
        samples = f.require("samples")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples <= 0:
            raise f.error("samples", f"{samples!r} must be a positive integer")
        seed = f.checked("seed", parse_seed, f.require("seed"))
    expect = f.get("expect", "inside")
    if expect not in ("inside", "outside"):
        raise f.error("expect", f"{expect!r}: expected 'inside' or 'outside'")
    cond = _condition(f, stat, weights)
    spec = DEFAULT_QUANTIZER if quantizer is None or (quantizer.kind == "dorefa") else quantizer.spec
    if quantizer is not None and quantizer.kind != "dorefa" and not weights:
        if rounding != "half-even":
            raise f.error("rounding", f"quantizer {spec} rounds to nearest with ties to even: use rounding = \"half-even\" "
                                      "(the other roundings are DoReFa's)")
        f.checked("quantizer", _check_quantizers, [spec], [source], [rounding])
    return [
        Bound(name=name, source=source, k=k, statistic=statistic, order=order, rounding=rounding, fd=fd, h=h,
              samples=samples, seed=seed, expect=expect, file=where, weights=weights, tensor=tensor,
              transform=f.get("transform", "dorefa"), quantizer=spec, **cond)
        for k in bits
    ]


def _quantizer(f: _Fields, weights: bool, table: Mapping[str, Any]) -> Quantizer | None:
    """The bound's parsed ``quantizer`` (None when not given); a bad spec is a :class:`BoundsError`."""
    if not f.has("quantizer"):
        return None
    quantizer = f.checked("quantizer", parse_quantizer, f.text("quantizer"))
    if weights and quantizer.kind != "dorefa" and "transform" in table:
        raise f.error("transform", f"quantizer {quantizer.spec} quantizes the raw weights: transform is DoReFa's only")
    return quantizer


def parse_bounds(data: Mapping[str, Any], where: str) -> list[Bound]:
    """Bounds from a parsed TOML document (see the module docstring); ``where`` names it in errors."""
    unknown = sorted(set(data) - {"defaults", "bound"})
    if unknown:
        raise BoundsError(f"{where}: unknown top-level key(s) {', '.join(unknown)}; expected [defaults] and [[bound]]")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise BoundsError(f"{where}: [defaults] must be a table")
    for key in defaults:
        if key not in FIELDS or key == "name":
            raise BoundsError(f"{where}: [defaults], field {key!r}: not a default a bound can take")
    tables = data.get("bound", [])
    if not isinstance(tables, list) or not tables:
        raise BoundsError(f"{where}: no bounds: add [[bound]] tables")
    seen: set[str] = set()
    bounds: list[Bound] = []
    for index, table in enumerate(tables):
        bounds.extend(_expand(where, index, table, defaults, seen))
    return bounds


def load_bounds(path: Path) -> list[Bound]:
    """Read and validate a bounds TOML file."""
    return parse_bounds(read_toml(path, "bounds file", BoundsError), str(path))
