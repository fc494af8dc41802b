"""An export a firmware engineer can drop in (real CLI, digits_cnn): it reuses the run it names,
its headers agree with each other, its example program builds with -Werror and prints the same
top-1 as the host-c engine, files get the umask's mode, and a failed export changes nothing."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO


def edgepipe(*args, umask=None, cwd=REPO):
    p = subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=cwd, text=True,
                       capture_output=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
                       preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("dropin")
    run_dir = root / "run"
    rc, _, err = edgepipe("run", "digits_cnn", "--variants", "int8", "--targets", "host-tflm", "--out", run_dir)
    assert rc == 0, err[-2000:]
    before = sorted(p.name for p in run_dir.iterdir())
    # from another working directory: the run folder named is reused, nothing is retrained
    rc, out, err = edgepipe("export", "digits_cnn", "--run", run_dir, "--out", root / "c", umask=0o027, cwd=root)
    assert rc == 0, err[-2000:]
    return run_dir, root / "c", before, out


def test_export_reuses_the_run_it_names(exported):
    run_dir, out, before, stdout = exported
    assert "reusing" in stdout and "training" not in stdout
    assert sorted(p.name for p in run_dir.iterdir()) == before
    assert not (out.parent / "runs").exists()


def test_files_have_the_umasks_mode(exported):
    _, out, _, _ = exported
    for p in [out, *out.rglob("*")]:
        mode = p.stat().st_mode & 0o777
        assert mode == (0o750 if p.is_dir() else 0o640), (p, oct(mode))


def _defines(path):
    return dict(re.findall(r"^#define (\w+)[ \t]+(.*?)\s*(?:/\*.*)?$", path.read_text(), re.M))


def test_no_macro_has_two_meanings(exported, tmp_path):
    _, out, _, _ = exported
    headers = sorted(out.glob("*.h"))
    assert {h.name for h in headers} >= {"digits_cnn_int8_model.h", "digits_cnn_int8_model_settings.h",
                                         "digits_cnn_int8_input.h", "digits_cnn_int8_model_data.h"}
    seen = {}
    for h in headers:
        for name, value in _defines(h).items():
            if name in seen:
                assert seen[name][1] == value, f"{name}: {seen[name]} vs {h.name} {value}"
            seen[name] = (h.name, value)
    assert "DIGITS_CNN_INT8_TFLM_ARENA_BYTES" in seen and "DIGITS_CNN_INT8_ARENA_BYTES" in seen
    assert seen["DIGITS_CNN_INT8_RAW_SCALE"][1] == "0.0625f"
    src = tmp_path / "all.c"
    src.write_text("".join(f'#include "{h.name}"\n' for h in headers) + "int main(void) { return 0; }\n")
    cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{out}", f"-I{out / 'edgepipe_runtime'}",
                         str(src), "-o", str(tmp_path / "all")], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr


def test_readme_states_api_arena_and_preprocessing(exported):
    _, out, _, _ = exported
    readme = (out / "README.md").read_text()
    engine_arena = _defines(out / "digits_cnn_int8_model.h")["DIGITS_CNN_INT8_ARENA_BYTES"]
    tflm_arena = _defines(out / "digits_cnn_int8_model_settings.h")["DIGITS_CNN_INT8_TFLM_ARENA_BYTES"]
    assert "int digits_cnn_int8_invoke(const int8_t *input, int8_t *output)" in readme
    assert f"arena: {engine_arena} bytes" in readme and f"= {tflm_arena} bytes" in readme
    assert "x = raw * 0.0625 + 0" in readme and "make example" in readme
    banner = (out / "digits_cnn_int8_model.c").read_text().splitlines()[2]
    assert "EP_ENGINE_VERSION" not in banner and re.search(r"runtime \d+\.\d+\.\d+", banner)


def test_example_builds_and_prints_the_host_c_top1(exported, tmp_path, digits):
    from firmware_gen import codegen, host_run
    from edgepipe_base import tflite_file
    from pipeline.quant_io import quantize_inputs
    run_dir, out, _, _ = exported
    mk = subprocess.run(["make", "-C", str(out), "example"], capture_output=True, text=True, timeout=120)
    assert mk.returncode == 0, mk.stdout + mk.stderr
    assert "-Wall -Wextra -Werror" in mk.stdout
    n = 25
    raw = (digits.x_test[:n] / digits.preprocessing.scale).astype(np.float32)   # back to raw 0..16
    proc = subprocess.run([str(out / "example")], input=raw.tobytes(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    printed = [line.split() for line in proc.stdout.decode().splitlines()]
    assert [int(p[0]) for p in printed] == list(range(n))
    # host-c: the generated engine, fed the inputs the pipeline quantizes
    tflite = next(run_dir.glob("convert-int8-*/model.tflite"))
    engine = codegen.generate(tflite, tmp_path / "e", "hc")
    binary = host_run.build(engine, tmp_path / "b")
    q = quantize_inputs(tflite_file.read(tflite), digits.x_test[:n])
    expected = host_run.invoke(binary, engine, q).reshape(n, -1).argmax(axis=1)
    assert [int(p[1]) for p in printed] == expected.tolist()
    assert [p[2] for p in printed] == [digits.labels[i] for i in expected]
    assert np.mean(expected == digits.y_test[:n]) > 0.8


def test_a_failed_export_leaves_out_as_it_was(exported, tmp_path):
    _, out, _, _ = exported
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    rc, _, err = edgepipe("export", "digits_cnn", "--run", exported[0], "--out", out, "--prefix", "9 bad")
    assert rc == 2 and "Traceback" not in err and "not a C identifier" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in out.parent.iterdir() if ".export-" in p.name]
    fresh = tmp_path / "never"
    rc, _, _ = edgepipe("export", "digits_cnn", "--run", exported[0], "--out", fresh, "--prefix", "9 bad")
    assert rc == 2 and not fresh.exists() and not list(tmp_path.glob(".never*"))


def test_export_a_keras_file(exported, tmp_path):
    run_dir = exported[0]
    keras_file = next(run_dir.glob("train-*/model.keras"))
    rc, stdout, err = edgepipe("export", keras_file, "--dataset", "digits", "--run", tmp_path / "r",
                               "--out", tmp_path / "c")
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    assert (tmp_path / "c" / "model_int8_model.c").exists() and (tmp_path / "c" / "README.md").exists()
