"""Binarized network (larq): `binary`, trained from the recipe's `build_binary` architecture.

larq's `ste_sign` converts to float SIGN ops that TFLM cannot run and that leave the "int8" model
partly float (measured with TF 2.21). So the trained larq model is exported as a standard tf-keras model:
- every binarized kernel becomes a plain Conv2D/Dense kernel of exactly +-1 (sign of the latent
  weight, sign(0) = +1 as in larq);
- every binarized input becomes `clip(x * 1024, -1, 1)`, which the converter fuses into the layer
  before it as the RELU_N1_TO_1 activation of an int8 op. The clip is placed before any MaxPooling /
  Flatten / Dropout that sits between that layer and the binarized one: sign is monotonic, so it
  commutes with them, and the fusion keeps the whole model int8.
The saved variant is that export model (`model.h5`: the clip is a Lambda layer, which only the
HDF5 format loads without lifting Keras' safe mode); the larq model is kept next to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts import keras_params
from edgepipe_base.errors import EdgepipeError
from ..keras_env import keras, set_seed
from . import cosine_decay, fine_tune_config, register, save_variant, weights

SIGN_GAIN = 1024.0     # inputs within 1/1024 of zero are not mapped to +-1 by the exported sign
SIGN_QUANTIZERS = {"SteSign", "ApproxSign", "SwishSign"}   # forward pass is sign(x), sign(0) = +1
PASSES_SIGN = {"MaxPooling1D", "MaxPooling2D", "Flatten", "Reshape", "Dropout"}
STANDARD = {"QuantConv2D": "Conv2D", "QuantDense": "Dense", "QuantConv1D": "Conv1D"}
LARQ_ONLY = ("input_quantizer", "kernel_quantizer", "kernel_constraint", "metrics", "pad_values")


# A real `lambda` with no globals: Keras stores its bytecode in the .h5 (a named function would be
# stored by name and not found at load), and it reloads wherever the same Python runs.
binary_sign = lambda x: __import__("tensorflow").clip_by_value(x * 1024.0, -1.0, 1.0)  # noqa: E731


def _quantizer_name(q) -> str | None:
    return None if q is None else q.__class__.__name__


def _chain(model) -> list:
    layers = [l for l in model.layers if l.__class__.__name__ != "InputLayer"]
    for prev, layer in zip([None, *layers], layers):
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, list) else [inbound]
        if len(inbound) != 1 or (prev is not None and inbound[0] is not prev):
            raise EdgepipeError(f"model '{model.name}': binary export handles a chain of layers; "
                                f"'{layer.name}' has other inputs")
    return layers


def export(larq_model):
    """The larq model as standard tf-keras layers with +-1 kernels and fusable clip signs."""
    k = keras()
    layers = _chain(larq_model)
    sign_after: set[int] = set()
    binarized: list[str] = []
    for i, layer in enumerate(layers):
        kind = layer.__class__.__name__
        if not kind.startswith("Quant"):
            continue
        if kind not in STANDARD:
            raise EdgepipeError(f"binary export: layer '{layer.name}' ({kind}) is not supported; "
                                f"use {', '.join(sorted(STANDARD))}")
        kq, iq = _quantizer_name(layer.kernel_quantizer), _quantizer_name(layer.input_quantizer)
        if kq not in SIGN_QUANTIZERS or iq not in SIGN_QUANTIZERS | {None}:
            raise EdgepipeError(f"binary export: layer '{layer.name}' quantizes with {kq}/{iq}; only "
                                f"sign quantizers ({', '.join(sorted(SIGN_QUANTIZERS))}) are exported")
        if getattr(layer, "pad_values", 0.0) != 0.0:
            raise EdgepipeError(f"binary export: layer '{layer.name}' pads with {layer.pad_values}; only "
                                "pad_values=0 (what a standard convolution does) is exported")
        binarized.append(layer.name)
        if iq is not None:
            j = i - 1
            while j >= 0 and layers[j].__class__.__name__ in PASSES_SIGN:
                j -= 1
            if j < 0:
                raise EdgepipeError(f"binary export: '{layer.name}' binarizes the model input; keep the "
                                    "first layer at full precision")
            sign_after.add(j)

    x = inputs = k.Input(shape=larq_model.input_shape[1:], name=larq_model.input_names[0])
    new_layers = {}
    for i, layer in enumerate(layers):
        kind = layer.__class__.__name__
        if kind in STANDARD:
            cfg = {key: v for key, v in layer.get_config().items() if key not in LARQ_ONLY}
            new = getattr(k.layers, STANDARD[kind]).from_config(cfg)
        else:
            new = layer.__class__.from_config(layer.get_config())
        x = new(x)
        new_layers[layer.name] = new
        if i in sign_after:
            x = k.layers.Lambda(binary_sign, name=f"sign_{layer.name}")(x)
    model = k.Model(inputs, x, name=f"{larq_model.name}_export")
    for layer in layers:
        w = layer.get_weights()
        if layer.name in binarized:
            w[0] = np.where(w[0] >= 0, 1.0, -1.0).astype(np.float32)
        new_layers[layer.name].set_weights(w)
    return model, binarized


@register("binary", kind="binarized (larq) + int8", section="binary")
def binary(base, recipe, data, out: Path, inputs: dict):
    from ..train import accuracy, fit
    build = getattr(recipe.module, "build_binary", None)
    if build is None:
        raise EdgepipeError(f"{recipe.path}: no build_binary() for the 'binary' variant; add one "
                            "(larq QuantConv2D/QuantDense with ste_sign) or leave 'binary' out of --variants")
    params = recipe.params("binary")
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=5)
    cfg = cosine_decay(cfg, len(data.x_train), epochs)
    set_seed(cfg["seed"])
    larq_model = build(data.input_shape, data.num_classes, **recipe.arch)
    fit(larq_model, data, cfg, epochs=epochs)
    larq_model.save(Path(out) / "binary_larq.h5")
    exported, binarized = export(larq_model)

    kern = weights.kernels(exported)
    for name in binarized:
        values = np.unique(kern[name])
        assert set(values.tolist()) <= {-1.0, 1.0}, f"{name}: binarized kernel holds {values[:5]}"
    bin_count = {n: int(kern[n].size) for n in binarized}
    full = {n: int(a.size) for n, a in kern.items() if n not in binarized}
    packed = sum(weights.packed_bits_bytes(c, 1) for c in bin_count.values())
    float_bin = 4 * sum(bin_count.values())
    meta = {"binary_weights": True, "binarized_layers": bin_count, "full_precision_layers": full,
            "packed_1bit_weight_bytes": packed,
            "full_precision_int8_weight_bytes": sum(full.values()),
            "packed_total_weight_bytes": packed + sum(full.values()),
            "float32_weight_bytes": float_bin,
            "float32_total_weight_bytes": 4 * sum(a.size for a in kern.values()),
            "packed_vs_float32": round(packed / float_bin, 4) if float_bin else None,
            "larq_params": keras_params(larq_model),
            "larq_test_accuracy": accuracy(larq_model, data.x_test, data.y_test),
            "sign_gain": SIGN_GAIN, "epochs": epochs}
    return save_variant(exported, "binary", out, data, meta, filename="model.h5")
