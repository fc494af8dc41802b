"""TFLM as an engine on emulated boards: the real TFLM sources (a create_tflm_tree.py tree),
arm-none-eabi-g++, QEMU and pyserial; outputs compared with the tflite_micro host interpreter.

The tree comes from TFLM_DIR or, when unset, ../shared/third_party beside the clone (CI always
has it). Without one these tests are skipped with the reason, and CI fails on any skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgepipe_base import tflite_file
from firmware_gen import tflm_tree
from pipeline.bench import board as board_bench

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SHARED_TREES = REPO.parent / "shared" / "third_party"


@pytest.fixture(scope="module")
def tflm_dir():
    """TFLM_DIR for these tests: the user's, else ../shared/third_party (tflm-ref + tflm-cmsis-nn)."""
    base = os.environ.get("TFLM_DIR") or str(SHARED_TREES)
    mp = pytest.MonkeyPatch()
    mp.setenv("TFLM_DIR", base)
    missing = [e for e in tflm_tree.TFLM_ENGINES if tflm_tree.find(e) is None]
    if missing:
        mp.undo()
        why = (f"needs TensorFlow Lite Micro source trees for {', '.join(missing)}: set TFLM_DIR to a "
               f"folder with tflm-ref/ and tflm-cmsis-nn/ made by create_tflm_tree.py (README.md, "
               f"\"TFLM engines\"), or lay out ../shared/third_party beside the clone")
        if os.environ.get("CI"):
            pytest.fail(f"CI: {why}")     # CI has the trees; their absence is a broken setup, not a skip
        pytest.skip(why)
    yield Path(base)
    mp.undo()


def _inputs(path, n, seed=0):
    m = tflite_file.read(path)
    shape = m.main.tensors[m.main.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


@pytest.fixture(scope="module")
def reduce_max_digits(tmp_path_factory):
    """A digits MLP with REDUCE_MAX (an op edgepipe's engine lacks), int8 by the real converter."""
    from pipeline.keras_env import keras, tf
    from firmware_gen.kernels import KERNELS
    k, t = keras(), tf()
    k.utils.set_random_seed(0)
    # dense layers only: the fewest TFLM and CMSIS-NN sources to compile on a cold cache
    x = inputs = k.Input(shape=(8, 8, 1), batch_size=1, name="image")   # batch 1: static reshapes
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(32, name="fc1")(x)
    x = k.layers.Reshape((8, 4), name="groups")(x)
    x = k.layers.Lambda(lambda v: t.reduce_max(v, axis=-1), name="reduce_max")(x)
    outputs = k.layers.Dense(10, activation="softmax", name="classifier")(x)
    model = k.Model(inputs, outputs)
    calib = np.random.default_rng(1).uniform(0, 1, size=(64, 8, 8, 1)).astype(np.float32)
    conv = t.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in calib)
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = t.int8
    path = tmp_path_factory.mktemp("reduce_max") / "reduce_max_digits.tflite"
    path.write_bytes(conv.convert())
    ops = {op.opcode for op in tflite_file.read(path).main.operators}
    assert "REDUCE_MAX" in ops and "REDUCE_MAX" not in KERNELS, ops
    return path


def test_without_a_tree_the_tflm_engines_say_why(monkeypatch, tmp_path):
    monkeypatch.delenv("TFLM_DIR", raising=False)
    why = tflm_tree.unavailable("tflm-cmsis-nn")
    assert "TFLM_DIR is not set" in why and "create_tflm_tree.py" in why
    monkeypatch.setenv("TFLM_DIR", str(tmp_path))
    assert f"TFLM_DIR={tmp_path} has none" in tflm_tree.unavailable("tflm")
    assert tflm_tree.available_engines() == ["edgepipe"]


def test_tflm_reference_on_mps2_an386_matches_host_tflm(tflm_dir, tmp_path, reduce_max_digits):
    x = _inputs(reduce_max_digits, 16)
    r = board_bench.run("mps2-an386", reduce_max_digits, x, None, tmp_path, engine="tflm")
    assert r["engine"] == "tflm" and r["engine_version"].startswith("tflm-")
    assert r["mismatches"] == 0 and r["bit_exact"] is True          # TFLM on the board == TFLM on the host
    assert r["instructions"]["median"] > 5_000
    # the arena the board's interpreter reports fits the one compiled in (host measurement + 25%)
    assert 0 < r["arena_bytes"] <= r["arena_alloc_bytes"]
    assert r["flash_bytes"] > 20_000 and r["ram_bytes"] > r["arena_alloc_bytes"] + r["stack_bytes"]
    assert "REDUCE_MAX" in r["ops"]


