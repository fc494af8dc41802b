"""Op registry: every TFLite op the C engine runs, the runtime kernel it maps to, and how its
parameter struct is filled at generation time (the arithmetic is TFLM's Prepare, see qmath).

docs/SUPPORTED.md is generated from this table and the preflight rules (`edgepipe docs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgepipe_base.errors import EdgepipeError

from . import dsp_layout, qmath, stem
from . import layout as layout_mod

SAME = 0          # schema Padding enum
_FUSED = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


@dataclass(frozen=True)
class CExpr:
    """A C expression printed verbatim (a table name, a pointer into the arena)."""
    text: str


@dataclass(frozen=True)
class Shape4:
    n: int
    h: int
    w: int
    c: int


@dataclass
class Call:
    function: str
    struct_type: str | None
    fields: dict
    inputs: list            # CExpr data pointers, in kernel argument order
    macs: int = 0
    array_inputs: bool = False   # pass inputs as one `const int8_t *const []` (CONCATENATION)
    array_ctype: str = "int8_t"  # element type of that array (int16_t for int16x8)
    output: CExpr | None = None  # where it writes, when not the node's first output (the state
                                 # region for ASSIGN_VARIABLE / CALL_ONCE, one output of a SPLIT)
    out_tensor: int | None = None  # the output tensor it writes (None: the node's first, if any)


@dataclass(frozen=True)
class Kernel:
    opcode: str
    function: str | None    # None: a view, no code (RESHAPE)
    source: str | None      # runtime .c file holding the function
    doc: str
    build: Callable = field(repr=False, compare=False)


def shape4(shape) -> Shape4:
    s = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
    if len(s) != 4:
        raise EdgepipeError(f"tensor of rank {len(shape)}: the C engine handles rank <= 4")
    return Shape4(*s)


def _fused(node) -> int:
    f = int(getattr(node.options, "fusedActivationFunction", 0) or 0)
    if f not in _FUSED:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}) has fused activation {f}; the C engine "
                            f"supports {', '.join(_FUSED.values())}")
    return f


def _io(node, ctx):
    return ctx.tensor(node.inputs[0]), ctx.tensor(node.outputs[0])


def _bias(node, ctx):
    if len(node.inputs) > 2 and node.inputs[2] >= 0:
        b = ctx.tensor(node.inputs[2])
        if b.dtype != "INT32":
            raise EdgepipeError(f"layer '{node.name}': {b.dtype} bias; the C engine needs int32 bias")
        return ctx.table("bias", "int32_t", b.data)
    return None


def _check_accumulator(node, ctx, taps: int, in_offset: int, weights_offset: int):
    """The int32 accumulator of one output (bias + taps products) must not overflow: C makes that
    undefined behaviour (TFLM's kernels would overflow too), so such a layer is refused."""
    bias = 0
    if len(node.inputs) > 2 and node.inputs[2] >= 0 and ctx.tensor(node.inputs[2]).data is not None:
        bias = int(np.abs(ctx.tensor(node.inputs[2]).data.astype(np.int64)).max(initial=0))
    worst = taps * (127 + abs(in_offset)) * (128 + abs(weights_offset)) + bias
    if worst > (1 << 31) - 1:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): {taps} products plus a bias of {bias} can "
                            "overflow the 32-bit accumulator; the model is malformed or its layer too deep "
                            "for int8 kernels")


