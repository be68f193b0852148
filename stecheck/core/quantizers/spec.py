"""Quantizer spec strings -> :class:`~stecheck.core.quantizers.quantizer.Quantizer`.

Grammar (whitespace ignored)::

    quantizer := NAME [ "(" [arg ("," arg)*] ")" ]
    arg       := NUMBER | NAME | NAME "=" (NUMBER | NAME)

Quantizers (:data:`QUANTIZERS`): ``dorefa`` or ``dorefa(k)``; ``absmax(bits, group=N|none, axis=A|none,
scale=S, ragged=last)``; ``affine(bits, group=..., axis=..., scale=S, zero=Z, ragged=last)``;
``fixed(bits, step, zero=Z)``; ``fp(e4m3|e5m2|e2m3|e3m2|e2m1, scale=S, group=..., axis=...)``;
``mx(fp4|fp6|fp8|e2m1|e2m3|e3m2|e4m3|e5m2, block=32, axis=A)``; ``nvfp4`` (or ``nvfp4(axis=A)``).
``axis=none`` takes the whole tensor as one axis (per tensor); ``group=none`` (the default) one scale per
slice along ``axis`` (per channel).
"""

from __future__ import annotations

import math
from typing import Final

from stecheck.core.distributions import _tokenize, format_number
from stecheck.core.quantizers.base import FP_FORMATS, FloatBase
from stecheck.core.quantizers.quantizer import NVFP4_BLOCK, Quantizer, integer_base
from stecheck.errors import SpecError

__all__ = ["QUANTIZERS", "DEFAULT_QUANTIZER", "parse_quantizer", "MIN_BITS", "MAX_BITS", "MIN_STEP", "MAX_STEP", "MAX_GROUP"]

QUANTIZERS: Final = (
    "dorefa[(k)]",
    "absmax(bits,group=N,axis=A,scale=S)",
    "affine(bits,group=N,axis=A,scale=S,zero=Z)",
    "fixed(bits,step,zero=Z)",
    "fp(e4m3|e5m2|e2m3|e3m2|e2m1,scale=S)",
    "mx(fp4|fp6|fp8,block=32)",
    "nvfp4",
)
DEFAULT_QUANTIZER: Final = "dorefa"
MIN_BITS: Final = 1
MAX_BITS: Final = 32
#: Narrowest stated step: DoReFa's finest, 1/(2^24 - 1); below it float64 resolves n at |x| ~ 1 to fewer bits.
MIN_STEP: Final = 2.0**-24
#: Widest stated step (the largest input location, :data:`stecheck.core.distributions.MAX_MAGNITUDE`).
MAX_STEP: Final = 1e3
#: Largest group or block (a group's scale is a reduction over at most this many elements).
MAX_GROUP: Final = 1 << 24
_MX_ELEMENTS: Final = {"fp4": "e2m1", "fp6": "e2m3", "fp8": "e4m3", **{name: name for name in FP_FORMATS}}
_KNOWN: Final = ", ".join(QUANTIZERS)
#: Keywords each quantizer takes (positional arguments are listed in order first).
_POSITIONAL: Final = {"dorefa": ("k",), "absmax": ("bits",), "affine": ("bits",), "fixed": ("bits", "step", "zero"),
                      "fp": ("format",), "mx": ("format",), "nvfp4": ()}
_KEYWORDS: Final = {
    "dorefa": ("k",),
    "absmax": ("bits", "group", "axis", "scale", "ragged"),
    "affine": ("bits", "group", "axis", "scale", "zero", "ragged"),
    "fixed": ("bits", "step", "zero"),
    "fp": ("format", "scale", "group", "axis", "ragged"),
    "mx": ("format", "block", "axis", "ragged"),
    "nvfp4": ("axis", "ragged"),
}


def _fail(text: str, message: str, known: bool = True) -> SpecError:
    """The error for spec ``text``; ``known`` appends the list of quantizers (for errors of form, not of value)."""
    shown = text if len(text) <= 120 else f"{text[:100]}... ({len(text)} characters)"
    return SpecError(f"quantizer {shown!r}: {message}" + (f"; known quantizers: {_KNOWN}" if known else ""))


