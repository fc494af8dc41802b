"""Golden files: the generated C for a two-layer model stays stable and readable, and
docs/SUPPORTED.md matches the op registry. Regenerate with EDGEPIPE_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from firmware_gen import codegen, host_run, kernels
from firmware_gen import tflm

GOLDEN = Path(__file__).parent / "golden" / "engine_two_layer"
MODEL = GOLDEN / "two_layer.tflite"
REPO = Path(__file__).resolve().parent.parent
UPDATE = os.environ.get("EDGEPIPE_UPDATE_GOLDEN") == "1"


def _build_two_layer_model(path: Path) -> None:
    """Conv2D(2, 3x3, relu) -> Dense(3), int8; only run when regenerating the golden files."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    x = keras.layers.Input((4, 4, 1))
    y = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(x)
    model = keras.Model(x, keras.layers.Dense(3)(keras.layers.Flatten()(y)))
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(16):
            yield [rng.normal(0, 1, size=(1, 4, 4, 1)).astype(np.float32)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())


def test_generated_c_matches_golden(tmp_path):
    if UPDATE and not MODEL.exists():
        _build_two_layer_model(MODEL)
    engine = codegen.generate(MODEL, tmp_path, "two_layer")
    for produced in (engine.c_path, engine.h_path):
        golden = GOLDEN / produced.name
        if UPDATE:
            golden.write_text(produced.read_text())
        assert produced.read_text() == golden.read_text(), (
            f"{produced.name} differs from {golden}; if the change is intended, regenerate with "
            "EDGEPIPE_UPDATE_GOLDEN=1 and review the diff")


def test_golden_engine_runs_bit_exact(tmp_path):
    # the golden C itself (not a fresh generation) compiled against today's runtime
    engine = codegen.generate(MODEL, tmp_path, "two_layer")
    for produced in (engine.c_path, engine.h_path):
        produced.write_text((GOLDEN / produced.name).read_text())
    x = np.random.default_rng(1).integers(-128, 128, size=(50, 4, 4, 1), dtype=np.int8)
    ours = host_run.invoke(host_run.build(engine, tmp_path, sanitize=True), engine, x)
    assert np.array_equal(ours.reshape(50, -1), tflm.run(MODEL.read_bytes(), x).outputs.reshape(50, -1))


def test_supported_md_is_generated_from_registry():
    from pipeline import docs
    if UPDATE:
        docs.write()
    text = docs.SUPPORTED_MD.read_text()
    assert text == docs.supported_md(), "docs/SUPPORTED.md is stale: run `edgepipe docs`"
    for op in kernels.KERNELS:
        assert f"| {op} |" in text
