"""The Cortex-M4/M7 stem kernel (ep_conv_stem_dsp in runtime/ep_conv.c: convolutions with few input
channels, filters widened at generation time by firmware_gen/stem.py) on its emulated boards,
bit-exact with TFLM.

One small model reaches every branch: input channels 1, 2, 3 and 4; filter rows of 3 bytes (byte by
byte), 4 (KWS's 10x4x1), 6, 9 (the 3x3x3 stems' unrolled rows), 12, 15 (a row's remaining bytes
split across two words) and 20; padding on all four borders (whole rows above and below the image,
rows cut on the left and the right), stride 1 and 2, filter rows 2 input rows apart (dilation 2 x 1),
output pixel counts that leave short last blocks of 1, 2 and 3 pixels, blocks of four windows
inside the image and blocks across output rows, no activation, ReLU and ReLU6. The same model holds
the ADDs of the DSP ADD loop (ep_add_dsp in runtime/ep_elementwise.c): either input with the larger
scale, and equal scales, and the MAX_POOL_2Ds of the DSP max pool (ep_max_pool_dsp in
runtime/ep_pool.c). Every conv output reaches the model output flattened (no pooling that could
hide a one-LSB error). Fixed seeds."""

from __future__ import annotations

import os
import re

import int8_models
import numpy as np
import pytest

from edgepipe_base import tflite_file
from firmware_gen import codegen, stem
from pipeline.bench import board as board_bench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stem_model(tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers

    keras.utils.set_random_seed(5)
    x = L.Input((13, 13, 3))
    dilated = tf.constant(np.random.default_rng(1).normal(0, 0.3, size=(3, 3, 3, 4)), tf.float32)
    one = L.Conv2D(1, 1)(x)
    two = L.Conv2D(2, 1)(x)
    convs = [
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x),         # 3x3x3 /2: 49 px
        L.Conv2D(6, 3, strides=(2, 1), padding="same", activation="relu6")(x),   # 7 x 13 = 91 px
        L.Conv2D(4, (3, 5), padding="same")(x),                                  # rows of 15 bytes
        L.Conv2D(8, (10, 4), strides=2, padding="same", activation="relu")(one),  # KWS-like, 49 px
        L.Conv2D(4, 3, strides=2, padding="same")(one),                          # rows of 3 bytes
        L.Conv2D(4, 3, padding="valid")(one),                                     # no padding taps
        L.Conv2D(4, 3, padding="same", activation="relu")(two),                   # rows of 6 bytes
        # rows 2 apart (a Keras dilated Conv2D converts to SPACE_TO_BATCH_ND; tf.nn.conv2d stays one op)
        L.Lambda(lambda t: tf.nn.conv2d(t, dilated, strides=1, padding="SAME", dilations=[2, 1]))(x),
    ]
    a = convs[0]                                                                  # 7x7x4
    # four input channels: the DSP conv stream (dsp_layout) takes these, not the stem kernel
    b = L.Conv2D(4, (3, 5), padding="same", activation="relu")(a)                # rows of 20 bytes
    c = L.Conv2D(6, (5, 3), strides=(2, 1), padding="valid")(b)                  # rows of 12: 2x5 = 10 px
    # the same row lengths from fewer channels, for the stem kernel
    b2 = L.Conv2D(4, (3, 10), padding="same", activation="relu")(two)            # rows of 20 bytes
    c2 = L.Conv2D(6, (5, 4), strides=(2, 1), padding="valid")(x)                 # rows of 12: 5x10 = 50 px
    # the DSP ADD (ep_elementwise.c, ep_add_dsp): the input with the larger scale first, second, and
    # both the same tensor (equal scales); the loop with the ReLU clamp runs in test_kernels_arm's
    # edge model (the converter leaves this model's ReLU a separate op)
    small, big = (keras.initializers.RandomNormal(0, sd, seed=k) for k, sd in ((1, 0.2), (2, 3.0)))
    u, z = (L.Conv2D(2, 1, kernel_initializer=small)(t) for t in (x, two))
    v, w = (L.Conv2D(2, 1, kernel_initializer=big)(t) for t in (x, two))
    adds = [L.Add()([u, v]), L.Add()([w, z]), L.Add()([u, u])]
    # the DSP MAX_POOL_2D (ep_pool.c, ep_max_pool_dsp): 2x2 windows in the image over 6 channels (a
    # word of four and two single channels), 3x3 stride 2 SAME (windows cut to 3x2, 2x3 and 2x2 at
    # the borders), 2x2 SAME cut to one row / column with a ReLU the converter fuses (the clamp)
    # the Helium 3x3 conv over one input channel (ep_conv.c, ep_conv3x3c1_mve: five groups of four
    # filters, padding on every border) and the Helium MAX_POOL_2D (ep_max_pool_mve) over 20
    # channels: a whole vector of 16 and a predicated tail of 4
    c20 = L.Conv2D(20, 3, padding="same", activation="relu")(one)
    pools = [L.MaxPool2D(2)(convs[1]), L.MaxPool2D(3, strides=2, padding="same")(convs[6]),
             L.ReLU()(L.MaxPool2D(2, padding="same")(convs[2])), L.MaxPool2D(2)(c20)]
    # TFLM's CONCATENATION takes at most 10 inputs
    y = L.Concatenate()([L.Concatenate()([L.Flatten()(t) for t in convs]),
                         L.Concatenate()([L.Flatten()(t) for t in (b, c, b2, c2, c20)]),
                         *(L.Flatten()(t) for t in adds),
                         L.Concatenate()([L.Flatten()(t) for t in pools])])
    model = keras.Model(x, y)

    rng = np.random.default_rng(0)

    def rep():
        for _ in range(32):
            yield [rng.normal(0, 1, size=(1, 13, 13, 3)).astype(np.float32)]

    tflite = int8_models.to_int8(model, rep)
    path = tmp_path_factory.mktemp("stem") / "stems.tflite"
    path.write_bytes(tflite)
    return path