def kernel_sums(node, ctx, in_offset: int) -> np.ndarray:
    """bias + in_offset * (sum of the channel's weights) per output channel, wrapped to int32 like
    the kernels' sums: the SIMD kernels that fold the input offset out of their loops start from it
    (ep_runtime.h). Conv weights are [out_c, kh, kw, in_c], depthwise [1, kh, kw, out_c]."""
    w = ctx.tensor(node.inputs[1]).data.astype(np.int64)
    if node.opcode == "DEPTHWISE_CONV_2D":
        sums = w.reshape(-1, w.shape[-1]).sum(axis=0)
    else:
        sums = w.reshape(w.shape[0], -1).sum(axis=1)
    total = sums * in_offset
    if len(node.inputs) > 2 and node.inputs[2] >= 0:
        total = total + ctx.tensor(node.inputs[2]).data.astype(np.int64).reshape(-1)
    return ((total + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)


def _conv(node, ctx):
    x, y = _io(node, ctx)
    w = ctx.tensor(node.inputs[1])
    o = node.options
    depthwise = node.opcode == "DEPTHWISE_CONV_2D"
    xs, ys = shape4(x.shape), shape4(y.shape)
    kh, kw = int(w.shape[1]), int(w.shape[2])
    same = o.padding == SAME
    _, pad_h = qmath.padding(o.strideH, o.dilationHFactor, xs.h, kh, same)
    _, pad_w = qmath.padding(o.strideW, o.dilationWFactor, xs.w, kw, same)
    per_channel = len(w.scale) > 1
    mult, shift = [], []
    for ch in range(ys.c):
        real = x.s * w.scale[ch if per_channel else 0] / y.s
        m, s = qmath.quantize_multiplier(real)
        mult.append(m)
        shift.append(s)
    act_min, act_max = qmath.activation_range(_fused(node), y.s, y.zp)
    filter_in_c = 1 if depthwise else int(w.shape[3])
    taps = kh * kw * filter_in_c
    _check_accumulator(node, ctx, taps, -x.zp, 0)
    bias = ctx.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] >= 0 else None
    extra = {}
    # DSP builds: the conv stream (firmware_gen/dsp_layout.py) where the layer qualifies, else the
    # stem kernel for few input channels (firmware_gen/stem.py; its int8 weights stay for the block
    # path it falls back to). One of the two at most: a layer never pays for both tables.
    # layout "size" (firmware_gen/layout.py): the stream's int8 format only (the stem table stays:
    # a few KiB at most, the best instructions per byte of any table)
    speed = getattr(ctx, "layout", layout_mod.DEFAULT) == layout_mod.SPEED
    dsp = None if depthwise else _dsp_weights(node, ctx, xs.c, filter_in_c, mult, shift, y.zp,
                                              ys.n * ys.h * ys.w if speed else 0)
    if dsp is None and not depthwise and stem.eligible(kh, kw, xs.c, filter_in_c, ys.c, o.dilationWFactor, bias,
                                                       shift, y.zp):
        extra["stem_weights"] = ctx.table("stem_weights", "int32_t", stem.table(w.data, bias, mult, shift, y.zp),
                                          guard="EP_KERNELS_DSP")
    return Call(
        function="ep_depthwise_conv2d" if depthwise else "ep_conv2d", struct_type="ep_conv_params",
        fields=dict(in_=xs, out=ys, kh=kh, kw=kw, filter_in_c=filter_in_c,
                    depth_multiplier=ys.c // xs.c if depthwise else 1,
                    stride_h=o.strideH, stride_w=o.strideW, dil_h=o.dilationHFactor,
                    dil_w=o.dilationWFactor, pad_h=pad_h, pad_w=pad_w,
                    in_offset=-x.zp, out_offset=y.zp, act_min=act_min, act_max=act_max,
                    # a DSP build reads the stream instead (ep_conv2d takes its kernel whenever it is given)
                    weights=ctx.table("weights", "int8_t", w.data, guard="!EP_KERNELS_DSP" if dsp else None),
                    bias=_bias(node, ctx),
                    mult=ctx.table("mult", "int32_t", mult), shift=ctx.table("shift", "int32_t", shift),
                    kernel_sums=ctx.table("kernel_sums", "int32_t", kernel_sums(node, ctx, -x.zp)),
                    **extra, **({} if dsp is None else dict(dsp_weights=dsp))),
        inputs=[ctx.ptr(node.inputs[0])], macs=ys.n * ys.h * ys.w * ys.c * taps)


def _dsp_weights(node, ctx, in_c, filter_in_c, mult, shift, out_offset, pixels):
    """The DSP (Cortex-M4/M7) CONV_2D kernel's weight stream (dsp_layout), emitted for DSP builds only;
    None where the layer does not qualify (that kernel is then not taken)."""
    w = ctx.tensor(node.inputs[1]).data
    bias = ctx.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] >= 0 else None
    if w is None or not dsp_layout.qualifies(w, in_c, filter_in_c, bias, mult, shift, out_offset):
        return None
    wide = pixels >= dsp_layout.INT16_MIN_PIXELS
    return ctx.table("dsp_weights", "int32_t", dsp_layout.stream(w, bias, mult, shift, out_offset, wide),
                     guard="EP_KERNELS_DSP")


