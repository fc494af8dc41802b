"""Tiny CNN on scikit-learn's 8x8 digits: trains in seconds, for tests and quick experiments."""

from pipeline.keras_env import keras

RECIPE = {
    "dataset": "digits",
    "train": {"epochs": 30, "batch_size": 32, "optimizer": "adam", "learning_rate": 3e-3,
              "patience": 5, "seed": 42},
    "arch": {"filters": 8, "dense": 32},
    "student": {"filters": 4, "dense": 8},
    "compress": {
        "prune": {"sparsity": 0.75, "epochs": 4},
        "distill": {"temperature": 4.0, "alpha": 0.1, "epochs": 15},
        "qat": {"epochs": 3, "learning_rate": 3e-4},
        "cluster": {"clusters": 8, "epochs": 3, "learning_rate": 1e-3},
        "binary": {"epochs": 20},
    },
}


def build(input_shape, num_classes, filters=8, dense=32):
    k = keras()
    layers = k.layers
    x = inputs = k.Input(shape=input_shape, name="image")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(inputs, outputs, name="digits_cnn")


def build_binary(input_shape, num_classes, filters=8, dense=32):
    """Binarized form (larq): full-precision conv1 and classifier, a binary (+-1) fc1 in between."""
    import larq as lq
    k = keras()
    layers = k.layers
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign",
              "kernel_constraint": "weight_clip", "use_bias": False}
    x = inputs = k.Input(shape=input_shape, name="image")
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = lq.layers.QuantDense(dense, name="fc1", **binary)(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn_fc1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(inputs, outputs, name="digits_cnn_binary")
