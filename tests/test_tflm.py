"""The TFLM wrapper: arena read from TFLM's own report, parallel runs equal to sequential ones."""

import os

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
    real_run, calls = tflm._run_isolated, []
    monkeypatch.setattr(tflm, "_run_isolated", lambda *a: calls.append(len(a[1])) or real_run(*a))
    again = tflm.run(model, x[:100])                       # a prefix: served from the reference
    assert np.array_equal(again.outputs, sequential[:100]) and calls == []
    other = tflm.run(model, x[1:101])                      # not a prefix: really run
    assert np.array_equal(other.outputs, sequential[1:101]) and calls == [100]


def test_a_crash_in_tflm_is_an_error_naming_the_signal(testdata):
    """TFLM runs in a worker process: when it dies (here: SIGSEGV sent while it works, as a malformed
    model would), the caller gets one TFLMError naming the signal and the next call works again."""
    import signal
    import threading
    model = (testdata / "mlperf_tiny_ic_resnet8_int8.tflite").read_bytes()
    x = np.zeros((400, 32, 32, 3), dtype=np.int8)
    tflm.run(model, x[:1])                                  # the worker is up
    killer = threading.Timer(1.0, lambda: os.kill(tflm._worker(0).proc.pid, signal.SIGSEGV))
    killer.start()
    with pytest.raises(tflm.TFLMError, match=r"TFLM crashed on this model \(signal 11, SIGSEGV\) while "
                                             r"computing reference outputs: the model is malformed"):
        tflm.run(model, x[1:])
    killer.join()
    assert tflm.run(model, x[:2]).outputs.shape == (2, 10)  # a fresh worker serves the next call


def test_a_hung_tflm_is_killed(testdata, monkeypatch):
    model = (testdata / "mlperf_tiny_ic_resnet8_int8.tflite").read_bytes()
    monkeypatch.setattr(tflm, "SECONDS_PER_CALL", 0.0)
    monkeypatch.setattr(tflm, "SECONDS_PER_SAMPLE", 0.001)
    with pytest.raises(tflm.TFLMError, match=r"TFLM did not finish within 0 s while computing reference outputs"):
        tflm.run(model, np.ones((200, 32, 32, 3), dtype=np.int8))


def test_workers_do_not_rerun_the_callers_script(testdata, tmp_path):
    """A script without a __main__ guard (or code fed on stdin) can call TFLM: the worker is its own
    `python -m firmware_gen.tflm`, not a multiprocessing spawn that re-imports the caller."""
    import subprocess
    import sys
    script = ("import numpy as np\nfrom firmware_gen import tflm\n"
              f"print('ran', tflm.run(open({str(testdata / 'tflm_hello_world_int8.tflite')!r}, 'rb').read(), "
              "np.zeros((2, 1), np.int8)).outputs.shape)\n")
    p = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(testdata.parent.parent)}, timeout=120)
    assert p.returncode == 0 and p.stdout.count("ran") == 1, p.stderr[-2000:]


def test_concurrent_callers_get_their_own_outputs(testdata):
    """host-c and the boards run in threads side by side: each must get its own model's outputs
    (the workers' pipes once crossed two callers' replies)."""
    import threading
    models = {n: (testdata / f"{n}.tflite").read_bytes() for n in ("tflm_hello_world_int8", "tflm_micro_speech_int8")}
    inputs = {"tflm_hello_world_int8": np.arange(-64, 64, dtype=np.int8).reshape(-1, 1),
              "tflm_micro_speech_int8": np.random.default_rng(5).integers(-128, 128, (40, 1960), dtype=np.int8)}
    alone = {n: tflm._run(models[n], inputs[n], tflm.DEFAULT_ARENA, n).outputs for n in models}
    got = {}
    threads = [threading.Thread(target=lambda n=n: got.__setitem__(n, tflm.run(models[n], inputs[n]).outputs))
               for n in models for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[n], alone[n]) for n in models)
