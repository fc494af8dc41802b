"""Seeded random inputs: benchmark any .tflite without a dataset (`edgepipe bench FILE --target T`).

Without labels only what needs none is measured: outputs against TFLM (mismatches), arena,
instructions, flash/RAM; accuracy is null. As TFLM's own benchmarks do, the inputs are random
values of the model's input type and shape: every integer of an integer input type, uniformly, or
N(0, 1) for a float input. They are returned as a Dataset whose x_test holds the dequantized values,
which the targets' input quantization (quant_io) maps back to exactly the drawn integers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgepipe_base import tflite_file
from edgepipe_base.tflite_types import numpy_dtype

from .datasets import Dataset, Preprocessing

SEED = 0
SAMPLES = 100        # when --samples asks for no more
NAME = "random inputs (seeded; no labels: accuracy null)"


def dataset(path: Path, samples: int = SAMPLES, seed: int = SEED) -> Dataset:
    model = tflite_file.read(path)
    t = model.main.tensors[model.main.inputs[0]]
    shape = tuple(int(d) for d in t.shape[1:])
    dtype = numpy_dtype(t.dtype)
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        q = rng.integers(info.min, info.max + 1, size=(samples, *shape), dtype=np.int64)
        scale = t.scale[0] if t.scale else 1.0
        zero_point = t.zero_point[0] if t.zero_point else 0
        x = (q - zero_point) * float(scale)        # quant_io: round(x / scale) + zp == q exactly
        pre = Preprocessing(raw_min=float(info.min), raw_max=float(info.max), scale=float(scale),
                            offset=-zero_point * float(scale))
    else:
        x = rng.normal(0.0, 1.0, size=(samples, *shape))
        pre = Preprocessing(raw_min=float(x.min(initial=0.0)), raw_max=float(x.max(initial=0.0)), scale=1.0)
    h = hashlib.sha256(f"random-inputs {model.sha256} seed={seed} samples={samples}".encode())
    empty_x, empty_y = x[:0], np.zeros((0,), dtype=np.int64)
    return Dataset(name=NAME, labels=(), preprocessing=pre, x_train=empty_x, y_train=empty_y,
                   x_val=empty_x, y_val=empty_y, x_test=x, y_test=None, fingerprint=h.hexdigest())
