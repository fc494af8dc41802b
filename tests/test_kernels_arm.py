"""The optimized kernels (ep_simd.h: Arm DSP SMLAD on Cortex-M4/M7, Helium MVE on Cortex-M55) on
their emulated boards, bit-exact with TFLM like the portable path the host tests run.

The host build always takes the portable path, so these tests are the only ones that execute the
DSP and MVE inner loops: the testdata models plus a small model whose odd shapes reach every tail
(channel counts that are not multiples of the SIMD width, dot products shorter than a vector,
padding borders, stride 2, dilation, depth multipliers 1/4/8, a filter too big for the im2col
buffer, odd pixel counts for the 2-pixel DSP blocks, channel counts that leave short 2- and
4-channel blocks, 1x1 filters read straight from the input). Fixed seeds; few samples, since emulated MVE
instructions are slow."""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest

from firmware_gen import build, codegen
from edgepipe_base import tflite_file
from firmware_gen import boards
from pipeline.bench import board as board_bench

pytestmark = pytest.mark.slow

DSP_BOARDS = ("mps2-an386", "mps2-an500")       # Cortex-M4F, Cortex-M7: SMLAD path
MVE_BOARDS = ("mps3-an547",)                     # Cortex-M55: Helium path
SAMPLES = {"tflm_hello_world_int8": 50, "tflm_micro_speech_int8": 20,
           "mlperf_tiny_kws_ref_model": 12, "mlperf_tiny_ic_resnet8_int8": 8}