def test_tflm_engines_on_mps3_an547(tflm_dir, tmp_path, testdata):
    """Cortex-M55: both TFLM engines build and run; the reference one is bit-exact, CMSIS-NN (with
    Helium kernels) is compared and its differences counted."""
    model = testdata / "tflm_hello_world_int8.tflite"
    x = _inputs(model, 8)
    ref = board_bench.run("mps3-an547", model, x, None, tmp_path, engine="tflm")
    cmsis = board_bench.run("mps3-an547", model, x, None, tmp_path, engine="tflm-cmsis-nn")
    assert ref["mismatches"] == 0
    assert cmsis["engine"] == "tflm-cmsis-nn" and cmsis["mismatches"] is not None
    assert cmsis["instructions"]["median"] > 0 and cmsis["flash_bytes"] > 20_000


def test_model_the_engine_cannot_run_goes_to_tflm_cmsis_nn_by_default(tflm_dir, tmp_path, reduce_max_digits):
    """The driver's default engine for a board: edgepipe where it can, else TFLM + CMSIS-NN, and the
    row says why."""
    from pipeline.run import RunConfig, run
    doc, paths = run(RunConfig(model=str(reduce_max_digits), dataset="digits", targets=("mps2-an386",),
                               out=tmp_path / "run", options={"samples": {"mps2-an386": 20}}))
    (r,) = [r for r in doc["results"] if r["target"] == "mps2-an386"]
    assert r["engine"] == "tflm-cmsis-nn" and r.get("error") is None, r
    assert "edgepipe's C engine cannot run it" in r["note"] and "REDUCE_MAX" in r["note"]
    assert r["samples"] == 20 and r["instructions"]["median"] > 0 and r["accuracy"] is not None
    table = paths["md"].read_text()
    assert "tflm-cmsis-nn" in table and "engine" in table


def test_an_unknown_engine_is_one_clear_line(testdata, capsys, tmp_path):
    from pipeline import cli
    rc = cli.main(["bench", str(testdata / "tflm_hello_world_int8.tflite"), "--target", "mps2-an386",
                   "--dataset", "digits", "--engines", "tflm,cmsis", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cmsis" in err[0] and "tflm-cmsis-nn" in err[0], err


def test_default_engine_per_variant(monkeypatch, tmp_path):
    """edgepipe where it runs the variant; else tflm-cmsis-nn with the reason, if a tree exists."""
    from pipeline.bench import targets
    auto = targets.get("mps2-an386")
    assert auto.engine is None and auto.key == "mps2-an386"
    t, note = targets.resolve_engine(auto, True, "")
    assert t.engine == "edgepipe" and note is None and t.needs_engine
    monkeypatch.delenv("TFLM_DIR", raising=False)
    t, note = targets.resolve_engine(auto, False, "unsupported op REDUCE_MAX")
    assert t.engine == "edgepipe" and note.startswith("no TFLM fallback: engine tflm-cmsis-nn needs")
    tree = tmp_path / "tflm-cmsis-nn" / "tensorflow" / "lite" / "micro"
    (tree / "kernels" / "cmsis_nn").mkdir(parents=True)
    (tree / "micro_interpreter.h").write_text("")
    monkeypatch.setenv("TFLM_DIR", str(tmp_path))
    t, note = targets.resolve_engine(auto, False, "unsupported op REDUCE_MAX")
    assert t.engine == "tflm-cmsis-nn" and not t.needs_engine and t.key == "mps2-an386/tflm-cmsis-nn"
    assert "edgepipe's C engine cannot run it (unsupported op REDUCE_MAX)" in note
    # --engines: every board target once per engine, host targets once
    expanded = targets.with_engines([targets.get("host-tflm"), auto], ("edgepipe", "tflm"))
    assert [x.key for x in expanded] == ["host-tflm", "mps2-an386/edgepipe", "mps2-an386/tflm"]


def test_tflm_reference_firmware_streams_a_stateful_model(tflm_dir, tmp_path):
    """A streaming model (resource variables, CALL_ONCE) on the TFLM firmware: its interpreter gets
    MicroResourceVariables, RESET maps to MicroInterpreter::Reset(); frame by frame as host TFLM."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    import stream_models
    model = stream_models.build(tmp_path / "stream.tflite")
    x = np.random.default_rng(4).integers(-128, 128, (20, 1, stream_models.FEATURES), dtype=np.int8)
    for mode in ("stream", "reset"):
        r = board_bench.run("mps2-an386", model, x, None, tmp_path / "fw", engine="tflm", mode=mode)
        assert r["engine"] == "tflm" and r["mismatches"] == 0 and r["eval_mode"] == mode, r
        assert {"VAR_HANDLE", "CALL_ONCE"} <= set(r["ops"]) and r["state_bytes"] is None
