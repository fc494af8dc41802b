"""RAM of the generated engine against TFLM's arena: the engine's arena (planned with and without
row streaming, see firmware_gen/streaming.py) plus the stack its invoke uses on each core, measured.

    PYTHONPATH=. .venv/bin/python bench/ram.py [--boards mps2-an386,mps3-an547] [--samples N] [model.tflite ...]

Without model arguments: the testdata models, the demo model's architecture (models/fmnist_cnn.py)
and a MobileNetV1-0.25 96x96x3 (bench/arm_kernels.py), both with random weights (seed 0) through
the real TFLite converter (the arena depends on shapes, not weights). TFLM's arena is what the
tflite_micro interpreter reports; the engine's stack is the firmware's measurement of the bytes
below the app's frame that one invoke touched (the optimized DSP / MVE kernels' frames and
scratch), on QEMU. Every inference is checked against TFLM (mismatches must be 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.arm_kernels import TESTDATA, mobilenet_v1_025, random_inputs  # noqa: E402
from firmware_gen import codegen, tflm  # noqa: E402
from pipeline.bench import board as board_bench  # noqa: E402

BOARDS = ("mps2-an386", "mps3-an547")
TARGET = 0.6


def fmnist_cnn(path: Path, seed: int = 0) -> Path:
    """The demo model's architecture (models/fmnist_cnn.py) with random weights, int8."""
    import os
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras

    from models import fmnist_cnn as recipe
    keras.utils.set_random_seed(seed)
    model = recipe.build((28, 28, 1), 10)
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(8):
            yield [rng.uniform(0, 1, size=(1, 28, 28, 1)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


def whole_tensor_generate(tflite_path, out_dir, prefix):
    return codegen.generate(tflite_path, out_dir, prefix, banding=False)


def measure(model: Path, board_ids: list[str], samples: int, work: Path) -> dict:
    x = random_inputs(model, samples)
    before = codegen.generate(model, work / "before", "m", banding=False).arena_bytes
    row = {"model": model.stem, "tflm": tflm.run(model.read_bytes(), x[:1], where=str(model)).arena_bytes,
           "before": before, "boards": {}}
    row["cost"] = {}
    for board_id in board_ids:
        r = board_bench.run(board_id, model, x, None, work / "fw")
        row["after"] = r["arena_bytes"]
        row["boards"][board_id] = (r["engine_stack_bytes"], r["mismatches"], r["instructions"]["median"])
        if r["arena_bytes"] != before:
            # what streaming costs: the same model with whole-tensor calls, same board, same run
            w = board_bench.run(board_id, model, x, None, work / "whole", generate=whole_tensor_generate)
            row["cost"][board_id] = dict(flash=(w["flash_bytes"], r["flash_bytes"]),
                                         instructions=(w["instructions"]["median"], r["instructions"]["median"]),
                                         stack=(w["engine_stack_bytes"], r["engine_stack_bytes"]),
                                         mismatches=w["mismatches"])
    if not board_ids:
        row["after"] = codegen.generate(model, work / "after", "m").arena_bytes
    return row


def table(rows: list[dict], board_ids: list[str]) -> str:
    head = ["model", "TFLM arena", "arena, whole-tensor plan", "arena, row-streamed plan"]
    for b in board_ids:
        head += [f"{b}: engine stack", f"{b}: (arena + stack) / TFLM", f"{b}: mismatches"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        t = r["tflm"]
        cells = [r["model"], f"{t:,}", f"{r['before']:,} ({r['before'] / t:.2f}x)",
                 f"{r['after']:,} ({r['after'] / t:.2f}x)"]
        for b in board_ids:
            stack, mism, _ = r["boards"][b]
            ram = r["after"] + (stack or 0)
            ok = "" if ram <= TARGET * t else " (over 0.6)"
            cells += [f"{stack:,}" if stack is not None else "n/a", f"{ram / t:.2f}x{ok}", str(mism)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "What streaming costs where it changed the plan (whole-tensor build of the same model, same run):",
              "", "| board | model | flash bytes (whole -> streamed) | instructions/inference (whole -> streamed) "
              "| engine stack (whole -> streamed) | whole-tensor mismatches |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        for b, c in r["cost"].items():
            (f0, f1), (i0, i1), (s0, s1) = c["flash"], c["instructions"], c["stack"]
            lines.append(f"| {b} | {r['model']} | {f0:,} -> {f1:,} ({f1 - f0:+,}) | {i0:,} -> {i1:,} "
                         f"({100 * (i1 - i0) / i0:+.2f}%) | {s0:,} -> {s1:,} | {c['mismatches']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--boards", default=",".join(BOARDS), help="comma-separated; '' for the arena only")
    ap.add_argument("--samples", type=int, default=3, help="random int8 inputs per model (seed 0)")
    args = ap.parse_args(argv)
    board_ids = [b for b in args.boards.split(",") if b]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = args.models or [*sorted(TESTDATA.glob("*.tflite")), fmnist_cnn(tmp / "fmnist_cnn_int8.tflite"),
                                 mobilenet_v1_025(tmp / "mobilenet_v1_025_96.tflite")]
        for model in models:
            rows.append(measure(model, board_ids, args.samples, tmp / model.stem))
            print(f"{model.stem:32s} " + "  ".join(f"{b}: stack {s}, mismatches {m}, instructions {n:,}"
                                                   for b, (s, m, n) in rows[-1]["boards"].items()),
                  file=sys.stderr, flush=True)
    print("RAM: the engine's arena (planned with whole tensors / with row streaming) plus the stack its "
          "invoke used (measured on QEMU, optimized kernels), against TFLM's arena. Target <= "
          f"{TARGET}x.\n")
    print(table(rows, board_ids))
    return 1 if any(m for r in rows for _, m, _ in r["boards"].values()) or \
        any(c["mismatches"] for r in rows for c in r["cost"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
