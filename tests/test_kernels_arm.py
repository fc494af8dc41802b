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
import sys
from pathlib import Path

import int8_models
import numpy as np
import pytest

from firmware_gen import build, codegen
from edgepipe_base import tflite_file
from firmware_gen import boards
from pipeline.bench import board as board_bench

sys.path.insert(0, str(Path(__file__).parent))
from model_fuzz import pack  # noqa: E402

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
    # a stem-like 3x3/2 conv, 8 filters of 3 rows x 15 bytes: Helium copies interior windows a
    # filter row at a time, border windows by predicated row loads (ep_patch_rows_mve)
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

    tflite = int8_models.to_int8(model, rep)
    path = tmp_path_factory.mktemp("edge") / "simd_edges.tflite"
    path.write_bytes(tflite)
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


@pytest.fixture(scope="module")
def mve_conv_models(tmp_path_factory):
    """The Helium CONV_2D paths the testdata models and the edge model leave out. The first model:
    a strided 1x1 conv with a patch shorter than a vector (the intrinsics loop), a pointwise k = 48
    patch held in three registers feeding 72 channels (two chunks of sums: 64 + 8), a (2, 3) filter
    over 5 channels (a 30-byte patch: the small-patch path, border and interior windows), stride-1
    pointwise convs with k = 5 and k = 16 (filters held in registers, channels outer). The
    second: one 3x3 conv, the model's output, whose output scale is made smaller after conversion
    so its multipliers need a left shift (the general requantization; the others shift right
    only)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras
    L = keras.layers

    def convert(model, name, patch=None):
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(32):
                yield [rng.normal(0, 1, size=(1, 10, 9, 5)).astype(np.float32)]

        tflite = int8_models.to_int8(model, rep)
        m = tflite_file.schema().ModelT.InitFromPackedBuf(bytearray(tflite), 0)
        if patch is not None:
            patch(m.subgraphs[0])
        path = tmp_path_factory.mktemp("mveconv") / f"{name}.tflite"
        path.write_bytes(pack(m))
        return path

    def left_shifts(sg):
        (op,) = [op for op in sg.operators if len(sg.tensors[op.outputs[0]].shape) == 4]
        out = sg.tensors[op.outputs[0]]
        q = [sg.tensors[i].quantization.scale for i in op.inputs[:2]]
        # the smallest power of two that lifts the largest real multiplier to 1 or more: a left
        # shift of at least 1 (a larger factor would saturate more of the outputs)
        worst = float(q[0][0]) * float(np.max(q[1])) / float(out.quantization.scale[0])
        factor = 2.0 ** np.ceil(np.log2(1.0 / worst) + 1e-6)
        out.quantization.scale = np.asarray(out.quantization.scale, dtype=np.float32) / np.float32(factor)

    keras.utils.set_random_seed(5)
    x = L.Input((10, 9, 5))
    a = L.Conv2D(48, 1, strides=2, activation="relu")(x)            # k = 5, 48 channels
    b = L.Conv2D(72, 1)(a)                                          # k = 48, 72 channels
    c = L.Conv2D(4, (2, 3), padding="same")(x)                      # k = 30, rows of 15 bytes
    e = L.Conv2D(8, 1)(L.Conv2D(16, 1, activation="relu")(x))       # pointwise k = 5 and k = 16
    y = L.Dense(3)(L.Concatenate()([L.GlobalAveragePooling2D()(t) for t in (b, c, e)]))
    paths = convert(keras.Model(x, y), "mve_conv")
    x = L.Input((10, 9, 5))
    d = L.Conv2D(12, 3, padding="same")(x)                          # k = 45
    return paths, convert(keras.Model(x, d), "mve_conv_left", left_shifts)


def test_mve_conv_models_reach_the_paths(mve_conv_models):
    shapes, left = set(), False
    for path in mve_conv_models:
        sg = tflite_file.read(path).main
        for op in sg.operators:
            if op.opcode != "CONV_2D":
                continue
            x, w, y = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
            shapes.add((int(np.prod(w.shape[1:])), int(w.shape[2] * w.shape[3]), y.shape[-1]))
            left |= max(x.scale[0] * s / y.scale[0] for s in w.scale) >= 1.0
    assert shapes == {(5, 5, 48), (48, 48, 72), (30, 15, 4), (45, 15, 12), (5, 5, 16), (16, 16, 8)}
    # ^ (k, kw * in_c, out_c)
    assert left     # QuantizeMultiplier gives a left shift >= 1 from a real multiplier of 1 up


def test_mve_conv_paths_bit_exact_with_tflm(mve_conv_models, tmp_path):
    for i, path in enumerate(mve_conv_models):
        r = board_bench.run("mps3-an547", path, _inputs(path, 20, seed=13), None, tmp_path / str(i))
        assert r["mismatches"] == 0, f"{path.name}: {r['mismatches']} of 20 samples differ from TFLM"


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


@pytest.fixture(scope="module")
def dsp_conv_model(tmp_path_factory):
    import dsp_conv_models
    path = tmp_path_factory.mktemp("dspconv") / "dsp_conv_chain.tflite"
    path.write_bytes(dsp_conv_models.conv_chain())
    return path


def _generate_with_int16_from(min_pixels):
    """codegen.generate with dsp_layout.INT16_MIN_PIXELS set: 0 stores every layer's weights as
    int16, a large value every layer's as int8."""
    from firmware_gen import dsp_layout

    def generate(tflite_path, out_dir, prefix):
        old = dsp_layout.INT16_MIN_PIXELS
        dsp_layout.INT16_MIN_PIXELS = min_pixels
        try:
            return codegen.generate(tflite_path, out_dir, prefix)
        finally:
            dsp_layout.INT16_MIN_PIXELS = old
    return generate


