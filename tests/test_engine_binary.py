"""Binarized layers in the generated C engine, against Larq Compute Engine's interpreter.

A small seeded larq model (int8 conv, binary convs with int8 and bit-packed outputs, a real-valued
shortcut, a sign that feeds a real-valued op, stride 2, VALID and one-padded SAME windows, channel
counts that leave padding bits in the last word) is converted by LCE's converter with int8 I/O; the
engine, compiled with -Werror and ASan/UBSan, must match LCE byte for byte on every layer's output
(bit-packed words included) and on the model output for 50 random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgepipe_base.errors import EdgepipeError
from firmware_gen import codegen, graph, host_run, kernels, lce

SAMPLES = 50


def _model():
    import larq as lq
    from pipeline.keras_env import keras, set_seed
    k = keras()
    set_seed(7)
    b = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
             use_bias=False)
    x = inp = k.Input((12, 12, 3), name="image")
    x = k.layers.Conv2D(40, 3, padding="same", use_bias=False, name="conv1")(x)
    x = k.layers.BatchNormalization(name="bn1")(x)
    sc = x
    x = lq.layers.QuantConv2D(40, 3, padding="same", pad_values=1.0, name="bconv1", **b)(x)  # int8 out
    x = k.layers.BatchNormalization(name="bn2")(x)
    x = k.layers.Add(name="add1")([x, sc])
    x = lq.layers.QuantConv2D(36, 3, padding="same", pad_values=1.0, name="bconv2", **b)(x)  # packed out
    x = k.layers.BatchNormalization(name="bn3")(x)
    x = lq.layers.QuantConv2D(24, (3, 2), strides=2, padding="valid", name="bconv3", **b)(x)
    x = k.layers.BatchNormalization(name="bn4")(x)
    s = lq.quantizers.SteSign(name="sign")(x)                                                 # dequantize
    x = k.layers.Add(name="add2")([s, x])
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    x = k.layers.Dense(10, name="classifier")(x)
    out = k.layers.Activation("softmax", name="softmax")(x)
    m = k.Model(inp, out)
    rng = np.random.default_rng(7)
    for layer in m.layers:
        if isinstance(layer, k.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.2, 1.5, n), rng.normal(0, 1, n), rng.normal(0, 4, n),
                               rng.uniform(4, 30, n)])
    return m


@pytest.fixture(scope="module")
def lce_model(tmp_path_factory):
    from pipeline import convert_lce
    m = _model()
    calib = np.random.default_rng(1).normal(0, 1, (64, 12, 12, 3)).astype(np.float32)
    path = tmp_path_factory.mktemp("lce") / "binary.tflite"
    path.write_bytes(convert_lce.convert(m, calib))
    return path


@pytest.fixture(scope="module")
def built(lce_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("engine")
    engine = codegen.generate(lce_model, work, "bnn")
    return engine, host_run.build(engine, work, sanitize=True), host_run.build(engine, work, debug=True)


def _inputs(n, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, size=(n, 12, 12, 3), dtype=np.int8)


def test_converted_graph_has_every_binary_path(lce_model):
    g = graph.load(lce_model)
    ops = [n.opcode for n in g.nodes]
    assert {"LceQuantize", "LceBconv2d", "LceDequantize"} <= set(ops)
    bconv_out = [g.tensors[n.outputs[0]].dtype for n in g.nodes if n.opcode == "LceBconv2d"]
    assert "INT8" in bconv_out and "INT32" in bconv_out          # int8 and bit-packed outputs
    assert g.input.dtype == "INT8" and g.output.dtype == "INT8"


def test_preflight_lets_the_engine_run_an_lce_model(lce_model):
    """LCE's custom ops are engine ops: preflight must not list them as missing kernels (it did, and
    the demo's binary variant was skipped on host-c and the boards)."""
    from edgepipe_base import tflite_file
    from pipeline import preflight
    assert preflight.unsupported_ops(tflite_file.read(lce_model)) == {}


def test_every_layer_bit_exact_with_the_reference(lce_model, built):
    """Lce ops against LCE's interpreter, builtin ops against TFLM, each op on the same inputs."""
    engine, _, debug = built
    ref_model = lce.Reference(lce_model.read_bytes(), str(lce_model))
    for i, x in enumerate(_inputs(3, seed=3)):
        ours = host_run.dump_layers(debug, x)
        ref = ref_model.tensors(x)
        for index, opcode, name, tensor in engine.layers:
            want = np.ascontiguousarray(ref[tensor]).view(np.int8).reshape(-1)
            assert ours[tensor].shape == want.shape, (opcode, name)
            diff = int((ours[tensor] != want).sum())
            assert diff == 0, f"sample {i}: layer #{index} {opcode} '{name}': {diff} bytes differ from LCE"


