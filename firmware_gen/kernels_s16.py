"""int16x8 kernel builders: int16 activations (zero point 0), int8 weights, int64 bias.

kernels.build() sends a node here when one of its activations is int16; each builder fills the
parameter struct of an ep_*_s16 kernel (runtime/ep_runtime_s16.h) with what TFLM's Prepare computes
for int16, and checks at generation time what the C kernel needs to stay in bounds.
"""

from __future__ import annotations

import numpy as np

from edgepipe_base.errors import EdgepipeError

from . import kernels_extra, qmath
from .kernels import SAME, Call, CExpr, _fused, _io, _strides, shape4


def _range(node, y) -> tuple[int, int]:
    return qmath.activation_range(_fused(node), y.s, y.zp, bits=16)


def _bias64(node, ctx):
    """The bias as an int64 table (int32 biases widened), and whether TFLM accumulates in int32
    for it: an int32 bias takes ConvPerChannel<int32_t> / FullyConnected<int32_t>; an int64 bias or
    none the int64 path (checked for FULLY_CONNECTED without bias against the tflite_micro build;
    the converter always gives convolutions a bias)."""
    if len(node.inputs) > 2 and node.inputs[2] >= 0:
        b = ctx.tensor(node.inputs[2])
        if b.dtype not in ("INT64", "INT32"):
            raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): {b.dtype} bias; int16x8 needs "
                                "an int64 (or int32) bias")
        return ctx.table("bias", "int64_t", b.data.astype(np.int64)), b.dtype == "INT32"
    return None, False


def _check_weights(node, w, rank: int):
    if w.dtype != "INT8" or not w.is_constant or len(w.shape) != rank:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): weights must be a constant int8 "
                            f"tensor of rank {rank} (got {w.dtype}, shape {tuple(w.shape)})")


