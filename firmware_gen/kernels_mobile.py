"""Kernel builders for the MobileNetV2/V3-family and common ops: standalone activations (RELU,
RELU6, RELU_N1_TO_1, HARD_SWISH, LEAKY_RELU, PRELU), MAXIMUM/MINIMUM, TRANSPOSE,
RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, SQUEEZE/EXPAND_DIMS (views), DEQUANTIZE at the output and
BATCH_MATMUL. Each fills its parameter struct as TFLM's Prepare does (float32 vs double as there);
the C lives in runtime/ep_activation2.c, ep_shape.c and ep_matmul.c (structs in ep_mobile.h).

Registered into kernels.KERNELS by kernels.py; every builder checks at generation time what its
C kernel needs to stay in bounds and raises EdgepipeError with one line otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from edgepipe_base.errors import EdgepipeError

from . import qmath
from .kernels import Call, CExpr, Kernel, Shape4, _io, _strides, _view, shape4


def _c_float(x: float) -> CExpr:
    s = f"{float(np.float32(x)):.9g}"
    if not any(ch in s for ch in ".eEn"):
        s += ".0"
    return CExpr(s + "f")


def _same_size(node, x, y):
    if x.elements != y.elements:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): input has {x.elements} elements, output "
                            f"{y.elements}; an elementwise op needs equal sizes")


def _f32(x) -> np.float32:
    return np.float32(x)


# ---- activations ---------------------------------------------------------------------------

def _relu(node, ctx):
    """RELU / RELU_N1_TO_1: TFLM CalculateReluOpData (multiplier in double, bounds with roundf)."""
    x, y = _io(node, ctx)
    _same_size(node, x, y)
    mult, shift = qmath.quantize_multiplier(float(x.s) / float(y.s))
    lo_f, hi_f = (0.0, None) if node.opcode == "RELU" else (-1.0, 1.0)
    act_min = max(-128, y.zp + qmath.tflite_round(float(_f32(lo_f) / _f32(y.s))))
    act_max = 127 if hi_f is None else min(127, y.zp + qmath.tflite_round(float(_f32(hi_f) / _f32(y.s))))
    return Call(function="ep_relu", struct_type="ep_relu_params",
                fields=dict(size=x.elements, in_zero_point=x.zp, out_zero_point=y.zp, mult=mult, shift=shift,
                            act_min=act_min, act_max=act_max),
                inputs=[ctx.ptr(node.inputs[0])])


def _relu6(node, ctx):
    """RELU6: TFLM Relu6Prepare clamps raw values to [zero_point, FloatToQuantized(6)] of the input."""
    x, y = _io(node, ctx)
    _same_size(node, x, y)
    six = max(-128, min(127, qmath.tflite_round(float(_f32(6.0) / _f32(x.s))) + x.zp))
    return Call(function="ep_clip", struct_type="ep_clip_params",
                fields=dict(size=x.elements, lo=x.zp, hi=six), inputs=[ctx.ptr(node.inputs[0])])


def _downscale_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


def _hard_swish(node, ctx):
    """HARD_SWISH: TFLM HardSwishPrepare (float32 scales, int16 fixed-point multipliers)."""
    x, y = _io(node, ctx)
    _same_size(node, x, y)
    hires = _f32(1.0 / 128.0) * _f32(x.s)
    out_m, out_e = qmath.quantize_multiplier(float(hires / _f32(y.s)))
    relu_m, relu_e = qmath.quantize_multiplier(float(hires / _f32(3.0 / 32768.0)))
    if not -15 <= out_e <= 0 or not -15 <= relu_e <= 15:
        raise EdgepipeError(f"layer '{node.name}' (HARD_SWISH): input/output scales {x.s:g}/{y.s:g} give "
                            f"shift exponents {out_e}/{relu_e} outside the 16-bit kernel's range")
    return Call(function="ep_hard_swish", struct_type="ep_hard_swish_params",
                fields=dict(size=x.elements, in_zero_point=x.zp, out_zero_point=y.zp,
                            out_mult16=_downscale_int16(out_m), out_exponent=out_e,
                            reluish_mult16=_downscale_int16(relu_m), reluish_exponent=relu_e),
                inputs=[ctx.ptr(node.inputs[0])])


def _leaky_relu(node, ctx):
    """LEAKY_RELU: TFLM LeakyReluPrepare (products and quotients in float32)."""
    x, y = _io(node, ctx)
    _same_size(node, x, y)
    alpha = _f32(node.options.alpha)
    ma, sa = qmath.quantize_multiplier(float(_f32(x.s) * alpha / _f32(y.s)))
    mi, si = qmath.quantize_multiplier(float(_f32(x.s) / _f32(y.s)))
    return Call(function="ep_leaky_relu", struct_type="ep_leaky_relu_params",
                fields=dict(size=x.elements, in_zero_point=x.zp, out_zero_point=y.zp, mult_identity=mi,
                            shift_identity=si, mult_alpha=ma, shift_alpha=sa),
                inputs=[ctx.ptr(node.inputs[0])])


def _prelu(node, ctx):
    """PRELU: TFLM CalculatePreluParams (double), BroadcastPrelu4DSlow."""
    x, a = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    y = ctx.tensor(node.outputs[0])
    ys = shape4(y.shape)
    m1, s1 = qmath.quantize_multiplier(float(x.s) / float(y.s))
    m2, s2 = qmath.quantize_multiplier(float(x.s) * float(a.s) / float(y.s))
    return Call(function="ep_prelu", struct_type="ep_prelu_params",
                fields=dict(out=ys, in_stride=_strides(x.shape, ys), alpha_stride=_strides(a.shape, ys),
                            in_offset=-x.zp, alpha_offset=-a.zp, out_offset=y.zp, mult1=m1, shift1=s1,
                            mult2=m2, shift2=s2),
                inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1])])


def _dequantize(node, ctx):
    """DEQUANTIZE int8 -> float32 (the model's output only: the engine's other ops are integer)."""
    x, y = _io(node, ctx)
    if x.dtype != "INT8" or y.dtype != "FLOAT32":
        raise EdgepipeError(f"layer '{node.name}' (DEQUANTIZE) is {x.dtype} -> {y.dtype}; the C engine "
                            "dequantizes int8 -> float32 only")
    _same_size(node, x, y)
    return Call(function="ep_dequantize", struct_type="ep_dequantize_params",
                fields=dict(size=x.elements, zero_point=x.zp, scale=_c_float(x.s)),
                inputs=[ctx.ptr(node.inputs[0])])


# ---- selection and data movement -----------------------------------------------------------

def _minmax(node, ctx):
    """MAXIMUM / MINIMUM: TFLM compares raw int8 values (the converter gives inputs and output one
    quantization)."""
    a, b = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    y = ctx.tensor(node.outputs[0])
    ys = shape4(y.shape)
    return Call(function="ep_maximum" if node.opcode == "MAXIMUM" else "ep_minimum",
                struct_type="ep_minmax_params",
                fields=dict(out=ys, in1_stride=_strides(a.shape, ys), in2_stride=_strides(b.shape, ys)),
                inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1])])


def _transpose(node, ctx):
    x, y = _io(node, ctx)
    perm = [int(p) for p in ctx.tensor(node.inputs[1]).data.reshape(-1)]
    rank = len(x.shape)
    if rank > 6 or sorted(perm) != list(range(rank)) or \
            tuple(y.shape) != tuple(int(x.shape[p]) for p in perm):
        raise EdgepipeError(f"layer '{node.name}' (TRANSPOSE): permutation {perm} does not map input "
                            f"{tuple(x.shape)} to output {tuple(y.shape)} (rank <= 6)")
    contiguous = [int(np.prod(x.shape[i + 1:], dtype=np.int64)) for i in range(rank)]
    dims = [1] * (6 - rank) + [int(d) for d in y.shape]
    strides = [0] * (6 - rank) + [contiguous[p] for p in perm]
    return Call(function="ep_transpose", struct_type="ep_transpose_params",
                fields=dict(dims=tuple(dims), in_stride=tuple(strides)), inputs=[ctx.ptr(node.inputs[0])])


def _resize_shapes(node, ctx) -> tuple[Shape4, Shape4]:
    x, y = _io(node, ctx)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}) needs 4-D NHWC tensors, got "
                            f"{tuple(x.shape)} -> {tuple(y.shape)}")
    xs, ys = shape4(x.shape), shape4(y.shape)
    if xs.n != ys.n or xs.c != ys.c or min(ys.h, ys.w, xs.h, xs.w) <= 0:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): input {tuple(x.shape)} and output "
                            f"{tuple(y.shape)} differ in batch or channels")
    return xs, ys


def _nearest(i: int, in_size: int, out_size: int, align: bool, half: bool) -> int:
    """TFLM GetNearestNeighbor, in float32 as there."""
    scale = (_f32(in_size - 1) / _f32(out_size - 1) if align and out_size > 1
             else _f32(in_size) / _f32(out_size))
    v = (_f32(i) + _f32(0.5 if half else 0.0)) * scale
    j = qmath.tflite_round(float(v)) if align else int(math.floor(float(v)))
    j = min(j, in_size - 1)
    return max(0, j) if half else j


def _resize_nearest(node, ctx):
    xs, ys = _resize_shapes(node, ctx)
    o = node.options
    align, half = bool(o.alignCorners), bool(o.halfPixelCenters)
    rows = [_nearest(i, xs.h, ys.h, align, half) for i in range(ys.h)]
    cols = [_nearest(i, xs.w, ys.w, align, half) for i in range(ys.w)]
    if min(rows + cols) < 0:
        raise EdgepipeError(f"layer '{node.name}' (RESIZE_NEAREST_NEIGHBOR) maps outside its input")
    return Call(function="ep_resize_nearest", struct_type="ep_resize_nn_params",
                fields=dict(in_=xs, out=ys, rows=ctx.table("rows", "int32_t", rows),
                            cols=ctx.table("cols", "int32_t", cols)),
                inputs=[ctx.ptr(node.inputs[0])])


def _tdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _bilinear_axis(in_size: int, out_size: int, align: bool, half: bool):
    """ResizeBilinearInteger's scale_10 and ComputeInterpolationValuesInteger for one axis."""
    scale = _tdiv((1 << 10) * in_size + out_size // 2, out_size)
    if align and out_size > 1:
        scale = _tdiv((1 << 10) * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    pos, lo, hi = [], [], []
    for v in range(out_size):
        s = v * scale + _tdiv(scale, 2) - (1 << 9) if half else v * scale
        pos.append(s)
        lo.append(max(_tdiv(s, 1 << 10), 0))
        hi.append(min(_tdiv(s + (1 << 10) - 1, 1 << 10), in_size - 1))
    return pos, lo, hi


def _resize_bilinear(node, ctx):
    xs, ys = _resize_shapes(node, ctx)
    o = node.options
    align, half = bool(o.alignCorners), bool(o.halfPixelCenters)
    y, y0, y1 = _bilinear_axis(xs.h, ys.h, align, half)
    x, x0, x1 = _bilinear_axis(xs.w, ys.w, align, half)
    if min(y0 + y1 + x0 + x1) < 0:
        raise EdgepipeError(f"layer '{node.name}' (RESIZE_BILINEAR) maps outside its input")
    tables = {k: ctx.table(k, "int32_t", v) for k, v in
              dict(y=y, y0=y0, y1=y1, x=x, x0=x0, x1=x1).items()}
    return Call(function="ep_resize_bilinear", struct_type="ep_resize_bilinear_params",
                fields=dict(in_=xs, out=ys, **tables), inputs=[ctx.ptr(node.inputs[0])])


# ---- batch matmul --------------------------------------------------------------------------

def _batch_matmul(node, ctx):
    """BATCH_MATMUL int8: TFLM BatchMatMulPrepare (GetQuantizedConvolutionMultipler: float32 scale
    product), broadcasting over up to 3 batch dims, adj_x / adj_y as strides."""
    lhs, rhs = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    y = ctx.tensor(node.outputs[0])
    adj_x, adj_y = bool(node.options.adjX), bool(node.options.adjY)
    rank = max(len(lhs.shape), len(rhs.shape))
    if not 2 <= len(lhs.shape) <= 5 or not 2 <= len(rhs.shape) <= 5:
        raise EdgepipeError(f"layer '{node.name}' (BATCH_MATMUL): operands of rank {len(lhs.shape)} and "
                            f"{len(rhs.shape)}; TFLM supports ranks 2 to 5")
    ls = (1,) * (rank - len(lhs.shape)) + tuple(int(d) for d in lhs.shape)
    rs = (1,) * (rank - len(rhs.shape)) + tuple(int(d) for d in rhs.shape)
    rows, depth = (ls[-1], ls[-2]) if adj_x else (ls[-2], ls[-1])
    rdepth, cols = (rs[-1], rs[-2]) if adj_y else (rs[-2], rs[-1])
    batch = []
    for a, b in zip(ls[:-2], rs[:-2]):
        if a != b and 1 not in (a, b):
            raise EdgepipeError(f"layer '{node.name}' (BATCH_MATMUL): batch dims {ls[:-2]} and {rs[:-2]} "
                                "do not broadcast")
        batch.append(max(a, b))
    if depth != rdepth or tuple(y.shape) != (*batch, rows, cols)[-len(y.shape):] or \
            y.elements != int(np.prod(batch, dtype=np.int64)) * rows * cols:
        raise EdgepipeError(f"layer '{node.name}' (BATCH_MATMUL): {tuple(lhs.shape)} x {tuple(rhs.shape)} "
                            f"(adj_x={adj_x}, adj_y={adj_y}) does not give output {tuple(y.shape)}")
    if depth * 255 * 255 >= 1 << 31:
        raise EdgepipeError(f"layer '{node.name}' (BATCH_MATMUL): depth {depth} could overflow the int32 "
                            "accumulator")
    if len(rhs.scale) > 1 or len(lhs.scale) > 1:
        raise EdgepipeError(f"layer '{node.name}' (BATCH_MATMUL): per-channel quantized operands; the "
                            "C engine (like TFLM) uses one scale per operand")

    def batch_strides(s):
        mat = s[-1] * s[-2]
        out = []
        for i in range(len(s) - 2):
            out.append(0 if s[i] == 1 else int(np.prod(s[i + 1:-2], dtype=np.int64)) * mat)
        return [0] * (3 - len(out)) + out

    mult, shift = qmath.quantize_multiplier(qmath.float32(_f32(lhs.s) * _f32(rhs.s)) / y.s)
    return Call(
        function="ep_batch_matmul", struct_type="ep_batch_matmul_params",
        fields=dict(batch=tuple([1] * (3 - len(batch)) + batch), lhs_batch_stride=tuple(batch_strides(ls)),
                    rhs_batch_stride=tuple(batch_strides(rs)), rows=rows, cols=cols, depth=depth,
                    lhs_row_stride=1 if adj_x else depth, lhs_k_stride=rows if adj_x else 1,
                    rhs_k_stride=1 if adj_y else cols, rhs_col_stride=depth if adj_y else 1,
                    lhs_offset=-lhs.zp, rhs_offset=-rhs.zp, out_offset=y.zp, mult=mult, shift=shift),
        inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1])],
        macs=y.elements * depth)


