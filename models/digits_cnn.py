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
    """Binarized form (larq): int8 conv1 and classifier, a binary (+-1) fully-connected fc1 in
    between, written as a VALID conv as wide as the feature map (the same weights as a Dense on the
    flattened map) so that Larq Compute Engine converts it to a bit-packed LceBconv2d."""
    import larq as lq
    k = keras()
    layers = k.layers
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign",
              "kernel_constraint": "weight_clip", "use_bias": False, "pad_values": 1.0}
    x = inputs = k.Input(shape=input_shape, name="image")
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = lq.layers.QuantConv2D(dense, tuple(int(d) for d in x.shape[1:3]), padding="valid", name="fc1",
                              **binary)(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn_fc1")(x)
    # the classifier as a 1x1 conv on the 1x1 map (a Dense after Flatten would leave LCE's
    # converter with a float output of the binary layer before it)
    x = layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name="digits_cnn_binary")
