"""edgepipe's generated engine against TensorFlow Lite Micro, side by side on emulated Cortex-M
boards: instructions per inference, flash and RAM of the same benchmark firmware (same app, BSP,
compiler, -O2) with three engines, measured in the same run:

    TFLM_DIR=../shared/third_party PYTHONPATH=. .venv/bin/python bench/engines.py \\
        [--boards mps2-an386,mps3-an547] [--samples N] [--demo] [model.tflite ...]

- tflm: TFLM with its reference kernels; tflm-cmsis-nn: TFLM with Arm's CMSIS-NN kernels (DSP on
  M4/M7, Helium on M55); edgepipe: the generated C engine (its DSP/Helium kernels where the core
  has them). TFLM_DIR names the TFLM source trees (README.md, "TFLM engines").
- Every inference of every engine is compared with the tflite_micro host interpreter: tflm and
  edgepipe must match it (0 mismatches, exit code 1 otherwise); tflm-cmsis-nn's differences are
  what CMSIS-NN computes, reported, not fatal.
- Counts come from QEMU -icount: executed instructions, deterministic, not cycles. Flash and RAM
  come from the firmware ELF (app + BSP + engine + model), RAM adds the measured stack.
- Models: the testdata models (third-party int8 models, tests/data) and, with --demo, a model of
  the demo's architecture (models/fmnist_cnn.py, untrained weights with a fixed seed, int8 by the
  real converter with random calibration data: counts and sizes depend on the shapes, not on
  training).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pipeline.keras_env  # noqa: E402,F401  (tf-keras before TensorFlow)
from edgepipe_base import tflite_file  # noqa: E402
from firmware_gen import boards, tflm_tree  # noqa: E402
from pipeline.bench import board as board_bench  # noqa: E402

TESTDATA = REPO / "tests" / "data"
BOARDS = ("mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547")
ENGINES = ("tflm", "tflm-cmsis-nn", "edgepipe")


def demo_model(out_dir: Path) -> Path:
    """fmnist_cnn's architecture (28x28x1, 10 classes), seed 0, int8 by the real converter."""
    from pipeline.keras_env import keras, tf
    from models import fmnist_cnn
    k, t = keras(), tf()
    k.utils.set_random_seed(0)
    model = fmnist_cnn.build((28, 28, 1), 10)
    calib = np.random.default_rng(0).uniform(0, 1, size=(100, 28, 28, 1)).astype(np.float32)
    conv = t.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in calib)
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = t.int8
    path = out_dir / "fmnist_cnn_demo_arch_int8.tflite"
    path.write_bytes(conv.convert())
    return path


def random_inputs(path: Path, n: int, seed: int = 0) -> np.ndarray:
    m = tflite_file.read(path)
    shape = m.main.tensors[m.main.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


def measure(board_id: str, model: Path, x: np.ndarray, work: Path) -> dict:
    out = {"board": board_id, "model": model.stem, "samples": len(x)}
    for engine in ENGINES:
        t0 = time.monotonic()
        r = board_bench.run(board_id, model, x, None, work, engine=engine)
        out[engine] = {"instructions": r["instructions"]["median"], "flash": r["flash_bytes"],
                       "ram": r["ram_bytes"], "arena": r["arena_bytes"], "mismatches": r["mismatches"],
                       # instruction mix x the core's TRM timings (pipeline/bench/cycles.py): an estimate
                       "est_cycles": (r.get("cycles_estimate") or {}).get("median"),
                       "seconds": time.monotonic() - t0}
        print(f"{board_id:11s} {model.stem:30s} {engine:14s} {r['instructions']['median']:>12,} instr  "
              f"flash {r['flash_bytes']:>8,}  RAM {r['ram_bytes']:>8,}  mismatches {r['mismatches']}  "
              f"({out[engine]['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return out


def table(rows: list[dict]) -> str:
    head = ("| board (core) | model | instr/inf tflm | instr/inf tflm-cmsis-nn | instr/inf edgepipe "
            "| tflm-cmsis-nn / edgepipe | flash KiB tflm / cmsis-nn / edgepipe "
            "| RAM KiB tflm / cmsis-nn / edgepipe | mismatches vs host TFLM (tflm / cmsis-nn / edgepipe) "
            "| est. cycles/inf tflm / cmsis-nn / edgepipe |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    est = lambda n: "–" if n is None else f"{n:,}"
    kib = lambda n: f"{n / 1024:.1f}"
    for r in rows:
        core = boards.load_board(r["board"]).core
        t, c, e = (r[k] for k in ENGINES)
        lines.append(
            f"| {r['board']} ({core}) | {r['model']} | {t['instructions']:,} | {c['instructions']:,} "
            f"| {e['instructions']:,} | {c['instructions'] / e['instructions']:.2f}x "
            f"| {kib(t['flash'])} / {kib(c['flash'])} / {kib(e['flash'])} "
            f"| {kib(t['ram'])} / {kib(c['ram'])} / {kib(e['ram'])} "
            f"| {t['mismatches']} / {c['mismatches']} / {e['mismatches']} of {r['samples']} "
            f"| {est(t['est_cycles'])} / {est(c['est_cycles'])} / {est(e['est_cycles'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--samples", type=int, default=3, help="random int8 inputs per model (seed 0)")
    ap.add_argument("--demo", action="store_true", help="add the demo-architecture model (fmnist_cnn)")
    args = ap.parse_args(argv)
    for e in tflm_tree.TFLM_ENGINES:
        why = tflm_tree.unavailable(e)
        if why:
            print(f"bench/engines.py: {why}", file=sys.stderr)
            return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = list(args.models) or sorted(TESTDATA.glob("*.tflite"))
        if args.demo:
            models.append(demo_model(Path(tmp)))
        for board_id in args.boards.split(","):
            for model in models:
                rows.append(measure(board_id, model, random_inputs(model, args.samples), Path(tmp)))
    print("Instructions per inference (median over samples), counted by QEMU -icount: executed "
          "instructions, not cycles. Flash/RAM: the whole benchmark firmware (ELF sections; RAM "
          "with the measured stack). est. cycles: the executed instruction mix priced with the core's TRM "
          "timings (pipeline/bench/cycles.py), an estimate: zero wait states, no caches.\n")
    print(table(rows))
    bad = [r for r in rows if r["tflm"]["mismatches"] or r["edgepipe"]["mismatches"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
