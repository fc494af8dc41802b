"""results.json -> table.md, table.csv, report.html and the terminal table.

results.json is the one source: every table here is drawn from it, so `edgepipe report RUN_DIR`
re-renders a finished run without touching a model.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

from edgepipe_base.atomic import write_atomic, write_json

NA = "–"


def _fmt(v, spec: str = "", suffix: str = "") -> str:
    return NA if v is None else f"{v:{spec}}{suffix}"


def _kb(n) -> str:
    return NA if n is None else f"{n / 1024:.1f}"


def _index(results: dict) -> dict[tuple[str, str], dict]:
    return {(r["variant"], r["target"]): r for r in results["results"]}


def _reference_accuracy(results: dict) -> float | None:
    """Δ accuracy is against the float32 variant on LiteRT, else the float Keras model."""
    idx = _index(results)
    if ("fp32", "host-litert") in idx and idx[("fp32", "host-litert")]["accuracy"] is not None:
        return idx[("fp32", "host-litert")]["accuracy"]
    return results.get("float_test_accuracy")


def compression_facts(meta: dict) -> str:
    """What a compression did, measured from the weights (meta written by pipeline/compress)."""
    facts = []
    if "student_params" in meta:
        facts.append(f"student {meta['student_params']:,} params ({meta['student_params'] / meta['teacher_params']:.2f}× "
                     "teacher)" + (f", T={meta['temperature']:g} α={meta['alpha']:g}" if "temperature" in meta else ""))
    if "m_by_n" in meta:
        holds = all(meta.get("m_by_n_holds", {}).values())
        facts.append(f"{meta['m_by_n'][0]}:{meta['m_by_n'][1]} sparsity {'holds' if holds else 'BROKEN'}")
    if meta.get("sparsity", 0) >= 0.25 and "bitmap_sparse_weight_bytes_computed" in meta:
        facts.append(f"weights {meta['weight_bytes'] / 1024:.1f} KiB dense, "
                     f"{meta['bitmap_sparse_weight_bytes_computed'] / 1024:.1f} KiB bitmap-sparse (computed)")
    if meta.get("not_pruned"):
        facts.append("kept dense: " + ", ".join(n.split(":")[0] for n in meta["not_pruned"]))
    if "sparsity_before_qat" in meta:
        facts.append(f"sparsity {meta['sparsity_before_qat']:.2f} → {meta['sparsity']:.2f} through QAT")
    if "clusters" in meta:
        most = max(meta.get("unique_weights_per_layer", {}).values(), default=None)
        facts.append(f"{meta['clusters']} clusters" + (f", ≤{most} distinct weights/layer" if most else ""))
    if meta.get("binary_weights") and meta.get("quantization") == "lce":
        facts.append(f"1-bit packed + int8 weights {meta['packed_total_weight_bytes'] / 1024:.1f} KiB "
                     f"(computed; stored sizes: weight_bytes_elf on boards) vs float32 "
                     f"{meta['float32_total_weight_bytes'] / 1024:.1f} KiB; bit-packed by LCE")
    elif meta.get("binary_weights"):
        facts.append(f"weights would pack to {meta['packed_total_weight_bytes'] / 1024:.1f} KiB at 1 bit "
                     f"(float32 {meta['float32_total_weight_bytes'] / 1024:.1f} KiB); shipped as int8")
    return "; ".join(facts)


def _deployable(pre: dict) -> str:
    if not pre:
        return "not checked"
    if not pre.get("deployable"):
        return f"no: {pre.get('reason')}"
    if pre.get("engine_runs") is False:
        return f"TFLM only: {pre.get('reason')}"
    return "yes"


def variant_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """One row per variant: what it is, how accurate, how big, how fast on the host, MCU-ready?"""
    idx = _index(results)
    ref_acc = _reference_accuracy(results)
    fp32 = next((v for v in results["variants"] if v["name"] == "fp32"), None)
    n = lambda target: sorted({r["samples"] for r in results["results"] if r["target"] == target and r.get("samples")})
    count = lambda target: f" (n={'/'.join(map(str, n(target)))})" if n(target) else ""
    head = ["variant", "kind", "computes", f"acc %{count('host-litert')}", "Δ fp32 pts", ".tflite KiB", "× fp32",
            "gzip KiB", "sparsity", "LiteRT µs (p50)", f"TFLM acc %{count('host-tflm')}", "TFLM arena KiB",
            "MCU deployable", "compression"]
    rows = []
    for v in results["variants"]:
        lite = idx.get((v["name"], "host-litert"), {})
        micro = idx.get((v["name"], "host-tflm"), {})
        acc = lite.get("accuracy")
        pre = v.get("preflight", {})
        rows.append([
            v["name"], v["kind"], v["tensor_types"],
            _fmt(None if acc is None else 100 * acc, ".2f"),
            _fmt(None if acc is None or ref_acc is None else 100 * (acc - ref_acc), "+.2f"),
            _kb(v["tflite_bytes"]),
            _fmt(v["tflite_bytes"] / fp32["tflite_bytes"] if fp32 else None, ".2f"),
            _kb(v["gzip_bytes"]), _fmt(v["sparsity"], ".2f"),
            _fmt(None if not lite.get("latency_ms") else 1e3 * lite["latency_ms"]["median"], ".1f"),
            _fmt(None if micro.get("accuracy") is None else 100 * micro["accuracy"], ".2f"),
            _kb(micro.get("arena_bytes")),
            _deployable(pre),
            compression_facts(v.get("meta") or {}),
        ])
    return head, rows


def status(r: dict) -> str:
    """measured | failed | skipped | stale: what a row holds."""
    if r.get("error"):
        return "failed"
    if r.get("skipped"):
        return "skipped"
    return "stale" if r.get("stale") else "measured"


def row_note(r: dict) -> str:
    """Why a row has no numbers (or why they are old): the reason shown beside it."""
    return r.get("error") or r.get("skipped") or r.get("stale") or ""


def state_note(r: dict) -> str:
    """A streaming model's persistent state (not in the arena) and how its samples ran."""
    parts = []
    if r.get("state_bytes"):
        parts.append(f"state {r['state_bytes']:,} B beside the arena")
    if r.get("eval_mode") == "stream":
        parts.append("samples are the frames of one stream (state carried)")
    elif r.get("eval_mode") == "reset":
        parts.append("state reset before each sample")
    return ", ".join(parts)


