"""Instructions per binary MAC (LceBconv2d: XOR + popcount on packed words) against instructions
per int8 MAC (CONV_2D), per Cortex-M core, measured in one run on the emulated boards.

    PYTHONPATH=. .venv/bin/python bench/binary_macs.py [--boards mps2-an385,...] [--channels 32] [--size 14]

Two one-layer models of the same shape (3x3, C -> C channels, SAME, H x W input, seeded weights):
an int8 CONV_2D converted by the TFLite converter, and a larq QuantConv2D converted by Larq Compute
Engine (LceQuantize -> LceBconv2d with int8 output). The same sample runs through each on every
board; per-MAC figures divide the instructions of an inference by the layer's MACs, so they
include the layer's own overheads (packing the input for the binary one, requantizing for both).
Every output is checked against the reference (TFLM; TFLM + LCE kernels): mismatches must be 0.
Counts come from QEMU -icount: executed instructions, not cycles.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pipeline.keras_env  # noqa: E402,F401  (tf-keras before TensorFlow loads)
from firmware_gen import boards  # noqa: E402
from pipeline.bench import board as board_bench  # noqa: E402

# Cortex-M3, M4F, M7, M55. The Cortex-M0 board (microbit, 16 KiB RAM) does not hold the default
# 14x14x32 layer's I/O: measure it on its own with --boards microbit --size 6
BOARDS = ("mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547")


def models(size: int, channels: int, work: Path) -> dict[str, Path]:
    import larq as lq
    from pipeline import convert_lce
    from pipeline.keras_env import keras, set_seed, tf
    k, t = keras(), tf()
    set_seed(0)
    calib = np.random.default_rng(0).normal(0, 1, (32, size, size, channels)).astype(np.float32)
    inp = k.Input((size, size, channels))
    int8 = k.Model(inp, k.layers.Conv2D(channels, 3, padding="same", use_bias=False)(inp))
    conv = t.lite.TFLiteConverter.from_keras_model(int8)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in calib)
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = t.int8
    paths = {"int8": work / "int8_conv.tflite", "binary": work / "binary_conv.tflite",
             "front": work / "front.tflite"}
    paths["int8"].write_bytes(conv.convert())
    front = k.layers.Conv2D(channels, 1, use_bias=False)      # int8 in front: LCE quantizes from int8
    x = front(inp)
    paths["front"].write_bytes(convert_lce.convert(k.Model(inp, x), calib))
    x = lq.layers.QuantConv2D(channels, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ste_sign", kernel_quantizer="ste_sign")(x)
    x = k.layers.BatchNormalization()(x)
    paths["binary"].write_bytes(convert_lce.convert(k.Model(inp, x), calib))
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--size", type=int, default=14)
    args = ap.parse_args(argv)
    rows, bad = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = models(args.size, args.channels, Path(tmp))
        x = np.random.default_rng(1).integers(-128, 128, (2, args.size, args.size, args.channels),
                                              dtype=np.int8)
        for board_id in args.boards.split(","):
            got = {}
            for kind, path in paths.items():
                r = board_bench.run(board_id, path, x, None, Path(tmp) / kind)
                bad += r["mismatches"]
                # the binary model's 1x1 int8 conv in front is not the measured layer: MACs of the bconv
                macs = args.size * args.size * args.channels * 9 * args.channels
                got[kind] = (r["instructions"]["median"], macs, r["mismatches"])
            core = boards.load_board(board_id).core
            (bi, bm, _), (ii, im, _) = got["binary"], got["int8"]
            bi -= got["front"][0]          # the binary layer alone: minus the same model without it
            rows.append((board_id, core, ii / im, bi / bm, (ii / im) / (bi / bm), got))
            print(f"{board_id:12s} {core:11s} int8 {ii:>10,} instr  binary layer {bi:>10,} instr", file=sys.stderr,
                  flush=True)
    print(f"3x3 conv, {args.channels} -> {args.channels} channels, {args.size}x{args.size}, SAME; "
          "instructions per inference counted by QEMU -icount (not cycles); the binary model "
          "is measured minus the same model without the binary layer (its 1x1 int8 conv in front), "
          "so it includes packing the input and the output transform.\n")
    print("| board | core | instr / int8 MAC | instr / binary MAC | binary MAC advantage | mismatches |")
    print("|---|---|---:|---:|---:|---:|")
    for board_id, core, i8, b1, ratio, got in rows:
        print(f"| {board_id} | {core} | {i8:.3f} | {b1:.4f} | {ratio:.1f}x | "
              f"{got['int8'][2] + got['binary'][2] + got['front'][2]} |")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
