"""The TFLM wrapper: arena read from TFLM's own report, parallel runs equal to sequential ones."""

import numpy as np
import pytest

from firmware_gen import tflm

# what TFLM's recording allocator reports for these models (tests/data/NOTICE.md)
ARENAS = {"mlperf_tiny_kws_ref_model": 24272, "mlperf_tiny_ic_resnet8_int8": 55984,
          "tflm_hello_world_int8": 1504, "tflm_micro_speech_int8": 7584}


@pytest.mark.parametrize("name", sorted(ARENAS))
def test_arena_is_what_tflm_reports(testdata, name):
    model = (testdata / f"{name}.tflite").read_bytes()
    from edgepipe_base import tflite_file
    t = tflite_file.read(name, model).main
    shape = t.tensors[t.inputs[0]].shape[1:]
    assert tflm.arena_bytes(model, shape, np.int8) == ARENAS[name]


def test_parallel_run_equals_sequential_and_is_reused(testdata, monkeypatch):
    model = (testdata / "tflm_micro_speech_int8.tflite").read_bytes()
    x = np.random.default_rng(3).integers(-128, 128, size=(tflm.PARALLEL_MIN_SAMPLES + 7, 1960), dtype=np.int8)
    sequential = tflm._run(model, x, tflm.DEFAULT_ARENA, "m").outputs
    monkeypatch.setattr(tflm.os, "cpu_count", lambda: 2)   # the split path, whatever this machine has
    parallel = tflm.run(model, x)
    assert np.array_equal(parallel.outputs, sequential) and parallel.arena_bytes == ARENAS["tflm_micro_speech_int8"]
    real_run, calls = tflm._run, []
    monkeypatch.setattr(tflm, "_run", lambda *a: calls.append(len(a[1])) or real_run(*a))
    again = tflm.run(model, x[:100])                       # a prefix: served from the reference
    assert np.array_equal(again.outputs, sequential[:100]) and calls == []
    other = tflm.run(model, x[1:101])                      # not a prefix: really run
    assert np.array_equal(other.outputs, sequential[1:101]) and calls == [100]
