"""Instructions per inference of the generated engine on emulated Cortex-M boards: the portable C
kernels vs the optimized ones (Arm DSP SMLAD on M4/M7, Helium MVE on M55), both measured here.

    PYTHONPATH=. .venv/bin/python bench/arm_kernels.py [--boards mps2-an385,...] [--samples N] \
        [--layout speed|size] [model.tflite ...]

Both variants are built from the same runtime sources for the same board; the portable one through
one-line shims that define EP_PORTABLE_KERNELS before including each runtime .c file (see
firmware_gen/runtime/ep_simd.h). Every inference is checked against TFLM (mismatches must be 0).
Counts come from QEMU -icount: executed instructions, deterministic, not cycles (no pipeline,
wait states or MVE beats are modelled). Without model arguments the testdata models are measured,
plus a MobileNetV1-0.25 96x96x3 (the MLPerf Tiny VWW architecture) built here with random weights
(seed 0) through the real TFLite converter.

Per core and model it prints instructions, MACs per instruction, estimated cycles and MACs per
estimated cycle (the executed instruction mix priced with the core's TRM timings:
pipeline/bench/cycles.py; an estimate), the per-layer-type split of the
optimized build's instructions (from the engine's per-layer counter hook: which layer type holds a
model back), and the engine's arena plus the stack its invoke used against TFLM's arena.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from firmware_gen import codegen  # noqa: E402
from edgepipe_base import tflite_file
from firmware_gen import boards  # noqa: E402
from firmware_gen import tflm  # noqa: E402
from pipeline.bench import board as board_bench  # noqa: E402

TESTDATA = REPO / "tests" / "data"      # third-party models, copied with their NOTICE.md
BOARDS = ("mps2-an385", "mps2-an386", "mps3-an547")


def portable_generate(tflite_path, out_dir, prefix):
    """codegen.generate, with every runtime source replaced by a shim that forces the portable
    kernels: same sources, same compiler and flags, only the kernel variant differs."""
    engine = codegen.generate(tflite_path, out_dir, prefix)

    def shim(src: Path) -> Path:
        path = Path(out_dir) / f"portable_{src.name}"
        path.write_text(f"/* {src.name} with the portable kernels forced (bench/arm_kernels.py) */\n"
                        f"#define EP_PORTABLE_KERNELS 1\n#include \"{src.name}\"\n")
        return path
    # the model's .c too: tables only an optimized kernel reads are compiled out of the portable
    # build, so the flash columns show what the optimized kernels cost
    return dataclasses.replace(engine, c_path=shim(engine.c_path),
                               runtime_sources=[shim(src) for src in engine.runtime_sources])


def random_inputs(path: Path, n: int, seed: int = 0) -> np.ndarray:
    m = tflite_file.read(path)
    shape = m.main.tensors[m.main.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


def mobilenet_v1_025(path: Path, seed: int = 0) -> Path:
    """MobileNetV1 alpha 0.25 on 96x96x3 (VWW layout: 3x3/2 stem, 13 depthwise-separable blocks,
    average pool, dense) with random weights, int8 through the real converter. The head has no
    softmax: with random weights its input scale makes TFLM's softmax Prepare abort."""
    import os
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers
    keras.utils.set_random_seed(seed)

    def block(x, filters, kernel, stride, depthwise=False):
        conv = (L.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False) if depthwise
                else L.Conv2D(filters, kernel, stride, padding="same", use_bias=False))
        return L.ReLU(6.0)(L.BatchNormalization()(conv(x)))

    inp = L.Input((96, 96, 3))
    x = block(inp, 8, 3, 2)
    for filters, stride in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + \
            [(256, 2), (256, 1)]:
        x = block(block(x, None, 3, stride, depthwise=True), filters, 1, 1)
    y = L.Dense(2)(L.Flatten()(L.AveragePooling2D(3)(x)))
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(8):
            yield [rng.normal(0, 1, size=(1, 96, 96, 3)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, y))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


def by_type(layers: list[dict] | None) -> dict[str, tuple[int, int]]:
    """opcode -> (instructions, MACs) summed over the optimized build's layers."""
    out: dict[str, tuple[int, int]] = {}
    for l in layers or []:
        n, m = out.get(l["opcode"], (0, 0))
        out[l["opcode"]] = (n + l["instructions"], m + l["macs"])
    return out


