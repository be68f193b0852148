"""Input distributions built from spec strings.

Grammar (whitespace ignored)::

    input   := call
    call    := NAME "(" [arg ("," arg)*] ")"
    arg     := NUMBER | call | NUMBER "*" call | NAME "=" NUMBER

Families: ``uniform(a,b)``, ``normal(mu,sigma)``, ``laplace(mu,b)``, ``logistic(mu,s)``,
``t(df,mu,s)``, ``beta(a,b)``, ``point(x)``, ``mix(w1*D1, w2*D2, ...)``; the counterexamples
``onlevel(width)`` and ``onthreshold(width)`` (uniform, ``width`` in quantization steps, centred on a
level or on the threshold 1/2, so that E[n] = 0 exactly); and the two DoReFa input paths, allowed only
at the top level: ``clip(D)`` (activations, r = clip(x, 0, 1)) and ``dorefa(D, size=M)`` (weights,
r = tanh(w) / (2 max|tanh w|) + 1/2 over tensors of M draws).
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from stecheck.core.quantize import levels
from stecheck.errors import SpecError

__all__ = [
    "FAMILIES",
    "Distribution",
    "Continuous",
    "Atom",
    "Mixture",
    "Counterexample",
    "InputSpec",
    "parse_input",
    "parse_distribution",
    "format_number",
    "MAX_MAGNITUDE",
    "MIN_SCALE",
    "MAX_TENSOR",
]

Path = Literal["none", "clip", "dorefa"]

FAMILIES: Final = (
    "uniform(a,b)",
    "normal(mu,sigma)",
    "laplace(mu,b)",
    "logistic(mu,s)",
    "t(df,mu,s)",
    "beta(a,b)",
    "point(x)",
    "mix(w*D,...)",
    "onlevel(width)",
    "onthreshold(width)",
    "clip(D)",
    "dorefa(D,size=M)",
)


def format_number(x: float) -> str:
    """Shortest text that reads back as ``x`` (integers without a decimal point)."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