def _parse_tree(text: str) -> tuple[str, list[tuple[str | None, float | str]]]:
    """``(name, [(keyword or None, value)])`` of a spec, or :class:`SpecError`."""
    try:
        tokens = _tokenize(text)
    except SpecError as exc:
        raise _fail(text, str(exc).split(": ", 1)[-1]) from None
    i = 0

    def peek(kind: str) -> bool:
        return i < len(tokens) and tokens[i].kind == kind

    def take(kind: str, what: str) -> str:
        nonlocal i
        if not peek(kind):
            got = "end of spec" if i >= len(tokens) else repr(tokens[i].text)
            raise _fail(text, f"expected {what}, found {got}")
        i += 1
        return tokens[i - 1].text

    def value() -> float | str:
        if peek("name"):
            word = take("name", "a value").lower()
            if word in ("nan", "inf", "infinity"):
                raise _fail(text, f"number {word!r} is not finite")
            return word
        raw = take("number", "a number or a name")
        try:
            number = float(raw)
        except ValueError:
            raise _fail(text, f"malformed number {raw!r}") from None
        if not math.isfinite(number):
            raise _fail(text, f"number {raw!r} is not finite")
        return number

    name = take("name", "a quantizer name").lower()
    args: list[tuple[str | None, float | str]] = []
    if peek("("):
        i += 1
        while not peek(")"):
            if args:
                take(",", "',' or ')'")
            if peek("name") and i + 1 < len(tokens) and tokens[i + 1].kind == "=":
                key = tokens[i].text.lower()
                i += 2
                args.append((key, value()))
            else:
                args.append((None, value()))
        take(")", "')'")
    if i != len(tokens):
        raise _fail(text, f"unexpected {tokens[i].text!r} after the spec")
    return name, args


def _integer(text: str, key: str, value: float | str, lo: int, hi: int, why: str) -> int:
    if isinstance(value, str) or not value.is_integer() or not lo <= value <= hi:
        shown = value if isinstance(value, str) else format_number(value)
        raise _fail(text, f"{key}={shown} must be an integer in {lo}..{hi} ({why})", known=False)
    return int(value)


def _positive(text: str, key: str, value: float | str) -> float:
    if isinstance(value, str) or not value > 0:
        shown = value if isinstance(value, str) else format_number(value)
        raise _fail(text, f"{key}={shown} must be a number > 0", known=False)
    if not MIN_STEP <= value <= MAX_STEP:
        raise _fail(text, f"{key}={format_number(value)} is outside [2^-24, {MAX_STEP:g}]: a finer step is below float64's "
                          f"resolution of n at |x| ~ 1 (as DoReFa at k = 24), a coarser one wider than any input", known=False)
    return float(value)


