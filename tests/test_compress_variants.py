"""Every compression on digits_cnn, end to end: train the base once, compress, convert each variant
with the real TFLite converter to full-integer int8, check every op's tensors are int8/int32, run it
in TFLM, and check what each compression promises (sparsity, 2:4 pattern, cluster counts, +-1
weights and packed size, student size, QAT agreement)."""

import time

import numpy as np
import pytest

from edgepipe_base import tflite_file
from firmware_gen import lce
from pipeline import convert, datasets, recipes
from pipeline.artifacts import load_keras
from pipeline.quant_io import quantize_inputs
from pipeline.compress import COMPRESSIONS, compress, weights
from pipeline.train import train

ALL = COMPRESSIONS.names()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    recipe, data = recipes.load("digits_cnn"), datasets.load("digits")
    root = tmp_path_factory.mktemp("digits_compress")
    base = train(recipe, data, root)
    start = time.perf_counter()
    variants = compress(ALL, base, recipe, data, root)
    return recipe, data, root, base, variants, time.perf_counter() - start


@pytest.fixture(scope="module")
def converted(setup):
    """name -> (tflite model, TFLM outputs on the test split, TFLM accuracy)."""
    _, data, root, _, variants, _ = setup
    out = {}
    for name, km in variants.items():       # the pipeline's own int8 conversion, as `edgepipe run` does
        quant = km.meta.get("quantization", "int8")         # binary: Larq Compute Engine's converter
        v = convert.convert(km, name, name, quant, data, root, calibration_samples=300)
        model = tflite_file.read(v.tflite_path)
        # TFLM; for binary TFLM's kernels plus LCE's (TFLM has none for Lce ops), op by op
        outputs, _ = lce.reference_outputs(model, quantize_inputs(model, data.x_test), where=name)
        out[name] = (model, outputs, float(np.mean(np.argmax(outputs, -1) == data.y_test)))
    return out


def layer_weights(model):
    """Weights of the int8 model's CONV/FC ops (what actually ships)."""
    return [model.constant(model.main.tensors[op.inputs[1]]) for op in model.main.operators
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]


def test_all_variants_compress_quickly_and_are_cached(setup):
    recipe, data, root, base, variants, seconds = setup
    assert list(variants) == ALL
    print(f"compressing all {len(ALL)} variants of digits_cnn took {seconds:.0f} s")
    stages = sorted(p.name for p in root.glob("compress-*"))
    start = time.perf_counter()
    again = compress(["prune_qat", "binary"], base, recipe, data, root)
    assert time.perf_counter() - start < 30                  # cache hits, nothing retrained
    assert sorted(p.name for p in root.glob("compress-*")) == stages
    assert again["prune_qat"].sha256 == variants["prune_qat"].sha256
    assert list(again) == ["prune_qat", "binary"]


@pytest.mark.parametrize("name", ALL)
def test_int8_conversion_is_all_int8_and_runs_in_tflm(setup, converted, name):
    _, _, _, _, variants, _ = setup
    model, _, acc = converted[name]
    for op in model.main.operators:
        # LceBconv2d's post-activation multiplier and bias are float32 constants that LCE applies
        # to the integer count (the C engine does the same float arithmetic)
        types = {t.dtype for t in (model.main.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0)
                 if not (op.opcode == "LceBconv2d" and t.is_constant and t.dtype == "FLOAT32")}
        assert types <= {"INT8", "INT32"}, f"{name}: {op.opcode} has {types}"
    assert abs(acc - variants[name].test_accuracy) <= 0.03, (name, acc, variants[name].test_accuracy)
    # chance is 0.10; the 650-parameter digits students land around 0.80-0.85 and CPU training is
    # not bit-reproducible, so the floor says "learned", not "hit a tuned number"
    assert acc > 0.7, (name, acc)


def test_prune75_measured_sparsity(setup, converted):
    recipe, _, _, _, variants, _ = setup
    target = recipe.params("prune")["sparsity"]
    km = variants["prune75"]
    assert km.meta["sparsity"] >= target - 0.02
    kern = weights.kernels(load_keras(km.path))
    assert weights.sparsity(kern)[0] >= target - 0.02                   # measured again, from the file
    shipped = layer_weights(converted["prune75"][0])
    assert sum(int((w == 0).sum()) for w in shipped) / sum(w.size for w in shipped) >= target - 0.02
    assert [r.split(":")[0] for r in km.meta["not_pruned"]] == ["conv1"]   # 72 weights: kept dense
    assert km.meta["sparsity_per_layer"]["conv1"] < 0.1


