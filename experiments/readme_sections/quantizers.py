"""README section: does the STE claim hold for the quantizer you use? (results/weights-quantizers/*).

Renders :func:`stecheck.views.quantizers.quantizer_table` from the runs of ``stecheck weights --quantizer ...``
under ``results/weights-quantizers/NAME/`` (written by ``experiments/regenerate.sh``) and links the figure
``stecheck plot`` draws for each (``figures/weights_quantizers.png``). Without such a run the section is empty.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT  # noqa: E402

from stecheck.records import fmt, read_run  # noqa: E402
from stecheck.views.quantizers import quantizer_table, verdict_matrix  # noqa: E402

#: Where regenerate.sh writes the runs (one folder per model).
FOLDER = "weights-quantizers"

#: What each quantizer of the committed runs is, in the words its users know it by.
DESCRIBED = {
    "dorefa": "DoReFa's `quantize_k` after r = tanh(w)/(2 max|tanh w|) + 1/2 per tensor",
    "absmax(8)": "int8 absmax, one scale per output channel (a row of an [out, in] matrix)",
    "absmax(8,axis=none)": "int8 absmax, one scale per tensor (for convolution kernels, whose last axis is not a channel)",
    "absmax(4,group=32,axis=none,ragged=last)": "int4 absmax, one scale per group of 32 consecutive weights",
    "absmax(4,group=128,axis=none,ragged=last)": "int4 absmax, groups of 128 (the usual GPTQ/AWQ group size)",
    "affine(4,group=128,axis=none,ragged=last)": "int4 min-max with a rounded zero point, groups of 128",
    "fp(e4m3,axis=none)": "FP8 E4M3 with one scale per tensor (max|w| on E4M3's 448)",
    "mx(fp4,axis=none,ragged=last)": "MXFP4: E2M1 elements, a power-of-two E8M0 scale per block of 32 (OCP MX v1.0)",
    "nvfp4(axis=none,ragged=last)": "NVFP4: E2M1 elements, an E4M3 scale per block of 16 times a per-tensor scale",
}


def runs(root: Path = RESULTS) -> list[tuple[str, dict, list[dict]]]:
    """``(model, meta, records)`` of every run under ``root/weights-quantizers``, by name."""
    folder = root / FOLDER
    if not folder.is_dir():
        return []
    return [(p.name, *read_run(p)) for p in sorted(folder.iterdir()) if (p / "records.json").is_file()]


def render(root: Path = RESULTS) -> str:
    """Intro (what was run), the table, the figures; empty when there is no run."""
    found = runs(root)
    if not found:
        return ""
    names = ", ".join(f"`{name}`" for name, _, _ in found)
    config = found[0][1]["config"]
    specs = list(dict.fromkeys(spec for _, meta, _ in found for spec in meta["config"].get("quantizers", [])))
    bits = config.get("bits", [])
    described = [
        f"- `{spec}`: {DESCRIBED[spec]}{' (k = ' + _span(bits) + ')' if spec == 'dorefa' else ''}" if spec in DESCRIBED else f"- `{spec}`"
        for spec in specs
    ]
    lines = [
        f"`stecheck weights zoo:NAME --quantizer SPEC ...` on {names} (`results/{FOLDER}/NAME/`, forward h = "
        f"{fmt(min(config['h']))}), with the quantizers",
        "",
        *described,
        "",
        "Groups and blocks run over consecutive weights in the file's storage order (`axis=none`): along the input "
        "dimension of a transformer's [out, in] matrices (whose rows are multiples of the group, so this is the usual "
        "per-row grouping), over the flattened kernel of an output channel for ONNX, PyTorch and TFLite convolutions "
        "(stored output channel first), and across output channels for Keras' [kh, kw, in, out] kernels; a last group "
        "may be shorter (`ragged=last`). "
        "Each quantizer takes its scales from each tensor and holds them fixed for D_h, as STE implementations do. "
        "Every number is an exact population value of the model's weights, averaged over tensors with weights equal to "
        "their sizes; the claim holds when |E[D_h] - 1| <= 0.05 and |12 Var(n) - 1| <= 0.05. STE share: weights inside "
        "the representable range (STE value 1; 0 where the quantizer clips). `p_n_zero`: weights with n = 0 (on a level, "
        "as a group's max is, or clipped). SQNR: measured, and in brackets the uniform-noise model's prediction (DoReFa: "
        "of r, 10 log10(12 L^2 Var(r)); the others: of w, 10 log10(Var(w) / mean(u^2/12)) with u the local step, which "
        "for a float format is the per-binade relative-error model).",
        "",
        "Does the claim hold? Per quantizer and model, the verdict on the size-weighted average, with its E[D_h] "
        "and 12 Var(n) in brackets (both 1 when the claim holds exactly):",
        "",
        verdict_matrix(found),
        "",
        "In full:",
        "",
        quantizer_table(found),
    ]
    figures = [(name, root / FOLDER / name / "figures" / "weights_quantizers.png") for name, _, _ in found]
    figures = [(name, png) for name, png in figures if png.is_file()]
    if figures:
        name, png = figures[0]
        caption = f"{name}: E[D_h], 12 Var(n), the SQNR gap and p_n_zero per quantizer (dots: tensors; diamonds: the model)."
        lines += ["", f"![{caption}]({_link(png)})", "", f"*{caption}*"]
        if len(figures) > 1:
            lines += ["", "The same figure for " + ", ".join(f"[{n}]({_link(p)})" for n, p in figures[1:]) + "."]
    return "\n".join(lines)


def _span(bits: list[int]) -> str:
    ks = sorted(bits)
    return f"{ks[0]}-{ks[-1]}" if ks and ks == list(range(ks[0], ks[-1] + 1)) and len(ks) > 1 else ", ".join(map(str, ks))


def _link(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()