def _fully_connected(node, ctx):
    x, y = _io(node, ctx)
    w = ctx.tensor(node.inputs[1])
    accum = int(w.shape[-1])
    out_depth = int(y.shape[-1])
    batches = x.elements // accum
    per_channel = len(w.scale) > 1
    if per_channel:
        pairs = [qmath.quantize_multiplier(x.s * fs / y.s) for fs in w.scale]
    else:
        # GetQuantizedConvolutionMultipler: the scale product is a float32 multiply
        pairs = [qmath.quantize_multiplier(qmath.float32(np.float32(x.s) * np.float32(w.s)) / y.s)]
    act_min, act_max = qmath.activation_range(_fused(node), y.s, y.zp)
    _check_accumulator(node, ctx, accum, -x.zp, -w.zp)
    return Call(
        function="ep_fully_connected", struct_type="ep_fc_params",
        fields=dict(batches=batches, accum_depth=accum, out_depth=out_depth, per_channel=int(per_channel),
                    in_offset=-x.zp, weights_offset=-w.zp, out_offset=y.zp, act_min=act_min, act_max=act_max,
                    weights=ctx.table("weights", "int8_t", w.data), bias=_bias(node, ctx),
                    mult=ctx.table("mult", "int32_t", [m for m, _ in pairs]),
                    shift=ctx.table("shift", "int32_t", [s for _, s in pairs])),
        inputs=[ctx.ptr(node.inputs[0])], macs=batches * out_depth * accum)


def _pool(node, ctx):
    x, y = _io(node, ctx)
    o = node.options
    xs, ys = shape4(x.shape), shape4(y.shape)
    same = o.padding == SAME
    _, pad_h = qmath.padding(o.strideH, 1, xs.h, o.filterHeight, same)
    _, pad_w = qmath.padding(o.strideW, 1, xs.w, o.filterWidth, same)
    act_min, act_max = qmath.activation_range(_fused(node), y.s, y.zp)
    return Call(
        function="ep_max_pool" if node.opcode == "MAX_POOL_2D" else "ep_avg_pool",
        struct_type="ep_pool_params",
        fields=dict(in_=xs, out=ys, kh=o.filterHeight, kw=o.filterWidth, stride_h=o.strideH,
                    stride_w=o.strideW, pad_h=pad_h, pad_w=pad_w, act_min=act_min, act_max=act_max),
        inputs=[ctx.ptr(node.inputs[0])])


def _strides(shape, out: Shape4) -> tuple[int, ...]:
    s = shape4(shape)
    dims = (s.n, s.h, s.w, s.c)
    contiguous = (s.h * s.w * s.c, s.w * s.c, s.c, 1)
    outs = (out.n, out.h, out.w, out.c)
    for d, o in zip(dims, outs):
        if d != o and d != 1:
            raise EdgepipeError(f"cannot broadcast shape {tuple(shape)} to {outs}")
    return tuple(0 if d == 1 and o != 1 else st for d, o, st in zip(dims, outs, contiguous))


def _binary(node, ctx):
    a, b = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    y = ctx.tensor(node.outputs[0])
    ys = shape4(y.shape)
    act_min, act_max = qmath.activation_range(_fused(node), y.s, y.zp)
    fields = dict(out=ys, in1_stride=_strides(a.shape, ys), in2_stride=_strides(b.shape, ys),
                  in1_offset=-a.zp, in2_offset=-b.zp, out_offset=y.zp, left_shift=0,
                  in1_mult=0, in1_shift=0, in2_mult=0, in2_shift=0, out_mult=0, out_shift=0,
                  act_min=act_min, act_max=act_max)
    if node.opcode == "ADD":
        # TFLM add_common: both inputs rescaled to twice the larger scale, 20 bits of headroom
        twice_max = 2 * max(qmath.float32(a.s), qmath.float32(b.s))
        left_shift = 20
        m1 = qmath.quantize_multiplier(a.s / twice_max)
        m2 = qmath.quantize_multiplier(b.s / twice_max)
        mo = qmath.quantize_multiplier(twice_max / qmath.float32((1 << left_shift) * np.float32(y.s)))
        fields.update(left_shift=left_shift, in1_mult=m1[0], in1_shift=m1[1], in2_mult=m2[0],
                      in2_shift=m2[1], out_mult=mo[0], out_shift=mo[1])
        function = "ep_add"
    else:
        mo = qmath.quantize_multiplier(a.s * b.s / y.s)
        fields.update(out_mult=mo[0], out_shift=mo[1])
        function = "ep_mul"
    return Call(function=function, struct_type="ep_binary_params", fields=fields,
                inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1])],
                macs=y.elements if node.opcode == "MUL" else 0)


