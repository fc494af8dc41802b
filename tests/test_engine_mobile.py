"""The MobileNet-family and common ops of the C engine (firmware_gen/kernels_mobile.py) against TFLM
on small int8 models built here with tf-keras and the real TFLite converter (int8, representative
dataset, int8 input; one model has a float32 output, i.e. a final DEQUANTIZE). Several ops share a
model to keep the suite fast; a test checks the models really contain every op."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from edgepipe_base import tflite_file  # noqa: E402
from firmware_gen import boards, build, codegen, host_run, kernels_mobile, tflm  # noqa: E402

SAMPLES = 200


def _build_all(out):
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers

    def activations_model():
        x = L.Input((6, 6, 4))
        relu = L.ReLU()(x)                                       # standalone: the input has no producer
        relu6 = L.ReLU(6.0)(x)
        c = L.Conv2D(4, 3, padding="same")(x)
        hswish = L.Lambda(lambda v: v * tf.nn.relu6(v + 3.0) * (1.0 / 6.0))(c)
        leaky = L.LeakyReLU(0.2)(c)
        prelu = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.8), shared_axes=[1, 2])(c)
        d = L.Conv2D(4, 1)(x)
        mx = L.Maximum()([c, d])
        mn = L.Minimum()([c, d])
        y = L.Concatenate()([relu, relu6, hswish, leaky, prelu, mx, mn])
        return keras.Model(x, L.Dense(6)(L.Flatten()(L.Conv2D(3, 3, strides=2)(y))))

    def shape_model():
        x = L.Input((5, 4, 3))
        c = L.Conv2D(4, 1)(x)
        a = L.UpSampling2D(2, interpolation="nearest")(c)                          # half_pixel_centers
        b = L.UpSampling2D(2, interpolation="bilinear")(c)
        e = L.Lambda(lambda v: tf.compat.v1.image.resize_bilinear(v, (10, 8), align_corners=True))(c)
        f = L.Lambda(lambda v: tf.compat.v1.image.resize_nearest_neighbor(v, (10, 8), align_corners=True))(c)
        g = L.Lambda(lambda v: tf.image.resize(v, (10, 8), method="bilinear"))(c)    # odd ratio: 5->10, 4->8
        h = L.Lambda(lambda v: tf.compat.v1.image.resize_bilinear(v, (7, 6)))(c)   # no half pixel, 5->7
        y = L.Concatenate()([a, b, e, f, g])
        t = L.Lambda(lambda v: tf.transpose(v, [0, 2, 1, 3]))(y)                   # 8x10
        t = L.Conv2D(3, 3, strides=2)(t)
        s = L.Lambda(lambda v: tf.squeeze(tf.expand_dims(v, 1), 1))(L.Conv2D(2, 1)(h))
        k = L.Lambda(lambda v: tf.transpose(v, [0, 3, 1, 2]))(s)                   # NCHW-like
        q = L.Lambda(lambda v: tf.squeeze(v, axis=1))(L.Conv2D(2, (7, 1))(h))     # 1x6x2 -> 6x2
        return keras.Model(x, L.Concatenate()([L.Flatten()(t), L.Flatten()(k), L.Flatten()(q)]))

    def matmul_model():
        x = L.Input((6, 8), batch_size=1)          # static shapes: no SHAPE/GATHER for the 3-D Dense
        q, k, v = L.Dense(8)(x), L.Dense(8)(x), L.Dense(5)(x)
        att = L.Lambda(lambda t: tf.matmul(t[0], t[1], transpose_b=True))([q, k])        # 6x6, adj_y
        att = L.Softmax()(att)
        ctx = L.Lambda(lambda t: tf.matmul(t[0], t[1]))([att, v])                        # 6x5
        gram = L.Lambda(lambda t: tf.matmul(t[0], t[1], transpose_a=True))([q, ctx])    # 8x5, adj_x
        a = L.Reshape((2, 3, 8))(q)                                                       # 1x2x3x8
        b = L.Reshape((1, 8, 6))(L.Permute((2, 1))(x))                                    # 1x1x8x6
        bcast = L.Lambda(lambda t: tf.matmul(t[0], t[1]))([a, b])           # batch broadcast: 1x2x3x6
        return keras.Model(x, L.Dense(4)(L.Concatenate()([L.Flatten()(gram), L.Flatten()(bcast)])))

    def relu_n1_model():
        x = L.Input((4, 4, 3))
        c = L.Conv2D(3, 1)(x)
        y = L.Lambda(lambda v: tf.minimum(tf.maximum(v, -1.0), 1.0))(c)     # RELU_N1_TO_1
        return keras.Model(x, L.Dense(5)(L.Flatten()(L.Concatenate()([y, c]))))

    def convert(model, output_type):
        shape = tuple(model.input_shape[1:])
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(32):
                yield [rng.normal(0, 1, size=(1, *shape)).astype(np.float32)]
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = output_type
        return conv.convert()

    models = {}
    for name, fn, out_type in [("activations", activations_model, tf.int8), ("shape", shape_model, tf.int8),
                               ("matmul", matmul_model, tf.float32), ("relu_n1", relu_n1_model, tf.int8)]:
        keras.utils.set_random_seed(5)
        path = out / f"{name}.tflite"
        path.write_bytes(convert(fn(), out_type))
        models[name] = path
    return models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return _build_all(tmp_path_factory.mktemp("mobile_models"))


def _opcodes(path):
    return {op.opcode for op in tflite_file.read(path).main.operators}


def test_models_contain_every_new_op(models):
    seen = set().union(*(_opcodes(p) for p in models.values()))
    # TF 2.21's converter rewrites every static tf.squeeze into RESHAPE, so no converter-built model
    # holds a SQUEEZE; it takes the view path that RESHAPE and EXPAND_DIMS (covered here) take
    new = {k.opcode for k in kernels_mobile.KERNELS} - {"SQUEEZE"}
    assert new <= seen, f"not exercised: {sorted(new - seen)}"
    m = tflite_file.read(models["matmul"])
    assert m.main.tensors[m.main.outputs[0]].dtype == "FLOAT32"
    adj = {(bool(op.builtin_options.adjX), bool(op.builtin_options.adjY))
           for op in m.main.operators if op.opcode == "BATCH_MATMUL"}
    assert {(False, True), (True, False)} <= adj | {(False, False)}
    shapes = [(m.main.tensors[op.inputs[0]].shape, m.main.tensors[op.inputs[1]].shape)
              for op in m.main.operators if op.opcode == "BATCH_MATMUL"]
    assert any(len(a) == 4 and a[1] != b[1] for a, b in shapes), shapes          # broadcast batch dim


@pytest.mark.parametrize("name", ["activations", "shape", "matmul"])   # relu_n1: TFLM has no kernel
def test_bit_exact_with_tflm(name, models, tmp_path):
    path = models[name]
    engine = codegen.generate(path, tmp_path, f"m_{name}")
    binary = host_run.build(engine, tmp_path, sanitize=True)
    x = np.random.default_rng(1).integers(-128, 128, size=(SAMPLES, *engine.input_shape[1:]), dtype=np.int8)
    ours = host_run.invoke(binary, engine, x)
    ref = tflm.run(path.read_bytes(), x).outputs
    assert ours.dtype == ref.dtype
    ours_b = np.ascontiguousarray(ours).reshape(SAMPLES, -1).view(np.uint8)
    ref_b = np.ascontiguousarray(ref).reshape(SAMPLES, -1).view(np.uint8)
    differs = (ours_b != ref_b).any(axis=1)
    if differs.any():
        k = int(np.nonzero(differs)[0][0])
        why = host_run.first_difference(path, engine, host_run.build(engine, tmp_path, debug=True), x[k:k + 1])
        pytest.fail(f"{name}: {int(differs.sum())}/{SAMPLES} samples differ from TFLM; sample {k}: {why}")
    assert len(np.unique(ours_b, axis=0)) > SAMPLES // 2        # the outputs depend on the input


def test_relu_n1_to_1_bit_exact_with_litert_reference(models, tmp_path):
    """TFLM has no RELU_N1_TO_1 kernel, so the reference here is LiteRT's reference kernels
    (BUILTIN_REF: QuantizedReluX(-1, 1), the arithmetic the engine follows)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    path = models["relu_n1"]
    engine = codegen.generate(path, tmp_path, "n1")
    binary = host_run.build(engine, tmp_path, sanitize=True)
    x = np.random.default_rng(2).integers(-128, 128, size=(SAMPLES, *engine.input_shape[1:]), dtype=np.int8)
    ours = host_run.invoke(binary, engine, x)
    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    ref = []
    for s in x:
        interp.set_tensor(inp, s[None])
        interp.invoke()
        ref.append(interp.get_tensor(out)[0])
    assert np.array_equal(ours.reshape(SAMPLES, -1), np.stack(ref).reshape(SAMPLES, -1))


