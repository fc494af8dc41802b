"""models/kws_stream.py end to end: a streaming keyword model (ring buffer in a resource variable)
trained briefly on windows of the synthetic keyword stream, converted in its streaming form, its
test frames run as one stream on LiteRT, TFLM and the generated C engine: 0 mismatching samples,
the state reported beside the arena; the variants that cannot apply are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError
from pipeline import datasets
from pipeline.run import RunConfig, run

HOST_C_SAMPLES = 300


def test_stream_windows_are_what_the_streaming_model_sees():
    frames, labels = datasets.kws_stream_frames(50, seed=7)
    w = datasets.stream_windows(frames, 6)
    assert w.shape == (50, 6, 10) and np.array_equal(w[:, -1], frames)          # last frame = frame t
    assert np.array_equal(w[3, :2], np.zeros((2, 10))) and np.array_equal(w[10], frames[5:11])
    assert set(np.unique(labels)) <= {0, 1, 2, 3} and (labels > 0).any()


@pytest.mark.slow
def test_kws_stream_int8_streams_bit_exact_on_host_c(tmp_path):
    doc, paths = run(RunConfig(model="kws_stream", variants=("int8",),
                               targets=("host-litert", "host-tflm", "host-c"), out=tmp_path,
                               options={"samples": {"host-c": HOST_C_SAMPLES}}))
    model = tflite_file.read(doc["variants"][0]["tflite_path"])
    assert {"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"} <= set(model.op_names())
    rows = {r["target"]: r for r in doc["results"]}
    assert rows["host-tflm"]["accuracy"] > 0.8, rows["host-tflm"]                # it learned the task
    # the stream equals the window model: float accuracy on windows ~ int8 accuracy on the stream
    assert abs(rows["host-tflm"]["accuracy"] - doc["float_test_accuracy"]) < 0.03
    assert all(r["eval_mode"] == "stream" for r in rows.values())
    c = rows["host-c"]
    assert c["error"] is None and c.get("skipped") is None, c
    assert c["samples"] == HOST_C_SAMPLES and c["mismatches"] == 0 and c["bit_exact"] is True
    assert c["state_bytes"] == 80 and c["arena_bytes"] > 0
    assert "state 80 B beside the arena" in paths["md"].read_text()


def test_variants_that_cannot_apply_are_refused_in_one_line():
    from pipeline import recipes
    from pipeline.run import _variant_names
    recipe = recipes.load("kws_stream")
    with pytest.raises(EdgepipeError) as info:
        _variant_names(RunConfig(model="kws_stream", variants=("int8", "qat")), recipe)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("variant qat does not apply to recipe kws_stream: tfmot"), msg
    default = _variant_names(RunConfig(model="kws_stream"), recipe)          # all that apply
    assert {"int8", "int16x8", "prune75", "distill"} <= set(default)
    assert not {"qat", "prune_qat", "distill_qat", "binary"} & set(default)
