"""TFLM drop-in export: the .tflite as a C array plus a settings header, for users who run TFLM.

Writes `<name>_model_data.c/.h` (the flatbuffer, 16-byte aligned, as TFLM's generate_cc_arrays
does) and `<name>_model_settings.h` (I/O shapes, types and quantization, labels, the arena size
measured with the TFLM interpreter plus a stated margin, and a MicroMutableOpResolver registration
for exactly the ops the model uses).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jinja2
import numpy as np

from edgepipe_base import tflite_file
from firmware_gen import tflm
from edgepipe_base.atomic import write_atomic
from edgepipe_base.errors import EdgepipeError
from edgepipe_base.tflite_types import numpy_dtype

from .codegen import TEMPLATE_DIR, c_float

BYTES_PER_LINE = 12
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_C_TYPES = {"INT8": "int8_t", "UINT8": "uint8_t", "INT16": "int16_t", "INT32": "int32_t",
            "FLOAT32": "float", "INT64": "int64_t", "BOOL": "bool"}
# MicroMutableOpResolver method names that are not the CamelCase of the builtin op name.
_RESOLVER_EXCEPTIONS = {"PADV2": "PadV2", "L2_NORMALIZATION": "L2Normalization",
                        "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighbor", "LOG_SOFTMAX": "LogSoftmax",
                        "BATCH_MATMUL": "BatchMatMul", "EXPAND_DIMS": "ExpandDims",
                        "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTM"}


def resolver_method(opcode: str) -> str:
    """The MicroMutableOpResolver::AddXxx name for a builtin op ("CONV_2D" -> "AddConv2D")."""
    if opcode in _RESOLVER_EXCEPTIONS:
        return "Add" + _RESOLVER_EXCEPTIONS[opcode]
    parts = opcode.split("_")
    return "Add" + "".join(p if any(ch.isdigit() for ch in p) else p.capitalize() for p in parts)


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _tensor_info(t) -> dict:
    return dict(dims=len(t.shape), shape="{" + ", ".join(str(d) for d in t.shape) + "}",
                elements=int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1,
                ctype=_C_TYPES.get(t.dtype, "uint8_t"), dtype=t.dtype,
                scale=c_float(t.scale[0] if t.scale else 0.0),
                zero_point=t.zero_point[0] if t.zero_point else 0)


def export(tflite_path, out_dir, name: str, labels=None, arena_margin: float = 0.25) -> list[Path]:
    """Write the three TFLM drop-in files for tflite_path into out_dir; returns their paths.

    arena_margin: fraction added to the arena the TFLM interpreter reports (the host build of TFLM
    has 64-bit pointers and a different allocator alignment than a Cortex-M build)."""
    if not _NAME_RE.match(name):
        raise EdgepipeError(f"name '{name}' is not a C identifier; use letters, digits and _")
    if arena_margin < 0:
        raise EdgepipeError(f"arena_margin {arena_margin} is negative; pass a fraction such as 0.25")
    model = tflite_file.read(tflite_path)
    sg = model.main
    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise EdgepipeError(f"{tflite_path}: {len(sg.inputs)} inputs / {len(sg.outputs)} outputs; "
                            "the settings header describes single-input single-output models")
    x, y = sg.tensors[sg.inputs[0]], sg.tensors[sg.outputs[0]]
    labels = list(labels) if labels is not None else []
    out_classes = int(y.shape[-1]) if y.shape else 1
    if labels and len(labels) != out_classes:
        raise EdgepipeError(f"{len(labels)} labels for an output of {out_classes} classes; "
                            "pass one label per output element")
    # tflm.run feeds each sample as x[None, ...], so the shape passed is the per-sample one
    measured = tflm.arena_bytes(model.data, x.shape[1:], numpy_dtype(x.dtype), where=str(tflite_path))
    if measured is None:
        raise EdgepipeError(f"{tflite_path}: TFLM did not report its arena use; cannot size the arena")
    arena = int(math.ceil(measured * (1.0 + arena_margin) / 16.0)) * 16
    ops = sorted({op.opcode for s in model.subgraphs for op in s.operators})    # CALL_ONCE's init too
    custom = sorted({op.opcode for s in model.subgraphs for op in s.operators if op.custom})
    if custom:
        raise EdgepipeError(f"{tflite_path}: custom ops {', '.join(custom)} have no TFLM registration")

    data = model.data
    hexes = [f"0x{b:02x}" for b in data]
    body = "\n".join("    " + ", ".join(hexes[i:i + BYTES_PER_LINE]) + ","
                     for i in range(0, len(hexes), BYTES_PER_LINE))
    values = dict(
        name=name, NAME=name.upper(), source=Path(tflite_path).name, sha256=model.sha256,
        size=len(data), body=body, input=_tensor_info(x), output=_tensor_info(y),
        labels=[_c_string(l) for l in labels], measured=measured, margin_pct=round(arena_margin * 100, 2),
        arena=arena, ops=[(op, resolver_method(op)) for op in ops])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for template, suffix in (("tflm_model_data.c.j2", "_model_data.c"), ("tflm_model_data.h.j2", "_model_data.h"),
                             ("tflm_model_settings.h.j2", "_model_settings.h")):
        path = out_dir / f"{name}{suffix}"
        write_atomic(path, env.get_template(template).render(**values))
        paths.append(path)
    return paths
