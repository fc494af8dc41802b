"""Device files (devices/*.toml): validated on load, errors name the file and the field; listed by
`edgepipe boards` with their kind and verified flag; every device is a target and so is its C engine."""

import pytest

from conftest import REPO
from edgepipe_base.errors import EdgepipeError
from pipeline.bench import targets
from pipeline.devices import DeviceFileError, all_devices, parse_device
from test_cli import edgepipe

GOOD = 'id = "pi5"\nname = "a Pi 5"\nkind = "linux"\ncpu = "cortex-a76"\nverified = false\nhost = "pi@10.0.0.2"\n'


def test_shipped_device_files_load_and_are_targets():
    devices = all_devices(REPO / "devices")
    assert {"arm64-qemu", "pi4", "pixel7"} <= set(devices)
    assert devices["arm64-qemu"].verified and not devices["pi4"].verified and not devices["pixel7"].verified
    for name in ("arm64-qemu", "arm64-qemu-c", "pi4", "pi4-c", "pixel7"):
        t = targets.get(name)
        assert t.kind == "os" and t.needs_engine == name.endswith("-c")


@pytest.mark.parametrize("edit, field", [
    (lambda s: s.replace('kind = "linux"', 'kind = "ios"'), "'kind'"),
    (lambda s: s.replace('host = "pi@10.0.0.2"\n', ""), "missing field 'host'"),
    (lambda s: s + "port = 0\n", "'port' must be > 0"),
    (lambda s: s + "serial = \"X\"\n", "unknown field 'serial' for kind 'linux'"),
    (lambda s: s.replace("verified = false", 'verified = "no"'), "'verified' must be bool"),
    (lambda s: s.replace('id = "pi5"', 'id = "pi6"'), "field 'id' is 'pi6'"),
])
def test_bad_device_file_names_file_and_field(tmp_path, edit, field):
    path = tmp_path / "pi5.toml"
    with pytest.raises(DeviceFileError) as e:
        parse_device(path, edit(GOOD))
    assert str(path) in str(e.value) and field in str(e.value)


def test_boards_lists_devices_with_kind_and_verified():
    rc, out, _ = edgepipe("boards")
    assert rc == 0
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.split()}
    assert "arm64-qemu" in rows["arm64-qemu"] and "yes (in qemu-aarch64)" in rows["arm64-qemu"]
    assert " linux " in rows["pi4"] and "no (not yet run on the device)" in rows["pi4"]
    assert " android " in rows["pixel7"]


def test_unknown_target_lists_devices():
    rc, _, err = edgepipe("run", "digits_cnn", "--targets", "pi9")
    assert rc == 2 and "unknown target 'pi9'" in err and "arm64-qemu" in err and "pi4-c" in err


def test_arm64_qemu_without_sysroot_says_make_setup(tmp_path, monkeypatch):
    from pipeline.bench import arm64_sysroot
    from pipeline.bench.device import run_litert
    from pipeline.devices import load_device
    monkeypatch.setenv("EDGEPIPE_ARM64_SYSROOT", str(tmp_path / "none"))
    with pytest.raises(EdgepipeError) as e:
        run_litert(load_device("arm64-qemu"), None, None, None, tmp_path)
    assert "arm64-qemu: no Arm64 sysroot at" in str(e.value) and "make setup" in str(e.value)
    assert not arm64_sysroot.ready()


def test_runner_falls_back_to_tflite_runtime(tmp_path, testdata):
    """A Pi with only `pip install tflite-runtime`: the runner uses it and says so (this Python has
    both; ai_edge_litert is made unimportable for the runner's process)."""
    import json
    import subprocess
    import sys

    import numpy as np
    from pipeline.bench import device_runner
    model = testdata / "tflm_micro_speech_int8.tflite"
    x = np.random.default_rng(5).integers(-128, 128, size=(30, 1960)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for block in (True, False):
        code = ("import sys, runpy; " + ("sys.modules['ai_edge_litert'] = None; " if block else "") +
                f"sys.argv = ['runner', {str(model)!r}, {str(tmp_path / 'x.npy')!r}, "
                f"{str(tmp_path / ('out-%s' % block))!r}, '--latency-runs', '5', '--chunk', '8']; "
                f"runpy.run_path({device_runner.__file__!r}, run_name='__main__')")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-500:]
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(device_runner.RESULT))
        info = json.loads(line[len(device_runner.RESULT):])
        assert info["interpreter"] == ("tflite_runtime" if block else "ai_edge_litert")
        assert info["interpreter_version"] == ("2.14.0" if block else "2.3.0") and info["latency_ms"]["runs"] == 5
        outs[block] = np.load(tmp_path / f"out-{block}" / "outputs.npy")
        assert outs[block].shape == (30, 4) and len(list((tmp_path / f"out-{block}").glob("chunk-*.npy"))) == 4
    assert np.abs(outs[True].astype(int) - outs[False].astype(int)).max() <= 1


def test_a_binary_lce_model_skips_litert_on_a_device_but_runs_in_the_engine_there():
    """LiteRT has no kernels for Larq Compute Engine's ops: the device's LiteRT target says so (the
    demo's binary variant on arm64-qemu); the C engine on the device runs it against TFLM + LCE."""
    from types import SimpleNamespace

    from pipeline.bench import targets
    from pipeline.run import _not_for
    pre = SimpleNamespace(deployable=True, reference="tflm+lce", tflm_runs=False, engine_runs=True,
                          reason=lambda *scopes: "")
    checks, v = {"binary": pre}, SimpleNamespace(name="binary")
    skipped = _not_for(targets.get("arm64-qemu"), checks, v)
    assert skipped["skipped"] == "LiteRT has no kernels for LCE's ops (see host-lce)"
    assert _not_for(targets.get("arm64-qemu-c"), checks, v) is None
