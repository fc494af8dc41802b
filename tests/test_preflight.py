"""Deployability rules, on real converted models (one with an op TFLM has no kernel for)."""

import numpy as np
import pytest

from edgepipe_base import tflite_file
from pipeline import convert, preflight
from pipeline.artifacts import TFLiteVariant


@pytest.fixture(scope="module")
def atan2_variant(tmp_path_factory):
    """An int8 model with an ATAN2 op: the converter accepts it, TFLM has no kernel for it."""
    from pipeline.keras_env import keras, tf
    k, t = keras(), tf()
    inp = k.Input((8,))
    x = k.layers.Dense(8, name="dense")(inp)
    x = k.layers.Lambda(lambda v: t.math.atan2(v, v + 1.0), name="angle")(x)
    out = k.layers.Dense(4, name="head")(x)
    conv = t.lite.TFLiteConverter.from_keras_model(k.Model(inp, out))
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.random.default_rng(i).random((1, 8), np.float32)] for i in range(20))
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8, t.lite.OpsSet.TFLITE_BUILTINS]
    conv.inference_input_type = conv.inference_output_type = t.int8
    path = tmp_path_factory.mktemp("atan2") / "atan2.tflite"
    path.write_bytes(conv.convert())
    return convert.from_tflite(path)


def _check(v: TFLiteVariant, board=None):
    return preflight.run(v, tflite_file.read(v.tflite_path), board=board)


def test_int8_variant_is_deployable(digits_ptq):
    p = _check(digits_ptq["int8"])
    assert p.deployable and p.tflm_runs and p.tflm_arena_bytes > 0


def test_unsupported_op_is_caught_with_its_layer(atan2_variant):
    p = _check(atan2_variant)
    assert not p.tflm_runs and not p.deployable
    f = {x.check: x for x in p.findings}
    assert "ATAN2" in f["tflm_can_run"].details and "angle" in f["tflm_can_run"].details
    # the ATAN2 runs in float between DEQUANTIZE/QUANTIZE: also flagged as a float op in an int8 model
    assert "ATAN2(angle)" in f["integer_ops_only"].details


def test_float_and_hybrid_variants_are_not_deployable(digits_ptq):
    fp32 = {x.check for x in _check(digits_ptq["fp32"]).findings}
    # TFLM runs float32, but an integer MCU build does not; the C engine refuses it too
    assert fp32 == {"integer_ops_only", "integer_io", "c_engine_can_run"}
    dyn = _check(digits_ptq["dynamic"])
    assert not dyn.tflm_runs and "hybrid" in dyn.reason()


def test_int16x8_runs_in_tflm_and_in_the_c_engine(digits_ptq):
    p = _check(digits_ptq["int16x8"])
    assert p.deployable and p.tflm_runs and p.engine_runs and p.findings == []


def test_board_fit_rules_state_needed_and_available(digits_ptq):
    from firmware_gen.boards import load_board, parse_board
    micro = load_board("microbit")
    tiny = parse_board(micro.path, micro.path.read_text().replace("size = 0x40000", "size = 0x1000")
                       .replace("size = 0x4000", "size = 0xC00"))
    assert _check(digits_ptq["int8"], board=micro).deployable      # fits the real micro:bit
    f = {x.check: x.details for x in _check(digits_ptq["int8"], board=tiny).findings}
    assert f["fits_flash"].startswith("needs ") and f["fits_flash"].endswith("microbit has 4,096 B")
    assert f["fits_ram"].endswith("microbit has 3,072 B") and "arena" in f["fits_ram"]


def test_rules_docs_are_the_messages():
    md = preflight.rules_markdown()
    for fn, _scope in preflight.RULES:
        assert f"**{fn.__name__}**" in md
        assert preflight.message(fn, "X").split("X")[0].strip() in md
