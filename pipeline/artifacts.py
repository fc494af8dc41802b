"""Typed artifacts passed between stages: small dataclasses of paths + metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class KerasModel:
    """A float tf-keras model on disk: the trained base model or a compressed variant of it."""

    name: str            # "base", or the compression that made it ("prune", "distill", ...)
    path: Path
    sha256: str
    params: int
    test_accuracy: float | None = None       # float Keras accuracy on the test split
    meta: dict = field(default_factory=dict)  # stage-specific facts (sparsity per layer, ...)


@dataclass(frozen=True)
class TFLiteVariant:
    """One converted .tflite: what the benchmarks run and the exports ship."""

    name: str            # "fp32", "int8", "qat", "prune", ...
    kind: str            # human label: "post-training int8", "quantization-aware int8", ...
    source: str          # the KerasModel it came from ("base", "prune", ... or "file")
    quantization: str    # fp32 | fp16 | dynamic | int8 | int16x8
    tflite_path: Path
    sha256: str
    tflite_bytes: int
    gzip_bytes: int
    params: int
    sparsity: float      # fraction of exactly-zero weights in CONV/DEPTHWISE/FC weight tensors
    tensor_types: str    # what the ops really compute in: int8 | int16x8 | float | hybrid | mixed
    io_types: tuple[str, str]
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["tflite_path"] = str(self.tflite_path)
        d["io_types"] = list(self.io_types)
        return d


def keras_params(model) -> int:
    return int(model.count_params())


def load_keras(path: Path):
    """Load a model saved by any edgepipe stage (custom objects of tfmot/larq in scope)."""
    from .keras_env import keras
    k = keras()
    scopes = []
    try:
        import tensorflow_model_optimization as tfmot
        scopes.append(tfmot.quantization.keras.quantize_scope())
    except ImportError:
        pass
    custom = {}
    try:
        import larq
        custom.update({n: getattr(larq.layers, n) for n in dir(larq.layers) if n.startswith("Quant")})
        custom.update({n: getattr(larq.quantizers, n) for n in dir(larq.quantizers)
                       if n[:1].isupper() and isinstance(getattr(larq.quantizers, n), type)})
    except ImportError:
        pass
    import contextlib
    with contextlib.ExitStack() as stack:
        for s in scopes:
            stack.enter_context(s)
        stack.enter_context(k.utils.custom_object_scope(custom))
        return k.models.load_model(str(path), compile=False)
