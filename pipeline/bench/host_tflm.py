"""host-tflm: accuracy with the TFLM reference interpreter, and the arena it needs."""

from __future__ import annotations

import numpy as np

from firmware_gen import tflm
from ..quant_io import quantize_inputs
from ..results import row, top1
from edgepipe_base.tflite_file import TFLiteModel


def run(name: str, model: TFLiteModel, x: np.ndarray, y: np.ndarray, mode: str = tflm.RESET) -> dict:
    """`mode`: tflm.RESET (a stateful model's state reset before each sample) or tflm.STREAM. TFLM's
    arena holds a streaming model's variables too (its persistent allocations)."""
    from firmware_gen.state import is_stateful
    res = tflm.run(model.data, quantize_inputs(model, x), where=name, mode=mode)
    return row(name, "host-tflm", accuracy=top1(res.outputs, y), samples=len(x),
               arena_bytes=res.arena_bytes, **({"eval_mode": mode} if is_stateful(model) else {}))