def _inputs(path, n, seed=0):
    m = tflite_file.read(path)
    shape = m.main.tensors[m.main.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


def _core_flags():
    """Compiler flags of every distinct core among the board files."""
    flags = {}
    for board in boards.all_boards().values():
        flags.setdefault(" ".join(board.cflags()), board.cflags())
    return flags


def test_every_core_has_a_board_flag_set():
    cpus = {f[0] for f in _core_flags().values()}
    assert {"-mcpu=cortex-m0", "-mcpu=cortex-m3", "-mcpu=cortex-m4", "-mcpu=cortex-m7",
            "-mcpu=cortex-m55"} <= cpus


@pytest.mark.parametrize("portable", [False, True], ids=["optimized", "portable"])
def test_runtime_compiles_warning_free_for_every_core(portable, tmp_path):
    """-std=c99 -Wall -Wextra -Werror, every runtime file, host gcc and every board's core."""
    sources = sorted(codegen.RUNTIME_DIR.glob("ep_*.c"))
    defines = ["-DEP_PORTABLE_KERNELS"] if portable else []
    build.compile_objects(sources, tmp_path / "host", include_dirs=[codegen.RUNTIME_DIR], flags=defines)
    for i, flags in enumerate(_core_flags().values()):
        build.compile_objects(sources, tmp_path / f"arm{i}", include_dirs=[codegen.RUNTIME_DIR],
                              flags=[*flags, *defines], cc="arm-none-eabi-gcc")


def _asm(tmp_path, flags, cc="arm-none-eabi-gcc"):
    out = tmp_path / "ep_conv.s"
    subprocess.run([cc, "-std=c99", "-O2", *flags, f"-I{codegen.RUNTIME_DIR}", "-S",
                    str(codegen.RUNTIME_DIR / "ep_conv.c"), "-o", str(out)], check=True)
    return out.read_text()


@pytest.mark.parametrize("board_id, expect", [("mps2-an385", "portable"), ("mps2-an386", "dsp"),
                                              ("mps2-an500", "dsp"), ("mps3-an547", "mve"),
                                              ("microbit", "portable")])
def test_kernel_variant_follows_the_core_and_the_switch(board_id, expect, tmp_path):
    flags = boards.load_board(board_id).cflags()
    asm = _asm(tmp_path, flags)
    assert bool(re.search(r"\bsmlad\b", asm)) == (expect == "dsp")
    assert bool(re.search(r"\bvmladava\.s8\b", asm)) == (expect == "mve")
    forced = _asm(tmp_path, [*flags, "-DEP_PORTABLE_KERNELS"])
    assert not re.search(r"\b(smlad|vmladava\.s8)\b", forced)


@pytest.mark.parametrize("model", sorted(SAMPLES))
@pytest.mark.parametrize("board_id", [*DSP_BOARDS, *MVE_BOARDS])
def test_testdata_models_bit_exact_with_tflm(board_id, model, testdata, tmp_path):
    path = testdata / f"{model}.tflite"
    r = board_bench.run(board_id, path, _inputs(path, SAMPLES[model], seed=11), None, tmp_path)
    assert r["samples"] == SAMPLES[model]
    assert r["mismatches"] == 0, f"{model} on {board_id}: {r['mismatches']} samples differ from TFLM"


@pytest.fixture(scope="module")
def edge_model(tmp_path_factory):
    """Odd shapes for the SIMD tails; converted by the real TFLite converter (int8, per channel)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers

    keras.utils.set_random_seed(3)
    x = L.Input((9, 7, 5))
    a = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)                 # dm 1, 5 channels
    b = L.DepthwiseConv2D(3, depth_multiplier=4, strides=2, padding="same")(a)     # dm 4, 20 channels
    c = L.Conv2D(7, 3, padding="same", activation="relu")(b)        # runs of 60/40 bytes, 7 filters
    d = L.Conv2D(6, 3, padding="valid")(x)                           # runs of 15 bytes
    e = L.DepthwiseConv2D((3, 2), depth_multiplier=8, padding="same")(L.Conv2D(2, 1)(d))  # dm 8
    f = L.Dense(9, activation="relu")(L.Flatten()(c))                # depth 140
    g = L.Conv2D(3, (5, 11), padding="same")(b)     # 1100-byte filters: above the im2col buffer
    kernel = tf.constant(np.random.default_rng(1).normal(0, 0.3, size=(3, 3, 5, 4)), tf.float32)
    h = L.Lambda(lambda v: tf.nn.conv2d(v, kernel, strides=1, padding="SAME", dilations=2))(x)
    # blocked conv path: stride 2 with padding (im2col, 5x4 = 20 pixels, 5 filters: a short channel
    # block), a strided 1x1 read straight from the input (5 x 4 pixels, k = 5: a 1-byte tail)
    i = L.Conv2D(5, 3, strides=2, padding="same")(x)
    j = L.Conv2D(3, 1, strides=2)(x)
    # pointwise, stride 1: filters of 20 bytes (Helium: one full vector + a predicated tail) and
    # of 7 bytes (Helium: the filters stay loaded), 5 and 3 output channels
    k = L.Conv2D(3, 1)(L.Conv2D(7, 1)(L.Conv2D(5, 1)(b)))
    # MUL and ADD of same-shape tensors: the flat elementwise loops (5x4x3 = 60 elements)
    jm = L.Add()([L.Multiply()([j, L.Conv2D(3, 1, strides=2)(x)]), j])
    # an ADD with a fused ReLU: the DSP ADD loop that clamps to the activation range (jm's does not)
    jr = L.ReLU()(L.Add()([jm, L.Conv2D(3, 1, strides=2)(x)]))
    # 3x3 depthwise with 16 channels (Helium's 3x3 path: 8-channel passes, pixel pairs, an odd row
    # of 7 with padding taps; then stride 2 without padding), ReLU6 fused (the DSP byte-lane clamp)
    dw16 = L.ReLU(6.0)(L.DepthwiseConv2D(3, padding="same")(L.Conv2D(16, 1)(x)))
    dw16s = L.DepthwiseConv2D(3, strides=2, padding="valid")(dw16)
    # a stem-like 3x3/2 conv, 8 filters of 3 rows x 15 bytes: Helium reads interior windows row by
    # row from the input (the border windows through im2col)
    st = L.Conv2D(8, 3, strides=2, padding="same")(x)
    # DSP channel-major 3x3 depthwise at stride 2 with SAME padding on every border, 5 channels (a
    # 1-channel group after a 4-channel one), ReLU; and AVERAGE_POOL_2D with SAME padding (windows
    # of 4, 6 and 9 pixels) over 13 channels: the DSP pool's 8- and 4-channel passes and a 1-byte tail
    dws2 = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    ap = L.AveragePooling2D(3, strides=2, padding="same")(L.Conv2D(13, 1)(x))
    pooled = [L.GlobalAveragePooling2D()(t) for t in (e, g, h, i, jm, jr, k, dw16s)]
    # (TFLM's CONCATENATION takes at most 10 inputs)
    # a ReLU depthwise whose output shares a CONCATENATION's scale with x: its activation range is
    # narrower than int8 (the DSP depthwise requantization that clamps)
    dwc = L.Concatenate()([L.DepthwiseConv2D(3, padding="same", activation="relu")(x), x])
    # rows of 42 pixels: the DSP 3x3 depthwise keeps only the window's three rows (a ring), both strides
    wide = L.Concatenate(axis=2)([x] * 6)
    dww1 = L.DepthwiseConv2D(3, padding="same")(wide)
    dww2 = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(wide)
    # one input channel, 8-column filters (micro_speech's depthwise): the DSP path's window pairs in
    # the image and through the padded strip at both borders, stride 2 with an odd row of 21 and
    # stride 1 with depth multiplier 3
    mono = L.Conv2D(1, 1)(wide)
    dwm2 = L.DepthwiseConv2D((4, 8), strides=2, depth_multiplier=4, padding="same")(mono)
    dwm1 = L.DepthwiseConv2D((3, 8), depth_multiplier=3, padding="same", activation="relu")(mono)
    pooled.append(L.Concatenate()([L.GlobalAveragePooling2D()(t)
                                   for t in (st, dws2, ap, dwc, dww1, dww2, dwm2, dwm1)]))
    y = L.Dense(3)(L.Concatenate()([f, *pooled]))       # depth 9 + 16 + 3 + 4 + 5 + 3 + 3 + 3 + 16 + 8 + 5 + 13
    model = keras.Model(x, y)

    rng = np.random.default_rng(0)

    def rep():
        for _ in range(32):
            yield [rng.normal(0, 1, size=(1, 9, 7, 5)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("edge") / "simd_edges.tflite"
    path.write_bytes(conv.convert())
    return path


def test_edge_model_reaches_the_tails(edge_model):
    m = tflite_file.read(edge_model)
    sg = m.main
    multipliers = set()
    for op in sg.operators:
        if op.opcode == "DEPTHWISE_CONV_2D":
            multipliers.add(sg.tensors[op.outputs[0]].shape[-1] // sg.tensors[op.inputs[0]].shape[-1])
    assert multipliers == {1, 3, 4, 8}
    convs = [op for op in sg.operators if op.opcode == "CONV_2D"]
    assert len(convs) == 16
    dw3x3 = [op for op in sg.operators if op.opcode == "DEPTHWISE_CONV_2D" and
             sg.tensors[op.inputs[0]].shape[-1] == 16 and sg.tensors[op.outputs[0]].shape[-1] == 16]
    assert {op.builtin_options.strideW for op in dw3x3} == {1, 2}     # Helium's 3x3 path, both strides
    assert any(op.builtin_options.fusedActivationFunction == 3 for op in dw3x3)   # RELU6
    dw5 = [op for op in sg.operators if op.opcode == "DEPTHWISE_CONV_2D" and sg.tensors[op.inputs[0]].shape[-1] == 5
           and sg.tensors[op.outputs[0]].shape[-1] == 5]
    assert {(op.builtin_options.strideW, op.builtin_options.padding) for op in dw5} == {(1, 0), (2, 0)}   # SAME
    assert any(sg.tensors[op.outputs[0]].zero_point[0] > -128 and op.builtin_options.fusedActivationFunction == 1
               for op in dw5)                          # a ReLU range narrower than int8
    assert {op.builtin_options.strideW for op in dw5 if sg.tensors[op.inputs[0]].shape[2] == 42} == {1, 2}
    mono = [op for op in sg.operators if op.opcode == "DEPTHWISE_CONV_2D" and sg.tensors[op.inputs[0]].shape[-1] == 1]
    assert {(op.builtin_options.strideW, sg.tensors[op.inputs[1]].shape[2]) for op in mono} == {(1, 8), (2, 8)}
    pools = [op for op in sg.operators if op.opcode == "AVERAGE_POOL_2D"]
    assert [sg.tensors[op.inputs[0]].shape[-1] for op in pools] == [13]
    assert {"MUL", "ADD"} <= {op.opcode for op in sg.operators}
    adds = [op for op in sg.operators if op.opcode == "ADD"]
    assert {op.builtin_options.fusedActivationFunction for op in adds} == {0, 1}    # unclamped and ReLU
    strided = [op for op in convs if op.builtin_options.strideW == 2]
    assert {int(np.prod(sg.tensors[op.inputs[1]].shape[1:3])) for op in strided} == {1, 9}   # 1x1 and 3x3
    pixels = {int(np.prod(sg.tensors[op.outputs[0]].shape[1:3])) % 2 for op in convs}
    assert pixels == {0, 1}          # odd pixel counts leave a short last 2-pixel block on the DSP path
    assert max(op.builtin_options.dilationWFactor for op in convs) == 2          # per-tap im2col
    assert max(int(np.prod(sg.tensors[op.inputs[1]].shape[1:])) for op in convs) > 1024   # fallback


@pytest.mark.parametrize("board_id", [*DSP_BOARDS, *MVE_BOARDS, "mps2-an385"])
def test_edge_model_bit_exact_with_tflm(board_id, edge_model, tmp_path):
    r = board_bench.run(board_id, edge_model, _inputs(edge_model, 30, seed=12), None, tmp_path)
    assert r["mismatches"] == 0, f"{board_id}: {r['mismatches']} of 30 samples differ from TFLM"


SRDHM_CHECK = r"""
#include <stdio.h>
#include "ep_fixedpoint.h"

/* gemmlowp's SaturatingRoundingDoublingHighMul as written there (and in this runtime before) */
static int32_t gemmlowp_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int32_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

int main(void)
{
    static const int32_t edge[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -(1 << 30) + 1,
                                   -65537, -65536, -3, -2, -1, 0, 1, 2, 3, 65536, 65537,
                                   (1 << 30) - 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX};
    const int n = (int)(sizeof edge / sizeof edge[0]);
    uint32_t s = 2463534242u;
    long i;
    int j, k;
    for (j = 0; j < n; ++j) {
        for (k = 0; k < n; ++k) {
            if (ep_srdhm(edge[j], edge[k]) != gemmlowp_srdhm(edge[j], edge[k])) {
                printf("differs at %ld %ld\n", (long)edge[j], (long)edge[k]);
                return 1;
            }
        }
    }
    for (i = 0; i < 20000000L; ++i) {
        int32_t a, b;
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        a = (int32_t)s;
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        /* every other pair: small accumulators against a multiplier in [2^30, 2^31), as in requantization */
        b = (i & 1) ? (int32_t)(s | 0x40000000u) & INT32_MAX : (int32_t)s;
        if (i & 2) {
            a >>= (int)(s & 31u);
        }
        if (ep_srdhm(a, b) != gemmlowp_srdhm(a, b)) {
            printf("differs at %ld %ld\n", (long)a, (long)b);
            return 1;
        }
    }
    return 0;
}
"""


def test_srdhm_shortcut_equals_gemmlowp(tmp_path):
    """ep_srdhm's floor((ab + 2^30) / 2^31) against gemmlowp's nudge-and-truncate form: edge values
    and 20M pseudo-random pairs, under UBSan (the host path's arithmetic is the reference)."""
    src = tmp_path / "srdhm_check.c"
    src.write_text(SRDHM_CHECK)
    exe = build.compile_host([src], tmp_path / "srdhm_check", include_dirs=[codegen.RUNTIME_DIR],
                             opt="-O2", extra=["-fsanitize=undefined", "-fno-sanitize-recover=all"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
