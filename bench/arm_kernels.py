"""Instructions per inference of the generated engine on emulated Cortex-M boards: the portable C
kernels vs the optimized ones (Arm DSP SMLAD on M4/M7, Helium MVE on M55), both measured here.

    PYTHONPATH=. .venv/bin/python bench/arm_kernels.py [--boards mps2-an385,...] [--samples N] [model.tflite ...]

Both variants are built from the same runtime sources for the same board; the portable one through
one-line shims that define EP_PORTABLE_KERNELS before including each runtime .c file (see
firmware_gen/runtime/ep_simd.h). Every inference is checked against TFLM (mismatches must be 0).
Counts come from QEMU -icount: executed instructions, deterministic, not cycles (no pipeline,
wait states or MVE beats are modelled). Without model arguments the testdata models are measured.
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
from pipeline.bench import board as board_bench  # noqa: E402

TESTDATA = REPO / "tests" / "data"      # third-party models, copied with their NOTICE.md
BOARDS = ("mps2-an385", "mps2-an386", "mps3-an547")


def portable_generate(tflite_path, out_dir, prefix):
    """codegen.generate, with every runtime source replaced by a shim that forces the portable
    kernels: same sources, same compiler and flags, only the kernel variant differs."""
    engine = codegen.generate(tflite_path, out_dir, prefix)
    shims = []
    for src in engine.runtime_sources:
        shim = Path(out_dir) / f"portable_{src.name}"
        shim.write_text(f"/* {src.name} with the portable kernels forced (bench/arm_kernels.py) */\n"
                        f"#define EP_PORTABLE_KERNELS 1\n#include \"{src.name}\"\n")
        shims.append(shim)
    return dataclasses.replace(engine, runtime_sources=shims)


def random_inputs(path: Path, n: int, seed: int = 0) -> np.ndarray:
    m = tflite_file.read(path)
    shape = m.main.tensors[m.main.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


def measure(board_id: str, model: Path, x: np.ndarray, work: Path) -> dict:
    portable = board_bench.run(board_id, model, x, None, work / "portable", generate=portable_generate)
    optimized = board_bench.run(board_id, model, x, None, work / "optimized")
    return {"board": board_id, "model": model.stem, "macs": optimized["macs"],
            "portable": portable["instructions"]["median"], "optimized": optimized["instructions"]["median"],
            "mismatches": portable["mismatches"] + optimized["mismatches"], "samples": len(x),
            "stack": (portable["stack_bytes"], optimized["stack_bytes"])}


def table(rows: list[dict]) -> str:
    head = ("| board (core) | model | MACs | portable instr/inf | optimized instr/inf | speed-up "
            "| MACs/instr (opt) | stack bytes (portable/opt) | mismatches vs TFLM |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        core = boards.load_board(r["board"]).core
        lines.append(f"| {r['board']} ({core}) | {r['model']} | {r['macs']:,} | {r['portable']:,} "
                     f"| {r['optimized']:,} | {r['portable'] / r['optimized']:.2f}x "
                     f"| {r['macs'] / r['optimized']:.3f} | {r['stack'][0]} / {r['stack'][1]} "
                     f"| {r['mismatches']} / {2 * r['samples']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--samples", type=int, default=5, help="random int8 inputs per model (seed 0)")
    args = ap.parse_args(argv)
    models = args.models or sorted(TESTDATA.glob("*.tflite"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for board_id in args.boards.split(","):
            for model in models:
                rows.append(measure(board_id, model, random_inputs(model, args.samples), Path(tmp)))
                r = rows[-1]
                print(f"{board_id:12s} {model.stem:32s} portable {r['portable']:>12,}  optimized "
                      f"{r['optimized']:>12,}  mismatches {r['mismatches']}", file=sys.stderr, flush=True)
    print("Instructions per inference (median over samples), counted by QEMU -icount: executed "
          "instructions, not cycles.\n")
    print(table(rows))
    return 1 if any(r["mismatches"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
