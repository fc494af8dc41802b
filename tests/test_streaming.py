"""Row-streamed execution (firmware_gen/streaming.py): which ops run band by band, the bands worked
out by hand, the smaller arena, and the streamed engine bit-exact with TFLM on the host (ASan/UBSan)
and on the DSP (M4) and Helium (M55) kernels under QEMU."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from firmware_gen import codegen, graph, host_run, planner, streaming, tflm  # noqa: E402
from firmware_gen.streaming import Band  # noqa: E402
from pipeline.bench import board as board_bench  # noqa: E402


@pytest.fixture(scope="module")
def streamed_model(tmp_path_factory):
    """A conv -> max-pool stem read from the caller's input, two residual blocks (3x3 convs, and a
    depthwise 3x3 then 1x1 conv with the ADD's operands swapped), a depthwise -> average pool on
    an odd width, and a dense head; int8 through the real converter (seed 0)."""
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers
    keras.utils.set_random_seed(0)
    x = inp = L.Input((12, 10, 3))
    p0 = L.MaxPool2D(2)(L.Conv2D(8, 3, padding="same", activation="relu")(x))          # 6x5x8
    a = L.Add()([p0, L.Conv2D(8, 3, padding="same")(L.Conv2D(8, 3, padding="same", activation="relu")(p0))])
    b = L.Add()([L.Conv2D(8, 1)(L.DepthwiseConv2D(3, padding="same", activation="relu")(a)), a])
    y = L.AveragePooling2D(2)(L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(b))   # 3x2x16
    model = keras.Model(inp, L.Dense(4)(L.Flatten()(y)))
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(16):
            yield [rng.normal(0, 1, size=(1, 12, 10, 3)).astype(np.float32)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("streamed") / "streamed.tflite"
    path.write_bytes(conv.convert())
    return path


def _inputs(path, n, seed=0):
    shape = graph.load(path).input.shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


def test_bands_worked_out_by_hand(streamed_model):
    g = graph.load(streamed_model)
    bands = streaming.pool_bands(g)
    assert [g.nodes[i].opcode for i in bands] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    stem = bands[min(bands)]
    # 3x3 SAME stride 1 over 12 rows, pool 2: rows 0-1 read input rows 0-2 under one padding row,
    # rows 2-3 read rows 1-4, the last band (10-11) rows 9-11
    assert stem[:2] == [Band(0, 2, 0, 3, 1), Band(2, 2, 1, 4, 0)]
    assert stem[-1] == Band(10, 2, 9, 3, 0) and len(stem) == 6
    blocks = streaming.residual_blocks(g)
    assert [tuple(n.opcode for n in g.nodes[i:i + 3]) for i in blocks] == [
        ("CONV_2D", "CONV_2D", "ADD"), ("DEPTHWISE_CONV_2D", "CONV_2D", "ADD")]
    first, second = (blocks[i] for i in sorted(blocks))
    # 3x3 after 3x3: a window of 3 rows; row 0 needs y1 rows 0-1, row r > 0 adds y1 row r + 1
    assert first.window_rows == 3
    assert [(r, a.row, a.rows, win.lo, win.in_h) for r, a, win, _, _ in first.steps[:3]] == [
        (0, 0, 2, 0, 2), (1, 2, 1, 0, 3), (2, 3, 1, 1, 3)]
    assert first.steps[-1][1] is None          # the last row's window is already computed
    # 1x1 after the depthwise 3x3: B needs one row, but x row r is overwritten at step r while
    # depthwise row r + 1 reads it: A runs one row ahead (a window of 2 rows)
    assert second.window_rows == 2
    assert [(a.row, a.rows, a.lo, a.in_h, a.pad_h) for _, a, _, _, _ in second.steps[:2]] == [
        (0, 2, 0, 3, 1), (2, 1, 1, 3, 0)]
    assert second.steps[1][3:] == (0, 1)       # row 1: the window starts at y1 row 1, which stays


def test_streamed_plan_is_smaller_and_never_overlaps_live_buffers(streamed_model, testdata):
    for path in (streamed_model, testdata / "mlperf_tiny_ic_resnet8_int8.tflite"):
        g = graph.load(path)
        whole = min(planner.plan(codegen.buffers(g, ov)[0]).arena_bytes for ov in (True, False))
        bufs, _ = codegen.buffers(g, True, streaming.pool_bands(g), streaming.residual_blocks(g))
        plan = planner.plan(bufs)
        for i, a in enumerate(bufs):
            for b in bufs[i + 1:]:
                if planner.overlaps(a, b):
                    oa, ob = plan.offsets[a.name], plan.offsets[b.name]
                    assert oa + a.size <= ob or ob + b.size <= oa
        assert plan.arena_bytes < whole
    # ResNet-8: the first residual block (two 32x32x16 convs and the ADD) runs row by row: x, three
    # rows of y1 and one of y2 instead of three whole 16 KiB activations
    g = graph.load(testdata / "mlperf_tiny_ic_resnet8_int8.tflite")
    blocks = streaming.residual_blocks(g)
    assert list(blocks) == [1]
    bufs, place = codegen.buffers(g, True, {}, blocks)
    sizes = {int(b.name): b.size for b in bufs}
    y1, y2, add = g.nodes[1].outputs[0], g.nodes[2].outputs[0], g.nodes[3].outputs[0]
    assert (sizes[y1], sizes[y2]) == (3 * 32 * 16, 32 * 16)
    assert place[add] == place[g.nodes[1].inputs[0]]         # the ADD's rows land on x's rows


def test_streamed_engine_bit_exact_on_the_host(streamed_model, tmp_path):
    x = _inputs(streamed_model, 40, seed=3)
    engine = codegen.generate(streamed_model, tmp_path, "ep")
    text = engine.c_path.read_text()
    # every band is its own call with its own compile-time bounds facts (offsets into the input)
    assert "ep_conv2d(&ep_l0_band0, input, " in text and "input + 30" in text
    assert "memmove(" in text and "CONV_2D+CONV_2D+ADD" in text
    whole = codegen.generate(streamed_model, tmp_path / "whole", "ep", banding=False)
    assert engine.arena_bytes < whole.arena_bytes and engine.macs == whole.macs
    y = host_run.invoke(host_run.build(engine, tmp_path, sanitize=True), engine, x)
    ref = tflm.run(streamed_model.read_bytes(), x, where=str(streamed_model)).outputs
    assert np.array_equal(y.reshape(ref.shape), ref)
    # the layer-by-layer debug build: a streamed group reports its last op's whole output
    debug = host_run.build(engine, tmp_path, debug=True)
    assert host_run.first_difference(streamed_model, engine, debug, x[0]) is None


@pytest.mark.slow
@pytest.mark.parametrize("board_id", ["mps2-an386", "mps3-an547"])
def test_streamed_engine_bit_exact_on_dsp_and_mve(board_id, streamed_model, tmp_path):
    r = board_bench.run(board_id, streamed_model, _inputs(streamed_model, 12, seed=4), None, tmp_path)
    assert r["mismatches"] == 0
    assert 0 < r["engine_stack_bytes"] < r["stack_bytes"]