def target_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """One row per (variant, target) for the C engine and the boards, and every row that was asked
    for but could not be measured (failed or skipped, with the reason) whatever its target."""
    head = ["variant", "target", "acc %", "samples", "mismatches vs TFLM", "instructions/inf (p50)",
            "cycles/inf (p50)", "est. cycles/inf (p50)", "MAC/est. cycle", "est. ms @clock", "arena KiB",
            "flash KiB", "RAM KiB", "note"]
    # a TFLM engine on a board: an engine column, engines of one board side by side
    # and the kernel tables' layout (speed | size) once a row was measured in the size layout
    layouts = any(r.get("layout") not in (None, "speed") for r in results["results"])
    engines = layouts or any(r.get("engine") not in (None, "edgepipe") for r in results["results"])
    if engines:
        head.insert(2, "engine")
    rows = []
    best = best_per_target(results)
    for r in results["results"]:
        if r["target"] in ("host-litert", "host-tflm") and status(r) == "measured":
            continue                  # their numbers are in the variant table
        instr, cyc = r.get("instructions"), r.get("cycles")
        lat = r.get("latency_ms") or {}
        rows.append([
            r["variant"], r["target"],
            *([(r.get("engine") or NA) + (f" ({r['layout']})" if layouts and r.get("layout") else "")]
              if engines else []),
            _fmt(None if r["accuracy"] is None else 100 * r["accuracy"], ".2f"),
            _fmt(r["samples"]), _fmt(r["mismatches"]),
            _fmt(instr["median"] if isinstance(instr, dict) else instr, ",.0f"),
            _fmt(cyc["median"] if isinstance(cyc, dict) else cyc, ",.0f"),
            _fmt((r.get("cycles_estimate") or {}).get("median"), ",.0f"),
            _fmt(r.get("macs_per_cycle_estimate"), ".3f"),
            # from the estimated cycles where there are some, else from the instructions
            (_fmt(r["ms_estimate"], ".2f", " (estimate)") if r.get("ms_estimate") is not None else
             _fmt(lat.get("median"), ".2f", " (estimate)" if lat.get("estimate") else "")),
            _kb(r.get("arena_bytes")), _kb(r.get("flash_bytes")), _kb(r.get("ram_bytes")),
            "; ".join(n for n in (
                "★ best deployable here" if best.get(r["target"]) is r else "",
                (f"{status(r)}: " if status(r) != "measured" else "") + row_note(r),
                state_note(r), r.get("note")) if n),
        ])
    return head, rows


SLOWEST_LAYERS = 3


