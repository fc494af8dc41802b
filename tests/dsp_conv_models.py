"""A chain of int8 CONV_2D layers written with TFLite's flatbuffer schema (object API), for the DSP
word-stream conv kernel (runtime/ep_conv.c ep_conv_pairs_dsp16, firmware_gen/dsp_layout.py): every
layer qualifies for it, and together they enter its 8-group loop body at every offset (k / 4 % 8 =
0..7), run the activation clamp (fused ReLU / ReLU6 whose range is not all of int8) and the variant
without it, a layer without bias, a lone last pixel (odd pixel counts), 1x1 filters read in place
(stride 1) and strided, and padded, dilated and 1xN windows widened through ep_patch_widen. The
converter cannot be told the quantization ranges (a fused ReLU's zero point is always -128 after
calibration), hence the schema. Used by tests/test_kernels_arm.py."""

from __future__ import annotations

import numpy as np

# (kh, kw, out_c, stride, dilation, padding, activation, out_zero_point, bias): in_c follows the chain
# activation: 0 NONE, 1 RELU, 3 RELU6 (schema ActivationFunctionType)
LAYERS = (
    (1, 1, 8, 1, 1, "VALID", 0, 3, False),     # k 12 (3 groups): in place, 63 pixels, no bias
    (3, 3, 20, 1, 1, "SAME", 3, -30, True),    # k 72 (18): borders, ReLU6 inside int8: the clamp
    (3, 3, 8, 1, 1, "VALID", 0, 7, True),      # k 180 (45): 5x7 pixels, pairs across rows inside
    (1, 1, 4, 2, 1, "VALID", 1, -128, True),   # k 8 (2): strided 1x1, ReLU = all of int8: no clamp
    (3, 3, 16, 1, 2, "SAME", 0, 10, True),     # k 36 (9): dilation 2
    (1, 1, 12, 1, 1, "VALID", 1, -60, True),   # k 16 (4): ReLU above -128: the lower clamp
    (1, 2, 32, 1, 1, "SAME", 0, -5, True),     # k 24 (6): a 1x2 window cut by the right border
    (1, 1, 4, 1, 1, "VALID", 0, 0, True),      # k 32 (8)
    (1, 7, 6, 1, 1, "SAME", 3, -128, True),    # k 28 (7)
)
INPUT_SHAPE = (1, 7, 9, 12)


def _out_size(n, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    return -(-n // stride) if padding == "SAME" else (n - eff) // stride + 1


def conv_chain(seed: int = 0) -> bytes:
    from flatbuffers import Builder

    from edgepipe_base import tflite_file
    s = tflite_file.schema()
    rng = np.random.default_rng(seed)
    buffers = [s.BufferT()]

    def buffer(values):
        b = s.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
        buffers.append(b)
        return len(buffers) - 1

    def tensor(name, dtype, shape, scale, zp, data=None, axis=0):
        t = s.TensorT()
        t.name, t.type, t.shape = name.encode(), getattr(s.TensorType, dtype), list(shape)
        q = s.QuantizationParametersT()
        q.scale = [float(v) for v in np.atleast_1d(scale)]
        q.zeroPoint = [int(v) for v in np.broadcast_to(zp, len(q.scale))]
        q.quantizedDimension = axis
        t.quantization = q
        t.buffer = buffer(data) if data is not None else 0
        tensors.append(t)
        return len(tensors) - 1

    tensors, ops = [], []
    n, h, w, c = INPUT_SHAPE
    x_scale, x = 0.05, tensor("input", "INT8", INPUT_SHAPE, 0.05, 5)
    for i, (kh, kw, oc, stride, dil, padding, act, zp, has_bias) in enumerate(LAYERS):
        k = kh * kw * c
        wts = rng.integers(-127, 128, size=(oc, kh, kw, c), dtype=np.int8)
        acc = np.sqrt(k) * 64 * 100         # a typical accumulator
        if act == 3:
            # ReLU6: real outputs around 9 (so 6 clips) at 6 = 100 steps: the upper clamp acts
            w_scale = 9 / (x_scale * acc) * (1 + 0.05 * np.arange(oc))
            y_scale = 6 / 100
        else:
            # a typical accumulator is 60 steps of output
            w_scale = 0.004 * (1 + 0.05 * np.arange(oc))
            y_scale = float(x_scale * w_scale.mean() * acc / 60)
        wt = tensor(f"conv{i}/w", "INT8", wts.shape, w_scale, 0, wts)
        inputs = [x, wt]
        if has_bias:
            bias = rng.integers(-3000, 3000, size=oc, dtype=np.int32)
            inputs.append(tensor(f"conv{i}/b", "INT32", (oc,), np.float32(x_scale) * w_scale.astype(np.float32),
                                 0, bias))
        else:
            inputs.append(-1)
        h, w = _out_size(h, kh, stride, dil, padding), _out_size(w, kw, stride, dil, padding)
        y = tensor(f"conv{i}/out", "INT8", (n, h, w, oc), y_scale, zp)
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, inputs, [y]
        op.builtinOptionsType = s.BuiltinOptions.Conv2DOptions
        o = s.Conv2DOptionsT()
        o.padding = getattr(s.Padding, padding)
        o.strideH = o.strideW = stride
        o.dilationHFactor = o.dilationWFactor = dil
        o.fusedActivationFunction = act
        op.builtinOptions = o
        ops.append(op)
        x, x_scale, c = y, y_scale, oc
    sg = s.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs, sg.name = tensors, ops, [0], [x], b"main"
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CONV_2D
    code.version = 3
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [sg], buffers
    m.description = b"edgepipe test: DSP conv stream"
    b = Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