def _stem_convs(path):
    """(input shape, filter shape, output shape, stride w, padding, activation) of each conv the
    generator gives the stem kernel's table."""
    sg = tflite_file.read(path).main
    out = []
    for op in sg.operators:
        if op.opcode != "CONV_2D":
            continue
        x, w, y = (sg.tensors[op.inputs[k]].shape for k in (0, 1)), None, sg.tensors[op.outputs[0]].shape
        x, w = (tuple(int(d) for d in t) for t in x)
        o = op.builtin_options
        if stem.words(w[1], w[2], w[3]) <= stem.MAX_WORDS and w[3] <= stem.MAX_IN_C and w[0] % 2 == 0 \
                and w[0] >= 4:
            out.append((x, w, tuple(int(d) for d in y), o.strideH, o.padding, o.fusedActivationFunction,
                        op.index))
    return out


def _dilations(path):
    sg = tflite_file.read(path).main
    return {(op.builtin_options.dilationHFactor, op.builtin_options.dilationWFactor)
            for op in sg.operators if op.opcode == "CONV_2D"}


def test_stem_model_reaches_every_branch(stem_model, tmp_path):
    small = _stem_convs(stem_model)
    assert len(small) == 13
    assert (2, 1) in _dilations(stem_model)                                   # dilated rows
    # the generated C: one table per such layer, under EP_KERNELS_DSP only; the DSP conv stream
    # where the layer qualifies for it (four input channels here), else the stem kernel's
    gen = codegen.generate(stem_model, tmp_path, "st")
    c = gen.c_path.read_text()
    stems = {int(i) for i in re.findall(r"static const int32_t st_l(\d+)_stem_weights\[", c)}
    streams = {int(i) for i in re.findall(r"static const int32_t st_l(\d+)_dsp_weights\[", c)}
    assert not stems & streams
    assert streams == {t[-1] for t in small if t[1][3] == 4}
    convs = [t for t in small if t[-1] in stems]
    assert len(convs) == 11
    assert len(re.findall(r"#if EP_KERNELS_DSP\nstatic const int32_t st_l\d+_(stem|dsp)_weights\[", c)) == 13
    assert len(re.findall(r"\.stem_weights = st_l\d+_stem_weights,", c)) == 11
    runs = {w[2] * w[3] for _, w, *_ in convs}
    assert runs == {3, 4, 6, 9, 12, 15, 20}
    assert {w[3] for _, w, *_ in convs} == {1, 2, 3}
    assert {(w[2] * w[3]) % 4 for _, w, *_ in convs} == {0, 1, 2, 3}        # remaining bytes per row
    assert {y[1] * y[2] % 4 for _, _, y, *_ in convs} == {1, 2, 3}          # short last blocks
    assert {t[5] for t in convs} == {0, 1, 3}                                # none, ReLU, ReLU6
    assert {t[3] for t in convs} == {1, 2}                                   # strides
    # ep_conv3x3c1_mve (M55): 3x3 over one channel, SAME and VALID, one and several groups of four
    c1 = {(w[0], t[4]) for t in small for w in [t[1]] if w[1:] == (3, 3, 1)}
    assert c1 >= {(4, 0), (4, 1), (20, 0)}