def layer_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """The layers that cost most, per (variant, target) with a per-layer profile (`layers` rows:
    boards from the firmware's per-layer counter, host-c from callgrind)."""
    head = ["variant", "target", "layer", "op", "MACs", "count", "share %", "MACs/count", "% of peak",
            "est. cycles", "MACs/est. cycle"]
    rows = []
    for r in results["results"]:
        layers = r.get("layers") or []
        total = sum(l.get("instructions") or l.get("cycles") or 0 for l in layers)
        for l in sorted(layers, key=lambda l: -(l.get("instructions") or l.get("cycles") or 0))[:SLOWEST_LAYERS]:
            n = l.get("instructions") or l.get("cycles")
            unit = "instr" if l.get("instructions") is not None else "cycles"
            rate = l.get("macs_per_instruction", l.get("macs_per_cycle"))
            peak = l.get("peak_fraction_estimate", l.get("peak_fraction"))
            rows.append([r["variant"], r["target"], f"#{l['index']} {l['name']}", l["opcode"], _fmt(l["macs"], ",.0f"),
                         _fmt(n, ",.0f", f" {unit}"), _fmt(100 * n / total if n and total else None, ".1f"),
                         _fmt(rate, ".3f"),
                         _fmt(None if peak is None else 100 * peak, ".1f",
                              " (estimate)" if "peak_fraction_estimate" in l else ""),
                         _fmt(l.get("cycles_estimate"), ",.0f"), _fmt(l.get("macs_per_cycle_estimate"), ".3f")])
    return head, rows


def best_per_target(results: dict) -> dict[str, dict]:
    """Per board (and host-c): the measured row with the highest accuracy, fewest instructions/cycles
    breaking ties, among variants that are deployable there."""
    variants = {v["name"]: v for v in results["variants"]}
    best: dict[str, dict] = {}
    for r in results["results"]:
        if r["target"] in ("host-litert", "host-tflm") or status(r) != "measured" or r.get("accuracy") is None:
            continue
        pre = variants.get(r["variant"], {}).get("preflight", {})
        board = (pre.get("boards") or {}).get(r["target"])
        if not pre.get("deployable") or (board is not None and not board.get("deployable")):
            continue
        cost = r.get("instructions") or r.get("cycles") or {}
        cost = cost.get("median") if isinstance(cost, dict) else cost
        score = (r["accuracy"], -(cost or 0))
        if r["target"] not in best or score > best[r["target"]][0]:
            best[r["target"]] = (score, r)
    return {t: r for t, (_, r) in best.items()}


def summary_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """The shape of the TF model-optimization docs: top-1 original / PTQ int8 / QAT int8, size, speed."""
    idx = _index(results)
    acc = lambda v: (idx.get((v, "host-litert")) or {}).get("accuracy")
    size = {v["name"]: v["tflite_bytes"] for v in results["variants"]}
    lat = lambda v: ((idx.get((v, "host-litert")) or {}).get("latency_ms") or {}).get("median")
    pct = lambda a: _fmt(None if a is None else 100 * a, ".2f")
    if "fp32" not in size or "int8" not in size:
        return [], []
    head = ["model", "top-1 original %", "top-1 PTQ int8 %", "top-1 QAT int8 %", "size fp32 → int8 KiB",
            "LiteRT µs fp32 → int8"]
    return head, [[results["model"], pct(acc("fp32")), pct(acc("int8")), pct(acc("qat")),
                   f"{_kb(size['fp32'])} → {_kb(size['int8'])}",
                   f"{_fmt(None if lat('fp32') is None else 1e3 * lat('fp32'), '.1f')} → "
                   f"{_fmt(None if lat('int8') is None else 1e3 * lat('int8'), '.1f')}"]]


def markdown(head, rows) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def terminal(head, rows, max_cell: int = 48) -> str:
    """A left-aligned text table; a cell longer than max_cell wraps at word boundaries onto the
    following lines (nothing is cut off)."""
    import textwrap
    wrap = lambda c: textwrap.wrap(c, max_cell, break_on_hyphens=False) or [""]
    cells = [[wrap(c) for c in r] for r in [head, *rows]]
    widths = [max(len(part) for r in cells for part in r[i]) for i in range(len(head))]

    def lines(r):
        height = max(len(c) for c in r)
        return ["  ".join((c[k] if k < len(c) else "").ljust(w) for c, w in zip(r, widths)).rstrip()
                for k in range(height)]
    return "\n".join([*lines(cells[0]), "  ".join("-" * w for w in widths), *(ln for r in cells[1:] for ln in lines(r))])


