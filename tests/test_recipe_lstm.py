"""models/lstm_har.py end to end: a Keras LSTM trained briefly on the synthetic accelerometer
windows, converted to int8 by the real converter (UNIDIRECTIONAL_SEQUENCE_LSTM with an int16 cell
state), run on TFLM and on the generated C engine (host-c) with the state reset before every
window: 0 mismatching samples; a variant the LSTM cannot take is refused in one line."""

from __future__ import annotations

import pytest

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError
from pipeline import recipes
from pipeline.run import RunConfig, run

HOST_C_SAMPLES = 120


@pytest.mark.slow
def test_lstm_har_int8_bit_exact_on_host_c(tmp_path):
    doc, _ = run(RunConfig(model="lstm_har", variants=("int8",), targets=("host-tflm", "host-c"),
                           out=tmp_path, options={"samples": {"host-c": HOST_C_SAMPLES}}))
    rows = {r["target"]: r for r in doc["results"]}
    model = tflite_file.read(doc["variants"][0]["tflite_path"]).main
    lstm = [op for op in model.operators if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert len(lstm) == 1 and model.tensors[lstm[0].inputs[19]].dtype == "INT16"
    assert doc["variants"][0]["tensor_types"] == "int8"
    assert rows["host-tflm"]["accuracy"] > 0.9, rows["host-tflm"]        # it learned the task
    c = rows["host-c"]
    assert c["error"] is None and c.get("skipped") is None, c
    assert c["samples"] == HOST_C_SAMPLES and c["mismatches"] == 0 and c["bit_exact"] is True
    assert c["eval_mode"] == "reset" and c["state_bytes"] > 0 and c["instructions"] > 0


def test_variants_an_lstm_cannot_take_are_refused_in_one_line():
    """Left out of a default run; asked for, one line with the reason, before anything runs."""
    from pipeline.run import _variant_names
    recipe = recipes.load("lstm_har")
    default = _variant_names(RunConfig(model="lstm_har"), recipe)
    assert "int8" in default and not {"qat", "prune_qat", "distill_qat", "int16x8", "binary"} & set(default)
    for variant, reason in (("int16x8", "does not quantize UNIDIRECTIONAL_SEQUENCE_LSTM to 16x8"),
                            ("qat", "cannot annotate an LSTM layer")):
        with pytest.raises(EdgepipeError) as info:
            _variant_names(RunConfig(model="lstm_har", variants=("int8", variant)), recipe)
        assert reason in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_synthetic_har_is_seeded_and_offline():
    import numpy as np
    from pipeline import datasets
    a, b = datasets.load("synthetic_har"), datasets.load("synthetic_har")
    assert a.fingerprint == b.fingerprint and np.array_equal(a.x_test, b.x_test)
    assert a.input_shape == (32, 3) and a.labels == ("still", "walk", "run", "stairs")
    assert len(a.x_train) + len(a.x_val) == 2400 and len(a.x_test) == 400
    assert set(np.unique(a.y_test)) == {0, 1, 2, 3}
    # the activities differ in how much the signal moves: still < walk < run (std over time, mean over axes)
    motion = [a.x_test[a.y_test == k].std(axis=1).mean() for k in range(3)]
    assert motion[0] < motion[1] < motion[2], motion
