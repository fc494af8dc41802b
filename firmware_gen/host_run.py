"""Run the generated engine on this machine: compile it with a small stdin/stdout driver, feed it
N inputs, read N outputs. With a debug build, find the first layer that differs from TFLM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jinja2
import numpy as np

from firmware_gen import tflm
from edgepipe_base.errors import EdgepipeError

from . import build as build_mod
from . import codegen


def write_main(engine: codegen.GeneratedEngine, out_dir) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(codegen.TEMPLATE_DIR)),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    path = Path(out_dir) / f"{engine.prefix}_host_main.c"
    path.write_text(env.get_template("host_main.c.j2").render(
        prefix=engine.prefix, PREFIX=engine.prefix.upper(), input_ctype=engine.input_ctype,
        output_ctype=engine.output_ctype))
    return path


def build(engine: codegen.GeneratedEngine, workdir, sanitize=False, debug=False, opt="-O2",
          objects=None, profile=False) -> Path:
    """Compile engine + runtime + host driver with -Wall -Wextra -Werror (and ASan/UBSan).
    `objects`: the engine's sources already compiled with the same flags (linked, not recompiled).
    `profile`: the engine calls the driver's per-layer hook (`<prefix>_profile`, for callgrind)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    main = write_main(engine, workdir)
    name = f"{engine.prefix}_host" + ("_asan" if sanitize else "") + ("_debug" if debug else "") + \
        ("_profile" if profile else "")
    defines = [f"{engine.prefix.upper()}_DEBUG_DUMP"] if debug else []
    defines += [f"{engine.prefix.upper()}_PROFILE"] if profile else []
    return build_mod.compile_host([*(objects or engine.sources), main], workdir / name,
                                  include_dirs=engine.include_dirs, defines=defines, sanitize=sanitize, opt=opt)


def invoke(binary, engine: codegen.GeneratedEngine, x: np.ndarray, mode: str = tflm.RESET) -> np.ndarray:
    """Outputs [N, *output_shape] of the compiled engine for inputs x [N, *input_shape] (of the
    model's input type: int8, or int16 for int16x8). `mode` as in tflm.run: tflm.RESET resets a
    stateful model before each sample, tflm.STREAM feeds the samples as one stream."""
    x = np.ascontiguousarray(x, dtype=engine.input_dtype).reshape(len(x), -1)
    args = [str(binary)] + (["--stream"] if mode == tflm.STREAM else [])
    proc = subprocess.run(args, input=x.tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise EdgepipeError(f"{binary} exited with {proc.returncode}: "
                            f"{proc.stderr.decode(errors='replace').strip()[-2000:]}")
    out = np.frombuffer(proc.stdout, dtype=engine.output_dtype)
    return out.reshape(len(x), *engine.output_shape[1:] if engine.output_shape[:1] == (1,)
                       else engine.output_shape)


def dump_layers(debug_binary, x_one: np.ndarray) -> dict[int, np.ndarray]:
    """Every layer output of one inference of a debug build, keyed by TFLite tensor index, as raw
    bytes (int8 view; view them with the tensor's dtype). x_one has the model's input dtype."""
    proc = subprocess.run([str(debug_binary)], input=np.ascontiguousarray(x_one).tobytes(),
                          capture_output=True, check=True)
    data, pos, frames = proc.stdout, 0, {}
    while pos < len(data):
        layer, tensor, n = np.frombuffer(data[pos:pos + 12], dtype=np.int32)
        pos += 12
        frames[int(tensor)] = np.frombuffer(data[pos:pos + n], dtype=np.int8).copy()
        pos += int(n)
    return frames


def first_difference(tflite_path, engine: codegen.GeneratedEngine, debug_binary, x_one) -> str | None:
    """Name the first layer whose output differs from TFLM's for this input (None: all equal)."""
    ours = dump_layers(debug_binary, x_one)
    # all_tensors feeds x[None, ...]: pass the per-sample array
    ref = tflm.all_tensors(Path(tflite_path).read_bytes(), np.asarray(x_one).reshape(engine.input_shape)[0],
                           [t for _, _, _, t in engine.layers if t >= 0], where=str(tflite_path))
    for index, opcode, name, tensor in engine.layers:
        if tensor < 0:
            continue            # writes the state region (ASSIGN_VARIABLE, CALL_ONCE), no tensor
        b = ref[tensor].reshape(-1)
        a = ours[tensor].view(b.dtype)
        if not np.array_equal(a, b):
            diff = np.abs(a.astype(int) - b.astype(int))
            return (f"first differing layer: #{index} {opcode} '{name}' (tensor {tensor}): "
                    f"{int((diff > 0).sum())} of {diff.size} values differ, max |diff| {int(diff.max())}")
    return None


def run(tflite_path, x: np.ndarray, workdir, prefix: str = "ep", sanitize: bool = False,
        mode: str = tflm.RESET) -> np.ndarray:
    """Generate, compile and run the engine for tflite_path on inputs x [N, ...]; returns outputs."""
    workdir = Path(workdir)
    engine = codegen.generate(tflite_path, workdir, prefix)
    return invoke(build(engine, workdir, sanitize=sanitize), engine, x, mode=mode)