KERNELS = (
    Kernel("RELU", "ep_relu", "ep_activation2.c", "int8: requantize then clamp at 0 (TFLM ReluQuantized)", _relu),
    Kernel("RELU_N1_TO_1", "ep_relu", "ep_activation2.c",
           "int8: requantize then clamp to [-1, 1]; TFLM has no kernel for it, so host-c and boards "
           "cannot compare it (tested against LiteRT's reference kernel)", _relu),
    Kernel("RELU6", "ep_clip", "ep_activation2.c",
           "int8: clamp to [0, 6] on the input's scale (TFLM Relu6)", _relu6),
    Kernel("HARD_SWISH", "ep_hard_swish", "ep_activation2.c", "int8, 16-bit fixed point as TFLM", _hard_swish),
    Kernel("LEAKY_RELU", "ep_leaky_relu", "ep_activation2.c", "int8, any alpha", _leaky_relu),
    Kernel("PRELU", "ep_prelu", "ep_activation2.c", "int8, alpha broadcast up to 4-D", _prelu),
    Kernel("DEQUANTIZE", "ep_dequantize", "ep_activation2.c",
           "int8 -> float32, as the model's output (invoke then writes float)", _dequantize),
    Kernel("MAXIMUM", "ep_maximum", "ep_shape.c", "int8, broadcasting up to 4-D", _minmax),
    Kernel("MINIMUM", "ep_minimum", "ep_shape.c", "int8, broadcasting up to 4-D", _minmax),
    Kernel("TRANSPOSE", "ep_transpose", "ep_shape.c", "int8, constant permutation, up to 6-D", _transpose),
    Kernel("RESIZE_NEAREST_NEIGHBOR", "ep_resize_nearest", "ep_shape.c",
           "int8, align_corners, half_pixel_centers", _resize_nearest),
    Kernel("RESIZE_BILINEAR", "ep_resize_bilinear", "ep_shape.c",
           "int8, align_corners, half_pixel_centers (TFLM's 10-bit integer path)", _resize_bilinear),
    Kernel("BATCH_MATMUL", "ep_batch_matmul", "ep_matmul.c",
           "int8, adj_x/adj_y, batch broadcasting, ranks 2-5, constant or activation operands", _batch_matmul),
    Kernel("SQUEEZE", None, None, "int8: no code, the output aliases the input in the arena", _view),
    Kernel("EXPAND_DIMS", None, None, "int8: no code, the output aliases the input in the arena", _view),
)