def test_float_output_engine_signature(models, tmp_path):
    engine = codegen.generate(models["matmul"], tmp_path, "fo")
    assert engine.output_dtype == "float32"
    assert "int fo_invoke(const int8_t *input, float *output);" in engine.h_path.read_text()


def test_generated_engines_compile_for_every_core(models, tmp_path):
    """-std=c99 -Wall -Wextra -Werror with arm-none-eabi-gcc for each board core (M0/M3/M4/M7/M55)."""
    cores = {}
    for board in boards.all_boards().values():
        cores.setdefault(board.cflags()[0], board.cflags())
    assert {"-mcpu=cortex-m0", "-mcpu=cortex-m3", "-mcpu=cortex-m4", "-mcpu=cortex-m7",
            "-mcpu=cortex-m55"} <= set(cores)
    # the generated C of every model plus the new runtime files (the others: test_kernels_arm.py)
    mine = {k.source for k in kernels_mobile.KERNELS if k.source}
    sources = sorted(codegen.RUNTIME_DIR / f for f in mine)
    for name, path in models.items():
        engine = codegen.generate(path, tmp_path / name, f"a_{name}")
        sources.append(engine.c_path)
    include = [*{d for name in models for d in (tmp_path / name,)}, codegen.RUNTIME_DIR]
    for i, flags in enumerate(cores.values()):
        build.compile_objects(sources, tmp_path / f"o{i}", include_dirs=include, flags=flags,
                              cc="arm-none-eabi-gcc", opt="-Os")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["activations", "shape", "matmul"])
def test_bit_exact_on_an_emulated_board(name, models, tmp_path):
    """The same kernels cross-compiled for the Cortex-M4 board, run in QEMU through the benchmark
    firmware (the matmul model's float32 output crosses the serial protocol as bytes)."""
    from pipeline.bench import board as board_bench
    engine_shape = tflite_file.read(models[name]).main
    shape = engine_shape.tensors[engine_shape.inputs[0]].shape[1:]
    x = np.random.default_rng(3).integers(-128, 128, size=(8, *shape), dtype=np.int8)
    r = board_bench.run("mps2-an386", models[name], x, None, tmp_path)
    assert r["samples"] == 8 and r["mismatches"] == 0, r
