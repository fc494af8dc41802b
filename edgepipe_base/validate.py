"""The whole-model validator: every .tflite is checked against the TFLite schema's and each op's
rules right after parsing, before anything else looks at it.

This is the C engine's contract. Generated C runs on devices without memory protection, so what
passes here must never make a kernel read or write outside its buffers: every index is in range,
the graph runs in order (no cycles, each tensor written once), constant buffers hold exactly
shape x element-size bytes, each op's output shape is the one its own rule implies, options are
present and of the op's type, strides/dilations/filters/paddings are in range, quantization
parameters are finite, positive and in the type's range, and every requantization multiplier is
representable as TFLite's (int32 multiplier, shift) pair.

A failure is one line naming the rule, the operator (index, op, layer) and the tensor. `RULES`
lists every rule with the sentence a user reads; tests/test_validate.py has a test per rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import EdgepipeError

SCHEMA_VERSION = 3
MAX_RANK = 6                      # TFLite kernels handle at most 6-D tensors (most at most 4/5)
MAX_BYTES = (1 << 31) - 1         # tensor byte sizes and element indices fit a signed 32-bit int
MAX_WINDOW = 1 << 15              # strides, dilations and filter sizes
ELEMENT_BYTES = {"FLOAT32": 4, "FLOAT16": 2, "FLOAT64": 8, "INT32": 4, "UINT8": 1, "INT64": 8,
                 "BOOL": 1, "INT16": 2, "INT8": 1, "UINT32": 4, "UINT64": 8, "UINT16": 2,
                 "COMPLEX64": 8, "COMPLEX128": 16, "BFLOAT16": 2}
INT_RANGE = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (-32768, 32767),
             "INT32": (-(1 << 31), (1 << 31) - 1), "INT64": (-(1 << 63), (1 << 63) - 1),
             "INT4": (-8, 7), "UINT16": (0, 65535)}
QUANTIZED_ACTIVATIONS = ("INT8", "UINT8", "INT16")
# the options table each op must carry (True: required, its defaults would be unsafe: stride 0 ...)
OPTIONS = {
    "CONV_2D": ("Conv2DOptions", True), "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", True),
    "TRANSPOSE_CONV": ("TransposeConvOptions", True), "FULLY_CONNECTED": ("FullyConnectedOptions", False),
    "AVERAGE_POOL_2D": ("Pool2DOptions", True), "MAX_POOL_2D": ("Pool2DOptions", True),
    "L2_POOL_2D": ("Pool2DOptions", True), "ADD": ("AddOptions", False), "SUB": ("SubOptions", False),
    "MUL": ("MulOptions", False), "DIV": ("DivOptions", False), "SOFTMAX": ("SoftmaxOptions", True),
    "CONCATENATION": ("ConcatenationOptions", True), "RESHAPE": ("ReshapeOptions", False),
    "MEAN": ("ReducerOptions", False), "SUM": ("ReducerOptions", False),
    "REDUCE_MAX": ("ReducerOptions", False), "PAD": ("PadOptions", False), "PADV2": ("PadV2Options", False),
    "SQUEEZE": ("SqueezeOptions", False), "STRIDED_SLICE": ("StridedSliceOptions", False),
    "LEAKY_RELU": ("LeakyReluOptions", True), "SPLIT": ("SplitOptions", True),
    "SPLIT_V": ("SplitVOptions", True), "RESIZE_BILINEAR": ("ResizeBilinearOptions", False),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions", False),
    "BATCH_MATMUL": ("BatchMatMulOptions", False), "SVDF": ("SVDFOptions", True),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("UnidirectionalSequenceLSTMOptions", True),
    "CALL_ONCE": ("CallOnceOptions", True), "GATHER": ("GatherOptions", False),
    "TRANSPOSE": ("TransposeOptions", False), "SHAPE": ("ShapeOptions", False),
    "VAR_HANDLE": ("VarHandleOptions", True),
}
# ops that only have side effects: they write a resource variable or run another subgraph
NO_OUTPUT_OPS = frozenset({"CALL_ONCE", "ASSIGN_VARIABLE"})
FUSED_ACTIVATIONS = range(0, 6)   # NONE RELU RELU_N1_TO_1 RELU6 TANH SIGN_BIT
PADDINGS = (0, 1)                 # SAME VALID

RULES = {
    "schema_version": "the model's schema version is 3",
    "has_subgraph": "the model has at least one subgraph, with at least one input and one output",
    "opcode": "every operator code is a known builtin op (or a named custom op)",
    "opcode_index": "every operator's opcode index is in range",
    "buffer_index": "every tensor's buffer index is in range, and buffer 0 (the empty sentinel) is empty",
    "tensor_index": "every operator and subgraph input/output is a tensor of the subgraph",
    "tensor_type": "every tensor has a known element type",
    "shape": f"every dimension is at least 1 (a tensor no operator reads or writes may be empty: the "
             f"converter's LSTM intermediates), rank <= {MAX_RANK}, and the size fits in 2^31 - 1 bytes",
    "buffer_size": "a constant tensor's buffer holds exactly shape x element-size bytes",
    "sparse": "tensors are dense (sparse tensors are not read by edgepipe)",
    "constant_written": "no operator writes a constant tensor or a subgraph input",
    "single_writer": "every tensor is written by at most one operator",
    "order": "operators run in order: every input is a constant, a subgraph input, a variable or an "
             "earlier operator's output (so the graph has no cycle)",
    "output_written": "every subgraph output is computed (or is an input or a constant)",
    "options": "an op's builtin options are present where required and of the op's own type",
    "arity": "the op has the number of inputs and outputs its definition takes",
    "dtype": "the op's tensors have the element types its definition allows",
    "op_shape": "the output shape is the one the op's rule implies for its inputs and options",
    "window": f"strides, dilations and filter sizes are in 1..{MAX_WINDOW}, paddings SAME or VALID, "
              "fused activations known",
    "quant_scale": "quantization scales are finite and > 0",
    "quant_zero_point": "zero points are in the element type's range (0 for int16 activations and "
                        "for int8 weights), one per scale",
    "quant_channels": "per-channel scales number the quantized dimension's size, on a dimension the "
                      "tensor has",
    "quant_same": "the op's output has the quantization its definition requires (same as the input "
                  "for pooling, concatenation and reshape; 1/256 for int8 softmax and logistic ...)",
    "multiplier": "every requantization scale ratio is representable as an int32 multiplier and a "
                  "shift in [-31, 30]",
    "subgraph_index": "subgraph indices in options and signatures are in range",
}


class ModelValidationError(EdgepipeError):
    """A model that breaks a schema or op rule; `rule` is a key of RULES."""

    def __init__(self, message: str, rule: str):
        super().__init__(message)
        self.rule = rule


@dataclass
class _T:
    """What the rules need of one tensor."""
    index: int
    name: str
    dtype: str
    shape: tuple
    buffer: int
    constant: bool
    variable: bool
    scale: tuple
    zero_point: tuple
    qdim: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


def _clean(text, limit: int = 60) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Where:
    """The place a rule is checked, for the one-line message."""

    def __init__(self, path: str, subgraph: int, n_subgraphs: int):
        self.path, self.subgraph, self.n_subgraphs = path, subgraph, n_subgraphs
        self.op = None

    def fail(self, rule: str, detail: str, tensor: _T | None = None):
        parts = [f"rule {rule}"]
        if self.n_subgraphs > 1:
            parts.append(f"subgraph {self.subgraph}")
        if self.op is not None:
            index, opcode, layer = self.op
            parts.append(f"operator {index} {opcode}" + (f" (layer '{_clean(layer)}')" if layer else ""))
        if tensor is not None:
            parts.append(f"tensor {tensor.index} '{_clean(tensor.name)}'")
        raise ModelValidationError(
            f"{self.path}: invalid model: {detail} [{'; '.join(parts)}]; the file is malformed or was "
            "edited - convert the model again with the TFLite converter", rule)

    def need(self, cond, rule: str, detail: str, tensor: _T | None = None):
        if not cond:
            self.fail(rule, detail, tensor)


def quantize_multiplier_shift(real: float) -> int | None:
    """The shift of TFLite's QuantizeMultiplier(real), or None when real is 0/not finite."""
    if not math.isfinite(real) or real <= 0.0:
        return None
    q, shift = math.frexp(real)
    if round(q * (1 << 31)) == (1 << 31):
        shift += 1
    return shift


