"""Kernels that do not write their output in row order, on layers the planner places over their
dying input (codegen.LAG_OPS: the output starts lag_bytes below the input and overlaps it).

- a 3x3 depthwise over 20 and 12 channels whose lag (224 and 272 bytes) is not a multiple of the
  channel count: the M55 plane kernel (ep_dw3x3_vm, one channel at a time) would write a channel's
  outputs over input bytes of channels it has not read yet;
- a 3x3 depthwise over 8 channels on a 100x18 map: the plane runs along the output's height
  (transposed) in chunks of four output columns; even with a lag that is a multiple of the channel
  count, a column chunk's outputs land on input rows further down that the next chunk still reads.

The generated C is checked for the overlapping placement, then both boards are compared with TFLM
(M55: the plane kernel's dispatcher; M4: the DSP depthwise's ep_out_skew check)."""

from __future__ import annotations

import os
import re

import int8_models
import numpy as np
import pytest

from firmware_gen import codegen
from pipeline.bench import board as board_bench

pytestmark = pytest.mark.slow


def _convert(model, shape, path, seed):
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(16):
            yield [rng.uniform(-1, 1, size=(1, *shape)).astype(np.float32)]

    tflite = int8_models.to_int8(model, rep)
    path.write_bytes(tflite)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras
    L = keras.layers
    d = tmp_path_factory.mktemp("overlap")

    keras.utils.set_random_seed(3)
    x = L.Input((22, 22, 20))
    a = L.Conv2D(20, 1)(x)                                        # in the arena, dies at the DW
    b = L.DepthwiseConv2D(3, strides=2, padding="same")(a)        # 11x11x20, lag 224 (% 20 = 4)
    c = L.Conv2D(12, 1)(b)
    y = L.DepthwiseConv2D(3, padding="same")(c)                   # 11x11x12, lag 272 (% 12 = 8)
    skew = _convert(keras.Model(x, y), (22, 22, 20), d / "skew.tflite", 0)

    keras.utils.set_random_seed(4)
    x = L.Input((100, 18, 8))
    a = L.Conv2D(8, 1)(x)
    y = L.DepthwiseConv2D(3, padding="same")(a)                   # 100x18x8, lag 288 (% 8 = 0)
    tall = _convert(keras.Model(x, y), (100, 18, 8), d / "tall.tflite", 1)

    # row-order kernels (safe over an overlapping input by the planner's lag), each placed so
    keras.utils.set_random_seed(6)
    x = L.Input((24, 24, 3))
    a = L.Conv2D(3, 1)(x)
    b = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(a)   # 3 channels: DSP stem,
    c = L.Conv2D(12, 1)(b)                         # M55 small patch; k = 16 pointwise (channels outer
    pool = L.AveragePooling2D(3, strides=1, padding="same")(c)  # on the M55 only when apart); pools
    e = L.Conv2D(8, 3, padding="same")(pool)                     # 12 -> 8: DSP conv stream
    f = L.Conv2D(1, 1)(e)
    g = L.DepthwiseConv2D((4, 8), depth_multiplier=8, strides=2, padding="same")(f)  # one channel
    y = L.Conv2D(4, 1)(g)                          # (not a pool: DEPTHWISE + POOL would be streamed)
    rows = _convert(keras.Model(x, y), (24, 24, 3), d / "rows.tflite", 2)
    return {"skew": skew, "tall": tall, "rows": rows}


def _places(path, tmp_path):
    """(function, input offset, output offset) of every call from the arena to the arena."""
    gen = codegen.generate(path, tmp_path, "m")
    calls = re.findall(r"(ep_\w+)\(&m_l\d+, m_arena \+ (\d+), m_arena \+ (\d+)\)", gen.c_path.read_text())
    return [(f, int(i), int(o)) for f, i, o in calls]


@pytest.mark.parametrize("name,lags", [("skew", [224, 272]), ("tall", [288])])
def test_depthwise_output_overlaps_its_input(models, tmp_path, name, lags):
    places = [(i, o) for f, i, o in _places(models[name], tmp_path) if f == "ep_depthwise_conv2d"]
    assert [i - o for i, o in places] == lags


def test_row_order_layers_overlap_their_input(models, tmp_path):
    from edgepipe_base import tflite_file
    sg = tflite_file.read(models["rows"]).main
    sizes = [int(np.prod(sg.tensors[op.outputs[0]].shape)) for op in sg.operators]
    places = _places(models["rows"], tmp_path)
    assert [f for f, _, _ in places] == ["ep_conv2d", "ep_conv2d", "ep_avg_pool", "ep_conv2d", "ep_conv2d",
                                         "ep_depthwise_conv2d", "ep_conv2d"]
    c_src = (tmp_path / "m_model.c").read_text()
    assert ".stem_weights = m_l1_stem_weights" in c_src and ".dsp_weights = m_l4_dsp_weights" in c_src
    # every layer after the first: its output starts below its input and reaches into it
    for (f, i, o), n in zip(places, sizes[1:]):
        assert o < i < o + n, places


@pytest.mark.parametrize("board", ["mps3-an547", "mps2-an386"])
@pytest.mark.parametrize("name", ["skew", "tall", "rows"])
def test_overlapping_depthwise_bit_exact_with_tflm(models, tmp_path, board, name):
    from edgepipe_base import tflite_file
    sg = tflite_file.read(models[name]).main
    shape = sg.tensors[sg.inputs[0]].shape
    inputs = np.random.default_rng(7).integers(-128, 128, size=(2, *shape[1:]), dtype=np.int8)
    r = board_bench.run(board, models[name], inputs, None, tmp_path)
    assert r["samples"] == 2
    assert r["mismatches"] == 0, f"{r['mismatches']} of 2 samples differ from TFLM on {board}"


@pytest.fixture(scope="module")
def stack_models(tmp_path_factory):
    """Layers whose M55 depthwise paths size a stack array by the layer: a 3x3 depthwise over 2048
    channels on a 4x4 map (ep_dw3x3_ch's pad row: in_c bytes) and a one-channel depthwise with a
    2000-row filter (ep_dw_c1_mve's row-pair masks: kh bytes)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras
    L = keras.layers
    d = tmp_path_factory.mktemp("stack")
    keras.utils.set_random_seed(8)
    x = L.Input((4, 4, 2048))
    wide = _convert(keras.Model(x, L.DepthwiseConv2D(3, padding="same")(x)), (4, 4, 2048), d / "wide.tflite", 3)
    x = L.Input((2000, 8, 1))
    y = L.DepthwiseConv2D((2000, 8), depth_multiplier=4)(x)
    deep = _convert(keras.Model(x, y), (2000, 8, 1), d / "deep.tflite", 4)
    return {"wide": wide, "deep": deep}


@pytest.mark.parametrize("name", ["wide", "deep"])
def test_depthwise_stack_stays_bounded_on_m55(stack_models, tmp_path, name):
    """Validation bounds channels and filter heights only by 2^31 bytes and 2^15: a kernel's stack
    array sized by them would overflow a board's stack long before; such layers take a bounded path."""
    from edgepipe_base import tflite_file
    sg = tflite_file.read(stack_models[name]).main
    shape = sg.tensors[sg.inputs[0]].shape
    inputs = np.random.default_rng(9).integers(-128, 128, size=(1, *shape[1:]), dtype=np.int8)
    r = board_bench.run("mps3-an547", stack_models[name], inputs, None, tmp_path)
    assert r["mismatches"] == 0
    assert 0 < r["engine_stack_bytes"] < 1536, r["engine_stack_bytes"]