def _softmax(node, ctx):
    x, y = _io(node, ctx)
    depth = int(x.shape[-1])
    mult, shift, diff_min = qmath.softmax_scaling(qmath.float32(node.options.beta), x.s)
    return Call(function="ep_softmax", struct_type="ep_softmax_params",
                fields=dict(outer=x.elements // depth, depth=depth, input_multiplier=mult,
                            input_left_shift=shift, diff_min=diff_min),
                inputs=[ctx.ptr(node.inputs[0])])


def _sigmoid(node, ctx):
    x, y = _io(node, ctx)
    mult, shift = qmath.frexp_multiplier(x.s * float(1 << 27))   # input in Q4.27
    return Call(function="ep_logistic" if node.opcode == "LOGISTIC" else "ep_tanh",
                struct_type="ep_sigmoid_params",
                fields=dict(size=x.elements, input_zero_point=x.zp,
                            input_range_radius=qmath.input_radius(4, shift), input_multiplier=mult,
                            input_left_shift=shift),
                inputs=[ctx.ptr(node.inputs[0])])


def _quantize(node, ctx):
    x, y = _io(node, ctx)
    if x.dtype != "INT8" or y.dtype not in ("INT8", "UINT8"):
        raise EdgepipeError(f"layer '{node.name}' (QUANTIZE): {x.dtype} -> {y.dtype}; the C engine "
                            "requantizes int8 -> int8 or uint8 (and int16 <-> int8 in int16x8 models)")
    mult, shift = qmath.quantize_multiplier(x.s / y.s)
    # TFLM's Requantize: the same arithmetic, clamped to the output type's range
    return Call(function="ep_requantize_u8" if y.dtype == "UINT8" else "ep_requantize",
                struct_type="ep_requant_params",
                fields=dict(size=x.elements, in_zero_point=x.zp, out_zero_point=y.zp, mult=mult, shift=shift),
                inputs=[ctx.ptr(node.inputs[0])])


def _pad(node, ctx):
    x, y = _io(node, ctx)
    pads = ctx.tensor(node.inputs[1]).data.reshape(-1, 2).astype(int)
    before = [0] * (4 - len(pads)) + [int(p) for p in pads[:, 0]]
    value = y.zp
    if node.opcode == "PADV2" and len(node.inputs) > 2 and node.inputs[2] >= 0:
        value = int(ctx.tensor(node.inputs[2]).data.reshape(-1)[0])
    return Call(function="ep_pad", struct_type="ep_pad_params",
                fields=dict(in_=shape4(x.shape), out=shape4(y.shape), before=tuple(before), pad_value=value),
                inputs=[ctx.ptr(node.inputs[0])])


def _mean(node, ctx):
    x, y = _io(node, ctx)
    axes = sorted({int(a) % len(x.shape) for a in ctx.tensor(node.inputs[1]).data.reshape(-1)})
    if len(x.shape) != 4 or axes != [1, 2]:
        raise EdgepipeError(f"layer '{node.name}' (MEAN) reduces axes {axes} of a rank-{len(x.shape)} "
                            "tensor; the C engine supports MEAN over axes (1, 2) of NHWC tensors")
    mult, shift = qmath.quantize_multiplier(x.s / y.s)
    count = int(x.shape[1]) * int(x.shape[2])
    # TFLM's EvalIntegerMean (keep_dims or not): plain mean when the quantization is unchanged,
    # otherwise QuantizedMeanOrSum, which folds 1/count into the multiplier
    if x.zp == y.zp and x.s == y.s:
        mode = "EP_MEAN_SAME_SCALE"
    else:
        mode = "EP_MEAN_REQUANTIZE"
        n_shift = min(count.bit_length() - 1, 32, 31 + shift)
        mult, shift = (mult << n_shift) // count, shift - n_shift
    return Call(function="ep_mean", struct_type="ep_mean_params",
                fields=dict(in_=shape4(x.shape), mode=CExpr(mode), in_zero_point=x.zp,
                            out_zero_point=y.zp, mult=mult, shift=shift),
                inputs=[ctx.ptr(node.inputs[0])])