def representable(real: float) -> bool:
    shift = quantize_multiplier_shift(real)
    return shift is not None and -31 <= shift <= 30


def validate(model, buffers: list[bytes], path: str, names: dict[int, str], options_names: dict[int, str]) -> None:
    """Check a parsed schema ModelT. `buffers` holds each buffer's bytes; `names` maps builtin codes
    to op names and `options_names` BuiltinOptions codes to table names (from the schema)."""
    top = _Where(path, 0, 1)
    top.need(int(model.version or 0) == SCHEMA_VERSION, "schema_version",
             f"schema version {model.version}, edgepipe reads version {SCHEMA_VERSION}")
    subgraphs = model.subgraphs or []
    top.need(len(subgraphs) > 0, "has_subgraph", "the model has no subgraph")
    top.need(len(buffers) == 0 or len(buffers[0]) == 0, "buffer_index",
             "buffer 0 holds data (it is the empty sentinel every non-constant tensor points to)")
    opcodes = []
    for k, oc in enumerate(model.operatorCodes or []):
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = names.get(code)
        top.need(name is not None, "opcode", f"operator code {k} is builtin code {code}, which no TFLite version defines")
        if name == "CUSTOM":
            top.need(bool(oc.customCode), "opcode", f"operator code {k} is CUSTOM without a custom code name")
            name = _clean((oc.customCode or b"").decode(errors="replace"))
        opcodes.append((name, names.get(code) == "CUSTOM"))
    for s, sg in enumerate(subgraphs):
        _validate_subgraph(sg, s, len(subgraphs), model, buffers, path, opcodes, options_names)
    for sig in model.signatureDefs or []:
        top.need(0 <= int(sig.subgraphIndex) < len(subgraphs), "subgraph_index",
                 f"signature '{_clean((sig.signatureKey or b'').decode(errors='replace'))}' names subgraph "
                 f"{sig.subgraphIndex} of {len(subgraphs)}")
        n_tensors = len(subgraphs[int(sig.subgraphIndex)].tensors or [])
        for tm in (sig.inputs or []) + (sig.outputs or []):
            top.need(0 <= int(tm.tensorIndex) < n_tensors, "tensor_index",
                     f"signature tensor index {tm.tensorIndex} is out of range (0..{n_tensors - 1})")
    for md in model.metadata or []:
        top.need(0 <= int(md.buffer) < len(buffers), "buffer_index",
                 f"metadata buffer index {md.buffer} is out of range (0..{len(buffers) - 1})")


def _referenced(sg) -> set[int]:
    """Tensors a kernel may touch: subgraph inputs and outputs, operator inputs and outputs (an
    operator's `intermediates`, which the converter's LSTM carries for calibration, are not read)."""
    used = {int(i) for i in list(sg.inputs if sg.inputs is not None else []) +
            list(sg.outputs if sg.outputs is not None else [])}
    for op in sg.operators or []:
        used.update(int(i) for i in list(op.inputs if op.inputs is not None else []) +
                    list(op.outputs if op.outputs is not None else []))
    return used


