"""What a converted model really computes in, op by op.

The converter does not always honour the requested types (measured: a larq model kept float SIGN
ops under TFLITE_BUILTINS_INT8 without an error), so every variant is labelled from its tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgepipe_base.tflite_file import Operator, Subgraph, TFLiteModel

INTEGER_ACTIVATIONS = {"INT8": "int8", "INT16": "int16x8"}
BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}          # convert types at the model's edges
WEIGHT_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
STATE_OPS = {"VAR_HANDLE", "CALL_ONCE"}             # name or initialise state: compute nothing
VARIABLE_OPS = {"READ_VARIABLE", "ASSIGN_VARIABLE"}  # copy a variable's values (none for a constant init)


@dataclass(frozen=True)
class OpType:
    op: str
    layer: str
    computes: str       # int8 | int16x8 | float | hybrid | other | none (no data: VAR_HANDLE, CALL_ONCE)


def classify_op(op: Operator, sg: Subgraph) -> str:
    tensors = [sg.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
    # a resource handle carries no data (the variable's values go through READ/ASSIGN_VARIABLE); a
    # recurrent op's state (is_variable) does not set its type: the int8 LSTM keeps an int16 cell
    activations = {t.dtype for t in tensors if not t.is_constant and not t.is_variable
                   and t.dtype not in ("INT32", "RESOURCE")}
    if op.opcode in BOUNDARY_OPS and "UINT8" in activations and activations & {"INT8"}:
        activations.discard("UINT8")           # int8 -> uint8 at the output (microWakeWord's models)
    if op.opcode in STATE_OPS or (not activations and op.opcode in VARIABLE_OPS):
        return "none"
    consts = {t.dtype for t in tensors if t.is_constant}
    if activations & {"FLOAT32", "FLOAT16"}:
        return "hybrid" if consts & {"INT8", "UINT8"} and op.opcode not in BOUNDARY_OPS else "float"
    kinds = {INTEGER_ACTIVATIONS.get(d, "other") for d in activations}
    if len(kinds) == 1:
        return kinds.pop()
    return "int8" if not kinds else "other"


def op_types(model: TFLiteModel) -> list[OpType]:
    return [OpType(op.opcode, op.layer_name(sg.tensors), classify_op(op, sg))
            for sg in model.subgraphs for op in sg.operators]


def model_types(model: TFLiteModel) -> str:
    """One label for the whole model: int8 | int16x8 | float | hybrid | mixed."""
    core = {t.computes for t in op_types(model)
            if not (t.op in BOUNDARY_OPS and t.computes == "float") and t.computes != "none"}
    if not core:
        return "float"
    if "hybrid" in core:
        return "hybrid"
    return core.pop() if len(core) == 1 else "mixed"


def io_types(model: TFLiteModel) -> tuple[str, str]:
    sg = model.main
    return (sg.tensors[sg.inputs[0]].dtype.lower(), sg.tensors[sg.outputs[0]].dtype.lower())


def weight_sparsity(model: TFLiteModel) -> float:
    """Fraction of exactly-zero values among the weight tensors of conv / depthwise / dense ops."""
    import numpy as np
    zeros = total = 0
    for values in _weights(model):
        zeros += int(np.count_nonzero(values == 0))
        total += values.size
    return zeros / total if total else 0.0


def bitmap_sparse_weight_bytes(model: TFLiteModel) -> tuple[int, int]:
    """(dense, bitmap-sparse) bytes of the conv / depthwise / dense weights.

    Bitmap-sparse = one bit per weight saying whether it is non-zero, plus the non-zero values.
    A computed size: edgepipe's C engine stores weights dense today."""
    import numpy as np
    dense = sparse = 0
    for values in _weights(model):
        dense += values.nbytes
        sparse += int(np.count_nonzero(values)) * values.itemsize + (values.size + 7) // 8
    return dense, sparse


def _weights(model: TFLiteModel):
    for sg in model.subgraphs:
        producers = {o: op for op in sg.operators for o in op.outputs}
        for op in sg.operators:
            if op.opcode not in WEIGHT_OPS or len(op.inputs) < 2:
                continue
            w = sg.tensors[op.inputs[1]]
            if not w.is_constant and w.index in producers:     # fp16: weights behind a DEQUANTIZE
                src = producers[w.index]
                w = sg.tensors[src.inputs[0]] if src.opcode == "DEQUANTIZE" else w
            if w.is_constant:
                yield model.constant(w)
