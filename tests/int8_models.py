"""Full-integer int8 conversion of a Keras test model with the real TFLite converter (int8 input and
output, TFLITE_BUILTINS_INT8), as the kernel tests build their models."""

from __future__ import annotations


def to_int8(model, representative) -> bytes:
    """`representative`: the converter's representative dataset (a generator function of [array])."""
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()
