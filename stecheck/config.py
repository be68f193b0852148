"""Run configurations: validation, bit-width ranges, and experiment TOML files."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final, Iterable, Sequence

from stecheck.core.distributions import MAX_MAGNITUDE, MIN_SCALE, parse_input
from stecheck.core.quantize import check_bits, check_rounding
from stecheck.core.quantizers import DEFAULT_QUANTIZER, parse_quantizer
from stecheck.errors import ConfigError
from stecheck.records import config_as_dict
from stecheck.seeds import RANDOM, fresh_seed

__all__ = [
    "SCHEMES",
    "METHODS",
    "MIN_STEP",
    "MAX_STEP",
    "RunConfig",
    "parse_bits",
    "parse_seed",
    "load_config",
    "default_config",
]

SCHEMES: Final = ("forward", "central")
METHODS: Final = ("mc", "exact", "both")
#: Smallest step h: 2^16 ulps of 1, so r + h near r = 1 keeps 16 bits of h (float64 has 52), at every k
#: since the scaled step 2^k h and the spacing of 2^k r grow together.
MIN_STEP: Final = MIN_SCALE
#: Largest step h (crosses up to 2^24 * 1000 levels).
MAX_STEP: Final = MAX_MAGNITUDE
DEFAULT_EXPERIMENT: Final = "default.toml"
#: Most bits of a seed.
MAX_SEED_BITS: Final = 256
#: Longest experiment name (it names the results directory).
MAX_NAME_LENGTH: Final = 200


def parse_bits(values: Iterable[int | str]) -> tuple[int, ...]:
    """Bit widths from integers and texts such as ``"3"``, ``"1-8"`` or ``"1,2,6-8"`` (sorted, unique)."""
    out: set[int] = set()
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            out.add(check_bits(value))
            continue
        for piece in str(value).split(","):
            piece = piece.strip()
            lo, sep, hi = piece.partition("-")
            try:
                a, b = (int(lo), int(hi)) if sep else (int(piece), int(piece))
            except ValueError:
                raise ConfigError(f"bit width {piece!r} is not an integer or a range like 1-8") from None
            if a > b:
                raise ConfigError(f"bit-width range {piece!r} is empty")
            out.update(check_bits(k) for k in range(a, b + 1))
    if not out:
        raise ConfigError("no bit width given")
    return tuple(sorted(out))


def parse_seed(value: int | str | None) -> int | None:
    """A non-negative integer seed, from an int or a decimal/hex text (TOML integers stop at 2^63).

    The text ``"random"`` (:data:`stecheck.seeds.RANDOM`) draws a fresh seed from OS entropy.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == RANDOM:
        return fresh_seed()
    if isinstance(value, bool):
        raise ConfigError(f"seed {value!r} is not a non-negative integer")
    limit = f"at most {MAX_SEED_BITS} bits (numpy's SeedSequence mixes a seed into a 128-bit pool, so longer seeds add nothing)"
    if not isinstance(value, int) and len(str(value)) > 2 + MAX_SEED_BITS:  # checked before parsing: no huge int is built
        raise ConfigError(f"seed text of {len(str(value))} characters is too long: a seed has {limit}")
    try:
        seed = value if isinstance(value, int) else int(str(value), 0)
    except ValueError:
        shown = repr(value) if len(str(value)) <= 60 else f"{str(value)[:40]!r}..."
        raise ConfigError(f"seed {shown} is not a non-negative integer") from None
    if seed < 0:
        raise ConfigError(f"seed {seed if seed.bit_length() <= MAX_SEED_BITS else '(a long negative number)'} is negative: "
                          f"seeds are non-negative integers")
    if seed.bit_length() > MAX_SEED_BITS:
        raise ConfigError(f"seed has {seed.bit_length()} bits: a seed has {limit}")
    return seed


