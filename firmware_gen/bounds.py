"""What each kernel call reads and writes, worked out from its parameter struct alone.

The validator (edgepipe_base.validate) guarantees that a model's shapes are consistent; this module
is the second, independent line: from the very numbers the C kernel will loop over, it derives how
many elements the kernel touches in each buffer, and codegen checks them against the buffers it
placed (arena offsets, the caller's input, constant tables) at generation time and again as C
compile-time asserts in the generated file. A kernel whose parameters disagree with its buffers, or
whose index arithmetic could overflow 32 bits, is never generated.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgepipe_base.errors import EdgepipeError

from . import dsp_layout
from .stem import table_words as stem_table_words

INT32_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class Footprint:
    inputs: tuple[int, ...]            # elements read from each data input, in argument order
    output: int                        # elements written to the output
    tables: dict                       # struct field -> elements read from that table
    products: tuple[int, ...] = ()     # other index products the kernel forms (must fit int32)


def _n(s) -> int:
    return s.n * s.h * s.w * s.c


def _conv(f, function, tables) -> Footprint:
    i, o = f["in_"], f["out"]
    depthwise = function.startswith("ep_depthwise_conv2d")
    if depthwise and o.c != i.c * f["depth_multiplier"]:
        raise EdgepipeError(f"depthwise output of {o.c} channels from {i.c} x {f['depth_multiplier']}")
    if not depthwise and (f["filter_in_c"] < 1 or i.c % f["filter_in_c"]):
        raise EdgepipeError(f"conv filter depth {f['filter_in_c']} does not divide {i.c} input channels")
    per_filter = f["kh"] * f["kw"] * (1 if depthwise else f["filter_in_c"])
    rows = [o.h * f["stride_h"] + f["kh"] * f["dil_h"], o.w * f["stride_w"] + f["kw"] * f["dil_w"]]
    # the DSP stem kernel's widened filters and requantization (firmware_gen/stem.py)
    stem = stem_table_words(f["kh"], f["kw"], i.c, o.c)
    return Footprint(inputs=(_n(i),), output=_n(o),
                     tables=dict(weights=per_filter * o.c, bias=o.c, mult=o.c, shift=o.c, kernel_sums=o.c,
                                 stem_weights=stem, dsp_weights=_dsp_words(f, tables, o.c, per_filter)),
                     products=tuple(rows))


def _dsp_words(f, tables, out_c: int, k: int) -> int:
    """The DSP conv stream's length: its format word (16: int16 weights, else int8) decides."""
    t = f.get("dsp_weights")
    values = tables.get(t.text) if t is not None else None
    wide = values is None or len(values) == 0 or int(values[0]) == 16
    return dsp_layout.words(out_c, k, wide)


def _fc(f, function, tables) -> Footprint:
    return Footprint(inputs=(f["batches"] * f["accum_depth"],), output=f["batches"] * f["out_depth"],
                     tables=dict(weights=f["out_depth"] * f["accum_depth"], bias=f["out_depth"],
                                 mult=f["out_depth"] if f["per_channel"] else 1,
                                 shift=f["out_depth"] if f["per_channel"] else 1))


def _pool(f, function, tables) -> Footprint:
    o = f["out"]
    return Footprint(inputs=(_n(f["in_"]),), output=_n(o), tables={},
                     products=(o.h * f["stride_h"] + f["kh"], o.w * f["stride_w"] + f["kw"]))


def _strided_extent(out, strides) -> int:
    """1 + the largest element index a broadcast input is read at."""
    return 1 + sum((d - 1) * s for d, s in zip((out.n, out.h, out.w, out.c), strides))


def _binary(f, function, tables) -> Footprint:
    o = f["out"]
    return Footprint(inputs=(_strided_extent(o, f["in1_stride"]), _strided_extent(o, f["in2_stride"])),
                     output=_n(o), tables={})


def _pad(f, function, tables) -> Footprint:
    i, o, before = f["in_"], f["out"], f["before"]
    for b, di, do in zip(before, (i.n, i.h, i.w, i.c), (o.n, o.h, o.w, o.c)):
        if b < 0 or b + di > do:
            raise EdgepipeError(f"pad places {di} values at {b} in a dimension of {do}")
    return Footprint(inputs=(_n(i),), output=_n(o), tables={})


def _mean(f, function, tables) -> Footprint:
    i = f["in_"]
    return Footprint(inputs=(_n(i),), output=i.n * i.c, tables={})


def _concat(f, function, tables) -> Footprint:
    inner = [int(v) for v in tables[f["inner"].text]]
    return Footprint(inputs=tuple(f["outer"] * k for k in inner), output=f["outer"] * sum(inner),
                     tables=dict(inner=f["num_inputs"]))


def _flat(size_field: str):
    return lambda f, function, tables: Footprint(inputs=(f[size_field],), output=f[size_field], tables={})


