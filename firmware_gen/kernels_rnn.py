"""Kernel builders for the recurrent ops: UNIDIRECTIONAL_SEQUENCE_LSTM (int8, as the TFLite converter
quantizes a Keras LSTM: int8 activations and weights, int16 cell state, int32 bias; and int16x8:
int16 activations, int64 bias, which TFLM runs though the converter refuses to write it) and SVDF
(int8 with int16 or int8 state). Each fills the struct of runtime/ep_rnn.h with what TFLM's Prepare
computes (lstm_eval_common.cc, svdf_common.cc; float32 vs double as there) and refuses, in one
line, anything TFLM's reference kernel would not run or the C kernel could not run safely.

The ops' state tensors (is_variable) live in the engine's state region (firmware_gen/state.py); the
kernels update them in place through pointers into it, so the state carries over between
invocations as in TFLM, and `<prefix>_reset()` fills it with its zero point as TFLM's reset does.
"""

from __future__ import annotations

import math

import numpy as np

from edgepipe_base.errors import EdgepipeError

from . import qmath
from .kernels import Call, Kernel

INT32_MAX = (1 << 31) - 1
GATE_INPUT_SCALE = 2.0 ** -12      # the gates' FC outputs: Q3.12 (TFLM's nonlinear_input_scale)
GATE_OUTPUT_SCALE = 2.0 ** -15     # sigmoid / tanh outputs: Q0.15
# TFLite's LSTM inputs (lstm_shared.h): gates in the order i, f, g (cell), o
LSTM_INPUT_WEIGHTS = (1, 2, 3, 4)
LSTM_RECURRENT_WEIGHTS = (5, 6, 7, 8)
LSTM_BIASES = (12, 13, 14, 15)
LSTM_HIDDEN, LSTM_CELL = 18, 19
LSTM_VARIANTS = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection", 17: "projection",
                 20: "layer norm", 21: "layer norm", 22: "layer norm", 23: "layer norm"}
TANH, SIGMOID_TFLITE = 4, 6          # schema ActivationFunctionType TANH; TfLite's kTfLiteActSigmoid
# inputs of each op that are its state (variable tensors): their type does not pick the kernel
STATE_INPUTS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": (LSTM_HIDDEN, LSTM_CELL), "SVDF": (4,)}


def _fail(node, what: str):
    raise EdgepipeError(f"layer '{node.name}' ({node.opcode}): {what}")