def est_by_type(layers: list[dict] | None) -> dict[str, int]:
    """opcode -> estimated cycles summed over the optimized build's layers (layers without one: 0)."""
    out: dict[str, int] = {}
    for l in layers or []:
        out[l["opcode"]] = out.get(l["opcode"], 0) + (l.get("cycles_estimate") or 0)
    return out


def measure(board_id: str, model: Path, x: np.ndarray, work: Path, layout: str = "speed") -> dict:
    """`layout`: the optimized build's kernel tables (firmware_gen/layout.py); the portable build
    compiles none of them."""
    portable = board_bench.run(board_id, model, x, None, work / "portable", generate=portable_generate)
    optimized = board_bench.run(board_id, model, x, None, work / "optimized", layout=layout)
    tflm_arena = tflm.run(model.read_bytes(), x[:1], where=str(model)).arena_bytes
    return {"board": board_id, "model": model.stem, "macs": optimized["macs"],
            "portable": portable["instructions"]["median"], "optimized": optimized["instructions"]["median"],
            "mismatches": portable["mismatches"] + optimized["mismatches"], "samples": len(x),
            "stack": (portable["stack_bytes"], optimized["stack_bytes"]),
            "flash": (portable.get("flash_bytes"), optimized.get("flash_bytes")),
            "arena": optimized["arena_bytes"], "tflm_arena": tflm_arena,
            "engine_stack": optimized.get("engine_stack_bytes"),
            "types": by_type(optimized["layers"]),
            # estimated cycles of the optimized build (instruction mix x TRM timings; None: no model)
            "est_cycles": (optimized.get("cycles_estimate") or {}).get("median"),
            "est_types": est_by_type(optimized["layers"])}


