"""TFLite tensor type names <-> numpy dtypes."""

import numpy as np

_NUMPY = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64,
    "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "BOOL": np.bool_,
}

FLOAT_TYPES = frozenset({"FLOAT32", "FLOAT16", "FLOAT64"})


def numpy_dtype(tflite_type: str):
    try:
        return _NUMPY[tflite_type]
    except KeyError:
        raise ValueError(f"no numpy dtype for TFLite type {tflite_type}") from None