def csv_text(results: dict) -> str:
    """Long form: one line per (variant, target), variant facts repeated; for spreadsheets."""
    variants = {v["name"]: v for v in results["variants"]}
    cols = ["variant", "kind", "quantization", "tensor_types", "tflite_bytes", "gzip_bytes", "params",
            "sparsity", "deployable", "target", "accuracy", "samples", "latency_ms_median",
            "latency_ms_p90", "latency_is_estimate", "instructions_median", "cycles_median",
            "cycles_estimate_median", "ms_estimate", "macs_per_cycle_estimate", "arena_bytes", "state_bytes",
            "flash_bytes", "ram_bytes", "bit_exact", "mismatches", "engine", "layout", "eval_mode", "status", "skipped",
            "note", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in results["results"]:
        v = variants.get(r["variant"], {})
        lat = r.get("latency_ms") or {}
        med = lambda x: x["median"] if isinstance(x, dict) else x
        vals = {**{k: v.get(k) for k in cols}, **{k: r.get(k) for k in cols if k in r},
                "deployable": v.get("preflight", {}).get("deployable"), "status": status(r),
                "skipped": r.get("skipped") or r.get("stale"),
                "latency_ms_median": lat.get("median"), "latency_ms_p90": lat.get("p90"),
                "latency_is_estimate": bool(lat.get("estimate")) if lat else None,
                "instructions_median": med(r.get("instructions")), "cycles_median": med(r.get("cycles")),
                "cycles_estimate_median": med(r.get("cycles_estimate"))}
        w.writerow(["" if vals[c] is None else vals[c] for c in cols])
    return buf.getvalue()


def html_text(results: dict, tables, figures: dict | None = None) -> str:
    parts = [f"<!doctype html><meta charset=utf-8><title>edgepipe: {html.escape(results['model'])}</title>",
             "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}"
             "td.t{text-align:left;max-width:40em}</style>",
             f"<h1>{html.escape(results['model'])} on {html.escape(results['dataset'])}</h1>",
             f"<p>edgepipe {html.escape(results['edgepipe_version'])}, {html.escape(results['created'])}</p>",
             *[f'<p style="color:#a00">warning: {html.escape(w)}</p>' for w in results.get("warnings", [])]]
    for title, (head, rows) in tables:
        if not rows:
            continue
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
        parts += ["<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows]
        parts.append("</table>")
    if figures:
        parts.append("<h2>Plots</h2>")
        for name, (path, caption) in figures.items():
            parts.append(f'<figure><img src="plots/{html.escape(path.name)}" alt="{html.escape(name)}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return "\n".join(parts) + "\n"


_NUMBER = re.compile(r"^[-+]?[0-9][0-9,]*(\.[0-9]+)?( \(estimate\))?$|^–$")


def _td(text: str) -> str:
    """Numbers right-aligned, text left-aligned."""
    return f"<td>{html.escape(text)}</td>" if _NUMBER.match(text) else f'<td class="t">{html.escape(text)}</td>'


def render(results: dict) -> str:
    """The terminal form of the report."""
    what = (f"(accuracy: top-1 on the {results.get('test_samples', '?')}-sample test split with LiteRT and "
            "TFLM; Δ against float32 on LiteRT; other targets list their samples)") if results.get("labels") \
        else f"({results.get('test_samples', '?')} seeded random inputs; no labels, so no accuracy)"
    out = [f"{results['model']} on {results['dataset']}  {what}",
           *[f"warning: {w}" for w in results.get("warnings", [])],
           terminal(*variant_table(results))]
    head, rows = summary_table(results)
    if rows:
        out[1 + len(results.get("warnings", [])):1 + len(results.get("warnings", []))] = [terminal(head, rows), ""]
    head, rows = target_table(results)
    if rows:
        out += ["", "Targets (instructions: executed instructions, counted by QEMU -icount on emulated "
                "boards and by callgrind (x86) for host-c, not cycles; est. cycles: the executed instruction "
                "mix priced with the core's published timings, an estimate without wait states or caches; "
                "est. ms = est. cycles (else instructions) / board clock)",
                terminal(head, rows)]
    return "\n".join(out)


def write(results: dict, out_dir: Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    tables = [("Summary", summary_table(results)), ("Variants", variant_table(results)),
              ("Targets", target_table(results)), ("Slowest layers", layer_table(results))]
    paths = {"json": out_dir / "results.json", "md": out_dir / "table.md", "csv": out_dir / "table.csv",
             "html": out_dir / "report.html"}
    write_json(paths["json"], results)
    md = [f"# {results['model']} on {results['dataset']}\n"]
    for title, (head, rows) in tables:
        if rows:
            md += [f"## {title}\n", markdown(head, rows)]
    write_atomic(paths["md"], "\n".join(md))
    write_atomic(paths["csv"], csv_text(results))
    from . import plots
    try:
        figures = plots.write(results, out_dir)
    except ImportError:            # matplotlib is pinned; without it the tables are still written
        figures = {}
    write_atomic(paths["html"], html_text(results, tables, figures))
    return paths


def load(run_dir: Path) -> dict:
    from edgepipe_base.errors import EdgepipeError
    path = Path(run_dir) / "results.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgepipeError(f"{path}: cannot read results ({exc}); run `edgepipe run` first") from None
    missing = [k for k in ("model", "dataset", "edgepipe_version", "created", "variants", "results")
               if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise EdgepipeError(f"{path}: not an edgepipe results file (no {', '.join(missing)})")
    return doc
