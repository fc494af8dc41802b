"""Bad input ends in one clear line and a non-zero exit code, never a traceback (real subprocesses)."""

import os
import subprocess
import sys

import pytest

from conftest import REPO


def edgepipe(*args, env=None, timeout=300):
    p = subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=REPO, text=True,
                       capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
    return p.returncode, p.stdout, p.stderr


def assert_one_line_error(rc, err, *needles):
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgepipe: error:")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_unknown_model_lists_valid_models():
    rc, _, err = edgepipe("run", "no_such_model")
    assert_one_line_error(rc, err, "unknown model 'no_such_model'", "digits_cnn", "fmnist_cnn")


def test_unknown_target_lists_valid_targets():
    rc, _, err = edgepipe("run", "digits_cnn", "--targets", "host-gpu")
    assert_one_line_error(rc, err, "unknown target 'host-gpu'", "host-litert", "host-tflm")


def test_unknown_variant_lists_valid_variants(tmp_path):
    rc, _, err = edgepipe("run", "digits_cnn", "--variants", "int4", "--out", tmp_path)
    assert_one_line_error(rc, err, "unknown variant 'int4'", "int8", "int16x8")


def test_unknown_dataset_for_a_file(testdata):
    rc, _, err = edgepipe("bench", testdata / "tflm_hello_world_int8.tflite", "--target", "host-tflm",
                          "--dataset", "imagenet")
    assert_one_line_error(rc, err, "unknown dataset 'imagenet'", "fashion_mnist")


@pytest.mark.parametrize("content", [b"", b"not a flatbuffer at all", "truncated"])
def test_corrupt_or_truncated_tflite(tmp_path, testdata, content):
    bad = tmp_path / "bad.tflite"
    good = (testdata / "tflm_micro_speech_int8.tflite").read_bytes()
    bad.write_bytes(good[: len(good) // 3] if content == "truncated" else content)
    rc, _, err = edgepipe("bench", bad, "--target", "host-litert", "--dataset", "digits", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "bad.tflite: not a valid .tflite file")


def test_recipe_whose_build_raises(tmp_path):
    (tmp_path / "broken.py").write_text('"""Broken on purpose."""\nRECIPE = {"dataset": "digits"}\n'
                                        "def build(input_shape, num_classes):\n    return 1 / 0\n")
    rc, _, err = edgepipe("run", "broken", "--variants", "int8", "--out", tmp_path / "o",
                          env={"EDGEPIPE_MODELS": str(tmp_path)})
    assert_one_line_error(rc, err, "broken.py: build() raised ZeroDivisionError")


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    rc, _, err = edgepipe("run", "digits_cnn", "--variants", "int8", "--out", blocker / "run")
    assert_one_line_error(rc, err, "output folder is not writable", "--out")


def test_unknown_force_stage():
    rc, _, err = edgepipe("run", "digits_cnn", "--force", "everything")
    assert_one_line_error(rc, err, "unknown stage 'everything'", "train", "bench")


def test_help_lists_commands():
    rc, out, _ = edgepipe("--help")
    assert rc == 0
    for cmd in ("run", "models", "boards", "bench", "report"):
        assert cmd in out


def test_export_writes_tflm_files_and_engine_that_compile(tmp_path, testdata):
    out = tmp_path / "c"
    rc, stdout, err = edgepipe("export", testdata / "tflm_micro_speech_int8.tflite", "--out", out,
                               "--prefix", "kws")
    assert rc == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"kws_model_data.c", "kws_model_data.h", "kws_model_settings.h", "kws_model.c", "kws_model.h"} <= names
    srcs = [*out.glob("*.c"), *(out / "edgepipe_runtime").glob("*.c")]
    cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", f"-I{out / 'edgepipe_runtime'}",
                         *map(str, srcs)], cwd=tmp_path, capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr


def test_export_refuses_a_float_model(tmp_path):
    # a float32 .tflite converted here, with the real converter
    from pipeline.keras_env import keras, tf
    k = keras()
    m = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
    path = tmp_path / "float.tflite"
    path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(m).convert())
    rc, _, err = edgepipe("export", path, "--out", tmp_path / "c")
    assert_one_line_error(rc, err, "computes in float", "int8")


def test_dataset_that_does_not_fit_the_model(testdata, tmp_path):
    rc, _, err = edgepipe("bench", testdata / "tflm_micro_speech_int8.tflite", "--target", "host-tflm",
                          "--dataset", "digits", "--out", tmp_path)
    assert_one_line_error(rc, err, "model input (1960,) does not match dataset digits samples (8, 8, 1)")


def test_training_failure_inside_tensorflow_is_one_line(tmp_path):
    # the model has 3 outputs for 10 classes: TensorFlow fails deep inside fit()
    (tmp_path / "three.py").write_text(
        '"""Wrong head on purpose."""\nfrom pipeline.keras_env import keras\n'
        'RECIPE = {"dataset": "digits", "train": {"epochs": 1}}\n'
        "def build(input_shape, num_classes):\n    k = keras()\n"
        "    return k.Sequential([k.Input(input_shape), k.layers.Flatten(), k.layers.Dense(3)])\n")
    rc, _, err = edgepipe("run", "three", "--variants", "int8", "--out", tmp_path / "o",
                          env={"EDGEPIPE_MODELS": str(tmp_path)})
    assert_one_line_error(rc, err, "three.py: training failed with", "EDGEPIPE_DEBUG=1")
