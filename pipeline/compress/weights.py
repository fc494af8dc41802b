"""Facts measured from a Keras model's weights: sparsity, distinct values, packed 1-bit size.

Pure numpy over `layer.get_weights()`, so every number in a report comes from the weights that are
saved, not from what a compression was asked to do. Wrapper layers (tfmot's pruning, clustering and
quantization wrappers) are looked through to the layer they wrap.
"""

from __future__ import annotations

import math

import numpy as np

KERNEL_LAYERS = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Dense",
                 "QuantConv1D", "QuantConv2D", "QuantConv3D", "QuantDepthwiseConv2D", "QuantDense")


def inner(layer):
    """The layer a tfmot wrapper wraps (recursively); the layer itself otherwise."""
    while hasattr(layer, "layer") and layer.__class__.__name__ != layer.layer.__class__.__name__:
        layer = layer.layer
    return layer


def kernels(model) -> dict[str, np.ndarray]:
    """Kernel of every conv/dense layer, by layer name, as saved (latent weights for larq layers).

    Read from the variables (a wrapper may have swapped the layer's `kernel` attribute for a
    fake-quantized tensor during its call).
    """
    out = {}
    for layer in model.layers:
        core = inner(layer)
        if core.__class__.__name__ not in KERNEL_LAYERS:
            continue
        for var in layer.weights:
            leaf = var.name.split("/")[-1].split(":")[0]
            if leaf in ("kernel", "depthwise_kernel"):
                out[core.name] = np.asarray(var.numpy())
                break
    return out


def layer_kinds(model) -> dict[str, str]:
    return {inner(l).name: inner(l).__class__.__name__ for l in model.layers}


def sparsity(arrays: dict[str, np.ndarray]) -> tuple[float, dict[str, float]]:
    """(overall, per layer) fraction of exactly-zero values; overall is weighted by size."""
    per = {n: float(np.mean(a == 0)) if a.size else 0.0 for n, a in arrays.items()}
    total = sum(a.size for a in arrays.values())
    zeros = sum(int(np.sum(a == 0)) for a in arrays.values())
    return (zeros / total if total else 0.0), per


def m_by_n_holds(kernel: np.ndarray, m: int = 2, n: int = 4) -> bool:
    """True if every group of `n` consecutive weights along the input axis has at least `m` zeros.

    The input axis is the last-but-one (Conv2D [kh, kw, in, out], Dense [in, out]); a trailing
    partial group must have at least `m - (n - len)` zeros (TFLite's layout, tfmot's padding).
    """
    w = np.moveaxis(kernel, -2, -1).reshape(-1, kernel.shape[-2])      # rows x input channels
    for start in range(0, w.shape[1], n):
        group = w[:, start:start + n]
        need = max(0, m - (n - group.shape[1]))
        if np.any(np.sum(group == 0, axis=1) < need):
            return False
    return True


def unique_values(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    return {n: int(np.unique(a).size) for n, a in arrays.items()}


def packed_bits_bytes(count: int, bits: int = 1) -> int:
    """Bytes to store `count` values at `bits` each, packed (a partial last byte counts whole)."""
    return math.ceil(count * bits / 8)
