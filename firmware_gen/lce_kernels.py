"""Builders for Larq Compute Engine's binarized ops (LceQuantize, LceBconv2d, LceDequantize).

Semantics are those of LCE's reference kernels (larq_compute_engine/tflite/kernels/quantization.cc
and core/bconv2d/reference.h, output_transform.h), checked byte for byte against LCE's interpreter
in tests/test_engine_binary.py:
- bit packing: channel c of a row goes to bit c % 32 of word c / 32; a bit is 1 where the int8
  value is below the zero point (a negative real value), padding bits are 0;
- LceBconv2d: acc = popcount(input XOR filter) over the window (a padded tap reads a 0 word:
  "one-padding", +1), back-transformed to K - 2 * acc (K = kh * kw * channels_in), then either
  int8 = saturate(round_half_away(float(K - 2 acc) * m[c] + b[c])) with m = post_multiplier /
  out_scale and b = post_bias / out_scale + out_zero_point (computed in double, stored as float), or
  one bit per channel, acc > threshold[c] (the converter folded batchnorm and sign into threshold);
- LceDequantize to int8: a 0 bit reads min(127, zp + round(1 / scale)), a 1 bit max(-128, zp - ...).
Each builder checks the shapes its C kernel relies on and raises EdgepipeError otherwise.
"""

from __future__ import annotations

import numpy as np

from edgepipe_base.errors import EdgepipeError

from . import qmath
from .kernels import Call, Kernel, Shape4, shape4

WORD = 32


def words(channels: int) -> int:
    return (channels + WORD - 1) // WORD


def _fail(node, what: str):
    raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): {what}")


def _dtype(node, t, want: str):
    if t.dtype != want:
        _fail(node, f"tensor '{t.name}' is {t.dtype}, the C engine needs {want} here "
                    "(int8 around binarized layers, bit-packed int32 between them)")


def _aligned(node, ctx, i):
    off = ctx.offsets.get(i)
    if off is not None and off >= 0 and off % 4:
        _fail(node, f"bit-packed tensor {i} placed at arena offset {off}, not a multiple of 4")


