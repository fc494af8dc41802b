"""arm64-qemu: an Arm64 Python with numpy and the LiteRT aarch64 wheel under qemu-aarch64 (the sysroot
`make setup` builds), and the generated C engine cross-compiled with aarch64-linux-gnu-gcc -static.
Real components: Debian's arm64 Python, LiteRT's Arm64 XNNPACK kernels, QEMU, TFLM as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from edgepipe_base import tflite_file
from pipeline.bench import arm64_sysroot
from pipeline.bench import device as device_bench
from pipeline.devices import load_device

TESTDATA_MODELS = ("tflm_hello_world_int8", "tflm_micro_speech_int8", "mlperf_tiny_kws_ref_model",
                   "mlperf_tiny_ic_resnet8_int8")


@pytest.fixture(scope="module")
def arm64():
    if not arm64_sysroot.ready():
        pytest.fail(f"no Arm64 sysroot at {arm64_sysroot.sysroot()}: run `make setup`")
    return load_device("arm64-qemu")


@pytest.mark.parametrize("name", TESTDATA_MODELS)
def test_engine_cross_compiled_for_aarch64_is_bit_exact_with_tflm(arm64, testdata, tmp_path, name):
    path = testdata / f"{name}.tflite"
    model = tflite_file.read(path)
    shape = model.main.tensors[model.main.inputs[0]].shape[1:]
    x = np.random.default_rng(3).integers(-128, 128, size=(16, *shape)).astype(np.int8)
    r = device_bench.run_engine(arm64, path, x, None, tmp_path)
    assert r["samples"] == 16 and r["mismatches"] == 0 and r["bit_exact"] is True
    assert r["binary_bytes"] > 100_000 and r["engine_code_bytes"] > 0   # a static aarch64 executable
    assert r["latency_ms"] is None
    # aarch64 instructions per inference from the QEMU plugin: a real count, deterministic run to run
    assert r["instructions"] > 100 and "not cycles" in r["instructions_note"]
    if name == "tflm_hello_world_int8":
        assert device_bench.run_engine(arm64, path, x, None, tmp_path)["instructions"] == r["instructions"]


def test_every_variant_on_arm64_litert_and_the_engine(arm64, digits_base, digits):
    """`edgepipe run --targets arm64-qemu,arm64-qemu-c` on the digits model: float variants too."""
    from pipeline import report
    from pipeline.run import RunConfig, run
    root, _ = digits_base
    variants = ("fp32", "fp16", "dynamic", "int8")
    doc, paths = run(RunConfig(model="digits_cnn", variants=variants, out=root,
                               targets=("host-litert", "arm64-qemu", "arm64-qemu-c"),
                               options={"samples": {"arm64-qemu": 60, "arm64-qemu-c": 60}, "latency_runs": 10}))
    idx = {(r["variant"], r["target"]): r for r in doc["results"]}
    for v in variants:
        r = idx[(v, "arm64-qemu")]
        assert r.get("error") is None, r["error"]
        assert r["samples"] == 60 and r["accuracy"] > 0.8
        assert r["interpreter"] == "ai_edge_litert" and r["xnnpack"] is True and r["threads"] == 1
        assert r["latency_ms"] is None and "not a device latency" in r["latency_note"]    # emulated
        # Arm64 vs x86 XNNPACK: int8 within a few LSB on a few samples; float within rounding
        if v == "int8":
            assert r["host_litert_mismatches"] <= 3 and r["host_litert_max_abs_diff"] <= 2, r["note"]
        else:
            assert r["host_litert_max_abs_diff"] < 1e-3, r["note"]
        assert r["host_litert_top1_changes"] <= 1, r["note"]
        assert r["note"].startswith(f"{r['host_litert_mismatches']}/60 differ from host LiteRT")
    engine = idx[("int8", "arm64-qemu-c")]
    assert engine["mismatches"] == 0 and engine["bit_exact"] and engine["arena_bytes"] > 0
    assert "TFLM" in idx[("fp16", "arm64-qemu-c")]["skipped"] or "not" in idx[("fp16", "arm64-qemu-c")]["skipped"]
    # the table shows the device rows with their difference count
    text, md = report.render(doc), paths["md"].read_text()
    assert "arm64-qemu" in text and "differ from host LiteRT" in text and "no latency (emulated)" in md
    # the samples' host outputs give the same accuracy up to the differing samples
    x = digits.x_test[:60]
    from pipeline.quant_io import quantize_inputs
    for v in variants:
        model = tflite_file.read(next(t for t in doc["variants"] if t["name"] == v)["tflite_path"])
        host = device_bench.host_outputs(model.data, quantize_inputs(model, x), 1, True)
        host_acc = float(np.mean(np.argmax(host.reshape(60, -1), axis=1) == digits.y_test[:60]))
        r = idx[(v, "arm64-qemu")]
        assert abs(r["accuracy"] - host_acc) <= r["host_litert_top1_changes"] / 60