def _tensors(sg, buffers, where: _Where) -> list[_T]:
    from .tflite_file import tensor_type_name
    out = []
    used = _referenced(sg)
    for i, t in enumerate(sg.tensors or []):
        name = (t.name or b"").decode(errors="replace")
        dtype = tensor_type_name(int(t.type))
        q = t.quantization
        scale = tuple(float(x) for x in (q.scale if q is not None and q.scale is not None else ()))
        zp = tuple(int(x) for x in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
        shape = tuple(int(x) for x in (t.shape if t.shape is not None else ()))
        buf = int(t.buffer)
        info = _T(index=i, name=name, dtype=dtype, shape=shape, buffer=buf,
                  constant=0 < buf < len(buffers) and len(buffers[buf]) > 0, variable=bool(t.isVariable),
                  scale=scale, zero_point=zp, qdim=int(q.quantizedDimension) if q is not None else 0)
        where.need(dtype in ELEMENT_BYTES or dtype in ("INT4", "STRING", "RESOURCE", "VARIANT"),
                   "tensor_type", f"element type code {t.type} is not a TFLite type", info)
        where.need(0 <= buf < len(buffers), "buffer_index",
                   f"buffer index {buf} is out of range (0..{len(buffers) - 1})", info)
        where.need(t.sparsity is None, "sparse", "sparse tensor: edgepipe reads dense tensors only", info)
        where.need(len(shape) <= MAX_RANK, "shape", f"rank {len(shape)} > {MAX_RANK}", info)
        where.need(all(d >= 1 for d in shape) or (i not in used and all(d >= 0 for d in shape)), "shape",
                   f"shape {list(shape)} has a dimension < 1", info)
        nbytes = _nbytes(info)
        where.need(nbytes is None or nbytes <= MAX_BYTES, "shape",
                   f"shape {list(shape)} of {dtype} is {nbytes} bytes, more than 2^31 - 1", info)
        if info.constant and nbytes is not None:
            where.need(len(buffers[buf]) == nbytes, "buffer_size",
                       f"constant buffer {buf} holds {len(buffers[buf])} bytes, shape {list(shape)} of "
                       f"{dtype} needs {nbytes}", info)
        _check_quantization(info, where)
        out.append(info)
    return out


def _nbytes(t: _T) -> int | None:
    if t.dtype == "INT4":
        return (t.elements + 1) // 2
    size = ELEMENT_BYTES.get(t.dtype)
    return None if size is None else t.elements * size


def _check_quantization(t: _T, where: _Where):
    if not t.scale and not t.zero_point:
        return
    where.need(all(math.isfinite(s) and s > 0 for s in t.scale), "quant_scale",
               f"scale {_fmt(t.scale)} is not finite and positive", t)
    where.need(len(t.zero_point) == len(t.scale), "quant_zero_point",
               f"{len(t.scale)} scales but {len(t.zero_point)} zero points", t)
    lo, hi = INT_RANGE.get(t.dtype, (-(1 << 63), (1 << 63) - 1))
    where.need(all(lo <= z <= hi for z in t.zero_point), "quant_zero_point",
               f"zero point {_fmt(t.zero_point)} is outside {t.dtype}'s range {lo}..{hi}", t)
    if len(t.scale) > 1:
        where.need(0 <= t.qdim < len(t.shape), "quant_channels",
                   f"quantized dimension {t.qdim} of a rank-{len(t.shape)} tensor", t)
        where.need(t.shape[t.qdim] == len(t.scale), "quant_channels",
                   f"{len(t.scale)} per-channel scales for dimension {t.qdim} of size {t.shape[t.qdim]}", t)


def _fmt(values) -> str:
    values = list(values)
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:4])
    return "[" + shown + (", ..." if len(values) > 4 else "") + "]"


def _validate_subgraph(sg, s, n_subgraphs, model, buffers, path, opcodes, options_names):
    where = _Where(path, s, n_subgraphs)
    tensors = _tensors(sg, buffers, where)
    n = len(tensors)
    inputs = [int(i) for i in (sg.inputs if sg.inputs is not None else [])]
    outputs = [int(i) for i in (sg.outputs if sg.outputs is not None else [])]
    if s == 0:
        where.need(inputs and outputs, "has_subgraph", "the main subgraph has no input or no output")
    for i in inputs + outputs:
        where.need(0 <= i < n, "tensor_index", f"subgraph input/output {i} is out of range (0..{n - 1})")
    where.need(len(set(outputs)) == len(outputs), "single_writer", f"subgraph outputs {outputs} repeat a tensor")
    where.need(len(set(inputs)) == len(inputs), "tensor_index", f"subgraph inputs {inputs} repeat a tensor")
    for i in inputs:
        where.need(not tensors[i].constant, "constant_written", "a subgraph input is a constant", tensors[i])
    available = set(inputs) | {t.index for t in tensors if t.constant or t.variable}
    written = set()
    for k, op in enumerate(sg.operators or []):
        where.op = (k, "?", "")
        where.need(0 <= int(op.opcodeIndex) < len(opcodes), "opcode_index",
                   f"opcode index {op.opcodeIndex} is out of range (0..{len(opcodes) - 1})")
        opcode, custom = opcodes[int(op.opcodeIndex)]
        ins = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        for i in ins:
            where.need(-1 <= i < n, "tensor_index", f"input tensor index {i} is out of range (-1..{n - 1})")
        for i in outs:
            where.need(0 <= i < n, "tensor_index", f"output tensor index {i} is out of range (0..{n - 1})")
        layer = tensors[outs[0]].name.split(";")[0] if outs else ""
        parts = layer.split("/")
        where.op = (k, opcode, parts[1] if len(parts) > 2 else layer)
        where.need(len(outs) > 0 or opcode in NO_OUTPUT_OPS, "arity", "the operator has no output")
        for i in outs:
            t = tensors[i]
            where.need(not t.constant and i not in inputs, "constant_written",
                       "the operator writes a constant or a subgraph input", t)
            where.need(i not in written, "single_writer", "a second operator writes this tensor", t)
            written.add(i)
        for i in ins:
            if i >= 0:
                where.need(i in available, "order",
                           "input is neither a constant, a subgraph input, a variable nor the output of an "
                           "earlier operator (operators out of order, or a cycle)", tensors[i])
        if not custom:
            _check_options(op, opcode, where, options_names, len(model.subgraphs or []))
            rule = OP_RULES.get(opcode)
            if rule is not None:
                rule(_Op(opcode, ins, outs, op.builtinOptions, tensors, buffers), where)
        available.update(outs)
    where.op = None
    for i in outputs:
        where.need(i in available, "output_written", "a subgraph output is never computed", tensors[i])


def _check_options(op, opcode, where, options_names, n_subgraphs):
    expected = OPTIONS.get(opcode)
    got = options_names.get(int(op.builtinOptionsType), "NONE") if op.builtinOptions is not None else None
    if expected is None:
        return
    name, required = expected
    if got is None:
        where.need(not required, "options", f"{opcode} has no builtin options; it needs {name}")
        return
    where.need(got == name, "options", f"{opcode} carries {got}; it needs {name}")
    if opcode == "CALL_ONCE":
        where.need(0 <= int(op.builtinOptions.initSubgraphIndex) < n_subgraphs, "subgraph_index",
                   f"init subgraph {op.builtinOptions.initSubgraphIndex} of {n_subgraphs}")


# ---- op rules -------------------------------------------------------------------------------

@dataclass
class _Op:
    opcode: str
    ins: list
    outs: list
    options: object
    tensors: list
    buffers: list

    def input(self, k) -> _T | None:
        return self.tensors[self.ins[k]] if k < len(self.ins) and self.ins[k] >= 0 else None

    def output(self, k=0) -> _T:
        return self.tensors[self.outs[k]]

    def const_values(self, t: _T) -> np.ndarray | None:
        if not t.constant or t.dtype not in ("INT32", "INT64"):
            return None
        dtype = np.int32 if t.dtype == "INT32" else np.int64
        return np.frombuffer(self.buffers[t.buffer], dtype=dtype).reshape(t.shape)


