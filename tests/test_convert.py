"""Post-training quantization with the real converter, checked op by op."""

import numpy as np

from edgepipe_base import tflite_file
from pipeline.op_types import BOUNDARY_OPS, op_types


def _model(v):
    return tflite_file.read(v.tflite_path)


def test_int8_variant_has_only_int8_and_int32_tensors(digits_ptq):
    v = digits_ptq["int8"]
    m = _model(v)
    dtypes = {t.dtype for t in m.main.tensors}
    assert dtypes <= {"INT8", "INT32"}, dtypes
    assert v.tensor_types == "int8" and v.io_types == ("int8", "int8")
    for t in m.main.tensors:
        if t.dtype == "INT8":
            assert len(t.scale) >= 1, f"{t.name} is int8 without quantization parameters"
    conv = next(op for op in m.main.operators if op.opcode == "CONV_2D")
    w = m.main.tensors[conv.inputs[1]]
    assert len(w.scale) == w.shape[0] > 1, "conv weights should be quantized per channel"


def test_int16x8_has_int16_activations_and_int8_weights(digits_ptq):
    m = _model(digits_ptq["int16x8"])
    for op in m.main.operators:
        acts = [m.main.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0 and not m.main.tensors[i].is_constant]
        assert all(t.dtype == "INT16" for t in acts if t.dtype != "INT32"), op
        if op.opcode in ("CONV_2D", "FULLY_CONNECTED"):
            assert m.main.tensors[op.inputs[1]].dtype == "INT8"
    assert digits_ptq["int16x8"].tensor_types == "int16x8"


def test_fp16_stores_weights_in_float16(digits_ptq):
    m = _model(digits_ptq["fp16"])
    assert any(t.dtype == "FLOAT16" and t.is_constant for t in m.main.tensors)
    assert "DEQUANTIZE" in m.op_names()
    assert digits_ptq["fp16"].tensor_types == "float"


def test_dynamic_range_is_labelled_hybrid(digits_ptq):
    v = digits_ptq["dynamic"]
    assert v.tensor_types == "hybrid" and v.io_types == ("float32", "float32")
    fc = {t.layer: t.computes for t in op_types(_model(v)) if t.op == "FULLY_CONNECTED"}
    # fc1's 2048 weights are quantized; the classifier's 320 stay float (below the 1024 threshold)
    assert fc == {"fc1": "hybrid", "classifier": "float"}


def test_sizes_shrink_as_expected(digits_ptq):
    fp32 = digits_ptq["fp32"].tflite_bytes
    assert digits_ptq["int8"].tflite_bytes < 0.5 * fp32
    assert digits_ptq["fp16"].tflite_bytes < 0.7 * fp32
    assert all(v.gzip_bytes < v.tflite_bytes for v in digits_ptq.values())


def test_conversion_is_cached(digits_base, digits, digits_ptq):
    from pipeline import convert
    root, base = digits_base
    again = convert.convert(base, "int8", "int8", "int8", digits, root)
    assert again.tflite_path == digits_ptq["int8"].tflite_path and again.sha256 == digits_ptq["int8"].sha256


def test_int8_matches_float_accuracy(digits_ptq, digits):
    from pipeline.bench import host_litert
    acc = {q: host_litert.run(q, _model(digits_ptq[q]), digits.x_test, digits.y_test, latency_runs=5)["accuracy"]
           for q in ("fp32", "int8")}
    assert acc["fp32"] > 0.9
    assert abs(acc["int8"] - acc["fp32"]) <= 0.02




def test_bitmap_sparse_size_is_counted_from_the_weights(digits_ptq):
    from pipeline.op_types import _weights, bitmap_sparse_weight_bytes
    m = _model(digits_ptq["int8"])
    dense, sparse = bitmap_sparse_weight_bytes(m)
    weights = list(_weights(m))
    assert dense == sum(w.size for w in weights)                       # int8: one byte per weight
    nonzero = sum(int(np.count_nonzero(w)) for w in weights)
    assert sparse == nonzero + sum((w.size + 7) // 8 for w in weights)
    assert digits_ptq["int8"].meta["bitmap_sparse_weight_bytes_computed"] == sparse