def _conv_multiplier(node, x, w, out_scale: float) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler + QuantizeMultiplier: float32 scale product, double
    division by the output scale; per-tensor weights only (TFLM's LSTM ignores per-channel scales)."""
    if len(w.scale) != 1:
        _fail(node, f"per-channel weights '{w.name}'; TFLM's LSTM uses one weight scale per tensor "
                    "(convert with the default per-tensor LSTM quantization)")
    m, s = qmath.quantize_multiplier(qmath.float32(np.float32(x.s) * np.float32(w.s)) / out_scale)
    if m == 0 or not -31 <= s <= 30:
        _fail(node, f"weights '{w.name}': scale ratio not representable")
    return m, s


def _mul_multiplier(node, a: float, b: float, out: float) -> tuple[int, int]:
    """CreateInterGateMulParams: double product and quotient of the float scales."""
    m, s = qmath.quantize_multiplier(float(np.float32(a)) * float(np.float32(b)) / float(np.float32(out)))
    if m == 0 or not -31 <= s <= 30:
        _fail(node, f"gate product scale {a:g} x {b:g} / {out:g} is not representable")
    return m, s


def _const(node, ctx, k: int, dtype: str, shape: tuple):
    i = node.inputs[k] if k < len(node.inputs) else -1
    if i < 0:
        _fail(node, f"input {k} is missing")
    t = ctx.tensor(i)
    if not t.is_constant or t.dtype != dtype or tuple(t.shape) != tuple(shape):
        _fail(node, f"input {k} '{t.name}' must be a constant {dtype} tensor of shape {list(shape)} "
                    f"(got {'a constant' if t.is_constant else 'an activation'} {t.dtype} {list(t.shape)})")
    return t


def _state(node, ctx, k: int, dtype: str, elements: int):
    i = node.inputs[k] if k < len(node.inputs) else -1
    if i < 0:
        _fail(node, f"state input {k} is missing")
    t = ctx.tensor(i)
    if not t.is_variable or t.dtype != dtype or t.elements != elements:
        _fail(node, f"state '{t.name}' must be a variable {dtype} tensor of {elements} values "
                    f"(got {t.dtype} {list(t.shape)})")
    if any(i in n.outputs for n in ctx.g.nodes) or i in ctx.g.inputs:
        _fail(node, f"state '{t.name}' is written by another op or is the model input; it must be a "
                    "variable tensor")
    return t


def _check_sums(node, what: str, worst: int):
    if worst > INT32_MAX:
        _fail(node, f"{what} can overflow the 32-bit accumulator ({worst}); the layer is too large or "
                    "its weights malformed for int8 kernels")


def lstm(node, ctx) -> Call:
    x, y = ctx.tensor(node.inputs[0]), ctx.tensor(node.outputs[0])
    o = node.options
    if x.dtype not in ("INT8", "INT16"):
        _fail(node, f"{x.dtype} input; the C engine runs the int8 LSTM (int8 activations and weights, "
                    "int16 cell state), as the TFLite converter quantizes a Keras LSTM, and the int16x8 one")
    sixteen = x.dtype == "INT16"          # int16x8: int16 activations, int64 bias (TFLM's EvalLstm<int16_t, ...>)
    act = "INT16" if sixteen else "INT8"
    if len(node.inputs) != 24 or len(node.outputs) != 1:
        _fail(node, f"{len(node.inputs)} inputs and {len(node.outputs)} outputs; the op takes 24 and 1")
    variants = sorted({v for k, v in LSTM_VARIANTS.items() if node.inputs[k] >= 0})
    if any(node.inputs[k] < 0 for k in LSTM_INPUT_WEIGHTS + LSTM_RECURRENT_WEIGHTS + LSTM_BIASES):
        variants.append("CIFG (no input gate)")
    if variants:
        _fail(node, f"LSTM with {', '.join(variants)}; TFLM (and the C engine) run the standard Keras LSTM only")
    if len(x.shape) != 3:
        _fail(node, f"input of shape {list(x.shape)}; the LSTM needs [batch, time, features]")
    time_major = bool(getattr(o, "timeMajor", False))
    t_steps, batches = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    in_dim = int(x.shape[2])
    w_f = ctx.tensor(node.inputs[2])
    state_dim = int(w_f.shape[0]) if len(w_f.shape) == 2 else 0
    if state_dim < 1:
        _fail(node, f"weights of shape {list(w_f.shape)}")
    w_in = [_const(node, ctx, k, "INT8", (state_dim, in_dim)) for k in LSTM_INPUT_WEIGHTS]
    w_rec = [_const(node, ctx, k, "INT8", (state_dim, state_dim)) for k in LSTM_RECURRENT_WEIGHTS]
    biases = [_const(node, ctx, k, "INT64" if sixteen else "INT32", (state_dim,)) for k in LSTM_BIASES]
    h = _state(node, ctx, LSTM_HIDDEN, act, batches * state_dim)
    c = _state(node, ctx, LSTM_CELL, "INT16", batches * state_dim)
    if y.dtype != act or tuple(y.shape) != (int(x.shape[0]), int(x.shape[1]), state_dim):
        _fail(node, f"output {y.dtype} {list(y.shape)}; expected {act} {[int(x.shape[0]), int(x.shape[1]), state_dim]}")
    if sixteen and (x.zp != 0 or h.zp != 0):
        _fail(node, "int16 input and hidden state must be symmetric (zero point 0)")
    if (y.s, y.zp) != (h.s, h.zp):
        # TFLM copies the hidden state's bytes to the output: both must mean the same values
        _fail(node, f"output quantization ({y.s:g}, {y.zp}) differs from the hidden state's ({h.s:g}, {h.zp})")
    if any(w.zp != 0 for w in w_in + w_rec) or c.zp != 0:
        _fail(node, "weights and cell state must be symmetric (zero point 0)")
    activation = int(getattr(o, "fusedActivationFunction", 0) or 0)
    if activation not in (TANH, SIGMOID_TFLITE):
        _fail(node, f"cell activation {activation}; TFLM's LSTM runs tanh (or sigmoid) only")
    pot, cell_power = qmath.checked_log2(c.s)
    if not pot or not -40 <= cell_power <= 2:
        _fail(node, f"cell state scale {c.s:g} is not a power of two in 2^-40..2^2; TFLM's integer tanh "
                    "needs one (convert with the TFLite converter's LSTM quantization)")
    tanh_shift = 15 + cell_power - 3
    cell_tanh = (3, -tanh_shift) if tanh_shift < 0 else (3 << tanh_shift, 0)
    cell_clip = float(np.float32(getattr(o, "cellClip", 0.0) or 0.0))
    if not math.isfinite(cell_clip) or cell_clip < 0:
        _fail(node, f"cell clip {cell_clip:g} is not finite and >= 0")
    # CreateLstmCellStateInfo: static_cast<int16_t>(clamp(double(cell_clip) / double(scale)))
    q_clip = int(min(max(cell_clip / float(np.float32(c.s)), -32768.0), 32767.0)) if cell_clip > 0 else 0
    # accumulators: |w| x |x + offset| summed over a row (+ the bias) must stay in int32 (int8), or
    # within the +-2^47 of TFLM's 64-bit requantization (int16x8)
    limit = (1 << 47) - 1 if sixteen else INT32_MAX
    span = 32768 if sixteen else 128
    for g in range(4):
        wi = np.abs(w_in[g].data.astype(np.int64)).sum(axis=1)
        wr = np.abs(w_rec[g].data.astype(np.int64)).sum(axis=1)
        b = np.abs(biases[g].data.astype(np.int64)) if not sixteen else \
            np.abs(biases[g].data.astype(np.float64))          # an int64 bias may be huge: no int64 overflow
        for what, worst in (("an input gate FC", (wi * (span + abs(x.zp)) + b).max()),
                            ("a recurrent gate FC", (wr * (span + abs(h.zp))).max())):
            if worst > limit:
                _fail(node, f"{what} can overflow its accumulator ({worst:.0f}); the layer is too large or its "
                            "weights malformed")
    in_pairs = [_conv_multiplier(node, x, w, GATE_INPUT_SCALE) for w in w_in]
    rec_pairs = [_conv_multiplier(node, h, w, GATE_INPUT_SCALE) for w in w_rec]
    if sixteen and any(s >= 8 for _, s in in_pairs + rec_pairs):
        _fail(node, "a gate FC's scale ratio needs a left shift of 8 or more; TFLM's 64-bit requantization "
                    "allows at most 7")
    forget = _mul_multiplier(node, GATE_OUTPUT_SCALE, c.s, c.s)
    inp = _mul_multiplier(node, GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, c.s)
    hidden = _mul_multiplier(node, GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, h.s)
    bias_values = np.concatenate([b.data.reshape(-1) for b in biases])
    return Call(
        function="ep_lstm_s16" if sixteen else "ep_lstm_s8", struct_type="ep_lstm_params",
        fields=dict(batches=batches, time_steps=t_steps, input_dim=in_dim, state_dim=state_dim,
                    time_major=int(time_major), in_offset=-x.zp, hidden_offset=-h.zp, hidden_zero_point=h.zp,
                    cell_gate_tanh=int(activation == TANH),
                    in_mult=[m for m, _ in in_pairs], in_shift=[s for _, s in in_pairs],
                    rec_mult=[m for m, _ in rec_pairs], rec_shift=[s for _, s in rec_pairs],
                    forget_mult=forget[0], forget_shift=forget[1], input_mult=inp[0], input_shift=inp[1],
                    hidden_mult=hidden[0], hidden_shift=hidden[1],
                    cell_tanh_mult=cell_tanh[0], cell_tanh_shift=cell_tanh[1], cell_clip=q_clip,
                    in_weights=ctx.table("in_weights", "int8_t", np.concatenate([w.data.reshape(-1) for w in w_in])),
                    rec_weights=ctx.table("rec_weights", "int8_t",
                                          np.concatenate([w.data.reshape(-1) for w in w_rec])),
                    bias=None if sixteen else ctx.table("bias", "int32_t", bias_values),
                    bias64=ctx.table("bias", "int64_t", bias_values) if sixteen else None),
        inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[LSTM_HIDDEN]), ctx.ptr(node.inputs[LSTM_CELL])],
        macs=batches * t_steps * 4 * state_dim * (in_dim + state_dim))


