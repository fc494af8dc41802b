"""Helium (Cortex-M55) depthwise and average-pool paths that the testdata models and the edge model
of test_kernels_arm.py do not reach, run on the emulated board and compared with TFLM:

- the 3x3 plane kernel (ep_conv.c, ep_dw3x3_vm) on maps taller than one plane chunk (first, middle
  and last chunk; padding rows only in the first and last), with stride 2 and SAME padding on the
  bottom/right only, and with channels whose requantization shift is >= 0 (a left shift or none:
  its general requantization; every testdata layer shifts right);
- the one-input-channel kernel (ep_dw_c1_mve) with a filter narrower than 8 (every window
  predicated) and unequal strides, and with an 8-wide filter of two row pairs (its interior loop
  for filters other than micro_speech's five pairs);
- AVERAGE_POOL_2D windows of more than 256 taps (the int16 sums flushed to int32), clipped SAME
  windows, and channel counts that are not a multiple of 16.

One small model, fixed seeds, the real converter; only the M55 board (these are its kernels)."""

from __future__ import annotations

import os

import int8_models
import numpy as np
import pytest

from edgepipe_base import tflite_file
from firmware_gen import qmath
from pipeline.bench import board as board_bench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dw_model(tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras
    L = keras.layers

    keras.utils.set_random_seed(5)
    x = L.Input((40, 40, 4))
    zero_sum = L.DepthwiseConv2D(3, padding="valid")
    a = zero_sum(x)                                                       # 38x38x4, valid
    b = L.DepthwiseConv2D(3, padding="same")(a)                           # 38x38: three plane chunks
    c = L.DepthwiseConv2D(3, strides=2, padding="same")(b)                # 19x19, padding bottom/right
    c1 = L.Conv2D(1, 1)(c)                                                # one input channel:
    d = L.DepthwiseConv2D((4, 5), depth_multiplier=4, strides=(1, 2), padding="same")(c1)  # every window predicated
    d8 = L.DepthwiseConv2D((4, 8), depth_multiplier=8, padding="same")(c1)  # interior windows, 2 row pairs
    e = L.AveragePooling2D((38, 38))(b)                                   # 1444 taps, 4 channels
    f = L.AveragePooling2D(3, strides=2, padding="same")(c)               # clipped windows
    y = L.Concatenate()([L.Flatten()(t) for t in (c, d, d8, e, f)])
    model = keras.Model(x, y)
    # the first layer's kernels sum to zero: calibrated on inputs that are nearly constant across
    # space, its outputs are tiny, so its multipliers are >= 0.5 (the output scale is per tensor)
    w, bias = zero_sum.get_weights()
    lap = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0])
    cross = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    for ch, k in enumerate((lap, -lap, cross, 0.5 * cross)):
        w[:, :, ch, 0] = k
    bias[:] = 0.0
    zero_sum.set_weights([w, bias])

    rng = np.random.default_rng(0)

    def rep():
        for _ in range(24):
            level = rng.uniform(-1, 1, size=(1, 1, 1, 4))
            yield [(level + 0.001 * rng.normal(size=(1, 40, 40, 4))).astype(np.float32)]

    tflite = int8_models.to_int8(model, rep)
    path = tmp_path_factory.mktemp("dw") / "dw_mve.tflite"
    path.write_bytes(tflite)
    return path


def test_dw_model_reaches_the_branches(dw_model):
    sg = tflite_file.read(dw_model).main
    dws = [op for op in sg.operators if op.opcode == "DEPTHWISE_CONV_2D"]
    shifts = []
    for op in dws:
        x, w, y = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
        if w.shape[1:3] == (3, 3):
            shifts += [qmath.quantize_multiplier(x.scale[0] * ws / y.scale[0])[1] for ws in w.scale]
    assert max(shifts) >= 0 and min(shifts) < 0            # both requantizations of the plane kernel
    assert max(sg.tensors[op.outputs[0]].shape[1] for op in dws) == 38          # several plane chunks
    c1 = [op for op in dws if sg.tensors[op.inputs[0]].shape[-1] == 1]
    assert sorted(sg.tensors[op.inputs[1]].shape[2] for op in c1) == [5, 8]    # narrower than 8, and 8
    pools = [op for op in sg.operators if op.opcode == "AVERAGE_POOL_2D"]
    assert {op.builtin_options.filterHeight * op.builtin_options.filterWidth for op in pools} == {1444, 9}


def test_dw_model_bit_exact_with_tflm_on_m55(dw_model, tmp_path):
    sg = tflite_file.read(dw_model).main
    shape = sg.tensors[sg.inputs[0]].shape
    inputs = np.random.default_rng(13).integers(-128, 128, size=(6, *shape[1:]), dtype=np.int8)
    r = board_bench.run("mps3-an547", dw_model, inputs, None, tmp_path)
    assert r["samples"] == 6
    assert r["mismatches"] == 0, f"{r['mismatches']} of 6 samples differ from TFLM"