def _softmax(f, function, tables) -> Footprint:
    return Footprint(inputs=(f["outer"] * f["depth"],), output=f["outer"] * f["depth"], tables={})


def _softmax_s16(f, function, tables) -> Footprint:
    n = f["outer"] * f["depth"]
    return Footprint(inputs=(n,), output=n, tables=dict(exp_lut=LUT_INT16, one_over_one_plus_x_lut=LUT_INT16))


LUT_INT16 = 513          # TFLite's int16 softmax lookup tables: 512 intervals + the end point


def _table_values_below(tables, f, names, limit, what):
    for name in names:
        values = tables[f[name].text]
        if len(values) and (int(min(values)) < 0 or int(max(values)) >= limit):
            raise EdgepipeError(f"{what} table {name} indexes outside 0..{limit - 1}")


def _resize_nn(f, function, tables) -> Footprint:
    i, o = f["in_"], f["out"]
    _table_values_below(tables, f, ("rows",), i.h, "resize")
    _table_values_below(tables, f, ("cols",), i.w, "resize")
    return Footprint(inputs=(_n(i),), output=_n(o), tables=dict(rows=o.h, cols=o.w))


def _resize_bilinear(f, function, tables) -> Footprint:
    i, o = f["in_"], f["out"]
    _table_values_below(tables, f, ("y0", "y1"), i.h, "resize")
    _table_values_below(tables, f, ("x0", "x1"), i.w, "resize")
    return Footprint(inputs=(_n(i),), output=_n(o),
                     tables=dict(y=o.h, y0=o.h, y1=o.h, x=o.w, x0=o.w, x1=o.w))


def _prelu(f, function, tables) -> Footprint:
    o = f["out"]
    return Footprint(inputs=(_strided_extent(o, f["in_stride"]), _strided_extent(o, f["alpha_stride"])),
                     output=_n(o), tables={})


def _transpose(f, function, tables) -> Footprint:
    dims, strides = f["dims"], f["in_stride"]
    out = 1
    for d in dims:
        out *= d
    return Footprint(inputs=(1 + sum((d - 1) * s for d, s in zip(dims, strides)),), output=out, tables={})


def _batch_matmul(f, function, tables) -> Footprint:
    batches = f["batch"][0] * f["batch"][1] * f["batch"][2]
    rows, cols, depth = f["rows"], f["cols"], f["depth"]
    lhs = 1 + sum((b - 1) * s for b, s in zip(f["batch"], f["lhs_batch_stride"])) \
        + (rows - 1) * f["lhs_row_stride"] + (depth - 1) * f["lhs_k_stride"]
    rhs = 1 + sum((b - 1) * s for b, s in zip(f["batch"], f["rhs_batch_stride"])) \
        + (cols - 1) * f["rhs_col_stride"] + (depth - 1) * f["rhs_k_stride"]
    return Footprint(inputs=(lhs, rhs), output=batches * rows * cols, tables={})


def _bitpack(f, function, tables) -> Footprint:
    return Footprint(inputs=(f["outer"] * f["channels"],), output=f["outer"] * f["words"], tables={})


def _unpack(f, function, tables) -> Footprint:
    return Footprint(inputs=(f["outer"] * f["words"],), output=f["outer"] * f["channels"], tables={})


def _bconv(f, function, tables) -> Footprint:
    i, o = f["in_"], f["out"]
    if f["in_words"] != (i.c + 31) // 32 or f["out_words"] != (o.c + 31) // 32:
        raise EdgepipeError(f"binary conv packs {i.c}/{o.c} channels into {f['in_words']}/{f['out_words']} words")
    pixels = o.n * o.h * o.w
    tables_read = dict(weights=o.c * f["kh"] * f["kw"] * f["in_words"])
    tables_read.update(dict(thresholds=o.c) if f["bitpacked_out"] else dict(mult=o.c, bias=o.c))
    return Footprint(inputs=(i.n * i.h * i.w * f["in_words"],),
                     output=pixels * (f["out_words"] if f["bitpacked_out"] else o.c), tables=tables_read,
                     products=(o.h * f["stride_h"] + f["kh"] * f["dil_h"], o.w * f["stride_w"] + f["kw"] * f["dil_w"]))


def _strided_slice(f, function, tables) -> Footprint:
    hi = 0
    for count, start, step, stride in zip(f["count"], f["start"], f["step"], f["in_stride"]):
        first, last = start, start + (count - 1) * step
        if count < 1 or min(first, last) < 0:
            raise EdgepipeError(f"strided slice starts at {start} with step {step} x {count}: below 0")
        hi += max(first, last) * stride
    out = 1
    for count in f["count"]:
        out *= count
    return Footprint(inputs=(hi + 1,), output=out, tables={})


