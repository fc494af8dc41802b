"""models/mobilenet_v2_digits.py end to end: trained briefly, converted to int8 by the real
converter, run on TFLM and on the generated C engine (host-c): 0 mismatching samples."""

from __future__ import annotations

from collections import Counter

import pytest

from edgepipe_base import tflite_file
from pipeline.run import RunConfig, run

HOST_C_SAMPLES = 120


@pytest.mark.slow
def test_mobilenet_v2_digits_int8_bit_exact_on_host_c(tmp_path):
    doc, _ = run(RunConfig(model="mobilenet_v2_digits", variants=("int8",), targets=("host-tflm", "host-c"),
                           out=tmp_path, options={"samples": {"host-c": HOST_C_SAMPLES}}))
    rows = {r["target"]: r for r in doc["results"]}
    ops = Counter(op.opcode for op in tflite_file.read(doc["variants"][0]["tflite_path"]).main.operators)
    assert {"DEPTHWISE_CONV_2D", "HARD_SWISH", "ADD", "MEAN"} <= set(ops), ops
    assert rows["host-tflm"]["accuracy"] > 0.85, rows["host-tflm"]       # it learned the task
    c = rows["host-c"]
    assert c["error"] is None and c.get("skipped") is None, c
    assert c["samples"] == HOST_C_SAMPLES and c["mismatches"] == 0 and c["bit_exact"] is True
    assert c["arena_bytes"] > 0 and c["instructions"] > 0