def conv(node, ctx):
    x, y = _io(node, ctx)
    w = ctx.tensor(node.inputs[1])
    _check_weights(node, w, 4)
    o = node.options
    depthwise = node.opcode == "DEPTHWISE_CONV_2D"
    xs, ys = shape4(x.shape), shape4(y.shape)
    kh, kw = int(w.shape[1]), int(w.shape[2])
    filter_in_c = 1 if depthwise else int(w.shape[3])
    if (depthwise and (int(w.shape[3]) != ys.c or ys.c % xs.c)) or \
            (not depthwise and (int(w.shape[0]) != ys.c or xs.c % filter_in_c or ys.c % (xs.c // filter_in_c))):
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): weights {tuple(w.shape)} do not fit "
                            f"input {tuple(x.shape)} and output {tuple(y.shape)}")
    _, pad_h = qmath.padding(o.strideH, o.dilationHFactor, xs.h, kh, o.padding == SAME)
    _, pad_w = qmath.padding(o.strideW, o.dilationWFactor, xs.w, kw, o.padding == SAME)
    per_channel = len(w.scale) > 1
    pairs = [qmath.quantize_multiplier(x.s * w.scale[ch if per_channel else 0] / y.s) for ch in range(ys.c)]
    act_min, act_max = _range(node, y)
    bias, acc32 = _bias64(node, ctx)
    if depthwise and acc32 and bias is not None:
        # TFLM would read the int32 bias as int64 (past its end): refuse rather than match that
        raise EdgepipeError(f"layer '{node.name}' (DEPTHWISE_CONV_2D): int32 bias; TFLM's int16 "
                            "depthwise kernel reads an int64 bias - convert with the default int16x8 settings")
    if depthwise:
        acc32 = False
    return Call(
        function="ep_depthwise_conv2d_s16" if depthwise else "ep_conv2d_s16",
        struct_type="ep_conv_s16_params",
        fields=dict(in_=xs, out=ys, kh=kh, kw=kw, filter_in_c=filter_in_c,
                    depth_multiplier=ys.c // xs.c if depthwise else 1,
                    stride_h=o.strideH, stride_w=o.strideW, dil_h=o.dilationHFactor, dil_w=o.dilationWFactor,
                    pad_h=pad_h, pad_w=pad_w, act_min=act_min, act_max=act_max, acc32=int(acc32),
                    weights=ctx.table("weights", "int8_t", w.data), bias=bias,
                    mult=ctx.table("mult", "int32_t", [m for m, _ in pairs]),
                    shift=ctx.table("shift", "int32_t", [s for _, s in pairs])),
        inputs=[ctx.ptr(node.inputs[0])], macs=ys.n * ys.h * ys.w * ys.c * kh * kw * filter_in_c)


def fully_connected(node, ctx):
    x, y = _io(node, ctx)
    w = ctx.tensor(node.inputs[1])
    _check_weights(node, w, 2)
    accum, out_depth = int(w.shape[-1]), int(y.shape[-1])
    batches = x.elements // accum
    if x.elements % accum or int(w.shape[0]) < out_depth or y.elements != batches * out_depth:
        raise EdgepipeError(f"layer '{node.name}' (FULLY_CONNECTED): weights {tuple(w.shape)} do not fit "
                            f"input {tuple(x.shape)} and output {tuple(y.shape)}")
    per_channel = len(w.scale) > 1
    if per_channel:
        pairs = [qmath.quantize_multiplier(x.s * fs / y.s) for fs in w.scale]
    else:
        pairs = [qmath.quantize_multiplier(qmath.float32(np.float32(x.s) * np.float32(w.s)) / y.s)]
    act_min, act_max = _range(node, y)
    bias, acc32 = _bias64(node, ctx)
    return Call(
        function="ep_fully_connected_s16", struct_type="ep_fc_s16_params",
        fields=dict(batches=batches, accum_depth=accum, out_depth=out_depth, per_channel=int(per_channel),
                    weights_offset=-w.zp, act_min=act_min, act_max=act_max, acc32=int(acc32),
                    weights=ctx.table("weights", "int8_t", w.data), bias=bias,
                    mult=ctx.table("mult", "int32_t", [m for m, _ in pairs]),
                    shift=ctx.table("shift", "int32_t", [s for _, s in pairs])),
        inputs=[ctx.ptr(node.inputs[0])], macs=batches * out_depth * accum)


def pool(node, ctx):
    from .kernels import _pool
    call = _pool(node, ctx)
    y = ctx.tensor(node.outputs[0])
    call.fields["act_min"], call.fields["act_max"] = _range(node, y)
    call.function += "_s16"
    return call


def mean(node, ctx):
    from .kernels import _mean
    call = _mean(node, ctx)
    call.function = "ep_mean_s16"
    return call


def binary(node, ctx):
    a, b = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    y = ctx.tensor(node.outputs[0])
    if a.dtype != "INT16" or b.dtype != "INT16" or y.dtype != "INT16":
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): mixed {a.dtype}/{b.dtype} -> {y.dtype}; "
                            "int16x8 needs int16 inputs and output")
    ys = shape4(y.shape)
    act_min, act_max = _range(node, y)
    fields = dict(out=ys, in1_stride=_strides(a.shape, ys), in2_stride=_strides(b.shape, ys),
                  in1_offset=-a.zp, in2_offset=-b.zp, out_offset=y.zp, left_shift=0,
                  in1_mult=0, in1_shift=0, in2_mult=0, in2_shift=0, out_mult=0, out_shift=0,
                  act_min=act_min, act_max=act_max)
    if node.opcode == "ADD":
        # TFLM add_common for int16 output: left_shift 15, the general (non power-of-two) path
        twice_max = 2 * max(qmath.float32(a.s), qmath.float32(b.s))
        left_shift = 15
        m1 = qmath.quantize_multiplier(a.s / twice_max)
        m2 = qmath.quantize_multiplier(b.s / twice_max)
        mo = qmath.quantize_multiplier(twice_max / ((1 << left_shift) * qmath.float32(y.s)))
        fields.update(left_shift=left_shift, in1_mult=m1[0], in1_shift=m1[1], in2_mult=m2[0],
                      in2_shift=m2[1], out_mult=mo[0], out_shift=mo[1])
    else:
        mo = qmath.quantize_multiplier(a.s * b.s / y.s)
        fields.update(out_mult=mo[0], out_shift=mo[1])
    return Call(function="ep_add_s16" if node.opcode == "ADD" else "ep_mul_s16",
                struct_type="ep_binary_params", fields=fields,
                inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1])],
                macs=y.elements if node.opcode == "MUL" else 0)


