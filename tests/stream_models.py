"""Streaming (stateful) test models, built with the real TFLite converter: microWakeWord's shape of
model, whose layers keep ring buffers of past frames in resource variables.

One frame in ([1, 1, FEATURES] int8), class scores out (uint8, as microWakeWord's models end). The
graph has CALL_ONCE (the variables' init subgraph), VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE,
CONCATENATION, STRIDED_SLICE (the ring buffer shift), SPLIT, SPLIT_V, a time convolution, and an
int8 -> uint8 QUANTIZE at the output. `_experimental_variable_quantization` keeps the variables int8,
as microWakeWord converts them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FEATURES, KERNEL, CHANNELS, CLASSES = 10, 3, 6, 4


def build(path: Path, seed: int = 0, int16: bool = False) -> Path:
    """int16: the int16x8 form (int16 activations and variables, int16 input and output)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    class Stream(tf.Module):
        def __init__(self):
            super().__init__()
            self.frames = tf.Variable(tf.zeros([1, KERNEL - 1, FEATURES]), trainable=False)  # ring buffer 1
            self.hidden = tf.Variable(tf.zeros([1, 2, CHANNELS]), trainable=False)          # ring buffer 2
            self.w1 = tf.constant(rng.normal(0, 0.4, (1, KERNEL, FEATURES, CHANNELS)).astype(np.float32))
            self.b1 = tf.constant(rng.normal(0, 0.1, (CHANNELS,)).astype(np.float32))
            self.w2 = tf.constant(rng.normal(0, 0.4, (3 * CHANNELS, CLASSES)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 1, FEATURES], tf.float32)])
        def __call__(self, x):
            window = tf.concat([self.frames, x], axis=1)                   # [1, KERNEL, F]
            self.frames.assign(window[:, 1:, :])                           # drop the oldest frame
            h = tf.nn.conv2d(window[:, None], self.w1, 1, "VALID") + self.b1  # [1, 1, 1, C]
            h = tf.nn.relu(tf.reshape(h, [1, 1, CHANNELS]))
            a, b = tf.split(h, 2, axis=-1)                                 # SPLIT
            c1, c2, c3 = tf.split(h, [1, 2, 3], axis=-1)                   # SPLIT_V
            h = tf.concat([b, a * 0.5, c3, c1, c2], axis=-1)[:, :, :CHANNELS]
            past = tf.concat([self.hidden, h], axis=1)                     # [1, 3, C]
            self.hidden.assign(past[:, 1:, :])
            return tf.nn.softmax(tf.matmul(tf.reshape(past, [1, 3 * CHANNELS]), self.w2))

    module = Stream()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    conv.experimental_enable_resource_variables = True
    conv._experimental_variable_quantization = True
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rep_rng = np.random.default_rng(seed + 1)

    def rep():
        for _ in range(64):
            yield [rep_rng.uniform(-1, 1, (1, 1, FEATURES)).astype(np.float32)]
    conv.representative_dataset = rep
    if int16:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.uint8
    path = Path(path)
    path.write_bytes(conv.convert())
    return path
