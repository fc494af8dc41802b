"""Streaming (stateful) models in the generated engine: resource variables in the state region,
CALL_ONCE, SPLIT, SPLIT_V, STRIDED_SLICE, CONCATENATION and an int8 -> uint8 output, against TFLM
frame by frame: 50 consecutive frames as one stream (state carried) and as independent samples
(state reset before each), ASan/UBSan, -Werror. The model is microWakeWord's shape, built by the real
converter (tests/stream_models.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError
from edgepipe_base.validate import ModelValidationError
from firmware_gen import codegen, host_run, tflm

sys.path.insert(0, str(Path(__file__).parent))
import stream_models  # noqa: E402
from model_fuzz import pack  # noqa: E402

FRAMES = 50
OPS = {"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CONCATENATION", "STRIDED_SLICE",
       "SPLIT", "SPLIT_V", "QUANTIZE"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return stream_models.build(tmp_path_factory.mktemp("stream") / "stream.tflite")


@pytest.fixture(scope="module")
def engine(model, tmp_path_factory):
    work = tmp_path_factory.mktemp("stream_c")
    eng = codegen.generate(model, work, "kws")
    return eng, host_run.build(eng, work, sanitize=True)


def _frames(n=FRAMES, seed=3):
    return np.random.default_rng(seed).integers(-128, 128, (n, 1, stream_models.FEATURES), dtype=np.int8)


def test_model_has_the_streaming_ops(model):
    m = tflite_file.read(model)
    assert OPS <= set(m.op_names()) and len(m.subgraphs) == 2
    assert m.main.tensors[m.main.outputs[0]].dtype == "UINT8"


def test_state_region_is_separate_and_reported(engine):
    eng, _ = engine
    # two int8 ring buffers (2x10 and 2x6 bytes, 16-byte slots) and one CALL_ONCE flag
    assert eng.state_bytes == 32 + 16 + 16 and eng.output_dtype == "uint8"
    h = eng.h_path.read_text()
    assert "#define KWS_STATE_BYTES  64" in h and "void kws_reset(void);" in h
    assert "static int8_t kws_state[64]" in eng.c_path.read_text()


@pytest.mark.parametrize("mode", [tflm.STREAM, tflm.RESET])
def test_frames_match_tflm_at_every_step(model, engine, mode):
    eng, binary = engine
    x = _frames()
    ours = host_run.invoke(binary, eng, x, mode=mode)
    ref = tflm.run(model.read_bytes(), x, mode=mode).outputs
    assert ours.dtype == ref.dtype == np.uint8
    assert ours.reshape(ref.shape).tobytes() == ref.tobytes()      # 0 mismatching bytes, every frame


def test_state_carries_between_frames(model, engine):
    """Not vacuous: carrying the state changes the outputs, and a reset gives the first frame's
    output again (a fresh stream of one frame)."""
    eng, binary = engine
    x = _frames()
    stream = host_run.invoke(binary, eng, x, mode=tflm.STREAM)
    reset = host_run.invoke(binary, eng, x, mode=tflm.RESET)
    assert (stream != reset).any(axis=-1).sum() >= FRAMES // 2
    assert np.array_equal(stream[0], reset[0])
    single = np.stack([host_run.invoke(binary, eng, x[k:k + 1], mode=tflm.STREAM)[0] for k in (5, 17)])
    assert np.array_equal(single, reset[[5, 17]])


def _mutated(model, tmp_path, change):
    m = tflite_file.schema().ModelT.InitFromPackedBuf(bytearray(model.read_bytes()), 0)
    change(m)
    path = tmp_path / "bad.tflite"
    path.write_bytes(pack(m))
    return path


def _ops(m, sg, name):
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    want = getattr(tflite_file.schema().BuiltinOperator, name)
    return [op for op in m.subgraphs[sg].operators if codes[op.opcodeIndex] == want]


def _zero_strides(m, op):
    buf = m.buffers[m.subgraphs[0].tensors[op.inputs[3]].buffer]
    buf.data = np.zeros_like(np.asarray(buf.data, dtype=np.uint8))


def _give_output(m, op):
    import copy
    sg = m.subgraphs[0]
    sg.tensors.append(copy.deepcopy(sg.tensors[op.inputs[1]]))
    op.outputs = [len(sg.tensors) - 1]


@pytest.mark.parametrize("what,change,rule,text", [
    ("split count", lambda m: setattr(_ops(m, 0, "SPLIT")[0].builtinOptions, "numSplits", 3),
     "arity", "num_splits 3 and 2 outputs"),
    ("split_v sizes", lambda m: setattr(_ops(m, 0, "SPLIT_V")[0], "outputs", _ops(m, 0, "SPLIT_V")[0].outputs[:2]),
     "arity", "num_splits 3 and 2 outputs"),
    ("read of a non-resource", lambda m: setattr(_ops(m, 0, "READ_VARIABLE")[0], "inputs", [0]),
     "dtype", "reads a INT8 tensor, not a RESOURCE"),
    ("assign with an output", lambda m: _give_output(m, _ops(m, 0, "ASSIGN_VARIABLE")[0]),
     "arity", "ASSIGN_VARIABLE has 0 output(s)"),
    ("var_handle without options", lambda m: setattr(_ops(m, 0, "VAR_HANDLE")[0], "builtinOptions", None),
     "options", "VAR_HANDLE has no builtin options"),
    ("strided slice shape", lambda m: setattr(m.subgraphs[0].tensors[_ops(m, 0, "STRIDED_SLICE")[0].outputs[0]],
                                              "shape", [1, 3, 10]),
     "op_shape", "output shape [1, 3, 10], the op's rule gives [1, 2, 10]"),
    ("strided slice zero stride", lambda m: _zero_strides(m, _ops(m, 0, "STRIDED_SLICE")[0]),
     "op_shape", "a stride is 0"),
])
def test_validator_rules_of_the_streaming_ops(model, tmp_path, what, change, rule, text):
    path = _mutated(model, tmp_path, change)
    with pytest.raises(ModelValidationError) as info:
        tflite_file.read(path)
    assert info.value.rule == rule and text in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_init_subgraph_the_engine_cannot_run_is_one_line(model, tmp_path):
    def computed_init(m):      # the init value is no longer a constant: a tensor nothing writes
        init = m.subgraphs[1]
        t = init.tensors[_ops(m, 1, "ASSIGN_VARIABLE")[0].inputs[1]]
        t.buffer, t.isVariable = 0, True
    path = _mutated(model, tmp_path, computed_init)
    with pytest.raises(EdgepipeError) as info:
        codegen.generate(path, tmp_path / "c", "kws")
    msg = str(info.value)
    assert "\n" not in msg and "init subgraphs made of VAR_HANDLE and constant ASSIGN_VARIABLE only" in msg, msg


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("an386")      # one firmware build for both modes


@pytest.mark.parametrize("mode", [tflm.STREAM, tflm.RESET])
def test_stream_on_mps2_an386_matches_tflm_frame_by_frame(model, board_dir, mode):
    """The same 50 frames on the emulated Cortex-M4 (QEMU), as one stream and reset before each
    (the RESET request of the serial protocol)."""
    from pipeline.bench import board as board_bench
    x = _frames()
    r = board_bench.run("mps2-an386", model, x, None, board_dir, mode=mode)
    assert r["samples"] == FRAMES and r["mismatches"] == 0 and r["bit_exact"], r
    assert r["state_bytes"] == 64 and r["eval_mode"] == mode and r["arena_bytes"] > 0


def test_cli_bench_streams_a_stateful_tflite(model, tmp_path):
    """`edgepipe bench FILE --target host-c --stream`: seeded random frames as one stream."""
    import json
    import subprocess
    repo = Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-m", "pipeline.cli", "bench", str(model), "--target", "host-c",
                        "--samples", "40", "--stream", "--out", str(tmp_path / "run")],
                       cwd=repo, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    row = next(r for r in json.loads((tmp_path / "run" / "results.json").read_text())["results"]
               if r["target"] == "host-c")
    assert row["samples"] == 40 and row["mismatches"] == 0 and row["eval_mode"] == "stream", row
    assert row["state_bytes"] == 64 and "state 64 B beside the arena" in p.stdout


@pytest.mark.parametrize("board_id", ["microbit", "mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547"])
def test_streaming_engine_cross_compiles_warning_free(engine, board_id, tmp_path):
    """M0, M3, M4, M7 and M55 flags from the board files, -Wall -Wextra -Werror; the state region is
    a static array of its own (bss), apart from the arena."""
    from firmware_gen import boards, build
    eng, _ = engine
    flags = boards.load_board(board_id).cflags()
    objs = build.compile_objects(eng.sources, tmp_path, include_dirs=eng.include_dirs, flags=flags,
                                 cc="arm-none-eabi-gcc")
    assert build.sum_sizes(objs, size_tool="arm-none-eabi-size")["bss"] >= eng.arena_bytes + eng.state_bytes


MUTANTS = 30


def test_mutants_of_the_streaming_model_fail_cleanly_or_run_exactly(model, tmp_path):
    """The fuzzing property (tests/test_fuzz.py) on the streaming model: a mutant ends in one clean
    error line or in C that builds with -Werror, runs clean under ASan/UBSan and matches TFLM."""
    import collections
    import model_fuzz
    checker = model_fuzz.Checker(tmp_path)
    seed = model.read_bytes()
    rng = np.random.default_rng(20261202)
    counts, failures = collections.Counter(), []
    for i in range(MUTANTS):
        data, what = model_fuzz.mutate(seed, rng)
        outcome = checker.check(data)
        counts[outcome.kind] += 1
        if outcome.kind in model_fuzz.FAILURES:
            failures.append(f"#{i}: {what} -> {outcome.kind}: {outcome.detail}")
    assert not failures, model_fuzz.table(counts) + "\n" + "\n".join(failures)
    assert counts["clean_error"] >= 3 and counts["match"] >= 3, model_fuzz.table(counts)


def test_first_difference_names_no_layer_when_all_agree(model, engine, tmp_path):
    """The debug path (layer by layer against TFLM) skips the calls that write only state."""
    eng, _ = engine
    debug = host_run.build(eng, tmp_path, debug=True)
    assert host_run.first_difference(model, eng, debug, _frames(1)[0]) is None


def test_int16x8_stream_matches_tflm(tmp_path):
    """The same streaming graph in int16x8: int16 variables, SPLIT/SPLIT_V/STRIDED_SLICE on int16."""
    path = stream_models.build(tmp_path / "stream16.tflite", int16=True)
    m = tflite_file.read(path)
    assert {"CALL_ONCE", "READ_VARIABLE", "ASSIGN_VARIABLE", "SPLIT", "SPLIT_V"} <= set(m.op_names())
    assert m.main.tensors[m.main.inputs[0]].dtype == "INT16"
    eng = codegen.generate(path, tmp_path / "c", "kws16")
    binary = host_run.build(eng, tmp_path / "c", sanitize=True)
    x = (_frames().astype(np.int16) * 211).astype(np.int16)
    for mode in (tflm.STREAM, tflm.RESET):
        ours = host_run.invoke(binary, eng, x, mode=mode)
        ref = tflm.run(path.read_bytes(), x, mode=mode).outputs
        assert ours.reshape(ref.shape).tobytes() == ref.tobytes(), mode
    assert eng.state_bytes == 48 + 32 + 16     # int16 ring buffers (40 and 24 bytes, 16-aligned), the flag


def test_litert_host_target_streams_and_resets(model):
    """host-litert: a stream keeps LiteRT's state (as TFLM's, frame for frame here); reset takes a
    fresh interpreter per sample, since LiteRT's reset_all_variables() leaves resource variables and
    CALL_ONCE as they are: each reset sample gives what a one-frame stream gives."""
    from pipeline.bench import host_litert
    m = tflite_file.read(model)
    x = _frames(20)
    stream = host_litert._stateful_outputs(m, x, 1, tflm.STREAM)
    assert np.array_equal(stream.reshape(20, -1), tflm.run(model.read_bytes(), x, mode=tflm.STREAM).outputs.reshape(20, -1))
    reset = host_litert._stateful_outputs(m, x, 1, tflm.RESET)
    single = np.stack([host_litert._stateful_outputs(m, x[k:k + 1], 1, tflm.STREAM)[0] for k in (3, 11)])
    assert np.array_equal(reset[[3, 11]], single) and not np.array_equal(reset, stream)