def svdf(node, ctx) -> Call:
    x, y = ctx.tensor(node.inputs[0]), ctx.tensor(node.outputs[0])
    if x.dtype != "INT8" or y.dtype != "INT8":
        _fail(node, f"{x.dtype} -> {y.dtype}; the C engine runs the int8 SVDF (TFLM's integer reference)")
    if len(node.inputs) != 5 or len(node.outputs) != 1:
        _fail(node, f"{len(node.inputs)} inputs; the op takes 5 (input, feature and time weights, bias, state)")
    if len(x.shape) != 2:
        _fail(node, f"input of shape {list(x.shape)}; SVDF needs [batch, features]")
    rank = int(getattr(node.options, "rank", 0) or 0)
    batches, in_dim = int(x.shape[0]), int(x.shape[1])
    wf = ctx.tensor(node.inputs[1])
    filters = int(wf.shape[0]) if len(wf.shape) == 2 else 0
    if rank < 1 or filters < 1 or filters % rank:
        _fail(node, f"rank {rank} with {filters} filters; the filters must split into rank-sized units")
    units = filters // rank
    wf = _const(node, ctx, 1, "INT8", (filters, in_dim))
    wt = ctx.tensor(node.inputs[2])
    if wt.dtype not in ("INT16", "INT8") or len(wt.shape) != 2:
        _fail(node, f"time weights {wt.dtype} {list(wt.shape)}; TFLM needs int16 or int8 [filters, memory]")
    memory = int(wt.shape[1])
    wt = _const(node, ctx, 2, wt.dtype, (filters, memory))
    if node.inputs[3] < 0:
        _fail(node, "no bias; TFLM's integer SVDF reads the bias scale (convert with a bias)")
    bias = _const(node, ctx, 3, "INT32", (units,))
    state = _state(node, ctx, 4, wt.dtype, batches * filters * memory)
    if tuple(y.shape) != (batches, units):
        _fail(node, f"output shape {list(y.shape)}; the op gives {[batches, units]}")
    if len(wf.scale) != 1 or len(wt.scale) != 1:
        _fail(node, "per-channel weights; TFLM's SVDF uses one scale per weight tensor")
    if abs(float(np.float32(bias.s)) - float(np.float32(state.s) * np.float32(wt.s))) >= 1e-5:
        _fail(node, f"bias scale {bias.s:g} is not state scale x time weight scale (TFLM refuses it)")
    f32 = np.float32
    # TFLM: static_cast<double>(float product and quotient)
    feature = qmath.quantize_multiplier(float(f32(x.s) * f32(wf.s) / f32(state.s)))
    out = qmath.quantize_multiplier(float(f32(state.s) * f32(wt.s) / f32(y.s)))
    for m, s in (feature, out):
        if m == 0 or not -31 <= s <= 30:
            _fail(node, "a requantization scale ratio is not representable")
    _check_sums(node, "the feature dot product",
                int((np.abs(wf.data.astype(np.int64)).sum(axis=1) * (128 + abs(x.zp))).max()))
    s_lo, s_hi = (-32768, 32767) if wt.dtype == "INT16" else (-128, 127)
    state_span = max(s_hi - state.zp, state.zp - s_lo)
    per_filter = np.abs(wt.data.astype(np.int64)).sum(axis=1) * state_span
    per_unit = per_filter.reshape(units, rank).sum(axis=1) + np.abs(bias.data.astype(np.int64))
    _check_sums(node, "the time weights x memory sum", int(per_unit.max()))
    sixteen = wt.dtype == "INT16"
    return Call(
        function="ep_svdf_s8_s16" if sixteen else "ep_svdf_s8_s8", struct_type="ep_svdf_params",
        fields=dict(batches=batches, input_dim=in_dim, filters=filters, units=units, rank=rank, memory=memory,
                    in_zero_point=x.zp, state_zero_point=state.zp, out_zero_point=y.zp,
                    feature_mult=feature[0], feature_shift=feature[1], out_mult=out[0], out_shift=out[1],
                    feature_weights=ctx.table("feature_weights", "int8_t", wf.data),
                    time_weights16=ctx.table("time_weights", "int16_t", wt.data) if sixteen else None,
                    time_weights8=None if sixteen else ctx.table("time_weights", "int8_t", wt.data),
                    bias=ctx.table("bias", "int32_t", bias.data)),
        inputs=[ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[4])],
        macs=batches * filters * (in_dim + memory))


KERNELS = (
    Kernel("UNIDIRECTIONAL_SEQUENCE_LSTM", "ep_lstm_s8", "ep_rnn.c",
           "int8 activations and weights, int16 cell state, int32 bias (the converter's Keras LSTM); "
           "tanh cell gate, cell clip, batch- or time-major, state in the state region; no peephole/projection/"
           "layer norm/CIFG; int16x8 too (`ep_lstm_s16`, int64 bias; TFLM runs it, the converter does not write it)",
           lstm),
    Kernel("SVDF", "ep_svdf_s8_s16", "ep_rnn.c",
           "int8 input and output, int8 feature weights, int16 time weights and state, int32 bias "
           "(int8 time weights and state: `ep_svdf_s8_s8`); state in the state region",
           svdf),
)