def _arity(op: _Op, where, n_in: tuple[int, int], n_out: int = 1):
    lo, hi = n_in
    where.need(lo <= len(op.ins) <= hi, "arity",
               f"{op.opcode} takes {lo}{'' if lo == hi else f'..{hi}'} inputs, it has {len(op.ins)}")
    where.need(all(op.ins[k] >= 0 for k in range(lo)), "arity", f"a required input of {op.opcode} is omitted")
    where.need(len(op.outs) == n_out, "arity", f"{op.opcode} has {n_out} output(s), it has {len(op.outs)}")


def _quantized(t: _T) -> bool:
    return t.dtype in QUANTIZED_ACTIVATIONS


def _activation_quant(t: _T, where):
    """Activations are quantized per tensor; int16 activations symmetrically."""
    if not _quantized(t):
        return
    where.need(len(t.scale) == 1, "quant_scale", f"{t.dtype} activation needs one scale, it has {len(t.scale)}", t)
    if t.dtype == "INT16":
        where.need(t.zero_point[0] == 0, "quant_zero_point", "int16 activations have zero point 0", t)


def _same_dtype(op: _Op, where, *tensors):
    dtypes = {t.dtype for t in tensors}
    where.need(len(dtypes) == 1, "dtype", f"{op.opcode} mixes element types {sorted(dtypes)}")


def _window(where, **values):
    for name, v in values.items():
        where.need(1 <= int(v) <= MAX_WINDOW, "window", f"{name} {v} is outside 1..{MAX_WINDOW}")


def _fused(op: _Op, where):
    f = int(getattr(op.options, "fusedActivationFunction", 0) or 0)
    where.need(f in FUSED_ACTIVATIONS, "window", f"fused activation code {f} is unknown")


def _out_size(in_size: int, filt: int, stride: int, dilation: int, padding: int) -> int:
    eff = (filt - 1) * dilation + 1
    return (in_size + stride - 1) // stride if padding == 0 else (in_size - eff + stride) // stride


def _expect_shape(op: _Op, where, shape, t: _T | None = None):
    t = t or op.output()
    where.need(tuple(t.shape) == tuple(shape), "op_shape",
               f"output shape {list(t.shape)}, the op's rule gives {list(shape)}", t)


def _multiplier(where, real: float, what: str, t: _T | None = None):
    where.need(representable(real), "multiplier",
               f"{what} scale ratio {real:g} is not representable (needs 2^-32 <= ratio < 2^30)", t)


def _weights_quant(op: _Op, where, w: _T, channels: int, channel_dim: int):
    if w.dtype not in ("INT8", "INT4") or not w.scale:
        return
    where.need(len(w.scale) in (1, channels), "quant_channels",
               f"{len(w.scale)} weight scales for {channels} output channels", w)
    if len(w.scale) > 1:
        where.need(w.qdim == channel_dim, "quant_channels",
                   f"weights quantized along dimension {w.qdim}, the op's channels are dimension {channel_dim}", w)
    where.need(all(z == 0 for z in w.zero_point), "quant_zero_point", "int8 weights have zero point 0", w)


def _bias(op: _Op, where, k: int, channels: int):
    b = op.input(k)
    if b is None:
        return
    where.need(b.elements == channels, "op_shape", f"bias of {b.elements} values for {channels} channels", b)
    x = op.input(0)
    if _quantized(x):
        allowed = ("INT32", "INT64") if x.dtype == "INT16" else ("INT32",)
        where.need(b.dtype in allowed, "dtype", f"{b.dtype} bias with {x.dtype} activations", b)


def _conv_quant(op: _Op, where, x: _T, w: _T, y: _T, channels: int, channel_dim: int):
    _activation_quant(x, where)
    _activation_quant(y, where)
    if not (_quantized(x) and _quantized(y)):
        return
    where.need(w.dtype in ("INT8", "INT4") and len(w.scale) >= 1, "dtype",
               f"{w.dtype} weights without quantization for {x.dtype} activations", w)
    _weights_quant(op, where, w, channels, channel_dim)
    for c, ws in enumerate(w.scale if len(w.scale) > 1 else w.scale[:1]):
        _multiplier(where, x.scale[0] * ws / y.scale[0], f"channel {c}'s input x weight / output", y)