class Distribution(ABC):
    """A univariate input distribution of r (before any DoReFa path is applied)."""

    spec: str
    #: True when the distribution is defined relative to the quantization grid (counterexamples).
    depends_on_bits: bool = False

    def at_bits(self, k: int) -> Distribution:
        """The distribution used at bit width ``k`` (itself unless it depends on the grid)."""
        return self

    @abstractmethod
    def draw(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        """``size`` independent draws from ``rng``."""

    @abstractmethod
    def parts(self) -> list[tuple[float, Continuous | Atom]]:
        """Mixture weights and elementary parts, the form the exact references work on."""

    def __str__(self) -> str:
        return self.spec


@dataclass(frozen=True)
class Continuous(Distribution):
    """A continuous family, wrapping a frozen :mod:`scipy.stats` distribution for cdf/pdf/ppf."""

    spec: str
    rv: stats.rv_continuous = field(repr=False, compare=False)
    sampler: Callable[[np.random.Generator, int], NDArray[np.float64]] = field(repr=False, compare=False)
    #: Points where the density is continuous but not differentiable (Laplace's centre).
    kinks: tuple[float, ...] = ()
    #: ``(p_lo, p_hi)``: near a bounded support's ends the density behaves as ``(x - lo)^p_lo`` and
    #: ``(hi - x)^p_hi`` times a smooth function (beta: ``a - 1``, ``b - 1``); 0 elsewhere.
    end_powers: tuple[float, float] = (0.0, 0.0)
    #: The law of ``lo + hi - X`` for a bounded support (beta(a,b) -> beta(b,a)): its density near ``lo``
    #: is this one's near ``hi``, without the cancellation of ``hi - (hi - d)``.
    mirror: stats.rv_continuous | None = field(default=None, repr=False, compare=False)
    #: ``(base, loc, spread)`` when ``sampler`` draws ``loc + spread * rng.<base>()`` (``base`` ``"random"`` or
    #: ``"standard_normal"``), as numpy's ``uniform`` and ``normal`` do: the compiled scan then draws the same
    #: numbers itself (:mod:`stecheck.core.pcg64`).
    affine: tuple[str, float, float] | None = field(default=None, repr=False, compare=False)

    def draw(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return self.sampler(rng, size)

    def parts(self) -> list[tuple[float, Continuous | Atom]]:
        return [(1.0, self)]

    def cdf(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Cumulative distribution function (continuous, so left limits are equal)."""
        return self.rv.cdf(x)

    def pdf(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Density."""
        return self.rv.pdf(x)

    def pdf_from_end(self, d: NDArray[np.float64], side: str) -> NDArray[np.float64]:
        """Density at distance ``d >= 0`` inside the support's ``"lo"`` or ``"hi"`` end (bounded support)."""
        lo, hi = self.rv.support()
        if side == "lo":
            return self.rv.pdf(lo + d)
        if self.mirror is not None:
            return self.mirror.pdf(lo + d)
        return self.rv.pdf(hi - d)

    def support(self, tail: float) -> tuple[float, float]:
        """Interval holding all but ``tail`` of the mass on each side (the support if bounded)."""
        lo, hi = self.rv.support()
        if not math.isfinite(lo):
            lo = float(self.rv.ppf(tail))
        if not math.isfinite(hi):
            hi = float(self.rv.isf(tail))
        return float(lo), float(hi)

    def bounded(self) -> bool:
        """True when the support is a bounded interval (kinks of the density at its ends)."""
        lo, hi = self.rv.support()
        return bool(math.isfinite(lo) and math.isfinite(hi))

    def spread(self) -> float:
        """A robust scale: the interquartile range (finite for every family, Cauchy included)."""
        return float(self.rv.ppf(0.75) - self.rv.ppf(0.25))


@dataclass(frozen=True)
class Atom(Distribution):
    """A point mass at ``x`` (``point(x)``)."""

    spec: str
    x: float

    def draw(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return np.full(size, self.x)

    def parts(self) -> list[tuple[float, Continuous | Atom]]:
        return [(1.0, self)]


@dataclass(frozen=True)
class Mixture(Distribution):
    """A finite mixture ``mix(w1*D1, ..., wm*Dm)`` with weights summing to 1."""

    spec: str
    weights: tuple[float, ...]
    components: tuple[Distribution, ...]

    @property
    def depends_on_bits(self) -> bool:  # type: ignore[override]
        return any(c.depends_on_bits for c in self.components)

    def at_bits(self, k: int) -> Distribution:
        if not self.depends_on_bits:
            return self
        return Mixture(self.spec, self.weights, tuple(c.at_bits(k) for c in self.components))

    def draw(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        label = rng.choice(len(self.components), size=size, p=np.asarray(self.weights))
        out = np.empty(size)
        for i, comp in enumerate(self.components):
            where = label == i
            out[where] = comp.draw(rng, int(where.sum()))
        return out

    def parts(self) -> list[tuple[float, Continuous | Atom]]:
        return [(w * pw, p) for w, c in zip(self.weights, self.components) for pw, p in c.parts()]


@dataclass(frozen=True)
class Counterexample(Distribution):
    """Uniform on ``width`` quantization steps centred on a level or on the threshold 1/2.

    Centred on the level ``((L-1)/2) / L`` or on the threshold ``1/2`` (a threshold at every k since L
    is odd), the input is symmetric about a point where ``n`` is symmetric, so ``E[n] = 0`` exactly
    (THEORY.md, Fourier view). On a level with ``width < 1`` and ``h < (1 - width)/2 Delta``,
    ``E[D_h] = 0``; on a threshold, ``E[D_h] -> 1/width`` as ``h -> 0``.
    """

    spec: str
    centre: Literal["level", "threshold"]
    width: float
    depends_on_bits: bool = True

    def at_bits(self, k: int) -> Distribution:
        scale = levels(k)
        mid = 0.5 if self.centre == "threshold" else ((scale - 1) // 2) / scale
        half = 0.5 * self.width / scale
        return _uniform(mid - half, mid + half, spec=f"{self.spec}@k={k}")

    def draw(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        raise SpecError(f"{self.spec} depends on the bit width: resolve it with at_bits(k) first")

    def parts(self) -> list[tuple[float, Continuous | Atom]]:
        raise SpecError(f"{self.spec} depends on the bit width: resolve it with at_bits(k) first")


@dataclass(frozen=True)
class InputSpec:
    """A parsed input: a distribution and the path that turns its draws into r.

    ``path`` is ``"none"`` (r = x), ``"clip"`` (r = clip(x, 0, 1); derivatives are taken with respect
    to the pre-clip x) or ``"dorefa"`` (r = tanh(w) / (2 max|tanh w|) + 1/2 over tensors of
    ``tensor_size`` draws).
    """

    spec: str
    dist: Distribution
    path: Path = "none"
    tensor_size: int | None = None

    @cached_property
    def stream_key(self) -> int:
        """A stable 63-bit integer naming this input's random stream (from its canonical spec)."""
        digest = hashlib.blake2b(self.spec.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") >> 1

    @property
    def has_atoms(self) -> bool:
        """True when the input has point masses, where window ends can sit exactly on rounding ties."""
        return any(isinstance(part, Atom) for k in (1, 2) for _, part in self.dist.at_bits(k).parts())

    @property
    def has_exact(self) -> bool:
        """Exact references exist for every path except DoReFa's data-dependent max."""
        return self.path != "dorefa"


# ---------------------------------------------------------------- families


def _uniform(a: float, b: float, spec: str | None = None) -> Continuous:
    return Continuous(
        spec or f"uniform({format_number(a)},{format_number(b)})",
        stats.uniform(loc=a, scale=b - a),
        lambda rng, n: rng.uniform(a, b, n),
        affine=("random", float(a), float(b) - float(a)),  # numpy's uniform: low + (high - low) * random()
    )


#: The draws of a beta input lie in ``[_BETA_LOW, _BETA_HIGH]``, the doubles nearest 0 and 1 inside (0, 1).
_BETA_LOW: Final = float(np.nextafter(0.0, 1.0))
_BETA_HIGH: Final = float(np.nextafter(1.0, 0.0))


def _beta_draws(rng: np.random.Generator, a: float, b: float, size: int) -> NDArray[np.float64]:
    """Beta draws (numpy's sampler) with the support's ends moved to the nearest doubles inside (0, 1).

    For small shapes a large share of the mass lies within half an ulp of 0 or 1 (``beta(0.05,0.05)``:
    ``P(1 - X < 2^-53) ~ 0.079``), so the sampler returns exactly 0.0 or 1.0: atoms the law does not have.
    At 1.0 a window end ``r + h`` then sits exactly on a threshold when ``L h`` is a half-integer and the
    finite difference counts a crossing the law never makes; at 0.0 the rounding error is exactly 0.
    The statistics computed from the rounding error (identity A: n, hence every crossing count) have
    the same value at the nearest interior double, since no threshold or level lies between it and the
    support's end, so the simulated law is the stated one. Draws strictly inside (0, 1) are unchanged (the stream of every other draw is numpy's).
    """
    return np.clip(rng.beta(a, b, size), _BETA_LOW, _BETA_HIGH)


def _positive(name: str, value: float, what: str) -> None:
    if not value > 0:
        raise SpecError(f"{name}: {what} must be > 0, got {format_number(value)}")


def _build_family(name: str, args: list[float]) -> Distribution:
    spec = f"{name}({','.join(format_number(a) for a in args)})"
    if name == "uniform":
        a, b = args
        if not a < b:
            raise SpecError(f"uniform(a,b) needs a < b, got a={format_number(a)}, b={format_number(b)}")
        return _uniform(a, b, spec)
    if name == "normal":
        mu, sigma = args
        _positive(spec, sigma, "sigma")
        return Continuous(spec, stats.norm(mu, sigma), lambda rng, n: rng.normal(mu, sigma, n),
                          affine=("standard_normal", mu, sigma))  # numpy's normal: loc + scale * standard_normal()
    if name == "laplace":
        mu, b = args
        _positive(spec, b, "b")
        return Continuous(spec, stats.laplace(mu, b), lambda rng, n: rng.laplace(mu, b, n), kinks=(mu,))
    if name == "logistic":
        mu, s = args
        _positive(spec, s, "s")
        return Continuous(spec, stats.logistic(mu, s), lambda rng, n: rng.logistic(mu, s, n))
    if name == "t":
        df, mu, s = args
        _positive(spec, df, "df")
        _positive(spec, s, "s")
        return Continuous(spec, stats.t(df, mu, s), lambda rng, n: mu + s * rng.standard_t(df, n))
    if name == "beta":
        a, b = args
        _positive(spec, a, "a")
        _positive(spec, b, "b")
        return Continuous(
            spec, stats.beta(a, b), lambda rng, n: _beta_draws(rng, a, b, n), end_powers=(a - 1.0, b - 1.0),
            mirror=stats.beta(b, a),
        )
    if name == "point":
        (x,) = args
        return Atom(spec, x)
    if name in ("onlevel", "onthreshold"):
        (width,) = args
        _positive(spec, width, "width")
        return Counterexample(spec, "level" if name == "onlevel" else "threshold", width)
    raise AssertionError(name)  # pragma: no cover - guarded by _ARITY


_ARITY: Final = {
    "uniform": 2,
    "normal": 2,
    "laplace": 2,
    "logistic": 2,
    "t": 3,
    "beta": 2,
    "point": 1,
    "onlevel": 1,
    "onthreshold": 1,
}
_KNOWN = ", ".join(FAMILIES)

#: Largest |location| or scale of a family: beyond it the scaled input 2^k r at k = 24 exceeds 2^34, and
#: float64 resolves the rounding error n to fewer than 18 bits.
MAX_MAGNITUDE: Final = 1e3
#: Narrowest scale or width: 2^16 ulps of 1, the float64 resolution floor also used for steps h.
MIN_SCALE: Final = 2.0**-36
#: Largest DoReFa tensor: a tensor is drawn whole into one chunk (32 MiB of float64 per array).
MAX_TENSOR: Final = 1 << 22
_ROLES: Final = {
    "uniform": ("a", "b"),
    "normal": ("mu", "sigma"),
    "laplace": ("mu", "b"),
    "logistic": ("mu", "s"),
    "t": ("df", "mu", "s"),
    "beta": ("a", "b"),
    "point": ("x",),
    "onlevel": ("width",),
    "onthreshold": ("width",),
}
_LIMITS: Final = {
    "location": (-MAX_MAGNITUDE, MAX_MAGNITUDE, "quantizer inputs live near [0, 1] and float64 cannot resolve n far outside"),
    "scale": (MIN_SCALE, MAX_MAGNITUDE, "narrower is below float64 resolution (use point(x)), wider loses the resolution of n"),
    "df": (0.5, 1e6, "heavier tails overflow float64 in 2^k r, lighter ones are normal(mu,s)"),
    "shape": (1e-3, 1e6, "smaller shapes put the mass within float64 resolution of 0 or 1"),
}


def _role(name: str, param: str) -> str:
    if name == "t" and param == "df":
        return "df"
    if name == "beta":
        return "shape"
    return "location" if param in ("mu", "x") or name == "uniform" else "scale"


def _check_ranges(name: str, args: list[float]) -> None:
    """Refuse parameters whose samples or exact references float64 cannot represent (see the limits)."""
    spec = f"{name}({','.join(format_number(a) for a in args)})"
    values = list(zip(_ROLES[name], args))
    if name == "uniform":
        values.append(("b-a", args[1] - args[0]))
    for param, value in values:
        role = "scale" if param == "b-a" else _role(name, param)
        lo, hi, reason = _LIMITS[role]
        inside = abs(value) <= hi if role == "location" else lo <= value <= hi
        if not inside:
            raise SpecError(f"{spec}: {param}={format_number(value)} is outside [{lo:.3g}, {hi:.3g}]: {reason}")


# ---------------------------------------------------------------- parser


#: Names float() reads as non-finite numbers; refused as numbers rather than parsed as family names.
_NON_FINITE: Final = ("nan", "inf", "infinity")


@dataclass
class _Token:
    kind: str  # "name", "number", or the punctuation itself
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),*=":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c.isalpha() or c == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(_Token("name", text[i:j], i))
            i = j
        elif c.isdigit() or c in "+-.":
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] == "." or (text[j] in "+-" and text[j - 1] in "eE")):
                j += 1
            tokens.append(_Token("number", text[i:j], i))
            i = j
        else:
            raise SpecError(f"spec {text!r}: unexpected character {c!r} at position {i + 1}")
    return tokens


#: Deepest nesting of calls in a spec (``mix(1*mix(1*...))``): real specs nest two or three levels;
#: the parser, the builder and the samplers recurse once per level, so the depth is bounded up front.
MAX_SPEC_DEPTH: Final = 32


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def fail(self, message: str, pos: int | None = None) -> SpecError:
        if pos is None:
            pos = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.text)
        shown = self.text if len(self.text) <= 120 else f"{self.text[:100]}... ({len(self.text)} characters)"
        return SpecError(f"spec {shown!r}: {message} at position {pos + 1}; known families: {_KNOWN}")

    def peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, kind: str) -> _Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            want = {"name": "a family name", "number": "a number"}.get(kind, repr(kind))
            got = "end of spec" if tok is None else repr(tok.text)
            raise self.fail(f"expected {want}, found {got}")
        self.i += 1
        return tok

    def number(self) -> float:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text.lower() in _NON_FINITE:
            raise self.fail(f"number {tok.text!r} is not finite", tok.pos)
        tok = self.take("number")
        try:
            value = float(tok.text)
        except ValueError:
            raise self.fail(f"malformed number {tok.text!r}", tok.pos) from None
        if not math.isfinite(value):
            raise self.fail(f"number {tok.text!r} is not finite", tok.pos)
        return value

    def call(self) -> tuple[str, int, list[object]]:
        name = self.take("name")
        self.depth += 1
        if self.depth > MAX_SPEC_DEPTH:
            raise self.fail(f"calls nested more than {MAX_SPEC_DEPTH} deep (the limit keeps parsing from exhausting the stack)", name.pos)
        self.take("(")
        args: list[object] = []
        if self.peek() is not None and self.peek().kind != ")":  # type: ignore[union-attr]
            args.append(self.arg())
            while self.peek() is not None and self.peek().kind == ",":  # type: ignore[union-attr]
                self.i += 1
                args.append(self.arg())
        self.take(")")
        self.depth -= 1
        return name.text, name.pos, args

    def arg(self) -> object:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end of spec")
        if tok.kind == "name" and self.peek(1) is not None and self.peek(1).kind == "=":  # type: ignore[union-attr]
            self.i += 2
            return (tok.text, self.number())
        if tok.kind == "name" and tok.text.lower() not in _NON_FINITE:
            return self.call()
        value = self.number()
        if self.peek() is not None and self.peek().kind == "*":  # type: ignore[union-attr]
            self.i += 1
            return (value, self.call())
        return value

    def parse(self) -> tuple[str, int, list[object]]:
        tree = self.call()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek().text!r} after the spec")  # type: ignore[union-attr]
        return tree


def _build(node: tuple[str, int, list[object]], parser: _Parser, top: bool) -> Distribution | InputSpec:
    name, pos, args = node
    if name in ("clip", "dorefa"):
        if not top:
            raise parser.fail(f"{name}(...) is an input path and is only allowed at the top level", pos)
        inner = [a for a in args if isinstance(a, tuple) and len(a) == 3]
        keys = {a[0]: a[1] for a in args if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str)}
        if len(inner) != 1 or len(inner) + len(keys) != len(args):
            raise parser.fail(f"{name} takes one distribution" + (" and size=M" if name == "dorefa" else ""), pos)
        dist = _build(inner[0], parser, top=False)
        assert isinstance(dist, Distribution)
        if name == "clip":
            if keys:
                raise parser.fail("clip takes no keyword arguments", pos)
            return InputSpec(f"clip({dist.spec})", dist, "clip")
        if set(keys) != {"size"}:
            raise parser.fail("dorefa needs exactly one keyword, size=M (weights per tensor)", pos)
        size = keys["size"]
        if not (size.is_integer() and 2 <= size <= MAX_TENSOR):
            raise parser.fail(f"dorefa size must be an integer in 2..{MAX_TENSOR}, got {format_number(size)}", pos)
        return InputSpec(f"dorefa({dist.spec},size={int(size)})", dist, "dorefa", int(size))
    if name == "mix":
        if not args or not all(isinstance(a, tuple) and len(a) == 2 and isinstance(a[1], tuple) for a in args):
            raise parser.fail("mix takes weighted components w*D, e.g. mix(0.7*normal(0,1), 0.3*uniform(0,1))", pos)
        weights = tuple(float(a[0]) for a in args)  # type: ignore[index]
        comps = tuple(_build(a[1], parser, top=False) for a in args)  # type: ignore[index]
        if any(w <= 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-9:
            raise parser.fail(f"mix weights must be positive and sum to 1, got {sum(weights):.12g}", pos)
        spec = "mix(" + ",".join(f"{format_number(w)}*{c.spec}" for w, c in zip(weights, comps)) + ")"  # type: ignore[union-attr]
        return Mixture(spec, weights, comps)  # type: ignore[arg-type]
    if name not in _ARITY:
        raise parser.fail(f"unknown family {name!r}", pos)
    if len(args) != _ARITY[name] or not all(isinstance(a, float) for a in args):
        raise parser.fail(f"{name} takes {_ARITY[name]} number(s): {next(f for f in FAMILIES if f.startswith(name + '('))}", pos)
    built = _build_family(name, args)  # type: ignore[arg-type]
    _check_ranges(name, args)  # type: ignore[arg-type]
    return built


def parse_input(text: str) -> InputSpec:
    """Parse an input spec (a distribution, optionally wrapped in ``clip(...)`` or ``dorefa(...)``).

    Raises
    ------
    SpecError
        With the position of the problem and the list of known families.
    """
    parser = _Parser(text)
    built = _build(parser.parse(), parser, top=True)
    if isinstance(built, InputSpec):
        return built
    return InputSpec(built.spec, built)


def parse_distribution(text: str) -> Distribution:
    """Parse a plain distribution spec (no input path)."""
    parsed = parse_input(text)
    if parsed.path != "none":
        raise SpecError(f"spec {text!r}: expected a distribution, not the input path {parsed.path}(...)")
    return parsed.dist