def _concat(node, ctx):
    y = ctx.tensor(node.outputs[0])
    axis = int(node.options.axis) % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = [int(np.prod(ctx.tensor(i).shape[axis:], dtype=np.int64)) for i in node.inputs]
    return Call(function="ep_concat", struct_type="ep_concat_params",
                fields=dict(outer=outer, num_inputs=len(inner), inner=ctx.table("inner", "int32_t", inner)),
                inputs=[ctx.ptr(i) for i in node.inputs], array_inputs=True)


def _view(node, ctx):
    return None


def _extra(name: str) -> Callable:
    """A builder from kernels_extra (imported on first use: it imports this module)."""
    def build(node, ctx):
        from . import kernels_extra
        return getattr(kernels_extra, name)(node, ctx)
    return build


KERNELS = {k.opcode: k for k in (
    Kernel("CONV_2D", "ep_conv2d", "ep_conv.c",
           "int8, per-channel or per-tensor weights, int32 bias, SAME/VALID, stride, dilation, groups", _conv),
    Kernel("DEPTHWISE_CONV_2D", "ep_depthwise_conv2d", "ep_conv.c",
           "int8, any depth multiplier, SAME/VALID, stride, dilation", _conv),
    Kernel("FULLY_CONNECTED", "ep_fully_connected", "ep_conv.c",
           "int8, per-tensor or per-channel weights, input flattened to [batches, depth]", _fully_connected),
    Kernel("AVERAGE_POOL_2D", "ep_avg_pool", "ep_pool.c", "int8, SAME/VALID, fused activation", _pool),
    Kernel("MAX_POOL_2D", "ep_max_pool", "ep_pool.c", "int8, SAME/VALID, fused activation", _pool),
    Kernel("MEAN", "ep_mean", "ep_pool.c", "int8, over axes (1, 2) of NHWC, keep_dims or not", _mean),
    Kernel("ADD", "ep_add", "ep_elementwise.c", "int8, broadcasting up to 4-D, fused activation", _binary),
    Kernel("MUL", "ep_mul", "ep_elementwise.c", "int8, broadcasting up to 4-D, fused activation", _binary),
    Kernel("QUANTIZE", "ep_requantize", "ep_elementwise.c",
           "int8 -> int8 and int8 -> uint8 (a uint8 model output) requantization", _quantize),
    Kernel("PAD", "ep_pad", "ep_elementwise.c", "int8, constant paddings, up to 4-D", _pad),
    Kernel("PADV2", "ep_pad", "ep_elementwise.c", "int8, constant paddings and pad value", _pad),
    Kernel("CONCATENATION", "ep_concat", "ep_elementwise.c",
           "int8, any axis; inputs share the output quantization (as TFLM requires)", _concat),
    Kernel("SOFTMAX", "ep_softmax", "ep_activation.c", "int8 -> int8, gemmlowp fixed point as TFLM", _softmax),
    Kernel("LOGISTIC", "ep_logistic", "ep_activation.c", "int8, gemmlowp fixed point as TFLM", _sigmoid),
    Kernel("TANH", "ep_tanh", "ep_activation.c", "int8, gemmlowp fixed point as TFLM", _sigmoid),
    Kernel("RESHAPE", None, None, "no code: the output aliases the input in the arena", _view),
    Kernel("SUB", "ep_sub", "ep_sub.c", "int8, broadcasting up to 4-D, fused activation", _extra("sub")),
    Kernel("STRIDED_SLICE", "ep_strided_slice", "ep_strided_slice.c",
           "int8, constant begin/end/strides, begin/end/shrink-axis masks, rank <= 5", _extra("strided_slice")),
    Kernel("TRANSPOSE_CONV", "ep_transpose_conv", "ep_transpose_conv.c",
           "int8, per-channel weights, int32 bias, SAME/VALID, stride", _extra("transpose_conv")),
)}