DSP_FORMATS = {"int16": 0, "int8": 1 << 30}


@pytest.mark.parametrize("fmt", sorted(DSP_FORMATS))
def test_dsp_conv_model_reaches_every_entry(fmt, dsp_conv_model, tmp_path):
    """Every layer of the chain gets the DSP word stream, in the format asked for; the 8-group loop
    body is entered at each of its 8 offsets; the clamped and unclamped variants, a lone last pixel
    and a bias-less layer are all there."""
    import dsp_conv_models
    from firmware_gen import dsp_layout
    m = tflite_file.read(dsp_conv_model)
    sg = m.main
    convs = [op for op in sg.operators if op.opcode == "CONV_2D"]
    ks = [int(np.prod(sg.tensors[op.inputs[1]].shape[1:])) for op in convs]
    assert {k // 4 % 8 for k in ks} == set(range(8))
    assert any(len(op.inputs) < 3 or op.inputs[2] < 0 for op in convs)
    assert {int(np.prod(sg.tensors[op.outputs[0]].shape[1:3])) % 2 for op in convs} == {0, 1}
    src = _generate_with_int16_from(DSP_FORMATS[fmt])(dsp_conv_model, tmp_path, "dc").c_path.read_text()
    tables = re.findall(r"dc_l\d+_dsp_weights\[(\d+)\] DC_ALIGN16 = \{\s*(-?\d+),", src)
    assert len(tables) == len(convs) == len(dsp_conv_models.LAYERS)
    wide = fmt == "int16"
    assert [(int(n), int(f)) for n, f in tables] == \
        [(dsp_layout.words(int(sg.tensors[op.outputs[0]].shape[-1]), k, wide), 16 if wide else 8)
         for op, k in zip(convs, ks)]
    ranges = re.findall(r"\.act_min = (-?\d+),\s*\.act_max = (-?\d+)", src)
    assert ("-128", "127") in ranges and any(lo != "-128" for lo, _ in ranges) and \
        any(hi != "127" for _, hi in ranges)


def test_dsp_layout_default_format_follows_the_pixels(dsp_conv_model, tmp_path):
    """By default (INT16_MIN_PIXELS) the chain's 63- and 35-pixel layers store int16 weights, its
    12-pixel layers int8."""
    from firmware_gen import dsp_layout
    m = tflite_file.read(dsp_conv_model)
    pixels = [int(np.prod(m.main.tensors[op.outputs[0]].shape[1:3])) for op in m.main.operators]
    src = codegen.generate(dsp_conv_model, tmp_path, "dc").c_path.read_text()
    formats = [int(f) for f in re.findall(r"dc_l\d+_dsp_weights\[\d+\] DC_ALIGN16 = \{\s*(-?\d+),", src)]
    assert formats == [16 if n >= dsp_layout.INT16_MIN_PIXELS else 8 for n in pixels]
    assert set(formats) == {8, 16}


# the format only changes DSP builds: the M3 build holds the int8 weights instead (the M55 builds of
# the testdata models, whose layers have streams too, do the same for Helium)
@pytest.mark.parametrize("board_id, fmt", [(b, f) for b in DSP_BOARDS for f in sorted(DSP_FORMATS)] +
                         [("mps2-an385", "int16")])
def test_dsp_conv_model_bit_exact_with_tflm(board_id, fmt, dsp_conv_model, tmp_path):
    """The DSP stream kernel on the M4 and M7, both weight formats; the M3 build of the same model
    holds the int8 weights instead (the stream's table is emitted for DSP builds only)."""
    r = board_bench.run(board_id, dsp_conv_model, _inputs(dsp_conv_model, 20, seed=13), None, tmp_path,
                        generate=_generate_with_int16_from(DSP_FORMATS[fmt]))
    assert r["mismatches"] == 0, f"{board_id} ({fmt}): {r['mismatches']} of 20 samples differ from TFLM"


DSP_RQ_CHECK = r"""
#include <stdio.h>
#include "ep_fixedpoint.h"

/* ep_conv.c's 4-instruction requantization (EP_DSP16_RQ) written out in C, instruction by
 * instruction: A = 2a (the doubled stream), ADD t = C + (A asr 31), SMMLAR x = high word of
 * (t << 32) + A * m + 2^31, ASR x by s, SSAT #8 of x asr 1 */
static int32_t dsp_rq(int32_t a, int32_t m, int32_t shift, int32_t off)
{
    const int32_t s = -shift - 1, A = a * 2;
    const int32_t c = (int32_t)((int64_t)(2 * off + 1) * ((int64_t)1 << s));
    const int32_t t = c + (A >> 31);
    int32_t x = (int32_t)(((int64_t)t * 4294967296LL + (int64_t)A * m + 2147483648LL) >> 32);
    x = (x >> s) >> 1;
    return x < -128 ? -128 : (x > 127 ? 127 : x);
}

static int32_t reference(int32_t a, int32_t m, int32_t shift, int32_t off)
{
    const int32_t x = ep_mbqm(a, m, shift) + off;
    return x < -128 ? -128 : (x > 127 ? 127 : x);
}

int main(void)
{
    static const int32_t edge_a[] = {0, 1, -1, 2, -2, 3, -3, 127, -128, 1 << 20, -(1 << 20),
                                     (1 << 30) - 1, -(1 << 30) + 1, (1 << 29), -(1 << 29)};
    static const int32_t edge_m[] = {0, 1 << 30, (1 << 30) + 1, 0x7fffffff, 0x7ffffffe, 0x55555555};
    uint32_t r = 2463534242u;
    long i;
    unsigned j, k;
    int32_t sh, off;
    for (j = 0; j < sizeof edge_a / sizeof edge_a[0]; ++j) {
        for (k = 0; k < sizeof edge_m / sizeof edge_m[0]; ++k) {
            for (sh = -22; sh <= -1; ++sh) {
                for (off = -128; off <= 127; ++off) {
                    if (dsp_rq(edge_a[j], edge_m[k], sh, off) != reference(edge_a[j], edge_m[k], sh, off)) {
                        printf("differs at a=%ld m=%ld shift=%ld off=%ld\n", (long)edge_a[j], (long)edge_m[k],
                               (long)sh, (long)off);
                        return 1;
                    }
                }
            }
        }
    }
    for (i = 0; i < 20000000L; ++i) {
        int32_t a, m;
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        a = (int32_t)(r & 0x7fffffffu) - (1 << 30);          /* |a| < 2^30, then often smaller */
        a >>= (int)((r >> 27) & 15u);
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        m = (int32_t)(r | 0x40000000u) & 0x7fffffff;         /* [2^30, 2^31), as quantize_multiplier */
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        sh = -1 - (int32_t)(r % 22u);
        off = (int32_t)((r >> 8) & 255u) - 128;
        if (a == -(1 << 30)) {
            continue;
        }
        if (dsp_rq(a, m, sh, off) != reference(a, m, sh, off)) {
            printf("differs at a=%ld m=%ld shift=%ld off=%ld\n", (long)a, (long)m, (long)sh, (long)off);
            return 1;
        }
    }
    return 0;
}
"""


def test_dsp_stream_requantization_equals_tflm(tmp_path):
    """The DSP stream kernel's 4-instruction requantization (ep_conv.c EP_DSP16_RQ; what
    dsp_layout.qualifies admits: |acc| < 2^30, right shifts 1..22, multipliers 0 or [2^30, 2^31))
    against TFLM's MultiplyByQuantizedMultiplier + offset + int8 saturation (ep_mbqm): every
    output offset and shift for edge accumulators and multipliers, and 20M pseudo-random cases,
    under UBSan."""
    src = tmp_path / "dsp_rq_check.c"
    src.write_text(DSP_RQ_CHECK)
    exe = build.compile_host([src], tmp_path / "dsp_rq_check", include_dirs=[codegen.RUNTIME_DIR],
                             opt="-O2", extra=["-fsanitize=undefined", "-fno-sanitize-recover=all"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
