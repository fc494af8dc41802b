"""Models saved with Keras 3 (`import keras` with TensorFlow 2.21): loaded with Keras 3 itself and
converted through a SavedModel export, since the rest of edgepipe runs tf-keras (Keras 2).

Only the post-training variants take this path: the compressions (pruning, QAT, clustering,
binarization, distillation) are built on tf-keras and start from a recipe, not from a file.
"""

from __future__ import annotations

from pathlib import Path

KERAS3 = 3


def load(path: Path):
    from .keras_env import tf
    tf()                                   # TensorFlow first, quietly (keras_env)
    import keras
    return keras.saving.load_model(str(path), compile=False)


def export_saved_model(path: Path, out: Path) -> Path:
    """The Keras 3 model at `path` as a TensorFlow SavedModel in `out` (what the converter reads)."""
    from .keras_env import tf
    model = load(path)
    # batch 1, fixed: with a free batch dimension Flatten/Reshape turn into SHAPE/STRIDED_SLICE/PACK ops
    spec = tf().TensorSpec((1, *model.input_shape[1:]), tf().float32)
    model.export(str(out), format="tf_saved_model", verbose=False, input_signature=[spec])
    return out


def input_scaling_layers(model) -> list[str]:
    """Layers that rescale or normalize the input inside the model (tf-keras or Keras 3), described."""
    found = []
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop(0)
        kind = type(layer).__name__
        if kind == "Rescaling":
            found.append(f"Rescaling(scale={float(layer.scale):g}, offset={float(layer.offset):g})")
        elif kind == "Normalization":
            found.append("Normalization")
        stack[:0] = list(getattr(layer, "layers", []))
    return found