def _rule_conv(op: _Op, where):
    _arity(op, where, (2, 3))
    x, w, y = op.input(0), op.input(1), op.output()
    depthwise = op.opcode == "DEPTHWISE_CONV_2D"
    o = op.options
    where.need(len(x.shape) == 4 and len(w.shape) == 4, "op_shape",
               f"{op.opcode} needs 4-D input and filter, got {list(x.shape)} and {list(w.shape)}")
    _window(where, stride_h=o.strideH, stride_w=o.strideW, dilation_h=o.dilationHFactor,
            dilation_w=o.dilationWFactor, filter_h=w.shape[1], filter_w=w.shape[2])
    where.need(int(o.padding) in PADDINGS, "window", f"padding code {o.padding} is neither SAME nor VALID")
    _fused(op, where)
    n, h, wd, c = x.shape
    if depthwise:
        where.need(w.shape[0] == 1 and w.shape[3] % c == 0, "op_shape",
                   f"depthwise filter {list(w.shape)} for {c} input channels")
        channels, channel_dim = w.shape[3], 3
        mult = int(getattr(o, "depthMultiplier", 0) or 0)
        # TFLM's kernel loops over the option, not the shapes: the two must agree
        where.need(mult == channels // c, "options",
                   f"depth multiplier {mult}, the shapes give {channels // c} ({c} -> {channels} channels)")
    else:
        where.need(c % w.shape[3] == 0, "op_shape",
                   f"filter of depth {w.shape[3]} for {c} input channels (must divide it)")
        where.need(w.shape[0] % (c // w.shape[3]) == 0, "op_shape",
                   f"{w.shape[0]} filters do not split into {c // w.shape[3]} groups")
        channels, channel_dim = w.shape[0], 0
    oh = _out_size(h, w.shape[1], o.strideH, o.dilationHFactor, o.padding)
    ow = _out_size(wd, w.shape[2], o.strideW, o.dilationWFactor, o.padding)
    where.need(oh >= 1 and ow >= 1, "op_shape", f"the filter does not fit the {h}x{wd} input (VALID)")
    _expect_shape(op, where, (n, oh, ow, channels))
    _same_dtype(op, where, x, y)
    _bias(op, where, 2, channels)
    _conv_quant(op, where, x, w, y, channels, channel_dim)


def _rule_fully_connected(op: _Op, where):
    _arity(op, where, (2, 3))
    x, w, y = op.input(0), op.input(1), op.output()
    _fused(op, where)
    where.need(len(w.shape) == 2, "op_shape", f"weights of shape {list(w.shape)}; FULLY_CONNECTED needs 2-D")
    units, depth = w.shape
    where.need(x.elements % depth == 0, "op_shape", f"input of {x.elements} values is not a multiple of depth {depth}")
    where.need(y.elements == x.elements // depth * units and y.shape[-1] == units, "op_shape",
               f"output shape {list(y.shape)} for {x.elements // depth} rows of {units} units", y)
    where.need(int(getattr(op.options, "weightsFormat", 0) or 0) in (0, 1), "options", "unknown weights format")
    _same_dtype(op, where, x, y)
    _bias(op, where, 2, units)
    _conv_quant(op, where, x, w, y, units, 0)


def _rule_pool(op: _Op, where):
    _arity(op, where, (1, 1))
    x, y, o = op.input(0), op.output(), op.options
    where.need(len(x.shape) == 4, "op_shape", f"pooling needs a 4-D input, got {list(x.shape)}", x)
    _window(where, stride_h=o.strideH, stride_w=o.strideW, filter_h=o.filterHeight, filter_w=o.filterWidth)
    where.need(int(o.padding) in PADDINGS, "window", f"padding code {o.padding} is neither SAME nor VALID")
    _fused(op, where)
    n, h, w, c = x.shape
    oh = _out_size(h, o.filterHeight, o.strideH, 1, o.padding)
    ow = _out_size(w, o.filterWidth, o.strideW, 1, o.padding)
    where.need(oh >= 1 and ow >= 1, "op_shape", f"the window does not fit the {h}x{w} input (VALID)")
    _expect_shape(op, where, (n, oh, ow, c))
    _same_dtype(op, where, x, y)
    _same_quant(op, where, x, y)


def _same_quant(op: _Op, where, x: _T, y: _T):
    _activation_quant(x, where)
    _activation_quant(y, where)
    if _quantized(x):
        where.need(x.scale == y.scale and x.zero_point == y.zero_point, "quant_same",
                   f"{op.opcode} output quantization ({_fmt(y.scale)}, {_fmt(y.zero_point)}) differs from "
                   f"its input's ({_fmt(x.scale)}, {_fmt(x.zero_point)})", y)


def _broadcast(a, b):
    ra, rb = list(a), list(b)
    r = max(len(ra), len(rb))
    ra, rb = [1] * (r - len(ra)) + ra, [1] * (r - len(rb)) + rb
    out = []
    for x, y in zip(ra, rb):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


def _rule_binary(op: _Op, where):
    _arity(op, where, (2, 2))
    a, b, y = op.input(0), op.input(1), op.output()
    _fused(op, where)
    shape = _broadcast(a.shape, b.shape)
    where.need(shape is not None, "op_shape", f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
    _expect_shape(op, where, shape)
    _same_dtype(op, where, a, b, y)
    for t in (a, b, y):
        _activation_quant(t, where)
    if _quantized(y):
        if op.opcode == "MUL":
            _multiplier(where, a.scale[0] * b.scale[0] / y.scale[0], "input1 x input2 / output", y)
        else:
            twice = 2 * max(a.scale[0], b.scale[0])
            shift = 15 if y.dtype == "INT16" else 20
            _multiplier(where, a.scale[0] / twice, "input1 / (2 max input)", a)
            _multiplier(where, b.scale[0] / twice, "input2 / (2 max input)", b)
            _multiplier(where, twice / ((1 << shift) * y.scale[0]), "2 max input / output", y)


def _rule_same_shape(op: _Op, where):
    _arity(op, where, (1, 1))
    x, y = op.input(0), op.output()
    _expect_shape(op, where, x.shape)
    _activation_quant(x, where)
    _activation_quant(y, where)
    return x, y


def _rule_softmax(op: _Op, where):
    x, y = _rule_same_shape(op, where)
    beta = float(op.options.beta)
    where.need(math.isfinite(beta) and beta > 0, "options", f"softmax beta {beta:g} is not finite and positive")
    _same_dtype(op, where, x, y)
    if _quantized(x):
        _fixed_output(op, where, y, {"INT8": (1 / 256, -128), "INT16": (1 / 32768, 0)})
        # the kernel shifts the input difference left by the multiplier's shift: 31 would overflow
        _multiplier(where, beta * x.scale[0] * (1 << 26), "beta x input scale x 2^26", x)


def _fixed_output(op: _Op, where, y: _T, fixed: dict):
    want = fixed.get(y.dtype)
    if want is None:
        return
    where.need(abs(y.scale[0] - want[0]) <= want[0] * 1e-3 and y.zero_point[0] == want[1], "quant_same",
               f"{op.opcode} {y.dtype} output has scale {y.scale[0]:g} and zero point {y.zero_point[0]}; "
               f"the op defines {want[0]:g} and {want[1]}", y)


def _rule_sigmoid(op: _Op, where):
    x, y = _rule_same_shape(op, where)
    _same_dtype(op, where, x, y)
    if _quantized(x):
        fixed = ({"INT8": (1 / 256, -128), "INT16": (1 / 32768, 0)} if op.opcode == "LOGISTIC"
                 else {"INT8": (1 / 128, 0), "INT16": (1 / 32768, 0)})
        _fixed_output(op, where, y, fixed)
        _multiplier(where, x.scale[0] * (1 << 27), "input scale in Q4.27", x)


def _rule_quantize(op: _Op, where):
    x, y = _rule_same_shape(op, where)
    where.need(y.dtype in QUANTIZED_ACTIVATIONS and len(y.scale) == 1, "dtype",
               f"QUANTIZE writes {y.dtype} without one scale", y)
    if _quantized(x):
        _multiplier(where, x.scale[0] / y.scale[0], "input / output", y)


def _rule_dequantize(op: _Op, where):
    x, y = _rule_same_shape(op, where)
    where.need(y.dtype == "FLOAT32", "dtype", f"DEQUANTIZE writes {y.dtype}, not FLOAT32", y)


def _rule_reshape(op: _Op, where):
    _arity(op, where, (1, 2))
    x, y = op.input(0), op.output()
    where.need(x.elements == y.elements, "op_shape",
               f"reshape of {x.elements} values into {list(y.shape)} ({y.elements} values)", y)
    _same_dtype(op, where, x, y)
    _same_quant(op, where, x, y)


def _rule_pad(op: _Op, where):
    _arity(op, where, (2, 3) if op.opcode == "PADV2" else (2, 2))
    x, p, y = op.input(0), op.input(1), op.output()
    pads = op.const_values(p)
    where.need(pads is not None and pads.shape == (len(x.shape), 2), "op_shape",
               f"paddings must be a constant int32 [{len(x.shape)}, 2] tensor, got {p.dtype} {list(p.shape)}", p)
    where.need(bool((pads >= 0).all()) and bool((pads <= MAX_BYTES).all()), "op_shape",
               f"negative or huge paddings {pads.reshape(-1).tolist()[:8]}", p)
    _expect_shape(op, where, tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads.tolist())))
    _same_dtype(op, where, x, y)
    _same_quant(op, where, x, y)
    v = op.input(2)
    if v is not None:
        where.need(v.constant and v.elements == 1 and v.dtype == x.dtype, "op_shape",
                   "the pad value must be one constant of the input's type", v)


