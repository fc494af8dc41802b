"""Small LSTM on synthetic 3-axis accelerometer windows (4 activities): a recurrent sensor model.

One LSTM layer reads the 32-step window and a Dense layer classifies its last hidden state. The
int8 model runs as TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM (int8 weights and activations, int16 cell
state) in TFLM and in edgepipe's C engine (hidden and cell state in the engine's state region,
reset before every window). Trains in seconds.
"""

from pipeline.keras_env import keras

RECIPE = {
    "dataset": "synthetic_har",
    "train": {"epochs": 12, "batch_size": 32, "optimizer": "adam", "learning_rate": 1e-2,
              "patience": 4, "seed": 42},
    "arch": {"units": 16},
    "student": {"units": 8},
    "compress": {
        "prune": {"sparsity": 0.75, "epochs": 3},
        "distill": {"temperature": 4.0, "alpha": 0.1, "epochs": 8},
        "cluster": {"clusters": 16, "epochs": 3, "learning_rate": 1e-3},
    },
}

_QAT = "tfmot's quantization-aware training cannot annotate an LSTM layer"
# variants a run leaves out by default; asked for, each is refused in one line with its reason
NOT_APPLICABLE = {
    "qat": _QAT, "prune_qat": _QAT, "distill_qat": _QAT,
    "int16x8": "the TFLite converter does not quantize UNIDIRECTIONAL_SEQUENCE_LSTM to 16x8",
    "binary": "larq has no binarized LSTM (the recipe has no build_binary)",
}


def build(input_shape, num_classes, units=16):
    k = keras()
    layers = k.layers
    inputs = k.Input(shape=input_shape, name="accel")
    x = layers.LSTM(units, name="lstm")(inputs)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(inputs, outputs, name="lstm_har")
