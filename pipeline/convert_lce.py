"""Binarized (larq) models to a full-integer .tflite with Larq Compute Engine's converter.

LCE quantizes to int8 only where the graph carries training-time quantization ops (FakeQuant), it
has no representative-dataset path. So the trained larq model is rebuilt around the same layers
with a FakeQuant after every real-valued tensor, its range calibrated on training samples (what
post-training int8 calibration does for the other variants), except where the tensor only feeds a
BatchNormalization (folded into the layer before it) or only binarized inputs (LCE packs the sign
straight out of the binary convolution before it). The result: int8 first and last layers, int8
shortcuts, and LceQuantize / LceBconv2d (int8 or packed output) / LceDequantize between them.
"""

from __future__ import annotations

import numpy as np

from edgepipe_base.errors import EdgepipeError

VERSION = 2                               # part of the convert stage's cache key: bump on changes
SOFTMAX_RANGE = (0.0, 255.0 / 256.0)     # scale 1/256, zero point -128: what int8 SOFTMAX needs
SAME_SCALE = frozenset({"Flatten", "Reshape", "Dropout", "MaxPooling2D", "MaxPooling1D"})


def _binary_input(layer) -> bool:
    q = getattr(layer, "input_quantizer", None)
    return q is not None


def _after_binary_conv(tensor) -> bool:
    """A BatchNormalization output right after a binary conv: LCE writes its sign bit-packed."""
    layer = tensor._keras_history.layer
    if layer.__class__.__name__ != "BatchNormalization":
        return False
    before = layer.input._keras_history.layer
    return before.__class__.__name__.startswith("Quant")


def _consumers(model) -> dict:
    """id(tensor) -> layers that read it."""
    out: dict[int, list] = {}
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        for t in ins:
            out.setdefault(id(t), []).append(layer)
    return out


def _quantized_points(model) -> list:
    """The original model's tensors that get a FakeQuant."""
    readers = _consumers(model)
    points = []
    tensors = [model.input] + [l.output for l in model.layers if l.__class__.__name__ != "InputLayer"]
    for t in tensors:
        rs = readers.get(id(t), [])
        if t is not model.input and t._keras_history.layer.__class__.__name__ in SAME_SCALE:
            continue        # keeps its input's quantization (a second range would leave it float)
        if rs and all(r.__class__.__name__ == "BatchNormalization" for r in rs):
            continue
        if rs and all(_binary_input(r) for r in rs) and _after_binary_conv(t):
            continue
        points.append(t)
    return points


def with_fake_quant(model, calibration: np.ndarray):
    """`model`'s layers (shared, same weights) with calibrated FakeQuant ops inserted."""
    from .keras_env import keras, tf
    k, t = keras(), tf()
    points = _quantized_points(model)
    probe = k.Model(model.input, points)
    values = probe.predict(calibration, batch_size=256, verbose=0)
    values = values if isinstance(values, list) else [values]
    ranges = {}
    for tensor, v in zip(points, values):
        lo, hi = min(0.0, float(np.min(v))), max(0.0, float(np.max(v)))
        if hi - lo < 1e-6:
            hi = lo + 1e-6
        ranges[id(tensor)] = (lo, hi)
    for layer in model.layers:
        act = getattr(getattr(layer, "activation", None), "__name__", "")
        if act == "softmax" and layer.__class__.__name__ != "Activation":
            raise EdgepipeError(f"model '{model.name}': layer '{layer.name}' has a softmax activation; "
                                "put it in its own Activation layer so that its input is int8 too")
        if act == "softmax":
            ranges[id(layer.output)] = SOFTMAX_RANGE

    def fq(x, key, name):
        if key not in ranges:
            return x
        lo, hi = ranges[key]
        return k.layers.Lambda(lambda v, lo=lo, hi=hi: t.quantization.fake_quant_with_min_max_vars(
            v, lo, hi, num_bits=8), name=f"fq_{name}")(x)

    new = {}
    x = inputs = k.Input(shape=model.input_shape[1:], name=model.input_names[0])
    new[id(model.input)] = fq(x, id(model.input), "input")
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        try:
            args = [new[id(i)] for i in ins]
        except KeyError:
            raise EdgepipeError(f"model '{model.name}': layer '{layer.name}' reads a tensor that is "
                                "not a layer output; the LCE export handles plain functional models")
        y = layer(args if isinstance(layer.input, list) else args[0])
        new[id(layer.output)] = fq(y, id(layer.output), layer.name)
    return k.Model(inputs, new[id(model.output)], name=f"{model.name}_fq")


def convert(model, calibration: np.ndarray) -> bytes:
    """The larq model as an int8-in/int8-out LCE flatbuffer."""
    from .keras_env import tf
    try:
        import larq_compute_engine as lce
    except ImportError:
        raise EdgepipeError("larq-compute-engine is not installed; run `make setup`") from None
    t = tf()
    fq = with_fake_quant(model, calibration)
    try:
        return lce.convert_keras_model(fq, inference_input_type=t.int8, inference_output_type=t.int8)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EdgepipeError(f"model '{model.name}': the LCE converter failed ({first})") from None
