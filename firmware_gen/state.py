"""Persistent state of a streaming (stateful) model: what lives in the engine's state region.

Two kinds of state survive between invocations, as in TFLM:
- resource variables: VAR_HANDLE names a variable (container + shared name), READ_VARIABLE copies
  it out, ASSIGN_VARIABLE copies a tensor into it; a CALL_ONCE op runs an init subgraph (constant
  ASSIGN_VARIABLEs) on the first invocation after a reset. microWakeWord's streaming layers keep
  their ring buffers this way.
- variable tensors (`is_variable`, the state inputs of SVDF and LSTM): kernels read and update
  them in place; a reset fills them with their zero point (int8) or 0 (TFLM's ResetVariableTensors).

`collect` reads both from the model (refusing extra subgraphs it cannot run); `layout` places them
in one statically sized region, separate from the scratch arena, each slot 16-byte aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgepipe_base.errors import EdgepipeError

ALIGN = 16


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class StateVars:
    handles: dict = field(default_factory=dict)    # main-subgraph RESOURCE tensor -> variable name
    sizes: dict = field(default_factory=dict)      # variable name -> bytes
    inits: dict = field(default_factory=dict)      # init subgraph index -> [(name, constant bytes)]
    variable_tensors: tuple = ()                   # main-subgraph tensors flagged is_variable
    once_ops: tuple = ()                           # main-subgraph CALL_ONCE op indices
    offsets: dict = field(default_factory=dict)    # name / ("tensor", i) / ("once", op) -> byte offset
    bytes: int = 0                                 # size of the state region

    @property
    def empty(self) -> bool:
        return self.bytes == 0

    def resource_offset(self, handle: int) -> int:
        return self.offsets[self.handles[handle]]

    def tensor_offset(self, i: int) -> int:
        return self.offsets[("tensor", i)]

    def once_offset(self, op: int) -> int:
        return self.offsets[("once", op)]


def _name(op) -> str:
    o = op.builtin_options
    container = bytes(o.container or b"").decode(errors="replace") if o is not None else ""
    shared = bytes(o.sharedName or b"").decode(errors="replace") if o is not None else ""
    return f"{container}/{shared}"


def _set_size(sv: StateVars, name: str, nbytes: int, path: str, what: str):
    known = sv.sizes.setdefault(name, nbytes)
    if known != nbytes:
        raise EdgepipeError(f"{path}: resource variable '{name}' is used as {known} and as {nbytes} bytes "
                            f"({what}); TFLM refuses such a model - convert it again")


def collect(model, tensors, path: str) -> StateVars:
    """The state of the model (edgepipe_base.tflite_file.TFLiteModel) whose main-subgraph tensors
    are `tensors` (graph.TensorInfo)."""
    from edgepipe_base.tflite_types import numpy_dtype
    sv = StateVars()
    main = model.main
    once = {}
    for op in main.operators:
        if op.opcode == "VAR_HANDLE":
            sv.handles[op.outputs[0]] = _name(op)
        elif op.opcode == "CALL_ONCE":
            once[op.index] = int(op.builtin_options.initSubgraphIndex)
    sv.once_ops = tuple(once)
    for k in range(1, len(model.subgraphs)):
        if k not in once.values():
            raise EdgepipeError(f"{path}: subgraph {k} is not the init subgraph of a CALL_ONCE; the C engine "
                                "runs one main subgraph plus CALL_ONCE init subgraphs (WHILE/IF control flow "
                                "is not supported)")
    for op_index, k in once.items():
        if k == 0:
            raise EdgepipeError(f"{path}: CALL_ONCE #{op_index} calls the main subgraph")
        sg = model.subgraphs[k]
        names, assigns = {}, []
        for op in sg.operators:
            if op.opcode == "VAR_HANDLE":
                names[op.outputs[0]] = _name(op)
            elif op.opcode == "ASSIGN_VARIABLE" and op.inputs[0] in names and sg.tensors[op.inputs[1]].is_constant:
                t = sg.tensors[op.inputs[1]]
                value = model.constant(t)
                if value.dtype.kind not in "iu":
                    raise EdgepipeError(f"{path}: CALL_ONCE init subgraph {k} assigns a {t.dtype} value to "
                                        f"'{names[op.inputs[0]]}'; the C engine keeps integer (int8/int16) "
                                        "state - convert with _experimental_variable_quantization = True")
                assigns.append((names[op.inputs[0]], np.ascontiguousarray(value).view(np.int8).reshape(-1)))
            else:
                raise EdgepipeError(f"{path}: CALL_ONCE init subgraph {k} has a {op.opcode} op; the C engine runs "
                                    "init subgraphs made of VAR_HANDLE and constant ASSIGN_VARIABLE only")
        for name, value in assigns:
            _set_size(sv, name, value.size, path, f"initialised in subgraph {k}")
        sv.inits[k] = assigns
    for op in main.operators:
        if op.opcode in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
            handle = op.inputs[0]
            if handle not in sv.handles:
                raise EdgepipeError(f"{path}: {op.opcode} #{op.index} reads a resource no VAR_HANDLE of the "
                                    "main subgraph names")
            t = tensors[op.outputs[0] if op.opcode == "READ_VARIABLE" else op.inputs[1]]
            if t.dtype not in ("INT8", "INT16"):
                raise EdgepipeError(f"{path}: resource variable '{sv.handles[handle]}' holds {t.dtype} values; "
                                    "the C engine keeps int8/int16 state - convert with "
                                    "_experimental_variable_quantization = True")
            _set_size(sv, sv.handles[handle], t.nbytes, path, f"{op.opcode} #{op.index}")
    for handle, name in sv.handles.items():
        if name not in sv.sizes:
            raise EdgepipeError(f"{path}: resource variable '{name}' is never read, assigned or initialised")
    sv.variable_tensors = tuple(t.index for t in tensors if t.is_variable and not t.is_constant)
    for i in sv.variable_tensors:
        np.dtype(numpy_dtype(tensors[i].dtype))     # a type the engine can hold
    layout(sv, tensors)
    return sv


def is_stateful(model) -> bool:
    """Whether a model (edgepipe_base.tflite_file.TFLiteModel) keeps state between invocations:
    resource variables or variable tensors. Its samples are then either reset or streamed."""
    return any(op.opcode == "VAR_HANDLE" for sg in model.subgraphs for op in sg.operators) or \
        any(t.is_variable for sg in model.subgraphs for t in sg.tensors)


def layout(sv: StateVars, tensors) -> None:
    """Place every variable, variable tensor and CALL_ONCE flag in the state region."""
    pos = 0
    for name in sorted(sv.sizes):
        sv.offsets[name] = pos
        pos = _align(pos + sv.sizes[name])
    for i in sv.variable_tensors:
        sv.offsets[("tensor", i)] = pos
        pos = _align(pos + tensors[i].nbytes)
    for k, op in enumerate(sv.once_ops):
        sv.offsets[("once", op)] = pos + k
    pos = _align(pos + len(sv.once_ops)) if sv.once_ops else pos
    sv.bytes = pos


def reset_fills(sv: StateVars, tensors) -> list[tuple[int, int, int]]:
    """(offset, bytes, value) memsets that reset re-initialises the region with, after zeroing it:
    an int8 variable tensor holds its zero point (TFLM's ResetVariableTensors)."""
    fills = []
    for i in sv.variable_tensors:
        t = tensors[i]
        if t.dtype == "INT8" and t.zp != 0:
            fills.append((sv.tensor_offset(i), t.nbytes, t.zp))
    return fills