def quantize(node, ctx):
    x, y = _io(node, ctx)
    function = {("INT16", "INT16"): "ep_requantize_s16", ("INT16", "INT8"): "ep_requantize_s16_s8",
                ("INT8", "INT16"): "ep_requantize_s8_s16"}.get((x.dtype, y.dtype))
    if function is None or x.elements != y.elements:
        raise EdgepipeError(f"layer '{node.name}' (QUANTIZE): {x.dtype} -> {y.dtype}; the C engine "
                            "requantizes int8 <-> int16, int16 -> int16 and int8 -> int8")
    mult, shift = qmath.quantize_multiplier(x.s / y.s)
    return Call(function=function, struct_type="ep_requant_params",
                fields=dict(size=x.elements, in_zero_point=x.zp, out_zero_point=y.zp, mult=mult, shift=shift),
                inputs=[ctx.ptr(node.inputs[0])])


def pad(node, ctx):
    from .kernels import _pad
    if node.opcode == "PADV2" and len(node.inputs) > 2:
        v = ctx.tensor(node.inputs[2])
        if v.dtype != "INT16":
            raise EdgepipeError(f"layer '{node.name}' (PADV2): {v.dtype} pad value on int16 data; TFLM "
                                "needs an int16 pad value")
    call = _pad(node, ctx)
    call.function = "ep_pad_s16"
    return call


def concat(node, ctx):
    if any(ctx.tensor(i).dtype != "INT16" for i in node.inputs):
        raise EdgepipeError(f"layer '{node.name}' (CONCATENATION): mixed input types; int16x8 needs int16")
    from .kernels import _concat
    call = _concat(node, ctx)
    call.function = "ep_concat_s16"
    call.array_ctype = "int16_t"
    return call


def softmax(node, ctx):
    x, y = _io(node, ctx)
    if y.dtype != "INT16":
        raise EdgepipeError(f"layer '{node.name}' (SOFTMAX): int16 input with {y.dtype} output; "
                            "int16x8 needs int16 output")
    depth = int(x.shape[-1])
    # TFLM: QuantizeMultiplier(input_scale * beta / (10 / 65535)), in double
    mult, shift = qmath.quantize_multiplier(float(np.float32(x.s)) * float(np.float32(node.options.beta))
                                            / (10.0 / 65535.0))
    exp_lut, recip_lut = qmath.softmax_int16_luts()
    return Call(function="ep_softmax_s16", struct_type="ep_softmax_s16_params",
                fields=dict(outer=x.elements // depth, depth=depth, input_multiplier=mult,
                            input_left_shift=shift, exp_lut=ctx.table("exp_lut", "int16_t", exp_lut),
                            one_over_one_plus_x_lut=ctx.table("recip_lut", "int16_t", recip_lut)),
                inputs=[ctx.ptr(node.inputs[0])])


def sigmoid(node, ctx):
    """LOGISTIC and TANH: TFLM's int16 Prepare (power-of-two input scale, or a multiplier that
    rescales the input to 1/(3 * 4096))."""
    x, y = _io(node, ctx)
    tanh = node.opcode == "TANH"
    pot, log2 = qmath.checked_log2(x.s)
    shift = (15 - 3) + log2
    pot = pot and (shift in (0, 1) if tanh else shift == 0)
    if pot:
        mult, shift = 3 << shift, 0
    else:
        m = float(np.float32(x.s)) * 4096.0 * 3.0
        shift = 0
        while m <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            m *= 2.0
        mult = int(m)
    out_pot, out_log2 = qmath.checked_log2(y.s)
    if not out_pot or out_log2 != -15 or mult > 32767 * 3:
        raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): int16 output scale {y.s}; TFLM needs "
                            "2^-15")
    return Call(function="ep_tanh_s16" if tanh else "ep_logistic_s16", struct_type="ep_sigmoid_s16_params",
                fields=dict(size=x.elements, input_multiplier=mult, input_left_shift=shift),
                inputs=[ctx.ptr(node.inputs[0])])


