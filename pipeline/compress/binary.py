"""Binarized network (larq): `binary`, trained from the recipe's `build_binary` architecture and
deployed 1-bit end to end.

The trained larq model is the variant. The convert stage hands it to Larq Compute Engine's
converter (pipeline/convert_lce.py: int8 I/O, int8 first/last layers and shortcuts, calibrated like
post-training int8), which packs every binarized conv's weights 32 per int32 word and turns its
sign inputs into LceQuantize / LceBconv2d / LceDequantize ops. edgepipe's C engine runs those with
XOR + popcount (firmware_gen/runtime/ep_binary.c); LCE's interpreter is the host target
(`host-lce`). Architectures for it should be designed to be binarized: real-valued shortcuts,
learned per-channel scales (BatchNorm after every binary conv), `pad_values=1.0`, binary dense
layers written as full-window VALID convs (LCE converts QuantConv2D, not QuantDense), and softmax
in its own Activation layer.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..artifacts import keras_params
from edgepipe_base.errors import EdgepipeError
from ..keras_env import set_seed
from . import cosine_decay, fine_tune_config, register, save_variant, weights

SIGN_QUANTIZERS = {"SteSign", "ApproxSign", "SwishSign"}   # forward pass is sign(x), sign(0) = +1


def _quantizer_name(q) -> str | None:
    return None if q is None else q.__class__.__name__


def binarized_layers(model) -> dict[str, tuple[int, ...]]:
    """Binary convs (sign kernel and sign input): name -> kernel shape (kh, kw, in, out)."""
    out = {}
    for layer in model.layers:
        kind = layer.__class__.__name__
        if not kind.startswith("Quant"):
            continue
        kq, iq = _quantizer_name(layer.kernel_quantizer), _quantizer_name(layer.input_quantizer)
        if kind != "QuantConv2D" or kq not in SIGN_QUANTIZERS or iq not in SIGN_QUANTIZERS:
            raise EdgepipeError(f"binary: layer '{layer.name}' ({kind}, {kq}/{iq}) is not a binary conv; "
                                "use QuantConv2D with sign input and kernel quantizers (a binary dense "
                                "layer is a VALID QuantConv2D as wide as its input)")
        out[layer.name] = tuple(int(d) for d in layer.kernel.shape)
    return out


@register("binary", kind="binarized 1-bit (larq, LCE) + int8", section="binary", version=3)
def binary(base, recipe, data, out: Path, inputs: dict):
    from ..train import fit
    build = getattr(recipe.module, "build_binary", None)
    if build is None:
        raise EdgepipeError(f"{recipe.path}: no build_binary() for the 'binary' variant; add one "
                            "(larq QuantConv2D with ste_sign) or leave 'binary' out of --variants")
    params = recipe.params("binary")
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=5)
    cfg = cosine_decay(cfg, len(data.x_train), epochs)
    set_seed(cfg["seed"])
    model = build(data.input_shape, data.num_classes, **recipe.arch, **params.get("arch", {}))
    fit(model, data, cfg, epochs=epochs)
    bin_shapes = binarized_layers(model)
    if not bin_shapes:
        raise EdgepipeError(f"{recipe.path}: build_binary() has no binary conv (QuantConv2D with ste_sign)")
    kern = weights.kernels(model)
    bin_count = {n: int(np.prod(s)) for n, s in bin_shapes.items()}
    full = {n: int(a.size) for n, a in kern.items() if n not in bin_shapes}
    # LCE's packing: [out][kh][kw][ceil(in / 32)] int32 words (channel padding bits included)
    packed = sum(4 * s[0] * s[1] * math.ceil(s[2] / 32) * s[3] for s in bin_shapes.values())
    float_total = 4 * (sum(bin_count.values()) + sum(full.values()))
    meta = {"binary_weights": True, "quantization": "lce", "binarized_layers": bin_count,
            "full_precision_layers": full,
            "packed_1bit_weight_bytes_computed": packed,
            "full_precision_int8_weight_bytes": sum(full.values()),
            "packed_total_weight_bytes": packed + sum(full.values()),
            "float32_weight_bytes": 4 * sum(bin_count.values()),
            "float32_total_weight_bytes": float_total,
            "packed_vs_float32": round((packed + sum(full.values())) / float_total, 4),
            "larq_params": keras_params(model), "epochs": epochs}
    return save_variant(model, "binary", out, data, meta, filename="model.h5")
