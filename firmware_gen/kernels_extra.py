"""SUB, LEAKY_RELU, STRIDED_SLICE and TRANSPOSE_CONV builders, for int8 and int16x8.

Each builder fills the struct of runtime/ep_runtime_extra.h with what TFLM's Prepare computes (the
float32 / double precision of each step as in the C++), picks the int8 or int16 kernel by the
activation type, and checks at generation time what the C kernel needs to stay in bounds.
"""

from __future__ import annotations

import numpy as np

from edgepipe_base.errors import EdgepipeError

from . import qmath
from .kernels import SAME, Call, _fused, _io, _strides, shape4

f32 = np.float32


def _bits(t) -> int:
    return 16 if t.dtype == "INT16" else 8


def _suffix(t) -> str:
    return "_s16" if t.dtype == "INT16" else ""


def _same_types(node, ctx, tensors):
    types = {ctx.tensor(i).dtype for i in tensors}
    if len(types) != 1 or not types <= {"INT8", "INT16"}:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): tensor types {sorted(types)}; the C "
                            "engine needs all int8 or all int16")


def sub(node, ctx):
    a, b = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    y = ctx.tensor(node.outputs[0])
    _same_types(node, ctx, [node.inputs[0], node.inputs[1], node.outputs[0]])
    ys = shape4(y.shape)
    act_min, act_max = qmath.activation_range(_fused(node), y.s, y.zp, bits=_bits(y))
    # TFLM's CalculateOpDataSub: left shift 15 (int16) or 20 (int8), the scale ratios in double as
    # for ADD (older sub_common.cc divided in float32; the tflite_micro build we check against, and
    # its int16 outputs, follow the double form)
    left_shift = 15 if y.dtype == "INT16" else 20
    twice_max = 2 * max(float(f32(a.s)), float(f32(b.s)))
    m1 = qmath.quantize_multiplier(float(f32(a.s)) / twice_max)
    m2 = qmath.quantize_multiplier(float(f32(b.s)) / twice_max)
    mo = qmath.quantize_multiplier(twice_max / ((1 << left_shift) * float(f32(y.s))))
    return Call(function="ep_sub" + _suffix(y), struct_type="ep_binary_params",
                fields=dict(out=ys, in1_stride=_strides(a.shape, ys), in2_stride=_strides(b.shape, ys),
                            in1_offset=-a.zp, in2_offset=-b.zp, out_offset=y.zp, left_shift=left_shift,
                            in1_mult=m1[0], in1_shift=m1[1], in2_mult=m2[0], in2_shift=m2[1],
                            out_mult=mo[0], out_shift=mo[1], act_min=act_min, act_max=act_max),
                inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1])])


def leaky_relu(node, ctx):
    x, y = _io(node, ctx)
    _same_types(node, ctx, [node.inputs[0], node.outputs[0]])
    if x.elements != y.elements:
        raise EdgepipeError(f"layer '{node.name}' (LEAKY_RELU): input and output sizes differ")
    alpha = f32(node.options.alpha)
    # leaky_relu_common.cc: float32 products and quotients, then QuantizeMultiplier in double
    mi = qmath.quantize_multiplier(float(f32(x.s)) / float(f32(y.s)))
    ma = qmath.quantize_multiplier(float(f32(x.s)) * float(alpha) / float(f32(y.s)))
    return Call(function="ep_leaky_relu" + _suffix(y), struct_type="ep_leaky_relu_params",
                fields=dict(size=x.elements, in_zero_point=x.zp, out_zero_point=y.zp, mult_identity=mi[0],
                            shift_identity=mi[1], mult_alpha=ma[0], shift_alpha=ma[1]),
                inputs=[ctx.ptr(node.inputs[0])])