def _rule_concat(op: _Op, where):
    where.need(len(op.ins) >= 1 and all(i >= 0 for i in op.ins), "arity", "CONCATENATION needs its inputs")
    where.need(len(op.outs) == 1, "arity", f"CONCATENATION has 1 output, it has {len(op.outs)}")
    y = op.output()
    xs = [op.tensors[i] for i in op.ins]
    rank = len(y.shape)
    axis = int(op.options.axis)
    where.need(-rank <= axis < rank, "options", f"axis {axis} of a rank-{rank} output")
    axis %= rank
    _fused(op, where)
    for x in xs:
        where.need(len(x.shape) == rank and all(x.shape[d] == y.shape[d] for d in range(rank) if d != axis),
                   "op_shape", f"input shape {list(x.shape)} does not concatenate into {list(y.shape)} on axis {axis}", x)
    _expect_shape(op, where, tuple(sum(x.shape[axis] for x in xs) if d == axis else y.shape[d]
                                   for d in range(rank)))
    _same_dtype(op, where, *xs, y)
    for x in xs:
        _same_quant(op, where, x, y)


def _rule_mean(op: _Op, where):
    _arity(op, where, (2, 2))
    x, a, y = op.input(0), op.input(1), op.output()
    axes = op.const_values(a)
    rank = len(x.shape)
    where.need(axes is not None and axes.size >= 1, "op_shape", "MEAN needs constant int32 axes", a)
    where.need(all(-rank <= int(v) < rank for v in axes.reshape(-1)), "op_shape",
               f"axes {axes.reshape(-1).tolist()[:8]} of a rank-{rank} input", a)
    reduced = {int(v) % rank for v in axes.reshape(-1)}
    keep = bool(getattr(op.options, "keepDims", False))
    shape = tuple(1 if d in reduced else x.shape[d] for d in range(rank)) if keep else \
        tuple(x.shape[d] for d in range(rank) if d not in reduced)
    _expect_shape(op, where, shape)
    _same_dtype(op, where, x, y)
    _activation_quant(x, where)
    _activation_quant(y, where)
    if _quantized(x):
        _multiplier(where, x.scale[0] / y.scale[0], "input / output", y)


def _rule_activation(op: _Op, where):
    """RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, LEAKY_RELU: elementwise, one input, same shape."""
    x, y = _rule_same_shape(op, where)
    _same_dtype(op, where, x, y)
    if op.opcode == "LEAKY_RELU":
        alpha = float(op.options.alpha)
        where.need(math.isfinite(alpha), "options", f"leaky relu alpha {alpha:g} is not finite")
    if _quantized(x) and op.opcode != "RELU6":
        _multiplier(where, x.scale[0] / y.scale[0], "input / output", y)


