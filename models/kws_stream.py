"""Streaming keyword spotter (microWakeWord-style): state carried from frame to frame.

Trained in seconds on 6-frame windows of a synthetic keyword stream, deployed frame by frame with a
ring buffer of past frames held in a resource variable (state carried between invocations)."""

from pipeline.keras_env import keras

RECIPE = {
    "dataset": "kws_stream",
    "train": {"epochs": 12, "batch_size": 64, "optimizer": "adam", "learning_rate": 5e-3,
              "patience": 4, "seed": 42},
    "arch": {"filters": 12, "dense": 16},
    "student": {"filters": 6, "dense": 8},
    "compress": {
        "prune": {"sparsity": 0.5, "epochs": 3},
        "distill": {"temperature": 2.0, "alpha": 0.1, "epochs": 6},
        "cluster": {"clusters": 8, "epochs": 2, "learning_rate": 1e-3},
    },
}

# variants that cannot apply to a streaming model, and why (the run refuses them in one line)
_QAT = ("tfmot's quantization-aware training has no QuantizeConfig for the streaming layer "
        "(StreamingConv1D); the post-training int8 variant is the deployable one")
NOT_APPLICABLE = {
    "qat": _QAT, "prune_qat": _QAT, "distill_qat": _QAT,
    "binary": "a 1-bit model goes through Larq Compute Engine's converter, which has no streaming "
              "(resource variable) form of the ring buffer",
}

_LAYER = None


def custom_objects() -> dict:
    """Registers the streaming layer (a cached run loads the saved model without calling build)."""
    return {"StreamingConv1D": stream_conv_class()}


def stream_conv_class():
    """The StreamingConv1D layer class (defined once, registered for loading saved models).

    On a window [B, kernel, C] it is a VALID Conv1D (training, non-streaming evaluation); on one
    frame [1, 1, C] it prepends the kernel - 1 frames kept in its ring buffer, a non-trainable
    variable, and shifts the new frame in: the converter turns that variable into VAR_HANDLE /
    READ_VARIABLE / ASSIGN_VARIABLE with a CALL_ONCE init, as microWakeWord's streaming layers."""
    global _LAYER
    if _LAYER is not None:
        return _LAYER
    k = keras()
    import tensorflow as tf

    @k.utils.register_keras_serializable("edgepipe_kws_stream")
    class StreamingConv1D(k.layers.Layer):
        def __init__(self, filters, kernel, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.filters, self.kernel = int(filters), int(kernel)
            self.activation = k.activations.get(activation)

        def build(self, input_shape):
            c = int(input_shape[-1])
            self.w = self.add_weight("kernel", (self.kernel, c, self.filters), initializer="glorot_uniform")
            self.b = self.add_weight("bias", (self.filters,), initializer="zeros")
            self.ring = self.add_weight("ring_buffer", (1, self.kernel - 1, c), initializer="zeros",
                                        trainable=False)

        def call(self, x):
            if x.shape[1] == 1:                  # streaming: one frame in, the window from the ring
                window = tf.concat([self.ring, x], axis=1)
                self.ring.assign(window[:, 1:, :])
                x = window
            return self.activation(tf.nn.conv1d(x, self.w, 1, "VALID") + self.b)

        def get_config(self):
            return {**super().get_config(), "filters": self.filters, "kernel": self.kernel,
                    "activation": k.activations.serialize(self.activation)}

    _LAYER = StreamingConv1D
    return _LAYER


def build(input_shape, num_classes, filters=12, dense=16, batch_size=None, kernel=None):
    """The window model: input [window, features] -> one class per window. One frame per input
    with `batch_size` 1 and the window as `kernel` gives the streaming form (stream_model)."""
    k = keras()
    layers = k.layers
    window = int(kernel or input_shape[0])
    x = inputs = k.Input(shape=input_shape, batch_size=batch_size, name="frames")
    x = stream_conv_class()(filters, window, activation="relu", name="stream_conv")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, activation="relu", name="fc1")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(inputs, outputs, name="kws_stream")


def stream_model(model):
    """The streaming form of a trained window model: one frame [1, 1, features] per invocation,
    the same weights (the ring buffer starts empty, as the window model's zero padding)."""
    features = int(model.input_shape[-1])
    conv = model.get_layer("stream_conv")
    streaming = build((1, features), int(model.output_shape[-1]), filters=conv.filters,
                      dense=int(model.get_layer("fc1").units), batch_size=1, kernel=conv.kernel)
    streaming.set_weights(model.get_weights())
    return streaming
