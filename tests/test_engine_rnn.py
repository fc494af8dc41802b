"""Recurrent ops in the generated engine against TFLM: UNIDIRECTIONAL_SEQUENCE_LSTM int8 (int16 cell
state) from Keras LSTMs through the real TFLite converter (stacked, sequence output, time-major,
batch 2; stored in tests/data/rnn, written by tests/rnn_models.py), their int16x8 form (written with
TFLite's schema: the converter does not quantize the LSTM to 16x8), and SVDF int8 with int16 and int8 state (written with TFLite's schema: no Keras layer
converts to SVDF). Random inputs as independent samples (state reset before each) and as one stream
(state carried), 0 mismatching bytes, ASan/UBSan, -Werror on gcc and arm-none-eabi-gcc for every
core; the validator's rules and the builders' refusals are one line each."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError
from edgepipe_base.validate import ModelValidationError
from firmware_gen import boards, build, codegen, host_run, kernels_rnn, tflm

sys.path.insert(0, str(Path(__file__).parent))
import rnn_models  # noqa: E402
from model_fuzz import pack  # noqa: E402

SAMPLES = 60


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("rnn_models")
    data = {name: rnn_models.lstm_path(name).read_bytes() for name in rnn_models.LSTM_NAMES}
    # int16x8: the converter refuses the LSTM ("not yet supported"); TFLM runs it
    data["seq_s16"] = rnn_models.lstm_int16x8(data["seq"])
    data["time_major_s16"] = rnn_models.lstm_int16x8(data["time_major"])
    data["svdf16"] = rnn_models.svdf_model(batches=2, units=4, rank=2, memory=6, state16=True, seed=3)
    data["svdf8"] = rnn_models.svdf_model(batches=1, units=3, rank=3, memory=4, state16=False, seed=4)
    paths = {}
    for name, blob in data.items():
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(blob)
    return paths


@pytest.fixture(scope="module")
def engines(models, tmp_path_factory):
    work = tmp_path_factory.mktemp("rnn_c")
    out = {}
    for name, path in models.items():
        eng = codegen.generate(path, work / name, f"r_{name}")
        out[name] = (eng, host_run.build(eng, work / name, sanitize=True))
    return out


def _tflm(path: Path, x: np.ndarray, mode: str) -> np.ndarray:
    """TFLM's outputs for whole input tensors x [N, *input_shape] (batch 1 or 2), state reset before
    every sample (RESET) or carried (STREAM)."""
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=1 << 22)
    outs = []
    for sample in x:
        if mode == tflm.RESET:
            interp.reset()
        interp.set_input(np.ascontiguousarray(sample), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)))
    return np.stack(outs)


def test_models_are_what_the_converter_writes(models):
    for name in ("stack", "seq", "time_major"):
        sg = tflite_file.read(models[name]).main
        lstms = [op for op in sg.operators if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
        assert lstms, name
        for op in lstms:
            x, h, c = (sg.tensors[op.inputs[k]] for k in (0, 18, 19))
            assert (x.dtype, h.dtype, c.dtype) == ("INT8", "INT8", "INT16")
            assert h.is_variable and c.is_variable
            assert all(op.inputs[k] < 0 for k in kernels_rnn.LSTM_VARIANTS)       # the Keras LSTM
            assert bool(op.builtin_options.timeMajor) == (name == "time_major")
    assert {op.opcode for op in tflite_file.read(models["stack"]).main.operators} >= \
        {"UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "FULLY_CONNECTED", "SOFTMAX"}
    sg = tflite_file.read(models["seq_s16"]).main
    op = sg.operators[0]
    assert [sg.tensors[op.inputs[k]].dtype for k in (0, 12, 18, 19)] == ["INT16", "INT64", "INT16", "INT16"]
    for name, state in (("svdf16", "INT16"), ("svdf8", "INT8")):
        sg = tflite_file.read(models[name]).main
        assert [op.opcode for op in sg.operators] == ["SVDF"] and sg.tensors[4].dtype == state


@pytest.mark.parametrize("mode", [tflm.RESET, tflm.STREAM])
@pytest.mark.parametrize("name", ["stack", "seq", "time_major", "seq_s16", "time_major_s16", "svdf16", "svdf8"])
def test_bit_exact_with_tflm(name, mode, models, engines):
    eng, binary = engines[name]
    whole = eng.input_shape[0] != 1
    shape = eng.input_shape if whole else eng.input_shape[1:]
    info = np.iinfo(eng.input_dtype)
    x = np.random.default_rng(11).integers(info.min, info.max + 1, size=(SAMPLES, *shape), dtype=eng.input_dtype)
    ours = host_run.invoke(binary, eng, x, mode=mode).reshape(SAMPLES, -1)
    ref = _tflm(models[name], x if whole else x[:, None], mode).reshape(SAMPLES, -1)
    assert ours.dtype == ref.dtype == eng.input_dtype
    differs = (ours != ref).any(axis=1)
    assert not differs.any(), (f"{name} ({mode}): {int((ours != ref).sum())} of {ref.size} bytes differ, "
                               f"first in sample {int(np.nonzero(differs)[0][0])}")
    assert len(np.unique(ours, axis=0)) > SAMPLES // 2          # the outputs depend on the input


def test_batch_one_models_through_the_pipelines_reference(models, engines):
    """The pipeline's own reference (tflm.run, worker process) and driver agree for batch-1 models."""
    eng, binary = engines["stack"]
    x = np.random.default_rng(5).integers(-128, 128, size=(20, *eng.input_shape[1:]), dtype=np.int8)
    for mode in (tflm.RESET, tflm.STREAM):
        ref = tflm.run(models["stack"].read_bytes(), x, mode=mode).outputs
        assert host_run.invoke(binary, eng, x, mode=mode).tobytes() == ref.tobytes()