BUILDERS = {
    "CONV_2D": conv, "DEPTHWISE_CONV_2D": conv, "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": pool, "MAX_POOL_2D": pool, "MEAN": mean, "ADD": binary, "MUL": binary,
    "QUANTIZE": quantize, "PAD": pad, "PADV2": pad, "CONCATENATION": concat, "SOFTMAX": softmax,
    "LOGISTIC": sigmoid, "TANH": sigmoid, "SUB": kernels_extra.sub, "LEAKY_RELU": kernels_extra.leaky_relu,
    "STRIDED_SLICE": kernels_extra.strided_slice, "TRANSPOSE_CONV": kernels_extra.transpose_conv,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": lambda node, ctx: _rnn().lstm(node, ctx),
}
# the runtime file of each int16 kernel
SOURCES = {"CONV_2D": "ep_conv_s16.c", "DEPTHWISE_CONV_2D": "ep_conv_s16.c",
           "FULLY_CONNECTED": "ep_conv_s16.c", "AVERAGE_POOL_2D": "ep_pool_s16.c",
           "MAX_POOL_2D": "ep_pool_s16.c", "MEAN": "ep_pool_s16.c", "ADD": "ep_elementwise_s16.c",
           "MUL": "ep_elementwise_s16.c", "QUANTIZE": "ep_elementwise_s16.c", "PAD": "ep_elementwise_s16.c",
           "PADV2": "ep_elementwise_s16.c", "CONCATENATION": "ep_elementwise_s16.c",
           "SOFTMAX": "ep_activation_s16.c", "LOGISTIC": "ep_activation_s16.c", "TANH": "ep_activation_s16.c",
           "UNIDIRECTIONAL_SEQUENCE_LSTM": "ep_rnn.c", **kernels_extra.SOURCES}
# the C kernels of each op, for docs/SUPPORTED.md
FUNCTIONS = {
    "CONV_2D": ["ep_conv2d_s16"], "DEPTHWISE_CONV_2D": ["ep_depthwise_conv2d_s16"],
    "FULLY_CONNECTED": ["ep_fully_connected_s16"], "AVERAGE_POOL_2D": ["ep_avg_pool_s16"],
    "MAX_POOL_2D": ["ep_max_pool_s16"], "MEAN": ["ep_mean_s16"], "ADD": ["ep_add_s16"], "MUL": ["ep_mul_s16"],
    "QUANTIZE": ["ep_requantize_s16", "ep_requantize_s16_s8", "ep_requantize_s8_s16"],
    "PAD": ["ep_pad_s16"], "PADV2": ["ep_pad_s16"], "CONCATENATION": ["ep_concat_s16"],
    "SOFTMAX": ["ep_softmax_s16"], "LOGISTIC": ["ep_logistic_s16"], "TANH": ["ep_tanh_s16"],
    "SUB": ["ep_sub_s16"], "LEAKY_RELU": ["ep_leaky_relu_s16"], "STRIDED_SLICE": ["ep_strided_slice_s16"],
    "TRANSPOSE_CONV": ["ep_transpose_conv_s16"], "UNIDIRECTIONAL_SEQUENCE_LSTM": ["ep_lstm_s16"],
}
# ops that need no int16 code (views)
VIEWS = frozenset({"RESHAPE"})


def _rnn():
    from . import kernels_rnn         # it imports kernels, which imports this module
    return kernels_rnn


def is_int16(node, tensors) -> bool:
    """Whether any activation of node is int16 (then it takes an int16x8 kernel). A recurrent op's
    state does not count: the int8 LSTM keeps an int16 cell state, the int8 SVDF an int16 memory."""
    from .kernels_rnn import STATE_INPUTS
    state = {node.inputs[k] for k in STATE_INPUTS.get(node.opcode, ()) if k < len(node.inputs)}
    return any(i >= 0 and i not in state and tensors[i].data is None and tensors[i].dtype == "INT16"
               for i in (*node.inputs, *node.outputs))