def _rows(node, x, y, x_dtype, y_dtype):
    """outer rows and channels of a [..., C] <-> [..., words(C)] pair."""
    _dtype(node, x, x_dtype)
    _dtype(node, y, y_dtype)
    if len(x.shape) != len(y.shape) or x.shape[:-1] != y.shape[:-1] or not x.shape:
        _fail(node, f"shapes {x.shape} and {y.shape} differ outside the last (packed) axis")
    channels = int((x if x_dtype == "INT8" else y).shape[-1])
    packed = int((y if x_dtype == "INT8" else x).shape[-1])
    if channels <= 0 or packed != words(channels):
        _fail(node, f"{channels} channels pack into {words(channels)} words, the tensor has {packed}")
    return (x.elements // int(x.shape[-1])), channels


def _quantize(node, ctx):
    x, y = ctx.tensor(node.inputs[0]), ctx.tensor(node.outputs[0])
    outer, channels = _rows(node, x, y, "INT8", "INT32")
    _aligned(node, ctx, y.index)
    return Call(function="ep_bitpack", struct_type="ep_bitpack_params",
                fields=dict(outer=outer, channels=channels, words=words(channels), zero_point=x.zp),
                inputs=[ctx.ptr(node.inputs[0])])


def _dequantize(node, ctx):
    x, y = ctx.tensor(node.inputs[0]), ctx.tensor(node.outputs[0])
    outer, channels = _rows(node, x, y, "INT32", "INT8")
    _aligned(node, ctx, x.index)
    offset = qmath_round(np.float32(1.0) / np.float32(y.s))
    return Call(function="ep_unpack", struct_type="ep_unpack_params",
                fields=dict(outer=outer, channels=channels, words=words(channels),
                            zero_value=min(127, y.zp + offset), one_value=max(-128, y.zp - offset)),
                inputs=[ctx.ptr(node.inputs[0])])


def qmath_round(x) -> int:
    """TfLiteRound on a float: round half away from zero."""
    x = float(x)
    return int(np.floor(x + 0.5)) if x >= 0 else -int(np.floor(-x + 0.5))


def _bconv(node, ctx):
    o = node.options or {}
    need = ("channels_in", "stride_height", "stride_width", "dilation_height_factor",
            "dilation_width_factor", "padding", "fused_activation_function")
    missing = [k for k in need if k not in o]
    if missing:
        _fail(node, f"options lack {', '.join(missing)}; convert with larq-compute-engine 0.16")
    if int(o["fused_activation_function"]) != 0:
        _fail(node, "fused activation in the binary convolution is not supported by the C engine; "
                    "put the activation after the layer's batchnorm")
    same = int(o["padding"]) == 0           # schema Padding: SAME = 0, VALID = 1
    if same and int(o.get("pad_values", 0)) != 1:
        _fail(node, "SAME padding with pad_values=0 needs LCE's zero-padding correction; train the "
                    "layer with pad_values=1.0 (or padding='valid')")
    x, w, y = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1]), ctx.tensor(node.outputs[0])
    _dtype(node, x, "INT32")
    if w.data is None or w.dtype != "INT32" or len(w.shape) != 4:
        _fail(node, "filter must be a constant bit-packed int32 [out, kh, kw, words] tensor")
    cin = int(o["channels_in"])
    xs = shape4(x.shape)
    cout, kh, kw, wwords = (int(d) for d in w.shape)
    if len(x.shape) != 4 or xs.c != words(cin) or wwords != words(cin):
        _fail(node, f"{cin} input channels pack into {words(cin)} words; input has {xs.c}, "
                    f"filter {wwords}")
    sh, sw = int(o["stride_height"]), int(o["stride_width"])
    dh, dw = int(o["dilation_height_factor"]), int(o["dilation_width_factor"])
    if min(sh, sw, dh, dw, kh, kw) < 1:
        _fail(node, "strides, dilations and filter sizes must be positive")
    oh, pad_h = qmath.padding(sh, dh, xs.h, kh, same)
    ow, pad_w = qmath.padding(sw, dw, xs.w, kw, same)
    ys = shape4(y.shape)
    bitpacked = y.dtype == "INT32"
    if (ys.n, ys.h, ys.w) != (xs.n, oh, ow) or ys.c != (words(cout) if bitpacked else cout):
        _fail(node, f"output shape {y.shape} does not match the convolution ({xs.n}, {oh}, {ow}, "
                    f"{words(cout) if bitpacked else cout})")
    k = kh * kw * cin
    if k >= 2 ** 30 or ys.n * oh * ow * cout * k >= 2 ** 62:
        _fail(node, f"window of {k} taps: too large for int32 accumulators")
    fields = dict(in_=Shape4(xs.n, xs.h, xs.w, cin), out=Shape4(ys.n, ys.h, ys.w, cout),
                  in_words=words(cin), out_words=words(cout), kh=kh, kw=kw, stride_h=sh, stride_w=sw,
                  dil_h=dh, dil_w=dw, pad_h=pad_h, pad_w=pad_w, backtransform=k,
                  bitpacked_out=int(bitpacked),
                  weights=ctx.table("bweights", "int32_t", w.data), mult=None, bias=None,
                  thresholds=None)
    if bitpacked:
        th = ctx.tensor(node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] >= 0 else None
        if th is None or th.data is None or th.dtype != "INT32" or th.elements != cout:
            _fail(node, f"bit-packed output needs {cout} constant int32 thresholds")
        fields["thresholds"] = ctx.table("thresholds", "int32_t", th.data)
        _aligned(node, ctx, y.index)
    else:
        _dtype(node, y, "INT8")
        mul, bias = (ctx.tensor(node.inputs[i]) for i in (2, 3))
        for t in (mul, bias):
            if t.data is None or t.dtype != "FLOAT32" or t.elements != cout:
                _fail(node, f"int8 output needs {cout} constant float32 post-activation multipliers "
                            "and biases")
        # SetupQuantization: double arithmetic, stored as float
        m = (mul.data.astype(np.float64) / float(np.float32(y.s))).astype(np.float32)
        b = (bias.data.astype(np.float64) / float(np.float32(y.s)) + y.zp).astype(np.float32)
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(b))):
            _fail(node, "post-activation multiplier or bias is not finite")
        fields["mult"] = ctx.table("mult", "float", m)
        fields["bias"] = ctx.table("bias", "float", b)
    _aligned(node, ctx, x.index)
    return Call(function="ep_bconv2d", struct_type="ep_bconv_params", fields=fields,
                inputs=[ctx.ptr(node.inputs[0])], macs=ys.n * oh * ow * cout * k)


LCE_KERNELS = {k.opcode: k for k in (
    Kernel("LceQuantize", "ep_bitpack", "ep_binary.c",
           "Larq Compute Engine custom op: int8 -> sign bits packed 32 per int32 word", _quantize),
    Kernel("LceBconv2d", "ep_bconv2d", "ep_binary.c",
           "Larq Compute Engine custom op: binary conv on packed words, XOR + popcount, int8 output "
           "(float multiplier/bias as LCE) or packed sign output (thresholds); VALID or one-padding",
           _bconv),
    Kernel("LceDequantize", "ep_unpack", "ep_binary.c",
           "Larq Compute Engine custom op: packed sign bits -> int8 +-round(1/scale) around the zero point",
           _dequantize),
)}