def strided_slice(node, ctx):
    """Resolve begin/end/strides and the begin, end and shrink-axis masks (numpy slicing rules, which
    TFLite's StridedSlice follows) into start, step and count per input axis."""
    x, y = _io(node, ctx)
    _same_types(node, ctx, [node.inputs[0], node.outputs[0]])
    o = node.options
    consts = [ctx.tensor(i) for i in node.inputs[1:4]]
    if any(not t.is_constant for t in consts):
        raise EdgepipeError(f"layer '{node.name}' (STRIDED_SLICE): begin, end and strides must be constants")
    begin, end, strides = (t.data.reshape(-1).astype(int) for t in consts)
    rank = len(x.shape)
    if o.ellipsisMask or o.newAxisMask or getattr(o, "offset", False) or rank > 5 or \
            not len(begin) == len(end) == len(strides) == rank or 0 in strides:
        raise EdgepipeError(f"layer '{node.name}' (STRIDED_SLICE): ellipsis/new-axis masks, offset "
                            "slices, zero strides and rank > 5 are not supported by the C engine")
    start, step, count, kept = [], [], [], []
    for d in range(rank):
        dim = int(x.shape[d])
        if o.shrinkAxisMask >> d & 1:
            i = int(begin[d]) + (dim if begin[d] < 0 else 0)
            if not 0 <= i < dim:
                raise EdgepipeError(f"layer '{node.name}' (STRIDED_SLICE): index {begin[d]} out of axis {d}")
            start.append(i), step.append(1), count.append(1)
            continue
        b = None if o.beginMask >> d & 1 else int(begin[d])
        e = None if o.endMask >> d & 1 else int(end[d])
        s0, _, s = slice(b, e, int(strides[d])).indices(dim)
        n = len(range(*slice(b, e, int(strides[d])).indices(dim)))
        start.append(s0), step.append(s), count.append(n)
        kept.append(n)
    if int(np.prod(count)) != y.elements or tuple(kept) != tuple(int(v) for v in y.shape):
        raise EdgepipeError(f"layer '{node.name}' (STRIDED_SLICE): resolved slice {tuple(kept)} does not "
                            f"match the output shape {tuple(y.shape)}")
    in_stride = [int(np.prod(x.shape[d + 1:], dtype=np.int64)) for d in range(rank)]
    pad = 5 - rank
    return Call(function="ep_strided_slice" + _suffix(y), struct_type="ep_strided_slice_params",
                fields=dict(count=tuple([1] * pad + count), start=tuple([0] * pad + start),
                            step=tuple([1] * pad + step), in_stride=tuple([0] * pad + in_stride)),
                inputs=[ctx.ptr(node.inputs[0])])


def transpose_conv(node, ctx):
    """Inputs: output shape, weights [out_c, kh, kw, in_c], input, optional bias."""
    w, x = ctx.tensor(node.inputs[1]), ctx.tensor(node.inputs[2])
    y = ctx.tensor(node.outputs[0])
    _same_types(node, ctx, [node.inputs[2], node.outputs[0]])
    if w.dtype != "INT8" or not w.is_constant or len(w.shape) != 4 or len(x.shape) != 4 or len(y.shape) != 4:
        raise EdgepipeError(f"layer '{node.name}' (TRANSPOSE_CONV): needs constant int8 weights and 4-D "
                            "input and output")
    o = node.options
    xs, ys = shape4(x.shape), shape4(y.shape)
    oc, kh, kw, ic = (int(v) for v in w.shape)
    if oc != ys.c or ic != xs.c or xs.n != ys.n:
        raise EdgepipeError(f"layer '{node.name}' (TRANSPOSE_CONV): weights {tuple(w.shape)} do not fit "
                            f"input {tuple(x.shape)} and output {tuple(y.shape)}")
    # TFLM pads as a convolution from the output back to the input would
    _, pad_h = qmath.padding(o.strideH, 1, ys.h, kh, o.padding == SAME)
    _, pad_w = qmath.padding(o.strideW, 1, ys.w, kw, o.padding == SAME)
    per_channel = len(w.scale) > 1
    pairs = [qmath.quantize_multiplier(x.s * w.scale[c if per_channel else 0] / y.s) for c in range(oc)]
    act_min, act_max = qmath.activation_range(_fused(node), y.s, y.zp, bits=_bits(y))
    bias32 = bias64 = None
    acc32 = True
    if len(node.inputs) > 3 and node.inputs[3] >= 0:
        b = ctx.tensor(node.inputs[3])
        if y.dtype == "INT8":
            if b.dtype != "INT32":
                raise EdgepipeError(f"layer '{node.name}' (TRANSPOSE_CONV): {b.dtype} bias; int8 needs int32")
            bias32 = ctx.table("bias", "int32_t", b.data)
        else:
            if b.dtype not in ("INT32", "INT64"):
                raise EdgepipeError(f"layer '{node.name}' (TRANSPOSE_CONV): {b.dtype} bias; int16x8 needs "
                                    "int64 (or int32)")
            bias64 = ctx.table("bias", "int64_t", b.data.astype(np.int64))
            acc32 = b.dtype == "INT32"
    if y.dtype == "INT16" and bias64 is None:
        acc32 = False
    return Call(function="ep_transpose_conv" + _suffix(y), struct_type="ep_transpose_conv_params",
                fields=dict(in_=xs, out=ys, kh=kh, kw=kw, stride_h=o.strideH, stride_w=o.strideW,
                            pad_h=pad_h, pad_w=pad_w, in_offset=-x.zp, out_offset=y.zp, act_min=act_min,
                            act_max=act_max, acc32=int(acc32), weights=ctx.table("weights", "int8_t", w.data),
                            bias32=bias32, bias64=bias64,
                            mult=ctx.table("mult", "int32_t", [m for m, _ in pairs]),
                            shift=ctx.table("shift", "int32_t", [s for _, s in pairs])),
                inputs=[ctx.ptr(node.inputs[2])], macs=ys.n * xs.h * xs.w * xs.c * kh * kw * oc)


SOURCES = {"SUB": "ep_sub.c", "LEAKY_RELU": "ep_sub.c", "STRIDED_SLICE": "ep_strided_slice.c",
           "TRANSPOSE_CONV": "ep_transpose_conv.c"}