def _check_step(h: Any) -> float:
    if isinstance(h, bool) or isinstance(h, str):  # float(True) is 1.0, float("1e-3") parses: neither is a number here
        raise ConfigError(f"step size h={h!r} is not a number")
    try:
        value = float(h)
    except (TypeError, ValueError):
        raise ConfigError(f"step size h={h!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"step size h={h!r} must be a finite number > 0")
    if not MIN_STEP <= value <= MAX_STEP:
        raise ConfigError(
            f"step size h={h!r} is outside [{MIN_STEP:.3g}, {MAX_STEP:.3g}]: below, r + h and F(t) - F(t - h) keep fewer "
            f"than 16 bits of h in float64 (E[D_h] would be rounding noise); above, 2^k h overflows the resolution of n"
        )
    return value


@dataclass(frozen=True)
class RunConfig:
    """A grid of cells (input x k x rounding) and the finite differences (scheme x h) to estimate."""

    name: str = "adhoc"
    inputs: tuple[str, ...] = ()
    bits: tuple[int, ...] = tuple(range(1, 9))
    steps: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
    schemes: tuple[str, ...] = SCHEMES
    roundings: tuple[str, ...] = ("half-even",)
    samples: int = 1_000_000
    seed: int | None = None
    method: str = "both"
    description: str = ""
    #: Quantizer specs (:mod:`stecheck.core.quantizers`); ``dorefa`` runs DoReFa at every width of ``bits``.
    quantizers: tuple[str, ...] = (DEFAULT_QUANTIZER,)

    def validated(self) -> RunConfig:
        """This config with canonical input specs, or :class:`ConfigError` / :class:`SpecError`."""
        if not self.inputs:
            raise ConfigError("no input distribution given (use --dist SPEC)")
        if (not isinstance(self.name, str) or not self.name or any(c in self.name for c in "/\\") or self.name.startswith(".")
                or any(ord(c) < 32 or ord(c) == 127 for c in self.name) or len(self.name) > MAX_NAME_LENGTH):
            raise ConfigError(f"experiment name {self.name!r} must be a plain file name (text of at most {MAX_NAME_LENGTH} "
                              f"characters, no path separator, control character or leading dot)")
        if not isinstance(self.description, str):
            raise ConfigError(f"experiment description {self.description!r} must be text")
        inputs = tuple(parse_input(spec).spec for spec in self.inputs)
        for scheme in self.schemes:
            if scheme not in SCHEMES:
                raise ConfigError(f"unknown finite-difference scheme {scheme!r}: expected forward or central")
        for rounding in self.roundings:
            check_rounding(rounding)
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}: expected one of {', '.join(METHODS)}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples <= 0:
            raise ConfigError(f"sample count {self.samples!r} must be a positive integer")
        if not self.steps or not self.schemes or not self.roundings:
            raise ConfigError("need at least one step size h, one scheme and one rounding")
        quantizers = _check_quantizers(self.quantizers, inputs, self.roundings)
        return replace(
            self,
            quantizers=quantizers,
            inputs=tuple(dict.fromkeys(inputs)),
            bits=parse_bits(self.bits),
            steps=tuple(dict.fromkeys(_check_step(h) for h in self.steps)),
            schemes=tuple(dict.fromkeys(self.schemes)),
            roundings=tuple(dict.fromkeys(self.roundings)),
            seed=parse_seed(self.seed),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for provenance (:func:`stecheck.records.config_as_dict`)."""
        return config_as_dict(self)


def _check_quantizers(specs: Sequence[str], inputs: Sequence[str], roundings: Sequence[str]) -> tuple[str, ...]:
    """Canonical quantizer specs, refusing what a parametric input cannot run.

    Quantizers other than DoReFa need a fixed grid (a parametric input has no tensor to take a scale
    from), an input without DoReFa's input paths or grid-relative counterexamples, and half-even
    rounding among the roundings (they round to nearest, ties to even).
    """
    if isinstance(specs, str) or not specs:
        raise ConfigError("no quantizer given (use --quantizer SPEC, e.g. dorefa or 'absmax(4,scale=0.1)')")
    parsed = [parse_quantizer(spec) for spec in specs]
    others = [q for q in parsed if q.kind != "dorefa"]
    for q in others:
        if not q.fixed:
            raise ConfigError(f"quantizer {q.spec} takes its scale from the data, and a parametric input has no tensor to take "
                              f"it from: state a scale (absmax/affine with scale=S, fp with scale=S, or fixed(bits,step))")
    if others:
        if "half-even" not in roundings:
            raise ConfigError(f"quantizer {others[0].spec} rounds to nearest with ties to even: add half-even to --rounding "
                              f"(the other roundings apply to dorefa)")
        for spec in inputs:
            inp = parse_input(spec)
            if inp.path != "none" or inp.dist.depends_on_bits:
                raise ConfigError(f"input {spec} is defined for DoReFa's grid (an input path or a grid-relative "
                                  f"counterexample): use a plain distribution with quantizer {others[0].spec}")
    return tuple(dict.fromkeys(q.spec for q in parsed))


_KEYS: Final = {
    "name": "name",
    "description": "description",
    "inputs": "inputs",
    "bits": "bits",
    "h": "steps",
    "fd": "schemes",
    "rounding": "roundings",
    "samples": "samples",
    "seed": "seed",
    "method": "method",
    "quantizer": "quantizers",
}


#: TOML types each key of an experiment file accepts (a list key also takes a list of them).
_TYPES: Final = {
    "name": (str,),
    "description": (str,),
    "inputs": (str,),
    "bits": (int, str),
    "h": (int, float),
    "fd": (str,),
    "rounding": (str,),
    "samples": (int,),
    "seed": (int, str),
    "method": (str,),
    "quantizer": (str,),
}
_LIST_KEYS: Final = ("inputs", "bits", "h", "fd", "rounding", "quantizer")
_TYPE_NAMES: Final = {str: "a string", int: "an integer", float: "a number"}


def _typed(key: str, value: Any, source: str) -> Any:
    """``value`` of TOML key ``key`` if its type is right (a bool is not a number), else :class:`ConfigError`."""
    allowed = _TYPES[key]
    items = value if key in _LIST_KEYS and isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, allowed):
            wanted = ("a number" if float in allowed else " or ".join(_TYPE_NAMES[t] for t in allowed)) + (
                " (or a list of them)" if key in _LIST_KEYS else "")
            shown = repr(item) if len(repr(item)) <= 60 else f"a {type(item).__name__}"
            raise ConfigError(f"{source}: {key} = {shown} is not {wanted}")
    return tuple(items) if key in _LIST_KEYS else value


def config_from_mapping(data: dict[str, Any], source: str) -> RunConfig:
    """A :class:`RunConfig` from a parsed TOML table (keys as in experiments/default.toml), types checked."""
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
    return RunConfig(**{attr: _typed(key, data[key], source) for key, attr in _KEYS.items() if key in data})


def read_toml(path: Path, kind: str = "config", error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """The parsed TOML file ``path``; unreadable, non-UTF-8 or invalid files raise ``error`` naming ``kind``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {kind} {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {kind} {str(path)!r}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{kind} {str(path)!r} is not valid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{kind} {str(path)!r} is nested too deeply to read (arrays or tables within each other)") from None


def load_config(path: Path) -> RunConfig:
    """Read an experiment TOML file (not yet validated)."""
    return config_from_mapping(read_toml(path), str(path))


def default_config() -> RunConfig:
    """The default experiment, shipped inside the package (a copy of experiments/default.toml)."""
    text = resources.files("stecheck").joinpath("data", DEFAULT_EXPERIMENT).read_text(encoding="utf-8")
    return config_from_mapping(tomllib.loads(text), DEFAULT_EXPERIMENT)


def override(config: RunConfig, **changes: Any) -> RunConfig:
    """``config`` with the given fields replaced, skipping None and empty sequences (unset CLI options)."""
    kept = {k: v for k, v in changes.items() if v is not None and not (isinstance(v, Sequence) and not isinstance(v, str) and len(v) == 0)}
    return replace(config, **kept)
