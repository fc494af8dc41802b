"""Small recurrent test models: int8 Keras LSTMs through the real TFLite converter, and SVDF models
written with TFLite's flatbuffer schema (tensorflow/lite/python/schema_py_generated.py, object API),
because the converter has no Keras layer that lowers to SVDF. Used by tests/test_engine_rnn.py.

The LSTM models are stored in tests/data/rnn/lstm_<name>_int8.tflite (converting them takes ~80 s of a
busy CI machine); `python tests/rnn_models.py` writes them again with the installed converter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ["TF_USE_LEGACY_KERAS"] = "1"


def convert_int8(model, scale: float = 1.0, seed: int = 0) -> bytes:
    """Full-integer int8 post-training quantization (int8 input and output), as the pipeline's int8
    variant converts; representative inputs ~ N(0, scale)."""
    import tensorflow as tf
    shape = model.input_shape
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(64):
            yield [rng.normal(0, scale, size=(shape[0] or 1, *shape[1:])).astype(np.float32)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return conv.convert()


def lstm_models() -> dict[str, bytes]:
    """stack: two stacked LSTMs (the second returns its last step), Dense and softmax, inputs scaled
    so that gates saturate; seq: the LSTM's sequence output itself, batch 2; time_major: a
    time-major LSTM (batch 2)."""
    import tf_keras as keras
    L = keras.layers
    out = {}
    keras.utils.set_random_seed(6)
    x = L.Input((12, 6), batch_size=1)
    y = L.LSTM(16, return_sequences=True)(x)
    y = L.LSTM(8)(y)
    out["stack"] = convert_int8(keras.Model(x, L.Dense(3, activation="softmax")(y)), scale=3.0)
    keras.utils.set_random_seed(8)
    x = L.Input((5, 3), batch_size=2)
    out["seq"] = convert_int8(keras.Model(x, L.LSTM(4, return_sequences=True)(x)))
    keras.utils.set_random_seed(7)
    x = L.Input((2, 3), batch_size=6)
    out["time_major"] = convert_int8(keras.Model(x, L.LSTM(5, time_major=True, return_sequences=True)(x)),
                                     scale=2.0)
    return out


DATA = Path(__file__).parent / "data" / "rnn"   # not beside the fuzz seeds: two are batch-2 models
LSTM_NAMES = ("stack", "seq", "time_major")


def lstm_path(name: str) -> Path:
    return DATA / f"lstm_{name}_int8.tflite"


def svdf_model(batches=2, in_dim=8, units=4, rank=2, memory=5, state16=True, seed=0) -> bytes:
    """One SVDF op as TFLite writes it: int8 input/output, int8 feature weights, int16 (or int8)
    time weights and variable state of the same type, int32 bias at state x time-weight scale."""
    from flatbuffers import Builder

    from edgepipe_base import tflite_file
    s = tflite_file.schema()
    rng = np.random.default_rng(seed)
    filters = units * rank
    buffers = [s.BufferT()]

    def buffer(values):
        b = s.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
        buffers.append(b)
        return len(buffers) - 1

    def tensor(name, dtype, shape, scale, zp, data=None, variable=False):
        t = s.TensorT()
        t.name, t.type, t.shape = name.encode(), getattr(s.TensorType, dtype), list(shape)
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [int(zp)]
        t.quantization = q
        t.buffer = buffer(data) if data is not None else 0
        t.isVariable = variable
        return t

    state_type, state_scale, state_zp = ("INT16", 2.0 ** -10, 0) if state16 else ("INT8", 0.05, -5)
    wt_scale = 1e-4 if state16 else 0.01
    wt_max = 3000 if state16 else 127
    wt_dtype = np.int16 if state16 else np.int8
    tensors = [
        tensor("input", "INT8", (batches, in_dim), 0.02, 3),
        tensor("svdf/weights_feature", "INT8", (filters, in_dim), 0.01, 0,
               rng.integers(-127, 128, size=(filters, in_dim), dtype=np.int8)),
        tensor("svdf/weights_time", state_type, (filters, memory), wt_scale, 0,
               rng.integers(-wt_max, wt_max + 1, size=(filters, memory)).astype(wt_dtype)),
        tensor("svdf/bias", "INT32", (units,), float(np.float32(state_scale) * np.float32(wt_scale)), 0,
               rng.integers(-20000, 20000, size=(units,), dtype=np.int32)),
        tensor("svdf/state", state_type, (batches, filters * memory), state_scale, state_zp, variable=True),
        tensor("model/svdf/output", "INT8", (batches, units), 0.03 if state16 else 0.3, -7),
    ]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2, 3, 4], [5]
    op.builtinOptionsType = s.BuiltinOptions.SVDFOptions
    op.builtinOptions = s.SVDFOptionsT()
    op.builtinOptions.rank = rank
    sg = s.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs, sg.name = tensors, [op], [0], [5], b"main"
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.SVDF
    code.version = 1
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [sg], buffers
    m.description = b"edgepipe test SVDF"
    b = Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def lstm_int16x8(int8_model: bytes) -> bytes:
    """The int16x8 form of a converter-built int8 LSTM-only model, written with the schema: int16
    input, hidden state and output at 1/256 of the int8 scales (zero point 0), int64 biases at input
    x weight scale, the same int8 weights and int16 cell state. The TFLite converter refuses to
    quantize UNIDIRECTIONAL_SEQUENCE_LSTM to 16x8 ("not yet supported"), TFLM runs it
    (EvalLstm<int16_t, int8_t, int16_t, int64_t>)."""
    from flatbuffers import Builder

    from edgepipe_base import tflite_file
    s = tflite_file.schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(int8_model), 0)
    sg = m.subgraphs[0]
    assert len(sg.operators) == 1, "an LSTM-only model"
    op = sg.operators[0]
    x, h, y = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[18]], sg.tensors[op.outputs[0]]
    scale8 = {id(t): float(t.quantization.scale[0]) for t in (x, h, y)}
    for t in {id(t): t for t in (x, h, y)}.values():
        t.type = s.TensorType.INT16
        t.quantization.scale = [scale8[id(t)] / 256.0]
        t.quantization.zeroPoint = [0]
    for gate in range(4):
        w, b = sg.tensors[op.inputs[1 + gate]], sg.tensors[op.inputs[12 + gate]]
        real = np.frombuffer(bytes(np.asarray(m.buffers[b.buffer].data, dtype=np.uint8)), dtype=np.int32) \
            * np.float64(b.quantization.scale[0])
        scale = float(np.float32(x.quantization.scale[0]) * np.float32(w.quantization.scale[0]))
        b.type = s.TensorType.INT64
        b.quantization.scale = [scale]
        fresh = s.BufferT()          # the converter shares equal constants' buffers: one of its own
        fresh.data = np.frombuffer(np.round(real / scale).astype(np.int64).tobytes(), dtype=np.uint8)
        m.buffers.append(fresh)
        b.buffer = len(m.buffers) - 1
    b = Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tflm_per_sample(model: bytes, x: np.ndarray) -> np.ndarray:
    """TFLM's outputs with its variable tensors reset before every sample (a stateless model's
    semantics; per-sample evaluation). x holds whole input tensors [N, *input_shape]."""
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 22)
    outs = []
    for sample in x:
        interp.reset()
        interp.set_input(np.ascontiguousarray(sample), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)))
    return np.stack(outs)


if __name__ == "__main__":
    for name, blob in lstm_models().items():
        lstm_path(name).write_bytes(blob)
        print(lstm_path(name), len(blob), "bytes")
