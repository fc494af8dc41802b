"""Larq Compute Engine's interpreter as the reference for models with binarized (Lce*) ops.

TFLM cannot run LCE's custom ops, so for such models the C engine is compared byte for byte with
LCE's own interpreter (`larq_compute_engine.tflite.python.interpreter`, x86-64 build), with its
reference LceBconv2d kernel, op by op (Reference).
"""

from __future__ import annotations

import numpy as np

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError

LCE_OPS = frozenset({"LceQuantize", "LceBconv2d", "LceDequantize", "LceBMaxPool2d"})


def is_lce(model: tflite_file.TFLiteModel) -> bool:
    """True when the model holds Larq Compute Engine custom ops (its reference is LCE, not TFLM)."""
    return any(op.custom and op.opcode in LCE_OPS for op in model.main.operators)


def _interpreter(blob: bytes, where: str):
    try:
        from larq_compute_engine.tflite.python.interpreter import Interpreter
    except ImportError:
        raise EdgepipeError(f"{where}: larq-compute-engine is not installed; run `make setup`") from None
    try:
        return Interpreter(blob, num_threads=1, use_reference_bconv=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EdgepipeError(f"{where}: the LCE interpreter refused the model ({first})") from None


def _predict(it, x: np.ndarray):
    out = it.predict(np.ascontiguousarray(x))
    return out if isinstance(out, list) else [out]


def single_op(blob: bytes, op_index: int) -> tuple[bytes, list[int], list[int]]:
    """A copy of the model that runs only operator `op_index`: its activation inputs become the
    model inputs, its outputs the model outputs. Returns (flatbuffer, inputs, outputs)."""
    import flatbuffers
    parsed = tflite_file.read("model", blob)
    op = parsed.main.operators[op_index]
    ins = [i for i in op.inputs if i >= 0 and not parsed.main.tensors[i].is_constant]
    model = parsed.raw
    sg = model.subgraphs[0]
    sg.operators = [sg.operators[op_index]]
    sg.inputs = np.asarray(ins, dtype=np.int32)
    sg.outputs = np.asarray(list(op.outputs), dtype=np.int32)
    builder = flatbuffers.Builder(len(blob) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=tflite_file.TFLITE_IDENTIFIER)
    return bytes(builder.Output()), ins, list(op.outputs)


class Reference:
    """The reference an MCU build of a binarized model is held to: every op run on its own, the
    builtin int8 ops by TFLM's reference kernels (what the C engine matches for every other
    model) and the Lce ops by LCE's interpreter (reference LceBconv2d). LCE's interpreter alone
    runs its builtin ops with TFLite's optimized kernels, which differ from TFLM's by +-1 LSB on
    some values (int8 convolutions included), so neither interpreter alone is the reference."""

    def __init__(self, blob: bytes, where: str = "model"):
        from . import tflm
        self.model = tflite_file.read(where, blob)
        self.steps = []
        for op in self.model.main.operators:
            one, ins, outs = single_op(blob, op.index)
            if op.custom:
                run = _interpreter(one, f"{where} op #{op.index} {op.opcode}")
            else:
                run = tflm.interpreter(one, where=f"{where} op #{op.index} {op.opcode}")
            self.steps.append((op, run, ins, outs))

    def tensors(self, x_one: np.ndarray) -> dict[int, np.ndarray]:
        """Every op output (and the input) for one sample, keyed by tensor index."""
        sg = self.model.main
        values = {sg.inputs[0]: np.asarray(x_one).reshape(sg.tensors[sg.inputs[0]].shape)}
        for op, run, ins, outs in self.steps:
            feed = [values[i].reshape(sg.tensors[i].shape) for i in ins]
            if op.custom:
                got = _predict(run, feed if len(feed) > 1 else feed[0])
                got = [np.asarray(g).reshape(sg.tensors[o].shape) for g, o in zip(got, outs)]
            else:
                for j, v in enumerate(feed):
                    run.set_input(v, j)
                run.invoke()
                got = [np.array(run.get_output(j)) for j in range(len(outs))]
            values.update(zip(outs, got))
        return values

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Model outputs [N, *output_shape[1:]] for inputs x [N, ...] (as tflm.run gives them)."""
        out = self.model.main.outputs[0]
        shape = self.model.main.tensors[out].shape
        return np.stack([self.tensors(s)[out].reshape(shape[1:] if shape[:1] == (1,) else shape)
                         for s in x])


def reference_outputs(model: tflite_file.TFLiteModel, x: np.ndarray, where: str = "model", mode: str = "reset"):
    """(outputs, reference name) that a C-engine run of `model` is compared with: TFLM for
    builtin-op models, Reference (TFLM + LCE kernels op by op) for models with Lce ops. `mode`:
    tflm.RESET or tflm.STREAM (a stateful model's samples as one stream)."""
    from . import tflm
    if is_lce(model):
        return Reference(model.data, where).outputs(x), "tflm+lce"
    return tflm.run(model.data, x, where=where, mode=mode).outputs, "tflm"
