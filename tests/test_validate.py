"""The model validator: one test per rule, each a real model broken the way the rule forbids,
each failure one line naming the rule, the operator (index, op, layer) and the tensor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepipe_base import tflite_file, validate
from edgepipe_base.validate import ModelValidationError

sys.path.insert(0, str(Path(__file__).parent))
from model_fuzz import pack  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HELLO, SPEECH, KWS = "tflm_hello_world_int8", "tflm_micro_speech_int8", "mlperf_tiny_kws_ref_model"


def _load(testdata, name):
    return tflite_file.schema().ModelT.InitFromPackedBuf(bytearray((testdata / f"{name}.tflite").read_bytes()), 0)


def _sg(m):
    return m.subgraphs[0]


def _op(m, k):
    return _sg(m).operators[k]


def _t(m, i):
    return _sg(m).tensors[i]


def _set(obj, **fields):
    for k, v in fields.items():
        setattr(obj, k, v)


def _scale(m, i, k, value):
    s = np.asarray(_t(m, i).quantization.scale, dtype=np.float32).copy()
    s[k] = value
    _t(m, i).quantization.scale = s


def _zp(m, i, k, value):
    z = np.asarray(_t(m, i).quantization.zeroPoint, dtype=np.int64).copy()
    z[k] = value
    _t(m, i).quantization.zeroPoint = z


def _wrong_options(m):
    _op(m, 1).builtinOptions, _op(m, 1).builtinOptionsType = _op(m, 2).builtinOptions, _op(m, 2).builtinOptionsType


def _short_buffer(m):
    b = m.buffers[_t(m, 7).buffer]
    b.data = np.asarray(b.data, dtype=np.uint8)[:-5]


# (rule, model, mutation, text the message must contain)
CASES = [
    ("schema_version", HELLO, lambda m: _set(m, version=2), "schema version 2"),
    ("opcode", HELLO, lambda m: _set(m.operatorCodes[0], builtinCode=250, deprecatedBuiltinCode=127), "builtin code 250"),
    ("opcode_index", HELLO, lambda m: _set(_op(m, 1), opcodeIndex=7), "opcode index 7"),
    ("buffer_index", HELLO, lambda m: _set(_t(m, 4), buffer=99), "buffer index 99"),
    ("tensor_index", HELLO, lambda m: _set(_op(m, 1), inputs=[7, 40, 3]), "input tensor index 40"),
    ("tensor_type", HELLO, lambda m: _set(_t(m, 7), type=77), "element type code 77"),
    ("shape", SPEECH, lambda m: _set(_t(m, 2), shape=[1, 25, 0, 8]), "has a dimension < 1"),
    ("shape", SPEECH, lambda m: _set(_t(m, 2), shape=[1, 1 << 16, 1 << 16, 8]), "more than 2^31 - 1"),
    ("buffer_size", SPEECH, _short_buffer, "holds 15995 bytes, shape [4, 4000] of INT8 needs 16000"),
    ("constant_written", HELLO, lambda m: _set(_op(m, 1), outputs=[4]), "writes a constant"),
    ("single_writer", HELLO, lambda m: _set(_op(m, 1), outputs=[7]), "a second operator writes"),
    ("order", HELLO, lambda m: _set(_op(m, 1), inputs=[8, 4, 3]), "earlier operator"),
    ("order", HELLO, lambda m: _set(_op(m, 0), inputs=[9, 6, 5]), "cycle"),
    ("output_written", HELLO, lambda m: _set(_sg(m), operators=_sg(m).operators[:2]), "never computed"),
    ("options", SPEECH, _wrong_options, "carries FullyConnectedOptions; it needs DepthwiseConv2DOptions"),
    ("options", KWS, lambda m: _set(_op(m, 0), builtinOptions=None, builtinOptionsType=0), "has no builtin options"),
    ("arity", SPEECH, lambda m: _set(_op(m, 1), inputs=[4]), "takes 2..3 inputs"),
    ("dtype", HELLO, lambda m: _set(_t(m, 8), type=7), "mixes element types"),   # INT16 output of an int8 FC
    ("op_shape", SPEECH, lambda m: _set(_t(m, 2), shape=[1, 25, 21, 8]), "the op's rule gives [1, 25, 20, 8]"),
    ("op_shape", HELLO, lambda m: _set(_t(m, 7), shape=[1, 15]), "output shape [1, 15]"),
    ("window", KWS, lambda m: _set(_op(m, 0).builtinOptions, strideH=0), "stride_h 0"),
    ("window", KWS, lambda m: _set(_op(m, 1).builtinOptions, dilationWFactor=(1 << 31) - 1), "dilation_w 2147483647"),
    ("window", KWS, lambda m: _set(_op(m, 0).builtinOptions, padding=5), "padding code 5"),
    ("window", KWS, lambda m: _set(_op(m, 2).builtinOptions, fusedActivationFunction=9), "fused activation code 9"),
    ("quant_scale", SPEECH, lambda m: _scale(m, 2, 0, float("nan")), "not finite and positive"),
    ("quant_scale", SPEECH, lambda m: _scale(m, 8, 3, -0.5), "not finite and positive"),
    ("quant_zero_point", SPEECH, lambda m: _zp(m, 2, 0, 128), "outside INT8's range -128..127"),
    ("quant_zero_point", SPEECH, lambda m: _zp(m, 8, 0, 3), "int8 weights have zero point 0"),
    ("quant_channels", SPEECH, lambda m: _set(_t(m, 8).quantization, quantizedDimension=1),
     "8 per-channel scales for dimension 1 of size 10"),
    ("quant_channels", KWS, lambda m: _set(_t(m, 5).quantization, scale=_t(m, 5).quantization.scale[:-1],
                                           zeroPoint=_t(m, 5).quantization.zeroPoint[:-1]),
     "63 per-channel scales for dimension 3 of size 64"),
    ("quant_same", SPEECH, lambda m: _scale(m, 9, 0, 1 / 128), "SOFTMAX INT8 output has scale 0.0078125"),
    ("multiplier", SPEECH, lambda m: _scale(m, 2, 0, 1e-38), "is not representable"),
]


@pytest.mark.parametrize("rule,name,mutation,text", CASES,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_each_rule_names_what_and_where(testdata, rule, name, mutation, text):
    m = _load(testdata, name)
    mutation(m)
    with pytest.raises(ModelValidationError) as info:
        tflite_file.read(f"{name}.tflite", pack(m))
    msg = str(info.value)
    assert info.value.rule == rule, msg
    assert "\n" not in msg and msg.startswith(f"{name}.tflite: invalid model: ") and f"rule {rule}" in msg
    assert text in msg, msg
    if rule in ("op_shape", "window", "options", "arity", "quant_same", "order"):
        assert "operator " in msg and "(layer '" in msg      # where, as the user knows it


def test_every_rule_has_a_test():
    assert {c[0] for c in CASES} | {"has_subgraph", "sparse", "subgraph_index"} == set(validate.RULES)


def test_rules_that_need_a_handmade_model(testdata):
    m = _load(testdata, HELLO)
    m.subgraphs = []
    with pytest.raises(ModelValidationError, match="rule has_subgraph"):
        tflite_file.read("x.tflite", pack(m))
    m = _load(testdata, HELLO)
    sig = tflite_file.schema().SignatureDefT()
    sig.subgraphIndex, sig.signatureKey = 3, b"serving_default"
    m.signatureDefs = [sig]
    with pytest.raises(ModelValidationError, match="rule subgraph_index"):
        tflite_file.read("x.tflite", pack(m))
    m = _load(testdata, HELLO)
    _t(m, 4).sparsity = tflite_file.schema().SparsityParametersT()
    with pytest.raises(ModelValidationError, match="rule sparse"):
        tflite_file.read("x.tflite", pack(m))


def test_unchanged_models_pass(testdata):
    for path in sorted(testdata.glob("*.tflite")):
        assert tflite_file.read(path).main.operators            # no rule fires on real models


def test_multiplier_range_is_tflites():
    assert validate.representable(0.5) and validate.representable(2.0 ** -32) and validate.representable(1000.0)
    assert not validate.representable(2.0 ** 30) and not validate.representable(2.0 ** -33)
    assert not validate.representable(0.0) and not validate.representable(float("nan"))


def test_cli_export_of_a_broken_model_is_one_line_exit_2(testdata, tmp_path):
    m = _load(testdata, KWS)
    _op(m, 1).builtinOptions.strideW = -3
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(pack(m))
    out = tmp_path / "export"
    p = subprocess.run([sys.executable, "-m", "pipeline.cli", "export", str(bad), "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "rule window" in lines[0] and "operator 1 DEPTHWISE_CONV_2D" in lines[0] and "stride_w -3" in lines[0]
    assert not out.exists()