def test_prune24_pattern_holds_in_every_group_of_four(setup):
    km = setup[4]["prune24"]
    kern = weights.kernels(load_keras(km.path))
    pruned = [n for n in kern if kern[n].shape[-2] >= 4]
    assert pruned == ["fc1", "classifier"]
    for n in pruned:
        assert weights.m_by_n_holds(kern[n], 2, 4), n
        assert weights.sparsity({n: kern[n]})[0] >= 0.5 - 1e-9
    assert any(r.startswith("conv1:") for r in km.meta["not_pruned"])     # 1 input channel


def test_prune_qat_keeps_the_sparsity(setup, converted):
    variants = setup[4]
    assert variants["prune_qat"].meta["sparsity"] >= variants["prune75"].meta["sparsity"] - 0.01
    shipped = layer_weights(converted["prune_qat"][0])
    assert sum(int((w == 0).sum()) for w in shipped) / sum(w.size for w in shipped) >= 0.73


def test_qat_int8_agrees_with_its_float_model(setup, converted):
    _, data, _, base, variants, _ = setup
    km = variants["qat"]
    float_pred = np.argmax(load_keras(km.path).predict(data.x_test, verbose=0), -1)
    int8_pred = np.argmax(converted["qat"][1], -1)
    assert np.mean(float_pred == int8_pred) >= 0.97
    assert abs(converted["qat"][2] - km.test_accuracy) <= 0.015
    assert km.params == base.params                  # the float architecture's count, not the quantizers'


def test_cluster_counts(setup):
    recipe, _, _, _, variants, _ = setup
    n = recipe.params("cluster")["clusters"]
    km = variants["cluster16"]
    assert km.meta["clusters"] == n
    kern = weights.kernels(load_keras(km.path))
    assert set(km.meta["unique_weights_per_layer"]) == set(kern)
    for name, k in kern.items():
        assert np.unique(k).size <= n, name


def test_distilled_student_is_a_third_of_the_teacher_or_less(setup):
    _, _, _, base, variants, _ = setup
    for name in ("distill", "student", "distill_qat"):
        km = variants[name]
        assert km.meta["teacher_params"] == base.params
        assert km.meta["student_params"] * 3 <= base.params, name
    assert variants["distill"].params == variants["student"].params
    assert variants["distill"].meta["temperature"] > 1


def test_binary_meta_counts_the_packed_words(setup):
    km = setup[4]["binary"]
    assert km.meta["quantization"] == "lce"
    assert km.meta["binarized_layers"] == {"fc1": 4 * 4 * 8 * 32}   # 4x4x8 map -> 32, a full-window conv
    # LCE packs [out][kh][kw][ceil(in / 32)] words: 8 channels take a whole word each (4x the bits)
    assert km.meta["packed_1bit_weight_bytes_computed"] == 32 * 4 * 4 * 1 * 4
    assert km.meta["float32_weight_bytes"] == 4096 * 4
    assert km.meta["full_precision_int8_weight_bytes"] == 3 * 3 * 1 * 8 + 32 * 10


def test_binary_converts_to_packed_sign_bits_of_the_larq_kernel(setup, converted):
    """LCE's LceBconv2d filter holds bit c of word c/32 = (latent weight < 0): 1 bit per weight."""
    model = converted["binary"][0]
    ops = [op for op in model.main.operators if op.opcode == "LceBconv2d"]
    assert len(ops) == 1
    packed = model.constant(model.main.tensors[ops[0].inputs[1]])             # [out, kh, kw, words]
    bits = (packed[..., None].view(np.uint32) >> np.arange(32, dtype=np.uint32)) & 1
    bits = bits.reshape(*packed.shape[:3], -1)[..., :8]                      # [out, kh, kw, in]
    kernel = weights.kernels(load_keras(setup[4]["binary"].path))["fc1"]     # [kh, kw, in, out]
    assert np.array_equal(bits, (kernel < 0).transpose(3, 0, 1, 2).astype(np.uint32))