def _rule_select(op: _Op, where):
    """MAXIMUM, MINIMUM, PRELU: two broadcast inputs."""
    _arity(op, where, (2, 2))
    a, b, y = op.input(0), op.input(1), op.output()
    shape = _broadcast(a.shape, b.shape)
    where.need(shape is not None, "op_shape", f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
    _expect_shape(op, where, shape)
    _same_dtype(op, where, a, y)
    for t in (a, b, y):
        _activation_quant(t, where)


def _rule_view(op: _Op, where):
    """SQUEEZE, EXPAND_DIMS: the same values under another shape."""
    _arity(op, where, (1, 2))
    x, y = op.input(0), op.output()
    where.need(x.elements == y.elements, "op_shape",
               f"{op.opcode} of {x.elements} values into {list(y.shape)} ({y.elements} values)", y)
    _same_dtype(op, where, x, y)
    _same_quant(op, where, x, y)


def _rule_transpose(op: _Op, where):
    _arity(op, where, (2, 2))
    x, p, y = op.input(0), op.input(1), op.output()
    perm = op.const_values(p)
    rank = len(x.shape)
    where.need(perm is not None and sorted(int(v) for v in perm.reshape(-1)) == list(range(rank)), "op_shape",
               f"the permutation is not a constant permutation of {rank} axes", p)
    _expect_shape(op, where, tuple(x.shape[int(v)] for v in perm.reshape(-1)))
    _same_dtype(op, where, x, y)


def _rule_resize(op: _Op, where):
    _arity(op, where, (2, 2))
    x, size, y = op.input(0), op.input(1), op.output()
    where.need(len(x.shape) == 4, "op_shape", f"{op.opcode} needs a 4-D input, got {list(x.shape)}", x)
    hw = op.const_values(size)
    where.need(hw is not None and hw.size == 2 and bool((hw >= 1).all()), "op_shape",
               "the output size must be two constant positive int32 values", size)
    _expect_shape(op, where, (x.shape[0], int(hw.reshape(-1)[0]), int(hw.reshape(-1)[1]), x.shape[3]))
    _same_dtype(op, where, x, y)


LSTM_OPTIONAL = (1, 5, 9, 10, 11, 12, 16, 17, 20, 21, 22, 23)   # CIFG, peephole, projection, layer norm


def _rule_lstm(op: _Op, where):
    """UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_shared.h): input [B, T, I] (time-major [T, B, I]), input
    weights [S, I], recurrent weights [S, P], biases [S], variable hidden [B x P] and cell [B x S]
    states, output [., ., P]; P = S unless a projection [P, S] is present."""
    where.need(len(op.ins) == 24 and len(op.outs) == 1, "arity",
               f"UNIDIRECTIONAL_SEQUENCE_LSTM takes 24 inputs and 1 output, it has {len(op.ins)} and {len(op.outs)}")
    where.need(all(op.ins[k] >= 0 for k in range(24) if k not in LSTM_OPTIONAL), "arity",
               "a required input of UNIDIRECTIONAL_SEQUENCE_LSTM is omitted")
    x, y, o = op.input(0), op.output(), op.options
    where.need(len(x.shape) == 3, "op_shape", f"the LSTM input must be 3-D, got {list(x.shape)}", x)
    time_major = bool(getattr(o, "timeMajor", False))
    batches = x.shape[1] if time_major else x.shape[0]
    in_dim = x.shape[2]
    s = op.input(2).shape[0] if len(op.input(2).shape) == 2 else 0
    proj = op.input(16)
    p = proj.shape[0] if proj is not None and len(proj.shape) == 2 else s
    shapes = {**{k: (s, in_dim) for k in (1, 2, 3, 4)}, **{k: (s, p) for k in (5, 6, 7, 8)},
              **{k: (s,) for k in (9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23)}, 16: (p, s), 17: (p,)}
    for k, shape in shapes.items():
        t = op.input(k)
        if t is not None:
            where.need(tuple(t.shape) == shape, "op_shape",
                       f"LSTM input {k} of shape {list(t.shape)}, the op's sizes give {list(shape)}", t)
    for k, n in ((18, batches * p), (19, batches * s)):
        t = op.input(k)
        where.need(t.variable and not t.constant and t.elements == n, "op_shape",
                   f"LSTM state input {k} must be a variable tensor of {n} values", t)
    _expect_shape(op, where, (x.shape[0], x.shape[1], p))
    _fused(op, where)
    clip = float(getattr(o, "cellClip", 0.0) or 0.0)
    where.need(math.isfinite(clip) and clip >= 0, "options", f"cell clip {clip:g} is not finite and >= 0")
    h, c = op.input(18), op.input(19)
    _same_dtype(op, where, x, h, y)
    if _quantized(x):
        for t in (x, h, c, y):
            _activation_quant(t, where)
        where.need(c.dtype == "INT16", "dtype", f"{c.dtype} cell state; the quantized LSTM keeps it in int16", c)
        for k in (1, 2, 3, 4, 5, 6, 7, 8):
            w = op.input(k)
            if w is None:
                continue
            where.need(w.dtype == "INT8" and len(w.scale) >= 1, "dtype", f"{w.dtype} LSTM weights", w)
            _weights_quant(op, where, w, s, 0)
            _multiplier(where, (x if k <= 4 else h).scale[0] * w.scale[0] * 4096.0,
                        "gate input x weight / 2^-12", w)
        for k in (12, 13, 14, 15):
            b = op.input(k)
            if b is not None:
                where.need(b.dtype in (("INT32", "INT64") if x.dtype == "INT16" else ("INT32",)), "dtype",
                           f"{b.dtype} LSTM bias with {x.dtype} activations", b)
        _multiplier(where, 2.0 ** -30 / c.scale[0], "gate x gate / cell state", c)
        _multiplier(where, 2.0 ** -30 / h.scale[0], "gate x gate / hidden state", h)


def _rule_svdf(op: _Op, where):
    """SVDF: input [B, I], feature weights [F, I], time weights [F, M], bias [F / rank], variable
    state [B, F x M], output [B, F / rank]."""
    where.need(len(op.ins) == 5 and len(op.outs) == 1, "arity",
               f"SVDF takes 5 inputs and 1 output, it has {len(op.ins)} and {len(op.outs)}")
    where.need(all(op.ins[k] >= 0 for k in (0, 1, 2, 4)), "arity",
               "a required input of SVDF (input, weights, state) is omitted")
    x, wf, wt, y, state = op.input(0), op.input(1), op.input(2), op.output(), op.input(4)
    rank = int(getattr(op.options, "rank", 0) or 0)
    where.need(len(x.shape) == 2 and len(wf.shape) == 2 and len(wt.shape) == 2, "op_shape",
               f"SVDF needs 2-D input and weights, got {list(x.shape)}, {list(wf.shape)}, {list(wt.shape)}")
    filters = wf.shape[0]
    where.need(rank >= 1 and filters % rank == 0, "options", f"rank {rank} does not divide {filters} filters")
    units = filters // rank
    where.need(wf.shape[1] == x.shape[1] and wt.shape[0] == filters, "op_shape",
               f"weights {list(wf.shape)} and {list(wt.shape)} for input {list(x.shape)}")
    b = op.input(3)
    if b is not None:
        where.need(b.elements == units, "op_shape", f"bias of {b.elements} values for {units} units", b)
    where.need(state.variable and not state.constant and tuple(state.shape) == (x.shape[0], filters * wt.shape[1]),
               "op_shape", f"the SVDF state must be a variable [{x.shape[0]}, {filters * wt.shape[1]}] tensor", state)
    _expect_shape(op, where, (x.shape[0], units))
    _fused(op, where)
    if _quantized(x):
        for t in (x, y, state):
            _activation_quant(t, where)
        _multiplier(where, x.scale[0] * wf.scale[0] / state.scale[0], "input x feature weight / state", state)
        _multiplier(where, state.scale[0] * wt.scale[0] / y.scale[0], "state x time weight / output", y)


def _rule_strided_slice(op: _Op, where):
    """Constant begin/end/strides of the input's rank; the output shape numpy slicing gives (TFLite's
    StridedSlice follows it), shrunk axes removed. Ellipsis / new-axis masks and offset slices: only
    the constants are checked (the C engine refuses them)."""
    _arity(op, where, (4, 4))
    x, y = op.input(0), op.output()
    rank = len(x.shape)
    consts = [op.const_values(op.input(k)) for k in (1, 2, 3)]
    where.need(all(c is not None and c.ndim == 1 for c in consts), "op_shape",
               "begin, end and strides must be constant 1-D int32 tensors", op.input(1))
    begin, end, strides = (c.astype(np.int64) for c in consts)
    where.need(len(begin) == len(end) == len(strides), "op_shape",
               f"begin, end and strides have {len(begin)}, {len(end)} and {len(strides)} values")
    where.need(bool((strides != 0).all()), "op_shape", f"a stride is 0: {strides.tolist()[:8]}", op.input(3))
    o = op.options
    masks = (int(getattr(o, "ellipsisMask", 0) or 0), int(getattr(o, "newAxisMask", 0) or 0))
    if any(masks) or getattr(o, "offset", False) or len(begin) != rank:
        _same_dtype(op, where, x, y)
        return
    shape = []
    for d in range(rank):
        if int(getattr(o, "shrinkAxisMask", 0) or 0) >> d & 1:
            i = int(begin[d]) + (x.shape[d] if begin[d] < 0 else 0)
            where.need(0 <= i < x.shape[d], "op_shape", f"shrunk axis {d} index {int(begin[d])} of size {x.shape[d]}")
            continue
        b = None if int(getattr(o, "beginMask", 0) or 0) >> d & 1 else int(begin[d])
        e = None if int(getattr(o, "endMask", 0) or 0) >> d & 1 else int(end[d])
        shape.append(len(range(*slice(b, e, int(strides[d])).indices(x.shape[d]))))
    where.need(all(v >= 1 for v in shape), "op_shape", f"the slice is empty: {shape}", y)
    _expect_shape(op, where, tuple(shape))
    _same_dtype(op, where, x, y)


def _rule_var_handle(op: _Op, where):
    _arity(op, where, (0, 0))
    y = op.output()
    where.need(y.dtype == "RESOURCE", "dtype", f"VAR_HANDLE writes {y.dtype}, not RESOURCE", y)


def _rule_read_variable(op: _Op, where):
    _arity(op, where, (1, 1))
    h, y = op.input(0), op.output()
    where.need(h.dtype == "RESOURCE", "dtype", f"READ_VARIABLE reads a {h.dtype} tensor, not a RESOURCE", h)
    where.need(y.dtype not in ("RESOURCE", "VARIANT", "STRING"), "dtype", f"READ_VARIABLE writes {y.dtype}", y)


def _rule_assign_variable(op: _Op, where):
    _arity(op, where, (2, 2), 0)
    h, v = op.input(0), op.input(1)
    where.need(h.dtype == "RESOURCE", "dtype", f"ASSIGN_VARIABLE assigns to a {h.dtype} tensor, not a RESOURCE", h)
    where.need(v.dtype not in ("RESOURCE", "VARIANT", "STRING"), "dtype", f"ASSIGN_VARIABLE assigns {v.dtype}", v)


def _rule_call_once(op: _Op, where):
    _arity(op, where, (0, 0), 0)


def _rule_split(op: _Op, where):
    """SPLIT (axis, input) into num_splits equal parts; SPLIT_V (input, size_splits, axis)."""
    n = int(getattr(op.options, "numSplits", 0) or 0)
    where.need(n >= 1 and len(op.outs) == n, "arity", f"{op.opcode} has num_splits {n} and {len(op.outs)} outputs")
    _arity(op, where, (2, 2) if op.opcode == "SPLIT" else (3, 3), n)
    x, a = (op.input(1), op.input(0)) if op.opcode == "SPLIT" else (op.input(0), op.input(2))
    axis = op.const_values(a)
    rank = len(x.shape)
    where.need(axis is not None and axis.size == 1 and -rank <= int(axis.reshape(-1)[0]) < rank, "op_shape",
               f"the axis must be one constant int32 in -{rank}..{rank - 1}", a)
    axis = int(axis.reshape(-1)[0]) % rank
    if op.opcode == "SPLIT":
        where.need(x.shape[axis] % n == 0, "op_shape", f"axis {axis} of size {x.shape[axis]} does not split in {n}", x)
        sizes = [x.shape[axis] // n] * n
    else:
        sv = op.const_values(op.input(1))
        where.need(sv is not None and sv.size == n, "op_shape", f"size_splits must be {n} constant int32 values",
                   op.input(1))
        sizes = [int(v) for v in sv.reshape(-1)]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = x.shape[axis] - sum(v for v in sizes if v != -1)
        where.need(all(v >= 1 for v in sizes) and sum(sizes) == x.shape[axis], "op_shape",
                   f"size_splits {sizes} do not add up to axis {axis} of size {x.shape[axis]}", op.input(1))
    for k, size in enumerate(sizes):
        _expect_shape(op, where, tuple(size if d == axis else x.shape[d] for d in range(rank)), op.output(k))
        _same_dtype(op, where, x, op.output(k))


OP_RULES = {
    "CONV_2D": _rule_conv, "DEPTHWISE_CONV_2D": _rule_conv, "FULLY_CONNECTED": _rule_fully_connected,
    "AVERAGE_POOL_2D": _rule_pool, "MAX_POOL_2D": _rule_pool, "ADD": _rule_binary, "SUB": _rule_binary,
    "MUL": _rule_binary, "SOFTMAX": _rule_softmax, "LOGISTIC": _rule_sigmoid, "TANH": _rule_sigmoid,
    "QUANTIZE": _rule_quantize, "DEQUANTIZE": _rule_dequantize, "RESHAPE": _rule_reshape,
    "PAD": _rule_pad, "PADV2": _rule_pad, "CONCATENATION": _rule_concat, "MEAN": _rule_mean,
    "RELU": _rule_activation, "RELU6": _rule_activation, "RELU_N1_TO_1": _rule_activation,
    "HARD_SWISH": _rule_activation, "LEAKY_RELU": _rule_activation, "MAXIMUM": _rule_select,
    "MINIMUM": _rule_select, "PRELU": _rule_select, "SQUEEZE": _rule_view, "EXPAND_DIMS": _rule_view,
    "TRANSPOSE": _rule_transpose, "RESIZE_BILINEAR": _rule_resize, "RESIZE_NEAREST_NEIGHBOR": _rule_resize,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _rule_lstm, "SVDF": _rule_svdf,
    "VAR_HANDLE": _rule_var_handle, "READ_VARIABLE": _rule_read_variable,
    "ASSIGN_VARIABLE": _rule_assign_variable, "CALL_ONCE": _rule_call_once, "SPLIT": _rule_split,
    "SPLIT_V": _rule_split, "STRIDED_SLICE": _rule_strided_slice,
}
