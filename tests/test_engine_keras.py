"""The engine against TFLM on small int8 models built here with tf-keras and the real TFLite
converter, together covering every op in the registry (dilation, depth multiplier, SAME/VALID,
stride 2, per-tensor and per-channel weights), plus the errors for float and unsupported models."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from firmware_gen import codegen, host_run, kernels, kernels_mobile  # noqa: E402
from firmware_gen.lce_kernels import LCE_KERNELS  # noqa: E402  (after kernels, which registers it)
from edgepipe_base import tflite_file
from firmware_gen import tflm  # noqa: E402
from edgepipe_base.errors import EdgepipeError  # noqa: E402

SAMPLES = 200


def _build_all(out):
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers

    class NativeConv(L.Layer):
        """tf.nn.conv2d / DepthwiseConv2dNative with dilations: keras Conv2D(dilation_rate=2)
        converts to SPACE_TO_BATCH_ND + conv + BATCH_TO_SPACE_ND, this keeps the dilation factor."""

        def __init__(self, filters, k, stride=1, dilation=1, padding="SAME", depthwise=False, act=None):
            super().__init__()
            self.f, self.k, self.s, self.d, self.p, self.dw, self.act = (filters, k, stride, dilation,
                                                                         padding, depthwise, act)

        def build(self, shape):
            cin = int(shape[-1])
            self.kernel = self.add_weight("kernel", (self.k, self.k, cin, self.f), initializer="glorot_uniform")
            self.bias = self.add_weight("bias", (cin * self.f if self.dw else self.f,),
                                        initializer=keras.initializers.RandomNormal(0, 0.1))

        def call(self, x):
            s, d = [1, self.s, self.s, 1], [1, self.d, self.d, 1]
            if self.dw:
                y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=self.kernel, strides=s, padding=self.p,
                                                     dilations=d)
            else:
                y = tf.nn.conv2d(x, self.kernel, strides=s, padding=self.p, dilations=d)
            y = tf.nn.bias_add(y, self.bias)
            return {"relu6": tf.nn.relu6, None: tf.identity}[self.act](y)

    def conv_model():
        x = L.Input((12, 12, 3))
        y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        y = NativeConv(2, 3, dilation=2, padding="VALID", depthwise=True, act="relu6")(y)
        y = NativeConv(6, 3, dilation=2, padding="SAME")(y)
        y = L.DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="same")(y)
        y = L.MaxPool2D(2, padding="same")(y)
        y = L.Conv2D(5, 1, padding="valid", activation="relu")(y)
        y = L.Dense(10)(L.Flatten()(y))
        return keras.Model(x, L.Softmax()(y))

    def pool_model():
        x = L.Input((10, 9, 4))
        y = L.Conv2D(6, 3, strides=2, padding="valid", activation="relu")(x)
        a = L.AveragePooling2D(2, strides=1, padding="same")(y)
        b = L.MaxPool2D(3, strides=2, padding="valid")(y)
        a = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, padding="same")(a))
        y = L.Concatenate()([a, L.Flatten()(b)])
        y = L.Dense(7, activation="relu")(y)
        return keras.Model(x, L.Dense(3)(y))

    def elementwise_model():
        x = L.Input((8, 8, 4))
        a = L.Conv2D(4, 1)(x)
        b = L.Conv2D(4, 3, padding="same")(x)
        c = L.Concatenate()([L.Add()([a, b]), L.Multiply()([a, b])])
        c = L.ZeroPadding2D(((1, 0), (2, 1)))(c)
        y = L.Add()([L.Activation("sigmoid")(c), L.Activation("tanh")(c)])
        y = L.Lambda(lambda v: v * tf.constant(np.linspace(0.5, 2.0, 8), dtype=tf.float32))(y)
        y = L.Lambda(lambda v: tf.pad(v, [[0, 0], [1, 1], [0, 0], [0, 0]], constant_values=0.3))(y)
        y = L.Lambda(lambda v: tf.reduce_mean(v, axis=[1, 2], keepdims=True))(y)
        y = L.Dense(5, activation="tanh")(L.Flatten()(y))
        y = L.Dense(4, activation="sigmoid")(y)
        # softmax's fixed 1/256 output scale forces a QUANTIZE (int8 -> int8) before the concat
        return keras.Model(x, L.Concatenate()([L.Softmax()(L.Dense(3)(y)), L.Dense(2)(y)]))

    def big_multiplier_model():
        # depth multiplier above the runtime's 32-channel block: the generic depthwise loop
        x = L.Input((6, 6, 2))
        y = L.DepthwiseConv2D(3, depth_multiplier=40, padding="same", activation="relu")(x)
        return keras.Model(x, L.Dense(4)(L.Flatten()(y)))

    def dilated_keras_model():
        x = L.Input((8, 8, 2))
        return keras.Model(x, L.Conv2D(2, 3, dilation_rate=2, padding="same")(x))

    def convert(model, int8=True, per_channel=True):
        shape = tuple(model.input_shape[1:])
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(32):
                yield [rng.normal(0, 1, size=(1, *shape)).astype(np.float32)]
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if int8:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = rep
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
            if not per_channel:
                conv._experimental_disable_per_channel = True
        return conv.convert()

    models = {}
    for name, fn, kw in [("conv", conv_model, {}), ("conv_per_tensor", conv_model, {"per_channel": False}),
                         ("pool", pool_model, {}), ("elementwise", elementwise_model, {}),
                         ("big_multiplier", big_multiplier_model, {}),
                         ("float", pool_model, {"int8": False}), ("dilated_keras", dilated_keras_model, {})]:
        keras.utils.set_random_seed(7)
        path = out / f"{name}.tflite"
        path.write_bytes(convert(fn(), **kw))
        models[name] = path
    return models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return _build_all(tmp_path_factory.mktemp("keras_models"))


def _ops(path):
    m = tflite_file.read(path)
    return m.main, [(op, m.main.tensors) for op in m.main.operators]


def test_models_cover_every_supported_op_and_variant(models):
    seen, dilated, multiplier, paddings, strides, per_tensor, per_channel = set(), set(), set(), set(), set(), set(), set()
    for name in ("conv", "conv_per_tensor", "pool", "elementwise"):
        sg, ops = _ops(models[name])
        for op, tensors in ops:
            seen.add(op.opcode)
            o = op.builtin_options
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                if o.dilationHFactor > 1:
                    dilated.add(op.opcode)
                paddings.add((op.opcode, o.padding))
                strides.add((op.opcode, o.strideH))
                if op.opcode == "DEPTHWISE_CONV_2D":
                    multiplier.add(tensors[op.outputs[0]].shape[-1] // tensors[op.inputs[0]].shape[-1])
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                (per_channel if len(tensors[op.inputs[1]].scale) > 1 else per_tensor).add(op.opcode)
    # elsewhere: test_engine_mobile.py (MobileNet-family ops), test_engine_extra_ops.py (SUB,
    # STRIDED_SLICE, TRANSPOSE_CONV in int8 and int16x8), test_engine_binary.py (Lce ops),
    # test_engine_rnn.py (LSTM, SVDF), test_engine_stream.py (state ops, SPLIT, SPLIT_V)
    from firmware_gen import kernels_rnn, kernels_state
    extra = {"SUB", "STRIDED_SLICE", "TRANSPOSE_CONV"} | {k.opcode for k in kernels_mobile.KERNELS} | \
        set(LCE_KERNELS) | {k.opcode for k in (*kernels_rnn.KERNELS, *kernels_state.KERNELS)}
    assert seen | extra == set(kernels.KERNELS), set(kernels.KERNELS) ^ (seen | extra)
    assert dilated == {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert max(multiplier) > 1
    assert {("CONV_2D", 0), ("CONV_2D", 1), ("DEPTHWISE_CONV_2D", 0), ("DEPTHWISE_CONV_2D", 1)} <= paddings
    assert ("CONV_2D", 2) in strides and ("DEPTHWISE_CONV_2D", 2) in strides
    assert per_tensor >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert per_channel >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


@pytest.mark.parametrize("name", ["conv", "conv_per_tensor", "pool", "elementwise", "big_multiplier"])
def test_bit_exact_with_tflm(name, models, tmp_path):
    path = models[name]
    engine = codegen.generate(path, tmp_path, f"k_{name}")
    binary = host_run.build(engine, tmp_path, sanitize=True)
    x = np.random.default_rng(0).integers(-128, 128, size=(SAMPLES, *engine.input_shape[1:]), dtype=np.int8)
    ours = host_run.invoke(binary, engine, x)
    ref = tflm.run(path.read_bytes(), x).outputs
    differs = (ours.reshape(SAMPLES, -1) != ref.reshape(SAMPLES, -1)).any(axis=1)
    if differs.any():
        k = int(np.nonzero(differs)[0][0])
        why = host_run.first_difference(path, engine, host_run.build(engine, tmp_path, debug=True), x[k:k + 1])
        pytest.fail(f"{name}: {int(differs.sum())}/{SAMPLES} samples differ from TFLM; sample {k}: {why}")


def test_float_model_is_refused(models, tmp_path):
    with pytest.raises(EdgepipeError, match="float model.*int8"):
        codegen.generate(models["float"], tmp_path, "f")


def test_unsupported_op_names_op_layer_and_supported_list(models, tmp_path):
    with pytest.raises(EdgepipeError) as err:
        codegen.generate(models["dilated_keras"], tmp_path, "u")
    msg = str(err.value)
    assert "SPACE_TO_BATCH_ND" in msg and "layer '" in msg
    listed = msg.split("supported ops: ")[1].split(", ")
    assert listed == sorted(kernels.KERNELS) and {"ADD", "CONCATENATION", "UNIDIRECTIONAL_SEQUENCE_LSTM"} <= set(listed)
    assert "\n" not in msg