@pytest.mark.parametrize("board_id", ["mps2-an386", "mps2-an500"])
def test_stem_unrolled_loop_has_fixed_steps(board_id, tmp_path):
    """ep_stem_pairs enters its unrolled loop by skipping (32 - words) * EP_STEM_STEP_BYTES bytes
    from the instruction after `add pc`: every step must be 44 bytes, the first 4 bytes after it."""
    import subprocess
    from firmware_gen import boards
    obj = tmp_path / "ep_conv.o"
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O2", *boards.load_board(board_id).cflags(),
                    f"-I{codegen.RUNTIME_DIR}", "-c", str(codegen.RUNTIME_DIR / "ep_conv.c"), "-o", str(obj)],
                   check=True)
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, capture_output=True,
                         text=True).stdout
    body = dis[dis.index("<ep_stem_pairs>:"):]
    body = body[:body.index("\n\n")]
    jump = [int(a, 16) for a in re.findall(r"^\s*([0-9a-f]+):.*\badd\s+pc, r", body, re.M)]
    steps = [int(a, 16) for a in re.findall(r"^\s*([0-9a-f]+):.*\bldrd\s+\w+, \w+, \[\w+\], #8$", body, re.M)]
    assert len(jump) == 1
    steps = [a for a in steps if a > jump[0]]
    assert len(steps) == stem.MAX_WORDS
    assert steps[0] == jump[0] + 4
    assert {b - a for a, b in zip(steps, steps[1:])} == {44}


def test_stem_table_layout_matches_the_tap_order():
    """stem.table: per filter pair 2*bias, words of doubled (w[a], w[b]) int16 pairs, then per filter
    multiplier, right shift, rounding offset."""
    w = np.arange(2 * 3 * 3 * 3, dtype=np.int64).reshape(2, 3, 3, 3).astype(np.int8) - 20
    t = stem.table(w, np.array([5, -7]), [100, 200], [-3, -4], -9)
    words = stem.words(3, 3, 3)
    assert words == 14 and len(t) == stem.table_words(3, 3, 3, 2) == 2 + 2 * words + 6
    assert list(t[:2]) == [10, -14] and list(t[-6:]) == [100, 3, 4 - 9 * 8, 200, 4, 8 - 9 * 16]
    # 3x3x1: the last word holds pad taps only (taps 8, -1 | -1, -1): the table leaves it out
    assert stem.words(3, 3, 1) == 6 and stem.steps(3, 3, 1) == 5 and stem.taps(3, 3, 1)[8:] == [8, -1, -1, -1]
    assert stem.steps(3, 3, 3) == words and stem.steps(10, 4, 1) == stem.words(10, 4, 1)
    assert len(stem.table(w[:, :, :, :1], None, [1, 1], [-1, -1], 0)) == stem.table_words(3, 3, 1, 2) == 2 + 10 + 6
    taps = stem.taps(3, 3, 3)
    assert taps[:8] == list(range(8)) and taps[24:] == [8, 17, 26, -1]
    flat = w.reshape(2, -1).astype(np.int64)
    for j in range(words):
        g, odd = divmod(j, 2)
        a, b = taps[4 * g + odd], taps[4 * g + odd + 2]
        for f in range(2):
            word = int(t[2 + 2 * j + f]) & 0xFFFFFFFF
            lo, hi = (int(np.uint16(v).view(np.int16)) for v in (word & 0xFFFF, word >> 16))
            assert lo == (2 * flat[f, a] if a >= 0 else 0) and hi == (2 * flat[f, b] if b >= 0 else 0)