# Larq Compute Engine's binarized ops (custom ops): bit-packed int32 tensors between them
from .lce_kernels import LCE_KERNELS  # noqa: E402
KERNELS.update(LCE_KERNELS)
BITPACKED_OPS = frozenset(LCE_KERNELS)
from . import kernels_mobile  # noqa: E402  (its builders use the helpers above)
KERNELS.update({k.opcode: k for k in kernels_mobile.KERNELS})
from . import kernels_rnn  # noqa: E402  (UNIDIRECTIONAL_SEQUENCE_LSTM, SVDF)
KERNELS.update({k.opcode: k for k in kernels_rnn.KERNELS})
from . import kernels_state  # noqa: E402  (resource variables, CALL_ONCE, SPLIT)
KERNELS.update({k.opcode: k for k in kernels_state.KERNELS})


def build(spec: Kernel, node, ctx) -> tuple[Call | None, str | None]:
    """The kernel call for node and the runtime file holding it: the int16x8 builder
    (kernels_s16) when one of its activations is int16, the int8 one otherwise."""
    from . import kernels_s16, kernels_state
    if spec.function is not None and node.opcode not in kernels_state.ANY_DTYPE and \
            kernels_s16.is_int16(node, ctx.g.tensors):
        if node.opcode not in kernels_s16.BUILDERS:
            raise EdgepipeError(f"layer '{node.name}' ({node.opcode}) has int16 activations; the C engine "
                                f"has no int16x8 {node.opcode} kernel")
        return kernels_s16.BUILDERS[node.opcode](node, ctx), kernels_s16.SOURCES[node.opcode]
    return spec.build(node, ctx), spec.source


def supported_md() -> str:
    """The op table of docs/SUPPORTED.md (pipeline/docs.py adds the preflight rules)."""
    lines = ["# Ops supported by the edgepipe C engine", "",
             "Generated from `firmware_gen/kernels.py` and `pipeline/preflight.py` by `edgepipe docs`.",
             "Every kernel is bit-exact with TFLM's reference kernel (the Lce* ops: with Larq Compute",
             "Engine's reference kernels); models must be full-integer int8 with int8 input and output",
             "(or the float32 output of a final DEQUANTIZE; bit-packed int32 between Lce ops), or int16x8",
             "(see the int16x8 section below). Fused activations: " + ", ".join(_FUSED.values()) + ".", "",
             "| op | C kernel | runtime file | notes |", "|---|---|---|---|"]
    for k in sorted(KERNELS.values(), key=lambda k: k.opcode):
        lines.append(f"| {k.opcode} | {'`' + k.function + '`' if k.function else '-'} | "
                     f"{k.source or '-'} | {k.doc} |")
    from . import kernels_s16
    lines += ["", "## int16x8", "",
              "int16 activations (zero point 0), int8 weights, int64 bias, int16 input and output, as the",
              "converter's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 produces them; each",
              "kernel is bit-exact with TFLM's int16 reference kernel. QUANTIZE also converts int16 <-> int8.", "",
              "| op | C kernel | runtime file |", "|---|---|---|"]
    for op in sorted(kernels_s16.BUILDERS):
        fn = kernels_s16.FUNCTIONS[op]
        lines.append(f"| {op} | {', '.join('`' + f + '`' for f in fn)} | {kernels_s16.SOURCES[op]} |")
    lines += [f"| {op} | - | - |" for op in sorted(kernels_s16.VIEWS)]
    lines += ["", "## Streaming (stateful) models", "",
              "Resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, int8 or int16 values, as the",
              "converter writes them with `_experimental_variable_quantization`) and variable tensors",
              "(`is_variable`) live in a static state region beside the arena (`<PREFIX>_STATE_BYTES`) and",
              "survive between invocations; CALL_ONCE runs an init subgraph of constant ASSIGN_VARIABLEs on the",
              "first invoke after `<prefix>_reset()`, which re-initialises the region (variable tensors to their",
              "zero point, as TFLM's ResetVariableTensors). A model output may be uint8 (an int8 -> uint8",
              "QUANTIZE, as microWakeWord's models end). Other subgraphs (IF/WHILE) are refused."]
    return "\n".join(lines) + "\n"


