"""host-c: the generated C engine compiled for this machine.

Measures what the board targets measure, on the host: outputs compared with TFLM byte for byte,
arena from the planner, flash/RAM from the compiled objects (`size -A`), and executed instructions
per inference from valgrind's callgrind (N inferences minus a 0-inference baseline run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from firmware_gen import build, codegen, host_run
from pipeline import tflm

PREFIX = "ep"
CALLGRIND_SAMPLES = 10
# -O3 lets gcc vectorize the int8 dot products; the arithmetic (and so bit-exactness) is unchanged
HOST_OPT = "-O3"


def callgrind_instructions(binary, record: bytes, runs: int) -> int | None:
    """Instructions executed per inference: (Ir with `runs` records - Ir with none) / runs."""
    if shutil.which("valgrind") is None or runs <= 0:
        return None

    def total(stdin: bytes) -> int:
        out = Path(str(binary) + ".callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary)],
                       input=stdin, capture_output=True, check=True)
        match = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.MULTILINE)
        out.unlink()
        return int(match.group(1))

    return (total(record * runs) - total(b"")) // runs


def run(tflite_path, x_int8: np.ndarray, y: np.ndarray | None, workdir) -> dict:
    """Run the engine on x_int8 [N, ...]; raises EdgepipeError if the model is not supported."""
    workdir = Path(workdir) / "host-c"
    engine = codegen.generate(tflite_path, workdir / "src", PREFIX)
    binary = host_run.build(engine, workdir / "bin", opt=HOST_OPT)
    x = np.ascontiguousarray(x_int8, dtype=np.int8).reshape(len(x_int8), *engine.input_shape[1:])
    ours = host_run.invoke(binary, engine, x)
    ref = tflm.run(Path(tflite_path).read_bytes(), x, where=str(tflite_path)).outputs
    n = len(x)
    differs = (ours.reshape(n, -1) != ref.reshape(n, -1)).any(axis=1)
    accuracy = None
    if y is not None and n:
        accuracy = float(np.mean(ours.reshape(n, -1).argmax(axis=1) == np.asarray(y).reshape(-1)))
    sizes = build.sum_sizes(build.compile_objects(engine.sources, workdir / "obj",
                                                  include_dirs=engine.include_dirs, opt=HOST_OPT))
    instructions = None
    if n:
        instructions = callgrind_instructions(binary, x[0].tobytes(), min(n, CALLGRIND_SAMPLES))
    return {
        "target": "host-c",
        "accuracy": accuracy,
        "samples": n,
        "mismatches": int(differs.sum()),          # samples whose output differs from TFLM's
        "bit_exact": bool(not differs.any()),
        "arena_bytes": engine.arena_bytes,
        "flash_bytes": sizes["text"] + sizes["rodata"] + sizes["data"],
        "ram_bytes": sizes["data"] + sizes["bss"],
        "instructions": instructions,
        "latency_ms": None,
    }