def test_outputs_bit_exact_under_sanitizers(lce_model, built):
    engine, asan, _ = built
    x = _inputs(SAMPLES)
    ours = host_run.invoke(asan, engine, x)
    ref = lce.Reference(lce_model.read_bytes()).outputs(x)
    assert ours.shape == ref.shape
    assert int((ours.reshape(SAMPLES, -1) != ref.reshape(SAMPLES, -1)).any(axis=1).sum()) == 0
    assert len(np.unique(ours.argmax(-1))) > 1          # not a constant output


def test_packed_weights_are_one_bit_per_weight(built):
    engine, _, _ = built
    text = engine.c_path.read_text()
    tables = [line for line in text.splitlines() if "_bweights[" in line]
    words = sum(int(line.split("[")[1].split("]")[0]) for line in tables)
    # [out][kh][kw][words(in)]: bconv1 40x3x3x(40 -> 2 words), bconv2 36x3x3x2, bconv3 24x3x2x(36 -> 2)
    assert len(tables) == 3 and words == 40 * 9 * 2 + 36 * 9 * 2 + 24 * 6 * 2


def test_swar_popcount_path_bit_exact_on_host(lce_model, built, tmp_path):
    """The Cortex-M popcount (SWAR, three words per fold) compiled for the host under sanitizers."""
    engine, _, _ = built
    binary = host_run.build_mod.compile_host(
        [*engine.sources, host_run.write_main(engine, tmp_path)], tmp_path / "swar",
        include_dirs=engine.include_dirs, defines=["EP_POPCOUNT_SWAR"], sanitize=True)
    x = _inputs(20, seed=5)
    ref = lce.Reference(lce_model.read_bytes()).outputs(x)
    assert np.array_equal(host_run.invoke(binary, engine, x).reshape(ref.shape), ref)


@pytest.mark.parametrize("change, message", [
    ({"pad_values": 0}, "pad_values=1.0"),
    ({"fused_activation_function": 1}, "fused activation"),
    ({"channels_in": 70}, "pack into 3 words"),
])
def test_unsupported_bconv_is_one_line(lce_model, change, message):
    import dataclasses
    g = graph.load(lce_model)
    node = next(n for n in g.nodes if n.opcode == "LceBconv2d" and n.options["padding"] == 0)
    bad = dataclasses.replace(node, options={**node.options, **change})
    ctx = codegen._BuildContext(g, "bad", {}, [])
    with pytest.raises(EdgepipeError, match=message):
        kernels.KERNELS["LceBconv2d"].build(bad, ctx)


@pytest.mark.slow
@pytest.mark.parametrize("board_id", ["mps2-an385", "mps2-an386", "mps3-an547"])   # M3, M4, M55
def test_board_run_bit_exact(lce_model, board_id, tmp_path):
    """The SWAR popcount (Helium vectors on M55) and the float output transform on Cortex-M3/M4/M55
    in QEMU."""
    from pipeline.bench import board as board_bench
    r = board_bench.run(board_id, lce_model, _inputs(6, seed=9), None, tmp_path)
    assert r["samples"] == 6 and r["bit_exact_reference"] == "tflm+lce"
    assert r["mismatches"] == 0, f"{board_id}: {r['mismatches']} of 6 samples differ"
    assert r["weight_bytes_elf"]["packed_1bit"] == 4 * (40 * 9 * 2 + 36 * 9 * 2 + 24 * 6 * 2)


def _tail_model():
    """Window sizes and filter counts that leave every Helium tail: k = 27 words (6 vectors + 3
    words), k = 3 (one partial vector), 30 and 7 filters (4 per pass + 2 and 3 on their own)."""
    import larq as lq
    from pipeline.keras_env import keras, set_seed
    k = keras()
    set_seed(3)
    b = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)
    x = inp = k.Input((6, 6, 3), name="image")
    x = k.layers.Conv2D(66, 1, use_bias=False, name="conv1")(x)                   # 3 words
    x = lq.layers.QuantConv2D(30, 3, padding="same", pad_values=1.0, name="bconv1", **b)(x)  # packed
    x = k.layers.BatchNormalization(name="bn1")(x)
    x = lq.layers.QuantConv2D(7, (1, 3), padding="valid", name="bconv2", **b)(x)  # int8 out
    x = k.layers.BatchNormalization(name="bn2")(x)
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    out = k.layers.Dense(10, name="classifier")(x)
    m = k.Model(inp, out)
    rng = np.random.default_rng(3)
    for layer in m.layers:
        if isinstance(layer, k.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.2, 1.5, n), rng.normal(0, 1, n), rng.normal(0, 4, n),
                               rng.uniform(4, 30, n)])
    return m