def test_state_is_carried_and_reset(engines):
    """Not vacuous: a stream's outputs differ from independent samples' (the state matters), its
    first output is the same, and the state sits in the state region (hidden int8 + cell int16)."""
    for name in ("seq", "svdf16"):
        eng, binary = engines[name]
        x = np.random.default_rng(2).integers(-128, 128, size=(20, *eng.input_shape), dtype=np.int8)
        stream = host_run.invoke(binary, eng, x, mode=tflm.STREAM).reshape(20, -1)
        reset = host_run.invoke(binary, eng, x, mode=tflm.RESET).reshape(20, -1)
        assert np.array_equal(stream[0], reset[0]) and (stream[1:] != reset[1:]).any(axis=1).sum() >= 15, name
    eng, _ = engines["seq"]
    assert eng.state_bytes == 16 + 16            # hidden 2x4 int8, cell 2x4 int16, 16-byte slots


def test_generated_engines_compile_for_every_core(models, engines, tmp_path):
    """-std=c99 -Wall -Wextra -Werror with arm-none-eabi-gcc for each board core (M0/M3/M4/M7/M55)."""
    cores = {}
    for board in boards.all_boards().values():
        cores.setdefault(board.cflags()[0], board.cflags())
    assert {"-mcpu=cortex-m0", "-mcpu=cortex-m3", "-mcpu=cortex-m4", "-mcpu=cortex-m7",
            "-mcpu=cortex-m55"} <= set(cores)
    names = ("stack", "seq_s16", "svdf16", "svdf8")
    sources = [codegen.RUNTIME_DIR / "ep_rnn.c"] + [engines[n][0].c_path for n in names]
    include = [engines[n][0].c_path.parent for n in names] + [codegen.RUNTIME_DIR]
    for i, flags in enumerate(cores.values()):
        build.compile_objects(sources, tmp_path / f"o{i}", include_dirs=include, flags=flags,
                              cc="arm-none-eabi-gcc", opt="-Os")


def _mutated(path, tmp_path, change, name="bad.tflite"):
    m = tflite_file.schema().ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    change(m.subgraphs[0], m)
    out = tmp_path / name
    out.write_bytes(pack(m))
    return out


def _lstm_op(sg, m):
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    want = tflite_file.schema().BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    return next(op for op in sg.operators if codes[op.opcodeIndex] == want)


def _lstm_input(k, **fields):
    def change(sg, m):
        t = sg.tensors[_lstm_op(sg, m).inputs[k]]
        for f, v in fields.items():
            setattr(t, f, v)
    return change


def _drop_input(k):
    def change(sg, m):
        op = _lstm_op(sg, m)
        op.inputs = [(-1 if j == k else i) for j, i in enumerate(op.inputs)]
    return change


def _lstm_option(**fields):
    def change(sg, m):
        for f, v in fields.items():
            setattr(_lstm_op(sg, m).builtinOptions, f, v)
    return change


def _svdf_option(sg, m):
    sg.operators[0].builtinOptions.rank = 3


@pytest.mark.parametrize("model,change,rule,text", [
    ("seq", _drop_input(3), "arity", "a required input of UNIDIRECTIONAL_SEQUENCE_LSTM is omitted"),
    ("seq", _lstm_input(7, shape=[2, 8]), "op_shape", "the op's sizes give [4, 4]"),
    ("seq", _lstm_input(19, isVariable=False), "order", "neither a constant, a subgraph input, a variable"),
    ("seq", _lstm_input(19, shape=[2, 5]), "op_shape", "must be a variable tensor of 8 values"),
    ("seq", _lstm_input(19, type=tflite_file.schema().TensorType.INT8), "dtype", "INT8 cell state"),
    ("seq", _lstm_option(cellClip=float("nan")), "options", "cell clip nan"),
    ("seq", _lstm_option(timeMajor=True), "op_shape", "must be a variable tensor"),
    ("svdf16", _svdf_option, "options", "rank 3 does not divide 8 filters"),
])
def test_validator_rules_of_the_recurrent_ops(models, tmp_path, model, change, rule, text):
    path = _mutated(models[model], tmp_path, change)
    with pytest.raises(ModelValidationError) as info:
        tflite_file.read(path)
    msg = str(info.value)
    assert info.value.rule == rule and text in msg and "\n" not in msg, msg


