"""Quantize float inputs the way the model's input tensor expects (TFLite's affine scheme)."""

from __future__ import annotations

import numpy as np

from edgepipe_base.tflite_file import TFLiteModel
from edgepipe_base.tflite_types import numpy_dtype


def input_tensor(model: TFLiteModel):
    return model.main.tensors[model.main.inputs[0]]


def quantize_inputs(model: TFLiteModel, x: np.ndarray) -> np.ndarray:
    """x (float, preprocessed) -> the dtype the model's input takes: q = round(x / scale) + zp."""
    t = input_tensor(model)
    dtype = numpy_dtype(t.dtype)
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    info = np.iinfo(dtype)
    q = np.round(x / t.scale[0]) + t.zero_point[0]
    return np.clip(q, info.min, info.max).astype(dtype)
