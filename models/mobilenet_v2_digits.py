"""MobileNetV2-style depthwise-separable net on 8x8 digits: inverted residuals, BatchNorm, ReLU6, HardSwish.

A stem conv, three inverted-residual blocks (1x1 expansion, 3x3 depthwise, linear 1x1 projection,
residual add when the shape allows) and a 1x1 head, as in MobileNetV2; the later blocks and the
head use HardSwish as MobileNetV3 does. BatchNorm folds into the convolutions at conversion, ReLU6
fuses into them, HardSwish converts to TFLite's HARD_SWISH: every op of the int8 model runs in TFLM
and in edgepipe's C engine. Trains in seconds, for tests and as a template for larger inputs.
"""

from pipeline.keras_env import keras

RECIPE = {
    "dataset": "digits",
    "train": {"epochs": 30, "batch_size": 32, "optimizer": "adam", "learning_rate": 3e-3,
              "patience": 5, "seed": 42},
    # (expansion, output channels, stride, activation) per inverted-residual block
    "arch": {"stem": 16, "blocks": ((3, 16, 1, "relu6"), (3, 24, 2, "hard_swish"), (3, 24, 1, "hard_swish")),
             "head": 48},
    "student": {"stem": 8, "blocks": ((2, 8, 1, "relu6"), (2, 12, 2, "hard_swish")), "head": 24},
    "compress": {
        "prune": {"sparsity": 0.5, "epochs": 4},
        "distill": {"temperature": 4.0, "alpha": 0.1, "epochs": 15},
        "qat": {"epochs": 3, "learning_rate": 3e-4},
        "cluster": {"clusters": 16, "epochs": 3, "learning_rate": 1e-3},
    },
}


def _activation(layers, x, kind, name):
    if kind == "relu6":
        return layers.ReLU(6.0, name=name)(x)
    # hard_swish(x) = x * relu6(x + 3) / 6, from built-in layers (the converter fuses it to HARD_SWISH)
    gate = layers.Rescaling(1.0, offset=3.0, name=f"{name}_plus3")(x)
    gate = layers.ReLU(6.0, name=f"{name}_relu6")(gate)
    gate = layers.Rescaling(1.0 / 6.0, name=f"{name}_div6")(gate)
    return layers.Multiply(name=name)([x, gate])


def build(input_shape, num_classes, stem=16, blocks=((3, 16, 1, "relu6"),), head=48):
    k = keras()
    layers = k.layers
    x = inputs = k.Input(shape=input_shape, name="image")
    x = layers.Conv2D(stem, 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = _activation(layers, x, "relu6", "stem_act")
    for i, (expansion, out, stride, act) in enumerate(blocks, start=1):
        shortcut, cin = x, int(x.shape[-1])
        y = layers.Conv2D(cin * expansion, 1, use_bias=False, name=f"b{i}_expand")(x)
        y = layers.BatchNormalization(momentum=0.9, name=f"b{i}_expand_bn")(y)
        y = _activation(layers, y, act, f"b{i}_expand_act")
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"b{i}_dw")(y)
        y = layers.BatchNormalization(momentum=0.9, name=f"b{i}_dw_bn")(y)
        y = _activation(layers, y, act, f"b{i}_dw_act")
        y = layers.Conv2D(out, 1, use_bias=False, name=f"b{i}_project")(y)
        y = layers.BatchNormalization(momentum=0.9, name=f"b{i}_project_bn")(y)     # linear bottleneck
        x = layers.Add(name=f"b{i}_add")([shortcut, y]) if stride == 1 and cin == out else y
    x = layers.Conv2D(head, 1, use_bias=False, name="head")(x)
    x = layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = _activation(layers, x, "hard_swish", "head_act")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(inputs, outputs, name="mobilenet_v2_digits")