def _scale(k, value):
    def change(sg, m):
        sg.tensors[_lstm_op(sg, m).inputs[k]].quantization.scale = [value]
    return change


@pytest.mark.parametrize("change,text", [
    (_scale(19, 1e-4), "cell state scale 0.0001 is not a power of two"),
    (_lstm_option(fusedActivationFunction=1), "cell activation 1; TFLM's LSTM runs tanh"),
    (_scale(18, 0.01), "differs from the hidden state's"),
])
def test_what_the_engine_refuses_is_one_line(models, tmp_path, change, text):
    path = _mutated(models["seq"], tmp_path, change)
    with pytest.raises(EdgepipeError) as info:
        codegen.generate(path, tmp_path / "c", "bad")
    msg = str(info.value)
    assert text in msg and "\n" not in msg and "UNIDIRECTIONAL_SEQUENCE_LSTM" in msg, msg


def test_svdf_without_bias_is_refused(models, tmp_path):
    def no_bias(sg, m):
        sg.operators[0].inputs = [0, 1, 2, -1, 4]
    path = _mutated(models["svdf16"], tmp_path, no_bias)
    with pytest.raises(EdgepipeError) as info:
        codegen.generate(path, tmp_path / "c", "bad")
    assert "no bias; TFLM's integer SVDF reads the bias scale" in str(info.value)


FUZZ_MUTANTS = 40


def test_mutants_of_recurrent_models_fail_cleanly_or_match(models, tmp_path):
    """The fuzz property (tests/model_fuzz.py) on the batch-1 recurrent models: every structure-aware
    mutant ends in one clean error line or in an engine that runs ASan/UBSan clean and matches TFLM.
    bench/fuzz_models.py --models tests/data/rnn/lstm_stack_int8.tflite runs thousands."""
    import collections
    import model_fuzz
    seeds = {"stack": models["stack"].read_bytes(), "svdf8": models["svdf8"].read_bytes()}
    checker = model_fuzz.Checker(tmp_path / "fuzz")
    rng = np.random.default_rng(20261202)
    counts, failures = collections.Counter(), []
    for i in range(FUZZ_MUTANTS):
        name = ("stack", "svdf8")[i % 2]
        data, what = model_fuzz.mutate(seeds[name], rng)
        outcome = checker.check(data)
        counts[outcome.kind] += 1
        if outcome.kind in model_fuzz.FAILURES:
            failures.append(f"#{i} {name}: {what} -> {outcome.kind}: {outcome.detail}")
    assert not failures, model_fuzz.table(counts) + "\n" + "\n".join(failures)
    assert counts["clean_error"] >= FUZZ_MUTANTS // 4 and counts["match"] >= 2, model_fuzz.table(counts)


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("an386_rnn")      # one firmware build for both modes


@pytest.mark.slow
@pytest.mark.parametrize("mode", [tflm.STREAM, tflm.RESET])
def test_lstm_on_mps2_an386_matches_tflm(models, board_dir, mode):
    """The stacked LSTM cross-compiled for the emulated Cortex-M4 (QEMU) in the benchmark firmware:
    20 sequences as one stream (hidden and cell state carried) and reset before each."""
    from pipeline.bench import board as board_bench
    shape = tflite_file.read(models["stack"]).main.tensors[0].shape[1:]
    x = np.random.default_rng(9).integers(-128, 128, size=(20, *shape), dtype=np.int8)
    r = board_bench.run("mps2-an386", models["stack"], x, None, board_dir, mode=mode)
    assert r["samples"] == 20 and r["mismatches"] == 0 and r["bit_exact"], r
    assert r["eval_mode"] == mode and r["state_bytes"] == 80      # two LSTMs' hidden + cell slots


def test_tflm_library_closure_finds_global_tables(tmp_path, monkeypatch):
    """CMSIS-NN's LSTM kernels need sigmoid_table_uint16, a global table (not a function): the TFLM
    library's link closure finds the file that defines it, not the ones that declare it extern or
    keep a static copy."""
    from firmware_gen import tflm_tree
    monkeypatch.setenv("EDGEPIPE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "tree"
    (root / "nn").mkdir(parents=True)
    (root / "nn" / "tables.c").write_text("const uint16_t sigmoid_table_uint16[256] = {\n    32768,\n};\n")
    (root / "nn" / "user.c").write_text("extern const uint16_t sigmoid_table_uint16[256];\n")
    (root / "nn" / "common.h.cc").write_text("static const uint16_t sigmoid_table_uint16[256] = {\n};\n")
    lib = tflm_tree.Library(tflm_tree.Tree("tflm-cmsis-nn", root), ["-mcpu=cortex-m4"])
    assert lib.for_undefined(["sigmoid_table_uint16"]) == ["nn/tables.c"]
