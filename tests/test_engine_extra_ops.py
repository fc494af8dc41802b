"""SUB, LEAKY_RELU, STRIDED_SLICE and TRANSPOSE_CONV in the generated engine, int8 and int16x8,
against TFLM: one small tf-keras model converted by the real TFLite converter both ways (SUB plain,
broadcast against a constant and with a fused ReLU; transposed convolutions SAME/VALID, stride 1/2,
with and without bias; slices with steps, negative indices and steps, shrunk axes, rank 2 and 4).
Seeded full-range inputs, ASan/UBSan, -Werror."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from edgepipe_base import tflite_file  # noqa: E402
from firmware_gen import codegen, host_run, tflm  # noqa: E402

SAMPLES = 100
OPS = {"SUB", "LEAKY_RELU", "STRIDED_SLICE", "TRANSPOSE_CONV"}


def _build(out, int16: bool):
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers

    keras.utils.set_random_seed(7)
    x = L.Input((8, 8, 3), batch_size=1)       # a static batch keeps TRANSPOSE_CONV's shape constant
    a = L.Conv2D(4, 3, padding="same", bias_initializer=keras.initializers.RandomNormal(0, 0.2, seed=1))(x)
    b = L.Conv2D(4, 1)(x)
    s = L.Subtract()([a, b])
    s = L.Lambda(lambda v: v - tf.constant(np.linspace(-0.5, 0.5, 4), dtype=tf.float32))(s)
    r = L.Lambda(lambda v: tf.nn.relu(v[0] - v[1]))([s, a])
    l = L.LeakyReLU(0.2)(s)
    t = L.Conv2DTranspose(3, 3, strides=2, padding="same",
                          bias_initializer=keras.initializers.RandomNormal(0, 0.2, seed=2))(l)
    t2 = L.Conv2DTranspose(2, (3, 2), strides=(1, 2), padding="valid")(r)
    s1 = L.Lambda(lambda v: v[:, 1:7:2, ::3, :])(t)
    s2 = L.Lambda(lambda v: v[:, 2, -4:, 1:3])(t)
    s3 = L.Lambda(lambda v: v[:, ::-2, 1:, :])(t2)
    y = L.Concatenate()([L.Flatten()(s1), L.Flatten()(s2), L.Flatten()(s3)])
    y = L.Lambda(lambda v: v[:, 3:-5])(L.LeakyReLU(0.3)(y))
    model = keras.Model(x, L.Dense(6)(y))

    rng = np.random.default_rng(0)

    def rep():
        for _ in range(32):
            yield [rng.normal(0, 1, size=(1, 8, 8, 3)).astype(np.float32)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    if int16:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    path = out / f"extra_ops_{'int16x8' if int16 else 'int8'}.tflite"
    path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("extra_ops")
    return {"int8": _build(out, False), "int16x8": _build(out, True)}


@pytest.mark.parametrize("dtype", ["int8", "int16x8"])
def test_model_covers_the_ops_and_their_variants(dtype, models):
    sg = tflite_file.read(models[dtype]).main
    ops = [op for op in sg.operators]
    assert OPS <= {op.opcode for op in ops}
    act = "INT16" if dtype == "int16x8" else "INT8"
    assert all(sg.tensors[op.outputs[0]].dtype == act for op in ops)
    tconv = [op for op in ops if op.opcode == "TRANSPOSE_CONV"]
    assert {op.builtin_options.padding for op in tconv} == {0, 1}
    assert {len([i for i in op.inputs if i >= 0]) for op in tconv} == {3, 4}     # with and without bias
    slices = [op.builtin_options for op in ops if op.opcode == "STRIDED_SLICE"]
    assert any(o.shrinkAxisMask for o in slices) and any(o.beginMask or o.endMask for o in slices)
    assert any(getattr(op.builtin_options, "fusedActivationFunction", 0) == 1 for op in ops if op.opcode == "SUB")


@pytest.mark.parametrize("dtype", ["int8", "int16x8"])
def test_bit_exact_with_tflm(dtype, models, tmp_path):
    path = models[dtype]
    engine = codegen.generate(path, tmp_path, f"x_{dtype}")
    binary = host_run.build(engine, tmp_path, sanitize=True)
    info = np.iinfo(engine.input_dtype)
    x = np.random.default_rng(3).integers(info.min, info.max + 1, size=(SAMPLES, *engine.input_shape[1:]),
                                          dtype=engine.input_dtype)
    ours = host_run.invoke(binary, engine, x)
    ref = tflm.run(path.read_bytes(), x).outputs
    assert len(np.unique(ref)) > 10
    differs = (ours.reshape(SAMPLES, -1) != ref.reshape(SAMPLES, -1)).any(axis=1)
    if differs.any():
        k = int(np.nonzero(differs)[0][0])
        why = host_run.first_difference(path, engine, host_run.build(engine, tmp_path, debug=True), x[k:k + 1])
        pytest.fail(f"{dtype}: {int(differs.sum())}/{SAMPLES} samples differ from TFLM; sample {k}: {why}")