def parse_quantizer(text: str) -> Quantizer:
    """Parse a quantizer spec (see the module docstring).

    Raises
    ------
    SpecError
        Naming the problem and listing the known quantizers.
    """
    name, args = _parse_tree(text)
    if name not in _KEYWORDS:
        raise _fail(text, f"unknown quantizer {name!r}")
    given: dict[str, float | str] = {}
    positional = list(_POSITIONAL[name])
    for key, value in args:
        if key is None:
            if not positional:
                raise _fail(text, f"{name} takes at most {len(_POSITIONAL[name])} positional argument(s)")
            key = positional.pop(0)
        elif key in positional:
            positional.remove(key)
        if key not in _KEYWORDS[name]:
            raise _fail(text, f"{name} takes no argument {key!r} (it takes {', '.join(_KEYWORDS[name]) or 'none'})")
        if key in given:
            raise _fail(text, f"argument {key!r} given twice")
        given[key] = value
    ragged = given.pop("ragged", None)
    if ragged not in (None, "last"):
        raise _fail(text, f"ragged={ragged} is not a policy: the one policy is ragged=last (a shorter last group)", known=False)
    axis_value = given.pop("axis", -1.0)
    axis = None if axis_value == "none" else _integer(text, "axis", axis_value, -32, 31, "an axis of the tensor, or none")
    if name == "dorefa":
        if "k" not in given:
            return Quantizer("dorefa", "dorefa", 0)
        k = _integer(text, "k", given["k"], 1, 24, "DoReFa's bit widths")
        return Quantizer(f"dorefa({k})", "dorefa", k)
    if name in ("absmax", "affine", "fixed"):
        if "bits" not in given:
            raise _fail(text, f"{name} needs a bit width, e.g. {name}(4{',0.1' if name == 'fixed' else ''})")
        low = 2 if name == "absmax" else MIN_BITS
        bits = _integer(text, "bits", given["bits"], low, MAX_BITS,
                        "absmax needs 2^(bits-1) - 1 >= 1 levels above 0" if name == "absmax" else "integer codes of 1 to 32 bits")
        base = integer_base(name, bits)
        if name == "fixed":
            if "step" not in given:
                raise _fail(text, "fixed needs a step, e.g. fixed(4,0.1) or fixed(4,0.1,zero=8)")
            step = _positive(text, "step", given["step"])
            zero = _zero(text, given.get("zero", 0.0), bits)
            words = [str(bits), format_number(step)] + ([f"zero={zero}"] if zero else [])
            return Quantizer(f"fixed({','.join(words)})", "fixed", bits, base, step, zero)
        scale = None if "scale" not in given else _positive(text, "scale", given["scale"])
        zero = _zero(text, given.get("zero", 0.0), bits) if name == "affine" else 0
        if "zero" in given and scale is None:
            raise _fail(text, "zero= is stated together with scale= (without a scale both come from the data)", known=False)
        group = _group(text, given.get("group", "none"), "group")
        words = [str(bits)]
        if scale is not None:
            words.append(f"scale={format_number(scale)}")
            if zero:
                words.append(f"zero={zero}")
        else:
            words += _layout(group, axis, ragged is not None)
        return Quantizer(f"{name}({','.join(words)})", name, bits, base, scale, zero, group, axis, ragged is not None)  # type: ignore[arg-type]
    fmt = given.get("format")
    if name == "nvfp4":
        words = _layout(NVFP4_BLOCK, axis, ragged is not None, default_group=NVFP4_BLOCK)
        spec = "nvfp4" + (f"({','.join(words)})" if words else "")
        return Quantizer(spec, "nvfp4", 4, FloatBase("e2m1"), None, 0, NVFP4_BLOCK, axis, ragged is not None)
    if fmt is None:
        raise _fail(text, f"{name} needs an element format, e.g. {name}({'e4m3' if name == 'fp' else 'fp4'})")
    table = FP_FORMATS if name == "fp" else _MX_ELEMENTS
    if fmt not in table:
        raise _fail(text, f"unknown format {fmt!r} for {name}: expected one of {', '.join(table)}", known=False)
    element = str(fmt) if name == "fp" else _MX_ELEMENTS[str(fmt)]
    base = FloatBase(element)
    if name == "mx":
        block = _group(text, given.get("block", 32.0), "block")
        assert block is not None
        words = [str(fmt)] + _layout(block, axis, ragged is not None, default_group=32, group_key="block")
        return Quantizer(f"mx({','.join(words)})", "mx", base.bits, base, None, 0, block, axis, ragged is not None)
    scale = None if "scale" not in given else _positive(text, "scale", given["scale"])
    group = _group(text, given.get("group", "none"), "group")
    words = [element] + ([f"scale={format_number(scale)}"] if scale is not None else _layout(group, axis, ragged is not None))
    return Quantizer(f"fp({','.join(words)})", "fp", base.bits, base, scale, 0, group, axis, ragged is not None)


def _zero(text: str, value: float | str, bits: int) -> int:
    return _integer(text, "zero", value, -(1 << bits), 1 << bits, f"an integer zero point within +-2^{bits}")


def _group(text: str, value: float | str, key: str) -> int | None:
    if value == "none" and key == "group":
        return None
    return _integer(text, key, value, 1, MAX_GROUP, "elements per group sharing a scale; none for a whole axis"
                    if key == "group" else "elements per block sharing a scale")


def _layout(group: int | None, axis: int | None, ragged: bool, default_group: int | None = None, group_key: str = "group") -> list[str]:
    words = [] if group == default_group else [f"{group_key}={group}"]
    if axis != -1:
        words.append(f"axis={'none' if axis is None else axis}")
    if ragged:
        words.append("ragged=last")
    return words