def _transpose_conv(f, function, tables) -> Footprint:
    i, o = f["in_"], f["out"]
    return Footprint(inputs=(_n(i),), output=_n(o),
                     tables=dict(weights=o.c * f["kh"] * f["kw"] * i.c, bias32=o.c, bias64=o.c, mult=o.c,
                                 shift=o.c),
                     products=(i.h * f["stride_h"] + f["kh"], i.w * f["stride_w"] + f["kw"]))


def _lstm(f, function, tables) -> Footprint:
    steps, state, inputs = f["batches"] * f["time_steps"], f["batches"] * f["state_dim"], f["input_dim"]
    s = f["state_dim"]
    return Footprint(inputs=(steps * inputs, state, state), output=steps * s,
                     tables=dict(in_weights=4 * s * inputs, rec_weights=4 * s * s, bias=4 * s, bias64=4 * s))


def _svdf(f, function, tables) -> Footprint:
    if f["filters"] != f["units"] * f["rank"]:
        raise EdgepipeError(f"SVDF of {f['filters']} filters in {f['units']} units of rank {f['rank']}")
    weights = f["filters"] * f["memory"]
    return Footprint(inputs=(f["batches"] * f["input_dim"], f["batches"] * weights),
                     output=f["batches"] * f["units"],
                     tables=dict(feature_weights=f["filters"] * f["input_dim"], time_weights16=weights,
                                 time_weights8=weights, bias=f["units"]))


def _copy(f, function, tables) -> Footprint:
    return Footprint(inputs=(f["bytes"],), output=f["bytes"], tables={})


def _call_once(f, function, tables) -> Footprint:
    """Writes size[k] bytes at offset[k] of the state region and the flag byte; reads the image."""
    offsets = [int(v) for v in tables[f["offset"].text]][:f["count"]]
    sizes = [int(v) for v in tables[f["size"].text]][:f["count"]]
    if len(offsets) != f["count"] or len(sizes) != f["count"] or min(offsets + sizes + [f["flag"]]) < 0:
        raise EdgepipeError(f"CALL_ONCE: {f['count']} initial values, tables of {len(offsets)}/{len(sizes)}")
    return Footprint(inputs=(), output=max([f["flag"] + 1] + [o + n for o, n in zip(offsets, sizes)]),
                     tables=dict(offset=f["count"], size=f["count"], image=sum(sizes)))


FOOTPRINTS = {
    "ep_conv_params": _conv, "ep_fc_params": _fc, "ep_pool_params": _pool, "ep_binary_params": _binary,
    "ep_pad_params": _pad, "ep_mean_params": _mean, "ep_concat_params": _concat,
    "ep_softmax_params": _softmax, "ep_sigmoid_params": _flat("size"), "ep_requant_params": _flat("size"),
    # int16x8 (kernels_s16)
    "ep_conv_s16_params": _conv, "ep_fc_s16_params": _fc, "ep_softmax_s16_params": _softmax_s16,
    "ep_sigmoid_s16_params": _flat("size"), "ep_strided_slice_params": _strided_slice,
    "ep_transpose_conv_params": _transpose_conv,
    # MobileNet-family and common ops (kernels_mobile)
    "ep_relu_params": _flat("size"), "ep_clip_params": _flat("size"), "ep_hard_swish_params": _flat("size"),
    "ep_leaky_relu_params": _flat("size"), "ep_dequantize_params": _flat("size"), "ep_prelu_params": _prelu,
    "ep_minmax_params": _binary, "ep_transpose_params": _transpose, "ep_resize_nn_params": _resize_nn,
    "ep_resize_bilinear_params": _resize_bilinear, "ep_batch_matmul_params": _batch_matmul,
    # persistent state (kernels_state): READ/ASSIGN_VARIABLE copies, CALL_ONCE initial values
    "ep_copy_params": _copy, "ep_call_once_params": _call_once,
    # binarized (Larq Compute Engine ops, lce_kernels): int32 words hold 32 packed channels
    # recurrent (kernels_rnn): the state inputs are read and written in place
    "ep_lstm_params": _lstm, "ep_svdf_params": _svdf,
    "ep_bitpack_params": _bitpack, "ep_unpack_params": _unpack, "ep_bconv_params": _bconv,
}


def footprint(call, tables: dict) -> Footprint:
    """The footprint of a kernels.Call; `tables` maps table names to their values."""
    struct_type, fields = call.struct_type, call.fields
    rule = FOOTPRINTS.get(struct_type)
    if rule is None:
        raise EdgepipeError(f"internal: no bounds rule for kernel parameters {struct_type}; "
                            "add one to firmware_gen/bounds.py")
    fp = rule(fields, call.function, tables)
    for v in (*fp.inputs, fp.output, *fp.tables.values(), *fp.products):
        if not 0 <= v <= INT32_MAX:
            raise EdgepipeError(f"index arithmetic of {struct_type} reaches {v}, outside 32 bits")
    return fp

