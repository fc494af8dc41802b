"""A user's own models and data through the real CLI: a Keras 3 model, a model that rescales its
input itself (warned about, fixed with --input-scale), an image-folder dataset, a .npz dataset,
every unsupported op listed with its count, and a user's LSTM (free batch size) through TFLM and the C engine."""

import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from conftest import REPO
from test_cli import assert_one_line_error, edgepipe

# Builds the models with the real Keras 3 (`import keras`) and tf-keras, trained for seconds.
MAKE_MODELS = r'''
import sys, numpy as np
from pathlib import Path
out = Path(sys.argv[1])
from sklearn.datasets import load_digits
import tensorflow as tf
import keras                       # Keras 3
import tf_keras                    # Keras 2, as edgepipe's recipes use
d = load_digits(); x = d.images[..., None].astype("float32"); y = d.target
keras.utils.set_random_seed(1)

def dense_net(inp, h):
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(32, activation="relu")(h)
    return keras.Model(inp, keras.layers.Dense(int(y.max()) + 1, activation="softmax")(h))

# trained on raw 0..16 values, scaled inside the model to -1..1
inp = keras.Input((8, 8, 1))
m = dense_net(inp, keras.layers.Rescaling(1 / 8, offset=-1)(inp))
m.compile("adam", "sparse_categorical_crossentropy"); m.fit(x, y, epochs=20, verbose=0)
m.save(out / "rescaled_k3.keras")

# an image folder: two classes of 8x8 grey images (bright left half / bright right half)
rng = np.random.default_rng(0)
imgs = rng.integers(0, 60, size=(40, 8, 8, 1)).astype("float32"); labels = np.arange(40) % 2
imgs[labels == 0, :, :4] += 150; imgs[labels == 1, :, 4:] += 150
np.save(out / "images.npy", imgs.astype(np.uint8)); np.save(out / "image_labels.npy", labels)
inp = keras.Input((8, 8, 1))
m = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp)))
m.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy"); m.fit(imgs / 255, labels, epochs=30, verbose=0)
m.save(out / "halves_k3.keras")

# ops the C engine has no kernel for (GELU, LayerNormalization), as an int8 .tflite
k = tf_keras
inp = k.Input((8, 8, 1))
h = k.layers.Dense(16, activation="gelu")(k.layers.Flatten()(inp))
h = k.layers.LayerNormalization()(k.layers.Dense(16, activation="gelu")(h))
m = k.Model(inp, k.layers.Dense(10, activation="softmax")(h))
c = tf.lite.TFLiteConverter.from_keras_model(m)
c.optimizations = [tf.lite.Optimize.DEFAULT]
c.representative_dataset = lambda: ([x[i:i + 1] / 16] for i in range(20))
c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
c.inference_input_type = c.inference_output_type = tf.int8
(out / "gelu_ln.tflite").write_bytes(c.convert())

# an LSTM with a free batch size and no unroll: converted traced at batch 1
inp = k.Input((8, 8, 1))
h = k.layers.LSTM(8)(k.layers.Reshape((8, 8))(inp))
k.Model(inp, k.layers.Dense(10, activation="softmax")(h)).save(out / "lstm.keras")
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("user_models")
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", MAKE_MODELS, str(out)], capture_output=True, text=True, timeout=600,
                       env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def _png(path, img: np.ndarray) -> None:
    """A minimal 8-bit greyscale PNG (zlib + CRC), written without an image library."""
    h, w = img.shape
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + bytes(row) for row in img.astype(np.uint8))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_a_model_that_rescales_itself_is_warned_about_and_runs_with_its_scale(models, tmp_path):
    """Keras 3 model with Rescaling(1/8, offset=-1) inside: our 0..1 inputs put it near chance."""
    rc, out, err = edgepipe("run", models / "rescaled_k3.keras", "--dataset", "digits", "--variants", "int8",
                            "--targets", "host-tflm", "--out", tmp_path / "a")
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    assert "warning:" in err and "Rescaling(scale=0.125, offset=-1)" in err and "--input-scale 1" in err
    doc = json.loads((tmp_path / "a" / "results.json").read_text())
    assert doc["warnings"] and doc["float_test_accuracy"] < 0.2
    # fed what it expects (raw values), the Keras 3 model converts, runs on TFLM and the C engine
    rc, out, err = edgepipe("run", models / "rescaled_k3.keras", "--dataset", "digits", "--input-scale", "1",
                            "--variants", "int8", "--targets", "host-tflm,host-c", "--samples", "host-c=30",
                            "--out", tmp_path / "b")
    assert rc == 0, err[-2000:]
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    assert doc["preprocessing"]["scale"] == 1 and not doc["warnings"] and doc["float_test_accuracy"] > 0.8
    rows = {r["target"]: r for r in doc["results"]}
    assert rows["host-tflm"]["accuracy"] > 0.8 and rows["host-c"]["mismatches"] == 0


def test_an_image_folder_dataset_runs(models, tmp_path):
    imgs, labels = np.load(models / "images.npy"), np.load(models / "image_labels.npy")
    for i, (img, label) in enumerate(zip(imgs, labels)):
        folder = tmp_path / "shapes" / ("left" if label == 0 else "right")
        folder.mkdir(parents=True, exist_ok=True)
        _png(folder / f"{i:03d}.png", img[..., 0])
    rc, out, err = edgepipe("run", models / "halves_k3.keras", "--dataset", tmp_path / "shapes", "--variants", "int8",
                            "--targets", "host-tflm", "--out", tmp_path / "r")
    assert rc == 0, err[-2000:]
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    assert doc["dataset"] == "shapes" and doc["labels"] == ["left", "right"] and doc["test_samples"] == 8
    assert doc["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert doc["results"][0]["accuracy"] >= 0.75


def test_an_npz_dataset_loads_with_its_preprocessing(tmp_path):
    from pipeline import datasets
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 4, 4, 1)).astype(np.uint8)
    np.savez(tmp_path / "mine.npz", x_train=x[:40], y_train=np.arange(40) % 3, x_test=x[40:], y_test=np.arange(10) % 3,
             labels=np.array(["a", "b", "c"]))
    d = datasets.load(str(tmp_path / "mine.npz"))
    assert d.labels == ("a", "b", "c") and d.input_shape == (4, 4, 1) and len(d.x_test) == 10
    assert d.preprocessing.scale == pytest.approx(1 / 255) and d.x_test.max() <= 1.0
    assert np.allclose(d.x_test * 255, x[40:])
    d2 = datasets.load(str(tmp_path / "mine.npz"), scale=2.0, offset=-1.0)
    assert np.allclose(d2.x_test, x[40:].astype(np.float32) * 2 - 1) and d2.fingerprint != d.fingerprint
    np.savez(tmp_path / "bad.npz", x=x)
    rc, _, err = edgepipe("bench", REPO / "tests" / "data" / "tflm_hello_world_int8.tflite", "--target", "host-tflm",
                          "--dataset", tmp_path / "bad.npz", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "bad.npz: no x_train, y_train, x_test, y_test in the .npz")


def test_every_unsupported_op_is_listed_and_the_target_keeps_its_row(models, tmp_path):
    rc, out, err = edgepipe("bench", models / "gelu_ln.tflite", "--target", "host-c", "--dataset", "digits",
                            "--out", tmp_path)
    assert rc == 0, err[-2000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    (row,) = doc["results"]
    assert row["target"] == "host-c" and "no kernel for" in row["skipped"]
    for op in ("GELU ×2", "RSQRT ×1"):
        assert op in row["skipped"], row["skipped"]
    md = (tmp_path / "table.md").read_text()
    assert "| host-c |" in md and "GELU ×2" in md
    assert "host-c" in out and "GELU ×2" in out


def test_a_users_lstm_converts_at_batch_1_and_runs_on_the_engine(models, tmp_path):
    """An LSTM saved with a free batch size and no unroll (which the converter cannot lower as it
    is) is traced at batch 1, converts to int8 with UNIDIRECTIONAL_SEQUENCE_LSTM and runs on TFLM
    and on the C engine, byte for byte the same."""
    rc, out, err = edgepipe("run", models / "lstm.keras", "--dataset", "digits", "--variants", "int8",
                            "--targets", "host-tflm,host-c", "--samples", "host-c=30", "--out", tmp_path)
    assert rc == 0, err[-2000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    rows = {r["target"]: r for r in doc["results"]}
    assert rows["host-tflm"]["accuracy"] is not None and rows["host-tflm"]["samples"] > 30
    assert rows["host-c"]["samples"] == 30 and rows["host-c"]["mismatches"] == 0, rows["host-c"]


def test_compressing_a_model_file_says_what_it_can_run(models, tmp_path):
    rc, _, err = edgepipe("run", models / "rescaled_k3.keras", "--dataset", "digits", "--variants", "qat",
                          "--out", tmp_path)
    assert_one_line_error(rc, err, "variant qat needs a recipe", "int8")
