"""The one place TensorFlow is imported: tf-keras (Keras 2) must be selected before TF first loads.

tensorflow-model-optimization and larq only accept tf-keras models (with Keras 3 they raise, or return None), so
`TF_USE_LEGACY_KERAS=1` is set here and every module gets TensorFlow and Keras from here, lazily,
so that CLI paths that do not need TensorFlow (listing boards, reading a .tflite) stay fast.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # keep INFO/oneDNN/CUDA probe noise out of reports
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")  # CPU only: no cuInit probe on machines without a GPU


def tf():
    import sys
    if "tensorflow" not in sys.modules:      # its import prints banners from C++ (absl, oneDNN, CUDA probe)
        from .quiet import captured, silence_python_noise
        silence_python_noise()
        with captured():
            import tensorflow                # noqa: F401
    import tensorflow
    return tensorflow


def keras():
    tf()
    import tf_keras
    return tf_keras


def set_seed(seed: int) -> None:
    """Seed Python, numpy and TensorFlow for a reproducible run."""
    keras().utils.set_random_seed(seed)
