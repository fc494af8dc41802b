"""The engine's intermediate representation, read from a .tflite with edgepipe_base.tflite_file.

The IR is deliberately small: tensors (shape, int8 quantization, constant data) and nodes (opcode,
tensor ids, the schema's builtin options). Checks and rewrites are transforms `f(node, ctx) -> node`
applied in order by `load`, so adding one is adding a function to TRANSFORMS.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError
from edgepipe_base.tflite_types import FLOAT_TYPES, numpy_dtype

from . import kernels, kernels_s16
from . import state as state_mod

# Ops whose output is the input's bytes under another shape: they alias their input in the arena.
VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    quantized_dimension: int
    data: np.ndarray | None = field(default=None, compare=False, repr=False)
    is_variable: bool = False     # persistent state (SVDF / LSTM), placed in the state region

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        if self.dtype == "RESOURCE":
            return 0                # a handle: no bytes of its own (the variable is in the state region)
        return self.elements * np.dtype(numpy_dtype(self.dtype)).itemsize

    @property
    def in_arena(self) -> bool:
        """An activation the planner places in the scratch arena (not a constant, a resource
        handle or a variable tensor, which lives in the state region)."""
        return not self.is_constant and not self.is_variable and self.dtype != "RESOURCE"

    @property
    def s(self) -> float:
        return self.scale[0] if self.scale else 0.0

    @property
    def zp(self) -> int:
        return self.zero_point[0] if self.zero_point else 0


@dataclass(frozen=True)
class Node:
    index: int
    opcode: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str
    options: object = field(default=None, compare=False, repr=False)
    view: bool = False


@dataclass(frozen=True)
class Graph:
    path: str
    sha256: str
    tensors: tuple[TensorInfo, ...]
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    state: "state_mod.StateVars" = None   # resource variables, CALL_ONCE inits, variable tensors

    @property
    def input(self) -> TensorInfo:
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> TensorInfo:
        return self.tensors[self.outputs[0]]


@dataclass(frozen=True)
class Context:
    """What a transform may look at besides the node itself."""
    path: str
    tensors: tuple[TensorInfo, ...]


def check_supported(node: Node, ctx: Context) -> Node:
    if node.opcode not in kernels.KERNELS:
        raise EdgepipeError(
            f"{ctx.path}: op {node.opcode} (layer '{node.name}') is not supported by the edgepipe C "
            f"engine; supported ops: {', '.join(sorted(kernels.KERNELS))}")
    return node


# ops that take or give a resource variable's handle (a RESOURCE tensor, no data)
RESOURCE_OPS = frozenset({"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})

# Activation types the engine runs: int8, and int16 activations with int8 weights (int16x8).
ACTIVATION_TYPES = ("INT8", "INT16")


def check_integer(node: Node, ctx: Context) -> Node:
    """Every activation is int8 or int16 (the kernel builders pick the kernel by dtype); TFLM's
    int16 kernels assume symmetric activations, so an int16 zero point must be 0."""
    if node.opcode in kernels.BITPACKED_OPS:
        return node         # their builders check the int8 and bit-packed int32 sides themselves
    for i in node.inputs + node.outputs:
        if i < 0:
            continue
        t = ctx.tensors[i]
        if t.dtype == "RESOURCE" and node.opcode not in RESOURCE_OPS:
            raise EdgepipeError(f"{ctx.path}: layer '{node.name}' ({node.opcode}) takes the resource handle "
                                f"'{t.name}' as data; only {', '.join(sorted(RESOURCE_OPS))} use handles")
        if t.is_constant or t.dtype == "RESOURCE":
            continue
        if node.opcode == "QUANTIZE" and i in node.outputs and t.dtype == "UINT8":
            continue        # int8 -> uint8 (at the output, as microWakeWord's models end)
        if node.opcode == "DEQUANTIZE" and i in node.outputs and t.dtype == "FLOAT32":
            continue        # int8 -> float32 at the output; kernels_mobile checks the rest
        if t.dtype not in ACTIVATION_TYPES:
            raise EdgepipeError(
                f"{ctx.path}: layer '{node.name}' ({node.opcode}) has a {t.dtype} tensor '{t.name}'; "
                "the C engine runs full-integer int8 or int16x8 models only - convert with int8 "
                "(or int16x8) ops and integer I/O")
        if t.dtype == "INT16" and any(z != 0 for z in t.zero_point):
            raise EdgepipeError(
                f"{ctx.path}: layer '{node.name}' ({node.opcode}): int16 tensor '{t.name}' has zero "
                f"point {t.zp}; int16x8 models need symmetric int16 activations (zero point 0), as "
                "the TFLite converter produces them")
    from .kernels_state import ANY_DTYPE
    if kernels_s16.is_int16(node, ctx.tensors) and node.opcode not in kernels_s16.BUILDERS \
            and node.opcode not in kernels_s16.VIEWS and node.opcode not in ANY_DTYPE:
        raise EdgepipeError(
            f"{ctx.path}: op {node.opcode} (layer '{node.name}') has int16 activations; the C engine has "
            f"no int16x8 kernel for it; int16x8 ops: {', '.join(sorted(kernels_s16.BUILDERS))}")
    return node


def mark_views(node: Node, ctx: Context) -> Node:
    if node.opcode in VIEW_OPS:
        if ctx.tensors[node.inputs[0]].is_constant:
            raise EdgepipeError(f"{ctx.path}: layer '{node.name}' reshapes a constant; "
                                "fold it in the converter (the engine aliases reshapes in the arena)")
        if not ctx.tensors[node.inputs[0]].in_arena:
            raise EdgepipeError(f"{ctx.path}: layer '{node.name}' reshapes a variable tensor; the engine "
                                "aliases reshapes in the arena and keeps variables in the state region")
        return dataclasses.replace(node, view=True)
    return node


TRANSFORMS = (check_supported, check_integer, mark_views)


def custom_options(model, op) -> dict:
    """A custom op's options (a flexbuffer map, as Larq Compute Engine writes them) as a dict."""
    from flatbuffers import flexbuffers
    raw = model.raw.subgraphs[0].operators[op.index].customOptions
    if raw is None or len(raw) == 0:
        return {}
    try:
        value = flexbuffers.Loads(bytes(np.asarray(raw, dtype=np.uint8)))
    except Exception:
        raise EdgepipeError(f"{model.path}: custom op {op.opcode} #{op.index} has unreadable options "
                            "(not a flexbuffer map); convert the model again") from None
    if not isinstance(value, dict):
        raise EdgepipeError(f"{model.path}: custom op {op.opcode} #{op.index}: options are not a map")
    return value