@pytest.mark.slow
def test_helium_popcount_tails_bit_exact(tmp_path):
    """Cortex-M55's vector XOR-popcount on partial vectors and leftover filters, against LCE."""
    from pipeline import convert_lce
    from pipeline.bench import board as board_bench
    calib = np.random.default_rng(4).normal(0, 1, (32, 6, 6, 3)).astype(np.float32)
    path = tmp_path / "tails.tflite"
    path.write_bytes(convert_lce.convert(_tail_model(), calib))
    g = graph.load(path)
    bconvs = [n for n in g.nodes if n.opcode == "LceBconv2d"]
    shapes = [tuple(g.tensors[n.inputs[1]].shape) for n in bconvs]
    assert shapes == [(30, 3, 3, 3), (7, 1, 3, 1)]                   # k = 27 and 3 words
    assert [g.tensors[n.outputs[0]].dtype for n in bconvs] == ["INT32", "INT8"]
    x = np.random.default_rng(6).integers(-128, 128, size=(6, 6, 6, 3), dtype=np.int8)
    r = board_bench.run("mps3-an547", path, x, None, tmp_path / "m55")
    assert r["samples"] == 6 and r["bit_exact_reference"] == "tflm+lce"
    assert r["mismatches"] == 0, f"{r['mismatches']} of 6 samples differ"


def _dsp_model():
    """Windows that reach every branch of the Cortex-M4/M7 count: k = 8 words (2 groups of 3 + 2
    words), k = 50 (16 groups: the byte lanes folded after 10, + 2 words), k = 1 (one word, no
    group; int8 out); packed and int8 outputs; 40 and 20 channels for LceQuantize (a full word + 8, and 20)."""
    import larq as lq
    from pipeline.keras_env import keras, set_seed
    k = keras()
    set_seed(5)
    b = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)
    x = inp = k.Input((8, 8, 3), name="image")
    x = k.layers.Conv2D(40, 1, use_bias=False, name="conv1")(x)                    # 2 words
    x = lq.layers.QuantConv2D(33, 2, padding="same", pad_values=1.0, name="bconv1", **b)(x)  # packed
    x = k.layers.BatchNormalization(name="bn1")(x)
    x = lq.layers.QuantConv2D(20, 5, padding="valid", name="bconv2", **b)(x)      # packed, k = 50
    x = k.layers.BatchNormalization(name="bn2")(x)
    x = lq.layers.QuantConv2D(9, 1, padding="valid", name="bconv3", **b)(x)       # k = 1
    x = k.layers.BatchNormalization(name="bn3")(x)
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    out = k.layers.Dense(10, name="classifier")(x)
    m = k.Model(inp, out)
    rng = np.random.default_rng(5)
    for layer in m.layers:
        if isinstance(layer, k.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.2, 1.5, n), rng.normal(0, 1, n), rng.normal(0, 4, n),
                               rng.uniform(4, 30, n)])
    return m


@pytest.mark.slow
def test_dsp_popcount_branches_bit_exact(tmp_path):
    """Cortex-M4 and M7's XOR-popcount (short and folded windows, leftover words) and sign packing,
    against LCE."""
    from pipeline import convert_lce
    from pipeline.bench import board as board_bench
    calib = np.random.default_rng(8).normal(0, 1, (32, 8, 8, 3)).astype(np.float32)
    path = tmp_path / "dsp.tflite"
    path.write_bytes(convert_lce.convert(_dsp_model(), calib))
    g = graph.load(path)
    bconvs = [n for n in g.nodes if n.opcode == "LceBconv2d"]
    assert [tuple(g.tensors[n.inputs[1]].shape) for n in bconvs] == [(33, 2, 2, 2), (20, 5, 5, 2), (9, 1, 1, 1)]
    assert [g.tensors[n.outputs[0]].dtype for n in bconvs] == ["INT32", "INT32", "INT8"]
    x = np.random.default_rng(2).integers(-128, 128, size=(6, 8, 8, 3), dtype=np.int8)
    for board_id in ("mps2-an386", "mps2-an500"):                    # M4, M7
        r = board_bench.run(board_id, path, x, None, tmp_path / board_id)
        assert r["samples"] == 6 and r["bit_exact_reference"] == "tflm+lce"
        assert r["mismatches"] == 0, f"{board_id}: {r['mismatches']} of 6 samples differ"
