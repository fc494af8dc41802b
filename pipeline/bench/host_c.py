"""host-c: the generated C engine compiled for this machine.

Measures what the board targets measure, on the host: outputs compared with TFLM byte for byte,
arena from the planner, and executed instructions per inference from valgrind's callgrind
(N inferences minus a 0-inference baseline run). Code and data sizes of the x86 objects are
reported as host_code_bytes / host_data_bytes: unlinked x86 objects without a stack are not a
board's flash and RAM, so flash_bytes / ram_bytes stay null here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from firmware_gen import build, codegen, host_run
from firmware_gen import lce
from pipeline.results import top1

PREFIX = "ep"
CALLGRIND_SAMPLES = 10
# -O3 lets gcc vectorize the int8 dot products; the arithmetic (and so bit-exactness) is unchanged
HOST_OPT = "-O3"


class _NoCount(Exception):
    """callgrind did not give a count; the message says why."""


def callgrind_instructions(binary, record: bytes, runs: int) -> tuple[int | None, str | None]:
    """Instructions executed per inference: (Ir with `runs` records - Ir with none) / runs.
    Returns (count, None), or (None, why there is no count)."""
    if shutil.which("valgrind") is None:
        return None, "valgrind not installed"
    if runs <= 0:
        return None, "no samples"

    def total(stdin: bytes) -> int:
        out = Path(str(binary) + ".callgrind.out")
        try:
            proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                   str(binary)], input=stdin, capture_output=True)
            if proc.returncode != 0:
                last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise _NoCount(f"callgrind exited with code {proc.returncode}: {last[0]}")
            try:
                text = out.read_text()
            except OSError as e:
                raise _NoCount(f"callgrind wrote no profile ({e.strerror})") from None
            match = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)
            if match is None:
                raise _NoCount(f"no 'summary:' line in callgrind's profile {out.name}")
            return int(match.group(1))
        finally:
            out.unlink(missing_ok=True)

    try:
        return (total(record * runs) - total(b"")) // runs, None
    except _NoCount as e:
        return None, str(e)


def callgrind_layers(engine, binary, record: bytes) -> list[dict] | None:
    """x86 instructions per kernel call of one inference of a profiling build (the engine calls
    `<prefix>_profile` before each layer and after the last; callgrind dumps a profile part before
    each of those calls, so part i + 2 is layer i, plus one empty hook call's few instructions).
    None without valgrind or when the parts do not line up with the layers."""
    if shutil.which("valgrind") is None:
        return None
    out = Path(str(binary) + ".layers.callgrind.out")
    parts = [out.with_name(f"{out.name}.{k}") for k in range(1, len(engine.layers) + 3)]
    try:
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               f"--dump-before={engine.prefix}_profile", str(binary)],
                              input=record, capture_output=True)
        counts = []
        for part in parts[1:len(engine.layers) + 1]:
            match = re.search(r"^(?:summary|totals):\s*(\d+)", part.read_text(), re.MULTILINE) \
                if part.exists() else None
            if proc.returncode != 0 or match is None:
                return None
            counts.append(int(match.group(1)))
    finally:
        for f in [out, *parts]:
            f.unlink(missing_ok=True)
    return [{"index": index, "opcode": opcode, "name": name, "macs": macs, "instructions": n,
             "macs_per_instruction": macs / n if n else None, "cycles_estimate": None}
            for (index, opcode, name, _), macs, n in zip(engine.layers, engine.layer_macs, counts)]


def run(tflite_path, x_int8: np.ndarray, y: np.ndarray | None, workdir, mode: str = "reset") -> dict:
    """Run the engine on x_int8 [N, ...]; raises EdgepipeError if the model is not supported.
    `mode`: "reset" (a stateful model's state re-initialised before each sample) or "stream"."""
    workdir = Path(workdir) / "host-c"
    engine = codegen.generate(tflite_path, workdir / "src", PREFIX)
    objects = build.compile_objects(engine.sources, workdir / "obj", include_dirs=engine.include_dirs,
                                    opt=HOST_OPT)
    binary = host_run.build(engine, workdir / "bin", opt=HOST_OPT, objects=objects)
    # the model's input type: int8, or int16 for int16x8
    x = np.ascontiguousarray(x_int8, dtype=engine.input_dtype).reshape(len(x_int8), *engine.input_shape[1:])
    ours = host_run.invoke(binary, engine, x, mode=mode)
    from edgepipe_base import tflite_file
    ref, reference = lce.reference_outputs(tflite_file.read(tflite_path), x, where=str(tflite_path), mode=mode)
    n = len(x)
    differs = (ours.reshape(n, -1) != ref.reshape(n, -1)).any(axis=1)
    accuracy = top1(ours, np.asarray(y).reshape(-1)) if y is not None and n else None
    sizes = build.sum_sizes(objects)
    instructions, note = callgrind_instructions(binary, x[0].tobytes(), min(n, CALLGRIND_SAMPLES))
    layers = None
    if n:
        # the same objects, but the generated model recompiled to call the per-layer hook
        profiling = host_run.build(engine, workdir / "bin", opt=HOST_OPT, objects=[engine.c_path, *objects[1:]],
                                   profile=True)
        layers = callgrind_layers(engine, profiling, x[0].tobytes())
    return {
        "target": "host-c",
        "accuracy": accuracy,
        "samples": n,
        "mismatches": int(differs.sum()),          # samples whose output differs from the reference's
        "bit_exact": bool(not differs.any()),
        "bit_exact_reference": reference,
        "arena_bytes": engine.arena_bytes,
        "state_bytes": engine.state_bytes,         # persistent state region (streaming models), not in the arena
        **({"eval_mode": mode} if engine.state_bytes else {}),
        "flash_bytes": None,                       # not a board: see host_code/data_bytes
        "ram_bytes": None,
        "host_code_bytes": sizes["text"] + sizes["rodata"],
        "host_data_bytes": sizes["data"] + sizes["bss"],
        "instructions": instructions,
        "instructions_note": note,
        "latency_ms": None,
        # x86 instructions: the Cortex-M cycle model (bench/cycles.py) does not apply here
        "cycles_estimate": None,
        "layers": layers,
    }