def test_stem_model_reaches_every_add_case(stem_model):
    sg = tflite_file.read(stem_model).main
    adds = [op for op in sg.operators if op.opcode == "ADD"]
    signs = {np.sign(sg.tensors[op.inputs[0]].scale[0] - sg.tensors[op.inputs[1]].scale[0]) for op in adds}
    assert signs == {-1, 0, 1}             # which input has the larger scale: both rounding cases


def test_stem_model_reaches_every_max_pool_case(stem_model):
    """ep_max_pool_dsp: the unrolled 2x2 window (inside the image and cut by the border), the window
    loop (3x3, cut to 3x2 / 2x3 / 1x2 / 2x1 / 1x1), channel tails, the fused activation clamp."""
    from firmware_gen import qmath
    sg = tflite_file.read(stem_model).main
    pools = []
    for op in sg.operators:
        if op.opcode == "MAX_POOL_2D":
            o = op.builtin_options
            x, y = (tuple(int(d) for d in sg.tensors[t].shape) for t in (op.inputs[0], op.outputs[0]))
            same = o.padding == 0
            windows = set()
            for a in ("H", "W"):
                k, st = getattr(o, "filter" + ("Height" if a == "H" else "Width")), getattr(o, "stride" + a)
                size, out = (x[1], y[1]) if a == "H" else (x[2], y[2])
                _, pad = qmath.padding(st, 1, size, k, same)
                windows.add(tuple(sorted({min(k, size - (i * st - pad)) - max(0, pad - i * st)
                                          for i in range(out)})))
            pools.append((o.filterHeight, x[3], same, o.fusedActivationFunction, windows))
    assert {(k, c % 4 != 0, c >= 4) for k, c, *_ in pools} >= {(2, True, True), (3, False, True)}
    assert any(k == 3 and w == {(2, 3)} for k, _, _, _, w in pools)          # 3x3 cut to 2 rows / columns
    assert any(k == 2 and same and f == 1 and w == {(1, 2)} for k, _, same, f, w in pools)  # ReLU clamp
    assert any(c > 16 and c % 16 != 0 for _, c, *_ in pools)                # a vector and a tail (MVE)


# the M4 and M7 run the stem kernel; the M3 and M55 builds of the same generated C hold no stem
# tables (their fields are NULL) and take their own conv paths
@pytest.mark.parametrize("board_id", ["mps2-an386", "mps2-an500", "mps2-an385", "mps3-an547"])
def test_stem_model_bit_exact_with_tflm(board_id, stem_model, tmp_path):
    m = tflite_file.read(stem_model)
    shape = m.main.tensors[m.main.inputs[0]].shape
    x = np.random.default_rng(13).integers(-128, 128, size=(30, *shape[1:]), dtype=np.int8)
    r = board_bench.run(board_id, stem_model, x, None, tmp_path)
    assert r["samples"] == 30
    assert r["mismatches"] == 0, f"{board_id}: {r['mismatches']} of 30 samples differ from TFLM"
