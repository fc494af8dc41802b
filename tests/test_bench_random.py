"""`edgepipe bench FILE.tflite --target T` without --dataset: seeded random inputs of the model's
input type and shape, measured through the real CLI (a subprocess) on host-tflm, host-c and an
emulated board. What needs no labels is measured (mismatches against TFLM, arena, instructions,
flash/RAM); accuracy is null."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

import pytest

from edgepipe_base import tflite_file
from pipeline import quant_io, random_inputs

from conftest import REPO

KWS = REPO / "tests" / "data" / "mlperf_tiny_kws_ref_model.tflite"


def _bench(target: str, out, samples: int | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline.cli", "bench", str(KWS), "--target", target, "--out", str(out)]
    if samples is not None:
        cmd += ["--samples", str(samples)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


def test_random_inputs_are_seeded_and_exact_in_the_input_type():
    model = tflite_file.read(KWS)
    a, b = random_inputs.dataset(KWS, 4), random_inputs.dataset(KWS, 4)
    q = quant_io.quantize_inputs(model, a.x_test)
    assert q.dtype == np.int8 and q.shape == (4, *quant_io.input_tensor(model).shape[1:])
    assert np.array_equal(q, quant_io.quantize_inputs(model, b.x_test)) and a.fingerprint == b.fingerprint
    assert q.min() < -100 and q.max() > 100 and a.y_test is None        # the whole int8 range, no labels
    # the dequantized values quantize back to exactly the drawn integers
    rng = np.random.default_rng(random_inputs.SEED)
    assert np.array_equal(q, rng.integers(-128, 128, size=q.shape, dtype=np.int64))


@pytest.mark.slow
def test_bench_without_dataset_on_host_and_emulated_board(tmp_path):
    rows = {}
    for target, samples in (("host-tflm", None), ("host-c", 5), ("mps2-an386", 3)):
        proc = _bench(target, tmp_path / target, samples)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "no labels" in proc.stdout
        doc = json.loads((tmp_path / target / "results.json").read_text())
        assert doc["labels"] == [] and doc["test_samples"] == (samples or random_inputs.SAMPLES)
        rows.update({r["target"]: r for r in doc["results"]})
    assert set(rows) == {"host-tflm", "host-c", "mps2-an386"}
    assert all(r["accuracy"] is None and r["error"] is None for r in rows.values())
    assert rows["host-tflm"]["samples"] == random_inputs.SAMPLES and rows["host-tflm"]["arena_bytes"] > 0
    for target, n in (("host-c", 5), ("mps2-an386", 3)):
        r = rows[target]
        assert r["samples"] == n and r["mismatches"] == 0 and r["bit_exact"] is True, r
        assert r["arena_bytes"] > 0
    assert rows["host-c"]["instructions"] > 1_000_000                    # callgrind, x86
    board = rows["mps2-an386"]
    assert board["instructions"]["median"] > 1_000_000                   # QEMU -icount
    assert board["flash_bytes"] > 30_000 and board["ram_bytes"] > board["arena_bytes"]
