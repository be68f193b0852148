"""One-page report of result runs: verdicts, key tables, figures and provenance (Markdown or HTML).

The report reads records and the figures already drawn by ``stecheck plot`` (``RUN/figures/``); it
computes no statistic. A verdict compares a recorded estimate with the value the argument claims, in
units of the recorded standard error: ``|E[D_h] - STE| > 5 SE`` rejects ``E[D_h] = STE`` for that cell
(z = 5 keeps false rejections over hundreds of cells negligible). For weights runs, whose statistics are
exact properties of the tensors, the verdict is the README's: the claim holds for a tensor at k when
``|E[D_h] - 1| <= 0.05`` and ``|12 Var(n) - 1| <= 0.05`` (:func:`stecheck.weights.scan.claim_holds`).
An audit run contributes its verdict table, a phase run (with its ``map/`` and ``spot/`` parts) one
section with the rule of thumb, the spot checks and its two figures.

The HTML page is one self-contained file: every figure is embedded as a base64 ``data:`` URI.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Sequence

from stecheck.core.quantize import levels
from stecheck.records import Record, fmt
from stecheck.views.plots._select import preferred_rounding, unique, where
from stecheck.views.plots.runs import load_run
from stecheck.views.plots.variants import is_variants_run, variant_curves

__all__ = ["Z_VERDICT", "WEIGHTS_TOLERANCE", "Report", "Table", "build_report", "rejects"]

Z_VERDICT: Final = 5.0
#: The README's threshold for "the claim holds" on real weights (stecheck.weights.scan.TOLERANCE).
WEIGHTS_TOLERANCE: Final = 0.05
_NUMERIC: Final = re.compile(r"^[-+]?(\d|inf|nan)")
_MIME: Final = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_IMAGE_ORDER: Final = ("slope_vs_h", "mean_and_slope_vs_k", "noise", "fourier", "variants", "weights_heatmap", "weights_sqnr",
                       "weights_quantizers", "quantizer_slope")


def _inline_html(text: str) -> str:
    """Escaped text with Markdown ``code`` and **bold** turned into HTML."""
    out = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]*)\*\*", r"<b>\1</b>", out)


@dataclass(frozen=True)
class Table:
    """A table of preformatted cells."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass
class Report:
    """A document of blocks: ``("h1"|"h2"|"h3"|"p", text)``, ``("table", Table)``, ``("img", (path, alt, file))``.

    An image block links ``path`` (relative to where the report is written) in Markdown and embeds the
    bytes of ``file`` in HTML.
    """

    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, content: Any) -> None:
        self.blocks.append((kind, content))

    def to_markdown(self) -> str:
        out: list[str] = []
        for kind, content in self.blocks:
            if kind in ("h1", "h2", "h3"):
                out += ["#" * int(kind[1]) + " " + content, ""]
            elif kind == "p":
                out += [content, ""]
            elif kind == "table":
                out.append("| " + " | ".join(content.header) + " |")
                out.append("|" + "|".join("---" for _ in content.header) + "|")
                out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in content.rows]
                out.append("")
            elif kind == "img":
                path, alt = content[:2]
                out += [f"![{alt}]({path})", ""]
        return "\n".join(out).rstrip("\n") + "\n"

    def to_html(self) -> str:
        body: list[str] = []
        for kind, content in self.blocks:
            if kind in ("h1", "h2", "h3"):
                body.append(f"<{kind}>{_inline_html(content)}</{kind}>")
            elif kind == "p":
                body.append(f"<p>{_inline_html(content)}</p>")
            elif kind == "table":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in content.header)
                rows = "".join("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>" for row in content.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "img":
                path, alt, file = (*content, None)[:3]
                source = _data_uri(Path(file)) if file is not None else html.escape(path)
                body.append(f'<figure><img src="{source}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>')
        style = ("body{font-family:DejaVu Sans,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
                 "table{border-collapse:collapse;font-size:85%}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
                 "td.t{text-align:left}img{max-width:100%}")
        title = html.escape(self.blocks[0][1]) if self.blocks else "stecheck report"
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title><style>{style}</style></head>\n"
                f"<body>\n" + "\n".join(body) + "\n</body></html>\n")


