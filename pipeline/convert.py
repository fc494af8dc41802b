"""Post-training quantization and conversion of Keras models to .tflite, cached per variant."""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepipe_base import tflite_file
from . import cache
from .artifacts import KerasModel, TFLiteVariant, load_keras
from .datasets import Dataset
from edgepipe_base.errors import EdgepipeError
from .op_types import bitmap_sparse_weight_bytes, io_types, model_types, weight_sparsity
from .registry import Registry

STAGE_VERSION = 1
DEFAULT_CALIBRATION_SAMPLES = 500


@dataclass(frozen=True)
class Quantization:
    name: str
    kind: str
    expect: str          # what the ops should compute in; anything else is flagged in the table


QUANTIZATIONS: Registry[Quantization] = Registry("quantization")
for _q in (Quantization("fp32", "float32", "float"),
           Quantization("fp16", "PTQ float16 weights", "float"),
           Quantization("dynamic", "PTQ dynamic range", "hybrid"),
           Quantization("int8", "PTQ int8 (calibrated)", "int8"),
           Quantization("int16x8", "PTQ int16x8", "int16x8")):
    QUANTIZATIONS.register(_q.name, _q)
# not a post-training quantization of the base model: how the `binary` variant (a larq model) is
# converted, by Larq Compute Engine's converter into int8 + bit-packed binary convs
LCE = Quantization("lce", "LCE int8 + 1-bit", "int8")


def _keras_converter(t, model):
    """from_keras_model; a recurrent model (LSTM, GRU, ...) with a free batch dimension is traced at
    batch 1 instead: the converter cannot lower a recurrent loop over an unknown batch, and batch 1
    is what every target runs (the LSTM becomes UNIDIRECTIONAL_SEQUENCE_LSTM)."""
    from .keras_env import keras
    shape = tuple(model.inputs[0].shape) if len(model.inputs) == 1 else ()
    if shape and shape[0] is None and any(isinstance(m, keras().layers.RNN) for m in model.submodules):
        traced = t.function(lambda x: model(x)).get_concrete_function(
            t.TensorSpec([1, *shape[1:]], model.inputs[0].dtype))
        return t.lite.TFLiteConverter.from_concrete_functions([traced], model)
    return t.lite.TFLiteConverter.from_keras_model(model)


def _converter(model, quantization: str, calibration: np.ndarray, stream: bool = False):
    from .keras_env import tf
    t = tf()
    conv = t.lite.TFLiteConverter.from_saved_model(str(model)) if isinstance(model, Path) else \
        _keras_converter(t, model)
    if stream:
        # a streaming model keeps its state in variables: resource variables (VAR_HANDLE ...), with
        # the variables quantized like the activations (as microWakeWord converts its models)
        conv.experimental_enable_resource_variables = True
        conv._experimental_variable_quantization = quantization in ("int8", "int16x8")   # full integer only
    if quantization == "fp32":
        return conv
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        conv.target_spec.supported_types = [t.float16]
    elif quantization in ("int8", "int16x8"):
        def representative():
            for x in calibration:
                yield [x[None, ...].astype(np.float32)]
        conv.representative_dataset = representative
        if quantization == "int8":
            conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = t.int8
        else:
            conv.target_spec.supported_ops = [
                t.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            conv.inference_input_type = conv.inference_output_type = t.int16
    return conv


def convert(source: KerasModel, name: str, kind: str, quantization: str, data: Dataset, root: Path,
            calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES, force: bool = False,
            stream=None) -> TFLiteVariant:
    """Convert one Keras model to one .tflite variant (cached by model hash + settings).
    `stream`: the recipe's stream_model(model), for a streaming recipe: the window model trained on
    the dataset is converted in its streaming form (one frame per invocation, state in variables),
    calibrated with the windows' last frames."""
    q = LCE if quantization == "lce" else QUANTIZATIONS.get(quantization)
    config = {"stage_version": STAGE_VERSION, "source_sha256": source.sha256, "quantization": q.name,
              "calibration_samples": calibration_samples if q.name in ("int8", "int16x8", "lce") else 0,
              "data": data.fingerprint, **({"stream": 1} if stream else {})}
    if stream and (q.name == "lce" or source.meta.get("keras_version") == 3):
        raise EdgepipeError(f"variant {name}: a streaming recipe's model converts in its streaming form with "
                            "the TFLite converter only (not Larq Compute Engine's, not from Keras 3)")
    if q.name == "lce":
        from . import convert_lce
        config["lce_export"] = convert_lce.VERSION

    def produce(out: Path) -> dict:
        from .quiet import captured, converter_failure
        if source.meta.get("keras_version") == 3:     # converted from its SavedModel export
            from . import keras3
            with captured():
                model = keras3.export_saved_model(source.path, out / "saved_model")
        else:
            model = load_keras(source.path)
        calibration = data.calibration(calibration_samples)
        if stream:
            model, calibration = stream(model), calibration[:, -1:, ...]
        noise = None
        if q.name == "lce":
            from . import convert_lce
            with captured():
                blob = convert_lce.convert(model, data.calibration(calibration_samples))
            cache.write_atomic(out / "model.tflite", blob)
            return {"file": "model.tflite"}
        try:
            with captured() as noise:            # converter warnings and MLIR dumps: kept for the error
                blob = _converter(model, q.name, calibration, stream=bool(stream)).convert()
        except Exception as exc:
            if os.environ.get("EDGEPIPE_DEBUG"):
                raise
            raise EdgepipeError(f"variant {name}: the TFLite converter failed: "
                                f"{converter_failure(exc, noise.text if noise else '')}") from None
        cache.write_atomic(out / "model.tflite", blob)
        shutil.rmtree(out / "saved_model", ignore_errors=True)
        return {"file": "model.tflite"}

    folder, m = cache.stage(root, f"convert-{name}", config, produce, force=force)
    path = folder / m["file"]
    blob = path.read_bytes()
    parsed = tflite_file.read(path, blob)
    return TFLiteVariant(
        name=name, kind=kind, source=source.name, quantization=q.name, tflite_path=path,
        sha256=parsed.sha256, tflite_bytes=len(blob), gzip_bytes=len(gzip.compress(blob, 9, mtime=0)),
        params=source.params, sparsity=weight_sparsity(parsed), tensor_types=model_types(parsed),
        io_types=io_types(parsed), meta={**source.meta, "expected_types": q.expect,
                                         **({"stream": True} if stream else {}),
                                         "float_test_accuracy": source.test_accuracy,
                                         **_sparse_sizes(parsed)})


def _sparse_sizes(parsed) -> dict:
    dense, sparse = bitmap_sparse_weight_bytes(parsed)
    return {"weight_bytes": dense, "bitmap_sparse_weight_bytes_computed": sparse}


def from_tflite(path: Path) -> TFLiteVariant:
    """A user's own .tflite as the one variant of a run."""
    parsed = tflite_file.read(path)
    types = model_types(parsed)
    return TFLiteVariant(
        name=Path(path).stem, kind="given .tflite", source="file",
        quantization={"int8": "int8", "int16x8": "int16x8"}.get(types, "fp32"), tflite_path=Path(path),
        sha256=parsed.sha256, tflite_bytes=len(parsed.data),
        gzip_bytes=len(gzip.compress(parsed.data, 9, mtime=0)), params=0,
        sparsity=weight_sparsity(parsed), tensor_types=types, io_types=io_types(parsed))
