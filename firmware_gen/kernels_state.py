"""Streaming-model ops: resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE), CALL_ONCE,
and SPLIT / SPLIT_V (int8 and int16x8).

The variables live in the state region laid out by firmware_gen/state.py (codegen gives the builders
pointers into it); READ and ASSIGN copy bytes as TFLM does, so they are bit-exact by construction.
SPLIT and SPLIT_V write one output per call of the strided-slice kernel.
"""

from __future__ import annotations

import numpy as np

from edgepipe_base.errors import EdgepipeError

from .kernels import Call, CExpr, Kernel

# builders that take any activation type (int8, int16, uint8): they move bytes
ANY_DTYPE = frozenset({"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE", "SPLIT", "SPLIT_V"})


def _var_handle(node, ctx):
    return None          # a name, no code: READ/ASSIGN find the variable's slot from it


def _read_variable(node, ctx):
    y = ctx.tensor(node.outputs[0])
    if not y.in_arena:
        raise EdgepipeError(f"layer '{node.name}' (READ_VARIABLE) reads into a variable tensor; the C engine "
                            "reads resource variables into activations")
    src = ctx.state_ptr(ctx.g.state.resource_offset(node.inputs[0]), y.nbytes)
    return Call(function="ep_state_copy", struct_type="ep_copy_params", fields=dict(bytes=y.nbytes),
                inputs=[src], output=CExpr(ctx.byte_ptr(node.outputs[0])))


def _assign_variable(node, ctx):
    x = ctx.tensor(node.inputs[1])
    if not x.in_arena:
        raise EdgepipeError(f"layer '{node.name}' (ASSIGN_VARIABLE) assigns a constant or a variable; the "
                            "C engine assigns computed tensors (constant values belong in CALL_ONCE)")
    dst = ctx.state_ptr(ctx.g.state.resource_offset(node.inputs[0]), x.nbytes)
    return Call(function="ep_state_copy", struct_type="ep_copy_params", fields=dict(bytes=x.nbytes),
                inputs=[CExpr(ctx.byte_ptr(node.inputs[1]))], output=dst)


def _call_once(node, ctx):
    sv = ctx.g.state
    assigns = sv.inits[int(node.options.initSubgraphIndex)]
    image = np.concatenate([v for _, v in assigns]) if assigns else np.zeros(0, np.int8)
    return Call(function="ep_call_once", struct_type="ep_call_once_params",
                fields=dict(flag=sv.once_offset(node.index), count=len(assigns),
                            offset=ctx.table("offset", "int32_t", [sv.offsets[n] for n, _ in assigns]),
                            size=ctx.table("size", "int32_t", [v.size for _, v in assigns]),
                            image=ctx.table("image", "int8_t", image)),
                inputs=[], output=ctx.state_ptr(0, sv.bytes))


def _split(node, ctx):
    """SPLIT (axis, input) and SPLIT_V (input, size_splits, axis): one strided-slice call per output."""
    from .kernels_extra import _same_types, _suffix
    if node.opcode == "SPLIT":
        axis_t, x_i = ctx.tensor(node.inputs[0]), node.inputs[1]
    else:
        axis_t, x_i = ctx.tensor(node.inputs[2]), node.inputs[0]
    x = ctx.tensor(x_i)
    _same_types(node, ctx, [x_i, *node.outputs])
    if not axis_t.is_constant or axis_t.elements != 1:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): the axis must be one constant")
    rank = len(x.shape)
    axis = int(axis_t.data.reshape(-1)[0])
    if not -rank <= axis < rank or rank > 5:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): axis {axis} of a rank-{rank} input "
                            "(the C engine splits tensors of rank <= 5)")
    axis %= rank
    in_stride = [int(np.prod(x.shape[d + 1:], dtype=np.int64)) for d in range(rank)]
    calls, start = [], 0
    for o in node.outputs:
        y = ctx.tensor(o)
        if len(y.shape) != rank or any(y.shape[d] != x.shape[d] for d in range(rank) if d != axis):
            raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): output {tuple(y.shape)} is not a slice of "
                                f"{tuple(x.shape)} on axis {axis}")
        count = [int(v) for v in x.shape]
        count[axis] = int(y.shape[axis])
        first = [0] * rank
        first[axis] = start
        start += count[axis]
        pad = 5 - rank
        calls.append(Call(function="ep_strided_slice" + _suffix(y), struct_type="ep_strided_slice_params",
                          fields=dict(count=tuple([1] * pad + count), start=tuple([0] * pad + first),
                                      step=tuple([1] * 5), in_stride=tuple([0] * pad + in_stride)),
                          inputs=[ctx.ptr(x_i)], out_tensor=o))
    if start != x.shape[axis]:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): outputs take {start} of the {x.shape[axis]} "
                            f"values on axis {axis}")
    return calls


KERNELS = (
    Kernel("VAR_HANDLE", None, None, "no code: names a resource variable (a slot of the state region)",
           _var_handle),
    Kernel("READ_VARIABLE", "ep_state_copy", "ep_state.c",
           "int8/int16: copies the variable from the state region (persistent between invocations)",
           _read_variable),
    Kernel("ASSIGN_VARIABLE", "ep_state_copy", "ep_state.c",
           "int8/int16: copies a computed tensor into the variable's slot of the state region", _assign_variable),
    Kernel("CALL_ONCE", "ep_call_once", "ep_state.c",
           "runs an init subgraph of constant ASSIGN_VARIABLEs on the first invoke after a reset", _call_once),
    Kernel("SPLIT", "ep_strided_slice", "ep_strided_slice.c",
           "int8/int16, constant axis, rank <= 5 (one slice copy per output)", _split),
    Kernel("SPLIT_V", "ep_strided_slice", "ep_strided_slice.c",
           "int8/int16, constant axis and sizes, rank <= 5 (one slice copy per output)", _split),
)
