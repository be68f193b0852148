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
from stecheck.views.quantizers import quantizer_table  # noqa: E402

#: Where regenerate.sh writes the runs (one folder per model).
FOLDER = "weights-quantizers"

#: What each quantizer of the committed run is, in the words its users know it by.
DESCRIBED = {
    "dorefa": "DoReFa's `quantize_k` after r = tanh(w)/(2 max|tanh w|) + 1/2 per tensor",
    "absmax(8)": "int8 absmax, one scale per output channel (row of an [out, in] matrix)",
    "absmax(4,group=32)": "int4 absmax, one scale per group of 32 along the input dimension",
    "absmax(4,group=128)": "int4 absmax, groups of 128 (the usual GPTQ/AWQ group size)",
    "affine(4,group=128)": "int4 min-max with a rounded zero point, groups of 128",
    "fp(e4m3,axis=none)": "FP8 E4M3 with one scale per tensor (max|w| on E4M3's 448)",
    "mx(fp4)": "MXFP4: E2M1 elements, a power-of-two E8M0 scale per block of 32 (OCP MX v1.0)",
    "nvfp4": "NVFP4: E2M1 elements, an E4M3 scale per block of 16 times a per-tensor scale",
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
    specs = config.get("quantizers", [])
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
        "Each quantizer takes its scales from each tensor and holds them fixed for D_h, as STE implementations do. "
        "Every number is an exact population value of the model's weights, averaged over tensors with weights equal to "
        "their sizes; the claim holds when |E[D_h] - 1| <= 0.05 and |12 Var(n) - 1| <= 0.05. STE share: weights inside "
        "the representable range (STE value 1; 0 where the quantizer clips). `p_n_zero`: weights with n = 0 (on a level, "
        "as a group's max is, or clipped). SQNR: measured, and in brackets the uniform-noise model's prediction (DoReFa: "
        "of r, 10 log10(12 L^2 Var(r)); the others: of w, 10 log10(Var(w) / mean(u^2/12)) with u the local step, which "
        "for a float format is the per-binade relative-error model). The zoo's other models are convolutional networks "
        "whose kernels' last axis is a kernel width (or, in TFLite and Keras layouts, not the output channel), where "
        "channels and groups along the last axis are not what these schemes quantize: they are left out.",
        "",
        quantizer_table(found),
    ]
    for name, _, _ in found:
        png = root / FOLDER / name / "figures" / "weights_quantizers.png"
        if png.is_file():
            caption = f"{name}: E[D_h], 12 Var(n), the SQNR gap and p_n_zero per quantizer (dots: tensors; diamonds: the model)."
            lines += ["", f"![{caption}]({_link(png)})", "", f"*{caption}*"]
    return "\n".join(lines)


def _span(bits: list[int]) -> str:
    ks = sorted(bits)
    return f"{ks[0]}-{ks[-1]}" if ks and ks == list(range(ks[0], ks[-1] + 1)) and len(ks) > 1 else ", ".join(map(str, ks))


def _link(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()
