"""int16x8 (int16 activations, int8 weights, int64 bias) in the generated engine against TFLM, on
small models built here with tf-keras and the real TFLite converter
(EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, int16 I/O), together covering every
op of the int16 kernel registry: stride, dilation, depth multiplier, SAME/VALID, fused ReLU/ReLU6,
per-channel and per-tensor weights, int64 and int32 bias, broadcasting, int16 constants.
Seeded full-range int16 inputs; the engine is built with ASan/UBSan and -Werror."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from edgepipe_base import tflite_file  # noqa: E402
from firmware_gen import codegen, host_run, kernels_extra, kernels_s16, tflm  # noqa: E402

SAMPLES = 100


def _build_all(out):
    import tensorflow as tf
    import tf_keras as keras
    L = keras.layers
    seeds = iter(range(1000))

    def rnd_bias():
        return keras.initializers.RandomNormal(0, 0.2, seed=next(seeds))

    class NativeConv(L.Layer):
        """tf.nn.conv2d / DepthwiseConv2dNative with dilations (keras' dilation_rate converts to
        SPACE_TO_BATCH_ND around the conv)."""

        def __init__(self, filters, k, dilation=2, depthwise=False, act=None):
            super().__init__()
            self.f, self.k, self.d, self.dw, self.act = filters, k, dilation, depthwise, act

        def build(self, shape):
            cin = int(shape[-1])
            self.kernel = self.add_weight("kernel", (self.k, self.k, cin, self.f), initializer="glorot_uniform")
            self.bias = self.add_weight("bias", (cin * self.f if self.dw else self.f,), initializer=rnd_bias())

        def call(self, x):
            s, d = [1, 1, 1, 1], [1, self.d, self.d, 1]
            if self.dw:
                y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=self.kernel, strides=s, padding="SAME",
                                                     dilations=d)
            else:
                y = tf.nn.conv2d(x, self.kernel, strides=s, padding="VALID", dilations=d)
            y = tf.nn.bias_add(y, self.bias)
            return {"relu6": tf.nn.relu6, None: tf.identity}[self.act](y)

    def conv_model():
        x = L.Input((12, 12, 3))
        y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", bias_initializer=rnd_bias())(x)
        y = NativeConv(2, 3, depthwise=True, act="relu6")(y)
        y = NativeConv(6, 3)(y)
        y = L.DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="same", bias_initializer=rnd_bias())(y)
        y = L.Conv2D(5, 1, padding="valid", activation="relu", bias_initializer=rnd_bias())(y)
        y = L.Dense(10, bias_initializer=rnd_bias())(L.Flatten()(y))
        return keras.Model(x, L.Softmax()(y))

    def dense_model():
        # per-tensor weights (the int16 calibrator refuses per-tensor depthwise filters)
        x = L.Input((9, 9, 3))
        y = L.Conv2D(6, 3, strides=2, padding="same", bias_initializer=rnd_bias())(x)
        y = L.Conv2D(4, 3, padding="valid", activation="relu", bias_initializer=rnd_bias())(y)
        return keras.Model(x, L.Dense(5, bias_initializer=rnd_bias())(L.Flatten()(y)))

    def pool_model():
        x = L.Input((10, 9, 4))
        y = L.Conv2D(6, 3, strides=2, padding="valid", activation="relu", bias_initializer=rnd_bias())(x)
        a = L.AveragePooling2D(2, strides=1, padding="same")(y)
        b = L.MaxPool2D(3, strides=2, padding="valid")(y)
        c = L.MaxPool2D(2, padding="same")(y)
        a = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, padding="same")(a))
        y = L.Concatenate()([a, L.Flatten()(b), L.Flatten()(c)])
        y = L.Dense(7, activation="relu", bias_initializer=rnd_bias())(y)
        return keras.Model(x, L.Dense(3, bias_initializer=rnd_bias())(y))

    def elementwise_model():
        x = L.Input((8, 8, 4))
        a = L.Conv2D(4, 1, bias_initializer=rnd_bias())(x)
        b = L.Conv2D(4, 3, padding="same", bias_initializer=rnd_bias())(x)
        c = L.Concatenate()([L.Add()([a, b]), L.Multiply()([a, b])])
        c = L.ZeroPadding2D(((1, 0), (2, 1)))(c)
        y = L.Add()([L.Activation("sigmoid")(c), L.Activation("tanh")(c)])
        # broadcast against int16 constants (one value per channel), ADD with a fused ReLU
        y = L.Lambda(lambda v: v * tf.constant(np.linspace(0.5, 2.0, 8), dtype=tf.float32))(y)
        y = L.Lambda(lambda v: tf.nn.relu(v + tf.constant(np.linspace(-1.0, 1.0, 8), dtype=tf.float32)))(y)
        y = L.Lambda(lambda v: tf.reduce_mean(v, axis=[1, 2], keepdims=True))(y)
        y = L.Dense(5, activation="tanh", bias_initializer=rnd_bias())(L.Flatten()(y))
        y = L.Dense(4, activation="sigmoid", bias_initializer=rnd_bias())(y)
        # softmax's fixed 2^-15 output scale forces a QUANTIZE (int16 -> int16) before the concat
        return keras.Model(x, L.Concatenate()([L.Softmax()(L.Dense(3)(y)), L.Dense(2)(y)]))

    def convert(model, per_channel=True, bias32=False):
        shape = tuple(model.input_shape[1:])
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(32):
                yield [rng.normal(0, 1, size=(1, *shape)).astype(np.float32)]
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int16
        if not per_channel:
            conv._experimental_disable_per_channel = True
        if bias32:
            # TFLM then accumulates CONV_2D and FULLY_CONNECTED in int32 (its ConvPerChannel<int32_t>)
            conv._experimental_full_integer_quantization_bias_type = tf.int32
        return conv.convert()

    models = {}
    for name, fn, kw in [("conv", conv_model, {}),
                         ("dense_per_tensor_bias32", dense_model, {"per_channel": False, "bias32": True}),
                         ("depthwise_bias32", conv_model, {"bias32": True}), ("pool", pool_model, {}),
                         ("elementwise", elementwise_model, {})]:
        keras.utils.set_random_seed(7)
        path = out / f"{name}.tflite"
        path.write_bytes(convert(fn(), **kw))
        models[name] = path
    return models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return _build_all(tmp_path_factory.mktemp("keras_int16_models"))


def _ops(path):
    sg = tflite_file.read(path).main
    return sg, sg.operators


def test_models_cover_every_int16_kernel(models):
    seen, bias_types, per_tensor, per_channel, dilated, relu = set(), set(), set(), set(), set(), set()
    for name in ("conv", "dense_per_tensor_bias32", "pool", "elementwise"):
        sg, ops = _ops(models[name])
        assert sg.tensors[sg.inputs[0]].dtype == "INT16" and sg.tensors[sg.outputs[0]].dtype == "INT16"
        for op in ops:
            seen.add(op.opcode)
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                w = sg.tensors[op.inputs[1]]
                (per_channel if len(w.scale) > 1 else per_tensor).add(op.opcode)
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    bias_types.add((op.opcode, sg.tensors[op.inputs[2]].dtype))
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D") and op.builtin_options.dilationHFactor > 1:
                dilated.add(op.opcode)
            if getattr(op.builtin_options, "fusedActivationFunction", 0) in (1, 3):
                relu.add(op.opcode)
            for i in (*op.inputs, *op.outputs):
                t = sg.tensors[i] if i >= 0 else None
                if t is not None and t.dtype == "INT16":
                    assert set(t.zero_point) <= {0}
    # PADV2: the converter writes a float32 pad value for int16 data, which TFLM refuses; SUB,
    # LEAKY_RELU, STRIDED_SLICE, TRANSPOSE_CONV: tests/test_engine_extra_ops.py; the int16x8 LSTM (which
    # the converter does not write): tests/test_engine_rnn.py
    assert seen == (set(kernels_s16.BUILDERS) - {"PADV2", "UNIDIRECTIONAL_SEQUENCE_LSTM"}
                    - set(kernels_extra.SOURCES)) | kernels_s16.VIEWS, seen
    assert {("CONV_2D", "INT64"), ("CONV_2D", "INT32"), ("FULLY_CONNECTED", "INT64"),
            ("FULLY_CONNECTED", "INT32"), ("DEPTHWISE_CONV_2D", "INT64")} <= bias_types
    assert per_tensor >= {"CONV_2D", "FULLY_CONNECTED"}
    assert per_channel >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert dilated == {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD"} <= relu


@pytest.mark.parametrize("name", ["conv", "dense_per_tensor_bias32", "pool", "elementwise"])
def test_bit_exact_with_tflm(name, models, tmp_path):
    path = models[name]
    engine = codegen.generate(path, tmp_path, f"s16_{name}")
    assert engine.input_dtype == engine.output_dtype == "int16"
    binary = host_run.build(engine, tmp_path, sanitize=True)
    x = np.random.default_rng(1).integers(-32768, 32768, size=(SAMPLES, *engine.input_shape[1:]), dtype=np.int16)
    ours = host_run.invoke(binary, engine, x)
    ref = tflm.run(path.read_bytes(), x).outputs
    assert ref.dtype == np.int16 and len(np.unique(ref)) > 10      # not a saturated, constant output
    differs = (ours.reshape(SAMPLES, -1) != ref.reshape(SAMPLES, -1)).any(axis=1)
    if differs.any():
        k = int(np.nonzero(differs)[0][0])
        why = host_run.first_difference(path, engine, host_run.build(engine, tmp_path, debug=True), x[k:k + 1])
        pytest.fail(f"{name}: {int(differs.sum())}/{SAMPLES} samples differ from TFLM; sample {k}: {why}")


def test_generated_api_takes_int16(models, tmp_path):
    engine = codegen.generate(models["pool"], tmp_path, "api16")
    h = engine.h_path.read_text()
    assert "int api16_invoke(const int16_t *input, int16_t *output);" in h
    assert "ep_conv2d_s16(" in engine.c_path.read_text()
    assert codegen.RUNTIME_DIR / "ep_conv_s16.c" in engine.runtime_sources
    assert codegen.RUNTIME_DIR / "ep_conv.c" not in engine.runtime_sources   # no int8 kernel linked


def test_int32_depthwise_bias_is_refused(models, tmp_path):
    """TFLM's int16 depthwise kernel reads its bias as int64 whatever the tensor holds: an int32 bias
    is read past its end there, so the engine refuses it in one line instead of matching that."""
    from edgepipe_base.errors import EdgepipeError
    with pytest.raises(EdgepipeError, match=r"^layer '.*' \(DEPTHWISE_CONV_2D\): int32 bias; .* int64 bias") as e:
        codegen.generate(models["depthwise_bias32"], tmp_path, "dw32")
    assert "\n" not in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("board_id", ["mps2-an386"])
def test_int16_model_bit_exact_on_emulated_board(board_id, models, tmp_path):
    """The board firmware takes int16 samples as bytes and returns int16 outputs (Cortex-M4 with the
    DSP flags), bit-exact with TFLM."""
    from pipeline.bench import board as board_bench
    path = models["conv"]
    shape = tflite_file.read(path).main.tensors[tflite_file.read(path).main.inputs[0]].shape
    x = np.random.default_rng(2).integers(-32768, 32768, size=(8, *shape[1:]), dtype=np.int16)
    r = board_bench.run(board_id, path, x, None, tmp_path)
    assert r["samples"] == 8 and r["mismatches"] == 0, f"{board_id}: {r['mismatches']} of 8 samples differ"