def table(rows: list[dict]) -> str:
    head = ("| board (core) | model | MACs | portable instr/inf | optimized instr/inf | speed-up "
            "| MACs/instr (opt) | est. cycles/inf (opt) | MACs/est. cycle (opt) | stack bytes (portable/opt) "
            "| flash KiB (portable/opt) | mismatches vs TFLM |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        core = boards.load_board(r["board"]).core
        lines.append(f"| {r['board']} ({core}) | {r['model']} | {r['macs']:,} | {r['portable']:,} "
                     f"| {r['optimized']:,} | {r['portable'] / r['optimized']:.2f}x "
                     f"| {r['macs'] / r['optimized']:.3f} "
                     f"| {'–' if r['est_cycles'] is None else format(r['est_cycles'], ',')} "
                     f"| {'–' if not r['est_cycles'] else format(r['macs'] / r['est_cycles'], '.3f')} "
                     f"| {r['stack'][0]} / {r['stack'][1]} | {_kib(r['flash'][0])} / {_kib(r['flash'][1])} "
                     f"| {r['mismatches']} / {2 * r['samples']} |")
    lines += ["", "Optimized build per layer type (engine's per-layer counter hook), and RAM: the engine's "
              "arena + the stack its invoke used (measured below the app's frame; bench/ram.py has the "
              "whole-tensor vs row-streamed plans) against TFLM's arena.",
              "", "| board | model | layer type: instructions (share), MAC/instr | layer type: est. cycles, "
              "MAC/est. cycle | arena + engine stack vs TFLM arena |",
              "|---|---|---|---|---:|"]
    for r in rows:
        parts = [f"{op} {n:,} ({100 * n / r['optimized']:.0f}%), {m / n if n else 0:.2f}"
                 for op, (n, m) in sorted(r["types"].items(), key=lambda kv: -kv[1][0]) if n >= r["optimized"] / 100]
        ram = r["arena"] + (r["engine_stack"] if r["engine_stack"] is not None else r["stack"][1])
        vs = f"{ram:,} / {r['tflm_arena']:,} = {ram / r['tflm_arena']:.2f}x" if r["tflm_arena"] else "TFLM arena n/a"
        est = [f"{op} {c:,}, {r['types'][op][1] / c:.2f}" for op, c in
               sorted(r["est_types"].items(), key=lambda kv: -kv[1]) if c and r["types"][op][0] >= r["optimized"] / 100]
        lines.append(f"| {r['board']} | {r['model']} | {'; '.join(parts)} | {'; '.join(est) or '–'} | {vs} |")
    return "\n".join(lines)


def _kib(n: int | None) -> str:
    return "–" if n is None else f"{n / 1024:.1f}"


# issue #13's targets: (core, what, threshold, models it applies to (stem prefixes; None: every model))
TARGET_MODELS = ("mlperf_tiny_kws", "mlperf_tiny_ic_resnet8", "mobilenet_v1_025")
TARGETS = (("cortex-m4", "MAC/instr", 0.7, TARGET_MODELS),
           ("cortex-m55", "MAC/instr", 2.0, TARGET_MODELS),
           ("cortex-m4", "MAC/est. cycle", 0.5, TARGET_MODELS),
           (None, "RAM vs TFLM arena", 0.6, None))


def _holds_back(r: dict, rate: float) -> str:
    """The layer type with the most instructions beyond what its MACs would take at `rate`."""
    excess = {op: n - m / rate for op, (n, m) in r["types"].items()}
    op = max(excess, key=excess.get, default=None)
    if op is None:
        return ""
    n, m = r["types"][op]
    return f"; most instructions over the target: {op} ({m / n if n else 0:.2f} MAC/instr, {100 * n / r['optimized']:.0f}% of the instructions)"


def verdicts(rows: list[dict]) -> list[str]:
    """One line per (target, row) it applies to: the value, met or MISSED, and what holds it back."""
    out = []
    for core, what, limit, models in TARGETS:
        for r in rows:
            if core is not None and boards.load_board(r["board"]).core != core:
                continue
            if models is not None and not r["model"].startswith(models):
                continue
            if what == "MAC/instr":
                v, ok, why = r["macs"] / r["optimized"], None, _holds_back(r, limit)
            elif what == "MAC/est. cycle":
                if not r["est_cycles"]:
                    out.append(f"- {r['board']} {r['model']}: {what} not measured (no cycle model)")
                    continue
                v, why = r["macs"] / r["est_cycles"], ""
            else:
                if not r["tflm_arena"]:
                    out.append(f"- {r['board']} {r['model']}: {what} not measured (no TFLM arena)")
                    continue
                ram = r["arena"] + (r["engine_stack"] if r["engine_stack"] is not None else r["stack"][1])
                v, why = ram / r["tflm_arena"], ""
            ok = v <= limit if what.startswith("RAM") else v >= limit
            rel = "<=" if what.startswith("RAM") else ">="
            out.append(f"- {r['board']} {r['model']}: {what} {v:.3f} (target {rel} {limit}) "
                       f"{'met' if ok else 'MISSED' + why}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--samples", type=int, default=5, help="random int8 inputs per model (seed 0)")
    ap.add_argument("--layout", choices=("speed", "size"), default="speed",
                    help="the optimized build's kernel tables (firmware_gen/layout.py; default speed)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models or [*sorted(TESTDATA.glob("*.tflite")),
                                 mobilenet_v1_025(Path(tmp) / "mobilenet_v1_025_96.tflite")]
        for board_id in args.boards.split(","):
            for model in models:
                rows.append(measure(board_id, model, random_inputs(model, args.samples), Path(tmp), args.layout))
                r = rows[-1]
                print(f"{board_id:12s} {model.stem:32s} portable {r['portable']:>12,}  optimized "
                      f"{r['optimized']:>12,}  est. cycles {r['est_cycles'] or '–':>12}  mismatches "
                      f"{r['mismatches']}", file=sys.stderr, flush=True)
    print(f"Kernel tables: layout {args.layout} (firmware_gen/layout.py). "
          "Instructions per inference (median over samples), counted by QEMU -icount: executed "
          "instructions, not cycles. est. cycles: the executed instruction mix (QEMU plugin) priced with the "
          "core's TRM instruction timings (pipeline/bench/cycles.py): an estimate, zero wait states, no caches.\n")
    print(table(rows))
    print("\nIssue #13's targets on the rows measured here:")
    print("\n".join(verdicts(rows)))
    return 1 if any(r["mismatches"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