def _cell_html(cell: str) -> str:
    """A table cell: numbers right-aligned (the table default), text left-aligned."""
    attribute = "" if _NUMERIC.match(cell) else ' class="t"'
    return f"<td{attribute}>{_inline_html(cell)}</td>"


def _data_uri(file: Path) -> str:
    """The file's bytes as a base64 ``data:`` URI (the page needs no other file)."""
    mime = _MIME.get(file.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(file.read_bytes()).decode("ascii")


def rejects(value: float | None, claim: float | None, se: float | None, z: float = Z_VERDICT) -> bool | None:
    """True when ``|value - claim| > z * se`` (with ``se = 0``: when they differ); None when unknown."""
    if value is None or claim is None:
        return None
    gap = abs(value - claim)
    return gap > z * se if se else gap > 1e-12 * max(1.0, abs(claim))


def _ks(ks: Sequence[int]) -> str:
    return ", ".join(str(k) for k in ks) if ks else "none"


def _verdict_record(records: Sequence[Record], dist: str, k: int) -> Record | None:
    """The cell's record at the largest h <= 1/L (identity A regime; smallest SE), else at the smallest h."""
    cell = where(records, dist=dist, k=k)
    if not cell:
        return None
    inside = [r for r in cell if r["h"] <= 1.0 / levels(k)]
    return max(inside, key=lambda r: r["h"]) if inside else min(cell, key=lambda r: r["h"])


def _simulate_section(report: Report, records: Sequence[Record]) -> None:
    schemes = unique(records, "fd")
    chosen = where(records, fd="forward" if "forward" in schemes else schemes[0], rounding=preferred_rounding(records))
    rows, summary = [], []
    total = rejected_n = rejected_fd = 0
    for dist in unique(chosen, "dist"):
        bad_n, bad_fd = [], []
        for k in sorted(unique(where(chosen, dist=dist), "k")):
            rec = _verdict_record(chosen, dist, k)
            if rec is None:
                continue
            total += 1
            rn = rejects(rec["mean_n"], 0.0, rec["mean_n_se"])
            rf = rejects(rec["mean_fd"], rec["ste"], rec["mean_fd_se"])
            upper = rec.get("mean_fd_upper")
            if upper is not None and rec["ste"] is not None:  # no crossing observed: judge by the 95% bound
                rf = rec["ste"] > upper
            if rn:
                bad_n.append(k)
            if rf:
                bad_fd.append(k)
            rows.append((
                f"`{dist}`", str(k), f"{fmt(rec['mean_n'])} ± {fmt(rec['mean_n_se'], 2)}", fmt(rec.get("var12_n")),
                fmt(rec.get("ks_stat")), fmt(rec["h"]),
                f"{fmt(rec['mean_fd'])} ± {fmt(rec['mean_fd_se'], 2)}" if upper is None else f"{fmt(rec['mean_fd'])} ≤ {fmt(upper, 2)}",
                fmt(rec.get("exact_mean_fd")), fmt(rec["ste"]), "rejected" if rf else ("consistent" if rf is False else "-"),
            ))
        rejected_n += len(bad_n)
        rejected_fd += len(bad_fd)
        summary.append((f"`{dist}`", _ks(bad_n), _ks(bad_fd)))
    report.add("p", (
        f"Claim E[D_h] = STE value rejected (|E[D_h] - STE| > {Z_VERDICT:g} SE) in **{rejected_fd} of {total}** cells "
        f"(input x k); E[n] = 0 rejected in {rejected_n} of {total}. Each cell is judged at the largest recorded "
        f"h <= 1/L, where identity A says E[D_h] = 1 for every such h if and only if n is uniform."
    ))
    report.add("table", Table(("input", f"k where E[n] != 0 (> {Z_VERDICT:g} SE)", f"k where E[D_h] != STE (> {Z_VERDICT:g} SE)"), summary))
    report.add("h3", "Key table")
    report.add("table", Table(("input", "k", "E[n] ± SE", "12 Var(n)", "KS D", "h", "E[D_h] ± SE", "exact E[D_h]", "STE", "E[D_h] = STE?"), rows))


def _variants_section(report: Report, records: Sequence[Record]) -> None:
    rows = []
    for k in sorted(unique(records, "k")):
        for rounding in unique(where(records, k=k), "rounding"):
            c = variant_curves(records, k, rounding)
            off = sum(bool(rejects(float(s), 1.0, float(se))) for s, se in zip(c["slope"], c["slope_se"]))
            rows.append((str(k), rounding, str(len(c["r"])), str(off), f"{float(c['h']):g}"))
    report.add("p", (
        f"Slope of E[q(r)] over a grid of points r: the number of grid points where it differs from 1 by more than "
        f"{Z_VERDICT:g} SE. Randomness inside the quantizer (stochastic rounding, dither) makes 'derivative 1 in "
        "expectation' exactly true; deterministic rounding does not."
    ))
    report.add("table", Table(("k", "rounding", "points r", f"slope != 1 (> {Z_VERDICT:g} SE)", "h"), rows))


def _weights_section(report: Report, records: Sequence[Record]) -> None:
    from stecheck.views.plots.weights import weights_records
    from stecheck.weights.scan import claim_holds

    chosen = weights_records(records)
    rows = []
    holds = judged = 0
    for rec in chosen:
        verdict = claim_holds(rec.get("mean_fd"), rec.get("var_n"))
        judged += verdict is not None
        holds += bool(verdict)
        var12 = None if rec.get("var_n") is None else 12 * rec["var_n"]
        rows.append((f"`{rec['tensor']}`", str(rec["k"]), fmt(rec.get("mean_fd")), fmt(rec.get("ste")), fmt(var12),
                     fmt(rec.get("ks_stat")), fmt(rec.get("sqnr_db")), fmt(rec.get("sqnr_uniform_db")),
                     "holds" if verdict else ("fails" if verdict is False else "degenerate")))
    h = chosen[0].get("h") if chosen else None
    report.add("p", (
        f"Exact over the tensors' weights (h = {fmt(h)}). The claim holds for a tensor at k when |E[D_h] - 1| <= "
        f"{WEIGHTS_TOLERANCE:g} and |12 Var(n) - 1| <= {WEIGHTS_TOLERANCE:g} (the README's rule): it holds in "
        f"**{holds} of {judged}** tensor x k cells."
    ))
    report.add("table", Table(("tensor", "k", "E[D_h]", "STE", "12 Var(n)", "KS D", "SQNR dB", "predicted dB", "claim"), rows))


def _quantizers_section(report: Report, model: str, records: Sequence[Record]) -> None:
    """One row per quantizer of a weights run (:mod:`stecheck.views.quantizers`): does the claim hold for it?"""
    from stecheck.views.quantizers import COLUMNS, quantizer_rows

    rows = quantizer_rows(model, records)
    holds = [row.quantizer for row in rows if row.record.get("claim_holds")]
    report.add("p", (
        f"Per quantizer, size-weighted over the tensors: the claim (|E[D_h] - 1| <= {WEIGHTS_TOLERANCE:g} and "
        f"|12 Var(n) - 1| <= {WEIGHTS_TOLERANCE:g}) holds for **{len(holds)} of {len(rows)}** quantizers."
    ))
    report.add("table", Table(COLUMNS[1:], [tuple(row.cells()[1:]) for row in rows]))


def _simulate_quantizers_section(report: Report, records: Sequence[Record]) -> None:
    """Fixed-grid quantizers of a simulate run: per input and quantizer, at the smallest forward h."""
    schemes = unique(records, "fd")
    chosen = where(records, fd="forward" if "forward" in schemes else schemes[0])
    h = min(r["h"] for r in chosen)
    rows = []
    rejected = 0
    for rec in (r for r in chosen if r["h"] == h):
        upper = rec.get("mean_fd_upper")
        rf = rejects(rec["mean_fd"], rec["ste"], rec["mean_fd_se"])
        if upper is not None and rec["ste"] is not None:
            rf = rec["ste"] > upper
        rejected += bool(rf)
        rows.append((
            f"`{rec['dist']}`", f"`{rec['quantizer']}`", f"{fmt(rec['mean_n'])} ± {fmt(rec['mean_n_se'], 2)}", fmt(rec.get("var12_n")),
            f"{fmt(rec['mean_fd'])} ± {fmt(rec['mean_fd_se'], 2)}" if upper is None else f"{fmt(rec['mean_fd'])} ≤ {fmt(upper, 2)}",
            fmt(rec.get("exact_mean_fd")), fmt(rec["ste"]), "rejected" if rf else ("consistent" if rf is False else "-"),
        ))
    report.add("p", (
        f"Quantizers other than DoReFa (fixed grids), forward differences at h = {fmt(h)}: the STE value is rejected "
        f"(beyond {Z_VERDICT:g} SE) in **{rejected} of {len(rows)}** input x quantizer cells."
    ))
    report.add("table", Table(("input", "quantizer", "E[n] ± SE", "12 Var(n)", "E[D_h] ± SE", "exact E[D_h]", "STE", "STE value"), rows))


def _audit_section(report: Report, records: Sequence[Record]) -> None:
    """The audit's verdict table: one row per step, with the decisive numbers and the condition."""
    counts = {v: sum(r.get("verdict") == v for r in records) for v in ("holds", "holds-only-if", "fails")}
    report.add("p", (
        f"Lemma Two, step by step: {counts['holds']} steps hold, {counts['holds-only-if']} hold only under a condition, "
        f"{counts['fails']} fail. A verdict is computed from the numbers (within {Z_VERDICT:g} standard errors of the claim)."
    ))
    rows = []
    for rec in records:
        numbers = fmt(rec.get("value")) if rec.get("se") is None else f"{fmt(rec.get('value'))} ± {fmt(rec.get('se'), 2)}"
        if rec.get("exact") is not None:
            numbers += f" (exact {fmt(rec['exact'])})"
        numbers += f", claimed {fmt(rec.get('target'))}; `{rec.get('input')}`, k = {fmt(rec.get('k'))}"
        rows.append((str(rec.get("step")), str(rec.get("claim", "")), f"**{rec.get('verdict')}**", numbers, str(rec.get("condition", ""))))
    report.add("table", Table(("step", "claim", "verdict", "decisive numbers", "condition"), rows))


def _phase_section(report: Report, run_dir: Path, meta: dict, records: Sequence[Record]) -> None:
    """The rule of thumb (sigma_s* and k_min per family), the spot checks' summary."""
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    tolerance = config.get("tolerance", records[0].get("tolerance") if records else None)
    sds = list(dict.fromkeys(rec["sd"] for rec in records))
    report.add("p", (
        f"**Rule of thumb**: E[D] is within {fmt(tolerance)} of the STE's 1 at every centre offset once sigma_s >= "
        "sigma_s* (sigma_s = L sd(r)); in bits, k >= k_min = ceil(log2(1 + sigma_s* / sd)) for an input of standard "
        "deviation sd."
    ))
    rows = []
    for family in dict.fromkeys(rec["family"] for rec in records):
        by_sd = {rec["sd"]: rec for rec in records if rec["family"] == family}
        first = next(iter(by_sd.values()))
        rows.append((f"`{family}`", fmt(first.get("sigma_s_star")), *(fmt(by_sd[sd]["k_min"]) if sd in by_sd else "-" for sd in sds)))
    report.add("table", Table(("family", "sigma_s*", *(f"k_min, sd = {fmt(sd)}" for sd in sds)), rows))
    spot = run_dir / "spot" / "records.json"
    if spot.is_file():
        _, spots = load_run(spot.parent)
        worst = max((abs(r["z"]) for r in spots if r.get("z") is not None), default=None)
        failed = sum(not r.get("ok", True) for r in spots)
        report.add("p", (
            f"{len(spots)} Monte Carlo spot checks of the exact map lie within {fmt(worst, 3)} standard errors of the "
            f"CDF sums ({failed} beyond {Z_VERDICT:g})."
        ))


def _provenance(meta: dict) -> str:
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    parts = [
        f"command `{meta.get('command', '?')}`",
        f"stecheck {meta.get('stecheck_version', '?')}",
        f"git {str(meta.get('git_revision'))[:12] if meta.get('git_revision') else 'not recorded'}",
        f"seed `{meta['seed']}`" if meta.get("seed") is not None else "seed not recorded (none used)",
        f"date {meta.get('date', 'not recorded')}",
    ]
    if config.get("samples"):
        parts.append(f"{config['samples']:,} samples per input")
    if meta.get("wall_time_s") is not None:
        parts.append(f"wall time {meta['wall_time_s']} s")
    parts.append(f"python {meta.get('python', '?')}, numpy {meta.get('numpy', '?')}, scipy {meta.get('scipy', '?')}")
    return "Provenance: " + "; ".join(parts) + "."


def _images(run_dir: Path, relative_to: Path, kind: object = None) -> list[tuple[str, str, Path]]:
    """(relative path, caption, file) of the run's figures: ``RUN/figures/``, or the run folder itself for phase."""
    figures = run_dir if kind == "phase" else run_dir / "figures"
    if not figures.is_dir():
        return []
    files = sorted(figures.glob("*.png")) or sorted(figures.glob("*.svg"))
    rank = {stem: i for i, stem in enumerate(_IMAGE_ORDER)}
    files.sort(key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    return [(Path(os.path.relpath(p, relative_to)).as_posix(), p.stem.replace("_", " "), p) for p in files]


def _part_of_phase(run_dir: Path, runs: Sequence[Path]) -> bool:
    """``PHASE/map`` and ``PHASE/spot`` belong to the phase run ``PHASE`` (one section, not three)."""
    parent = run_dir.parent
    return run_dir.name in ("map", "spot") and (parent / "records.json").is_file() and any(
        Path(r).resolve() == parent.resolve() for r in runs)


def build_report(runs: Sequence[Path], relative_to: Path, generated: datetime | None = None) -> Report:
    """The report of ``runs``; image links are relative to the directory ``relative_to`` (where it is written)."""
    from stecheck import __version__

    when = (generated or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    report = Report()
    report.add("h1", "stecheck report: is the derivative of quantize_k 1 in expectation?")
    report.add("p", (
        f"Generated {when} by stecheck {__version__} from {len(runs)} run(s). The straight-through estimator "
        "(STE) uses 1 as the derivative of quantize_k(r) = round(L r) / L; the true derivative is 0 off the "
        "thresholds. Finite differences D_h = (q(r+h) - q(r)) / h have E[D_h] = 1 for all h <= 1/L exactly "
        "when the rounding error n is uniform (identity A)."
    ))
    for run_dir in runs:
        if _part_of_phase(run_dir, runs):
            continue
        meta, records = load_run(run_dir)
        kind = meta.get("command")
        name = meta.get("config", {}).get("name") if isinstance(meta.get("config"), dict) else None
        report.add("h2", f"{kind} run `{name or run_dir.name}` ({run_dir.as_posix()})")
        report.add("p", _provenance(meta))
        if kind in ("simulate", "weights"):  # the sections run over DoReFa's k; other quantizers get their own table
            dorefa = [rec for rec in records if str(rec.get("quantizer") or "dorefa").startswith("dorefa")]
            if len(dorefa) < len(records) and kind == "weights":
                _quantizers_section(report, str(meta.get("config", {}).get("source", run_dir.name)), records)
            elif len(dorefa) < len(records):
                _simulate_quantizers_section(report, [rec for rec in records if rec not in dorefa])
            records = dorefa
        if kind in ("simulate", "weights") and not records:
            pass
        elif kind == "simulate" and is_variants_run(records):
            _variants_section(report, records)
        elif kind == "simulate":
            _simulate_section(report, records)
        elif kind == "weights":
            _weights_section(report, records)
        elif kind == "audit":
            _audit_section(report, records)
        elif kind == "phase" and records and "sigma_s_star" in records[0]:
            _phase_section(report, run_dir, meta, records)
        else:
            report.add("p", f"{len(records)} records of kind `{kind}`: not summarised here.")
        images = _images(run_dir, relative_to, kind)
        if images:
            report.add("h3", "Figures")
            for image in images:
                report.add("img", image)
        elif kind in ("simulate", "weights"):
            report.add("p", f"No figures yet: run `stecheck plot {run_dir.as_posix()}` first.")
    return report