def load(path) -> Graph:
    """Read a .tflite into the IR, rejecting what the engine cannot run with one clear line."""
    model = tflite_file.read(path)
    sg = model.main
    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise EdgepipeError(f"{path}: has {len(sg.inputs)} inputs and {len(sg.outputs)} outputs; "
                            "the C engine supports one input and one output")
    written = {o for op in sg.operators for o in op.outputs}
    if sg.outputs[0] not in written:
        raise EdgepipeError(f"{path}: the output tensor '{sg.tensors[sg.outputs[0]].name}' is not computed by "
                            "any operator (a constant or the input itself); the C engine needs a computed output")
    dequantized = {o for op in sg.operators if op.opcode == "DEQUANTIZE" for o in op.outputs}
    for i in (sg.inputs[0], sg.outputs[0]):
        t = sg.tensors[i]
        if t.dtype in FLOAT_TYPES and not (i == sg.outputs[0] and i in dequantized):
            raise EdgepipeError(
                f"{path}: is a float model ({'input' if i == sg.inputs[0] else 'output'} '{t.name}' is "
                f"{t.dtype}); the C engine runs full-integer int8 (or int16x8) models only - quantize "
                "with inference_input_type=tf.int8 and inference_output_type=tf.int8 (tf.int16 for "
                "int16x8)")
    tensors = tuple(
        TensorInfo(index=t.index, name=t.name, dtype=t.dtype, shape=t.shape, scale=t.scale,
                   zero_point=t.zero_point, quantized_dimension=t.quantized_dimension,
                   data=model.constant(t) if t.is_constant else None, is_variable=t.is_variable)
        for t in sg.tensors)
    ctx = Context(path=str(path), tensors=tensors)
    state = state_mod.collect(model, tensors, str(path))   # refuses extra subgraphs it cannot run
    for i in (sg.inputs[0], sg.outputs[0]):
        if tensors[i].is_variable or tensors[i].dtype == "RESOURCE":
            raise EdgepipeError(f"{path}: the model's {'input' if i == sg.inputs[0] else 'output'} "
                                f"'{tensors[i].name}' is a variable; the C engine needs plain input and output tensors")
    nodes = []
    for op in sg.operators:
        # a custom op is ours only under one of the custom names we run (Larq Compute Engine's):
        # a custom op named like a builtin would reach that builtin's builder without its options
        if op.custom and op.opcode not in kernels.BITPACKED_OPS:
            raise EdgepipeError(f"{path}: custom op {op.opcode} (layer '{op.layer_name(sg.tensors)}') "
                                f"is not supported; supported ops: {', '.join(sorted(kernels.KERNELS))}")
        options = custom_options(model, op) if op.custom else op.builtin_options
        node = Node(index=op.index, opcode=op.opcode, inputs=op.inputs, outputs=op.outputs,
                    name=op.layer_name(sg.tensors), options=options)
        for transform in TRANSFORMS:
            node = transform(node, ctx)
        nodes.append(node)
    return Graph(path=str(path), sha256=model.sha256, tensors=tensors, nodes=tuple(nodes),
                 inputs=sg.inputs, outputs=sg.outputs, state=state)
