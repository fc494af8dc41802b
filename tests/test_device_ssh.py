"""The `linux` transport end to end against a real OpenSSH server on 127.0.0.1 (throwaway host and user
keys in a temporary folder). The "device" is this machine: the runner runs with this Python over ssh,
exactly as it would on a Raspberry Pi. Then the failures a user meets: unreachable host, refused key,
missing interpreter, a runner that dies mid-run (and the resumed run that does not redo samples).
Android: no phone here, so a missing adb and an empty `adb devices` are checked with the real adb."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgepipe_base import tflite_file
from pipeline.bench import device as device_bench
from pipeline.bench.transports import AdbTransport, DeviceError, parse_adb_devices
from pipeline.devices import parse_device

SSHD = "/usr/sbin/sshd"
MODEL = "tflm_hello_world_int8.tflite"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1:<free port>, key authentication only; yields (port, key, folder)."""
    if os.geteuid() != 0:
        pytest.fail("the ssh transport test starts sshd as root (PermitRootLogin prohibit-password)")
    d = tmp_path_factory.mktemp("sshd")
    host_key, user_key = _keygen(d / "host_ed25519"), _keygen(d / "user_ed25519")
    (d / "authorized_keys").write_text(Path(str(user_key) + ".pub").read_text())
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {d}/sshd.pid\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "MaxStartups 50\nSubsystem sftp /usr/lib/openssh/sftp-server\n")
    Path("/run/sshd").mkdir(exist_ok=True)          # sshd's privilege separation folder
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"sshd did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    yield port, user_key, d
    proc.terminate()
    proc.wait(10)


def _device(d: Path, port: int, key: Path, name="rpi-local", **over) -> object:
    fields = {"host": "root@127.0.0.1", "port": port, "identity_file": str(key), "python": sys.executable,
              "workdir": str(d / "remote"), **over}
    toml = "\n".join(f"{k} = {v!r}" if not isinstance(v, int) else f"{k} = {v}" for k, v in fields.items())
    path = d / f"{name}.toml"
    path.write_text(f'id = "{name}"\nname = "this machine over ssh"\nkind = "linux"\ncpu = "x86-64"\n'
                    f"verified = true\ntimeout_s = 300\n{toml}\n"
                    f'ssh_options = ["-o", "UserKnownHostsFile={d}/known_hosts", "-o", "IdentitiesOnly=yes"]\n')
    return parse_device(path)


@pytest.fixture(scope="module")
def model(testdata):
    return tflite_file.read(testdata / MODEL)


def _inputs(model, n: int) -> np.ndarray:
    shape = model.main.tensors[model.main.inputs[0]].shape[1:]
    return np.random.default_rng(12).integers(-128, 128, size=(n, *shape)).astype(np.int8)


def test_litert_over_ssh_matches_host_and_reports_its_interpreter(sshd, model, tmp_path):
    port, key, d = sshd
    dev = _device(d, port, key)
    xq = _inputs(model, 150)
    y = np.zeros(150, dtype=int)
    r = device_bench.run_litert(dev, model, xq, y, tmp_path, latency_runs=30)
    assert r["samples"] == 150 and r["host_litert_mismatches"] == 0   # same x86 kernels on both sides
    assert r["interpreter"] == "ai_edge_litert" and r["interpreter_version"] == "2.3.0"
    assert r["threads"] == 1 and r["xnnpack"] is True
    lat = r["latency_ms"]
    assert lat["runs"] == 30 and 0 < lat["median"] <= lat["p90"]
    assert r["note"].startswith("0/150 differ from host LiteRT")


def test_c_engine_over_ssh_is_bit_exact_with_tflm(sshd, testdata, tmp_path):
    """The engine path over ssh: built statically for the device's CPU (`cc`; this x86 'device': gcc),
    pushed with scp, run there on the samples, outputs fetched and compared with TFLM."""
    port, key, d = sshd
    dev = _device(d, port, key, name="rpi-c", cc="gcc")
    tflite = testdata / MODEL
    x = _inputs(tflite_file.read(tflite), 40)
    r = device_bench.run_engine(dev, tflite, x, None, tmp_path)
    assert r["mismatches"] == 0 and r["bit_exact"] and r["samples"] == 40 and r["binary_bytes"] > 0


def test_unreachable_host_is_one_line_naming_the_device(sshd, model, tmp_path):
    port, key, d = sshd
    dev = _device(d, _free_port(), key, name="pi-off")
    with pytest.raises(DeviceError) as e:
        device_bench.run_litert(dev, model, _inputs(model, 5), None, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "device pi-off" in msg and "cannot reach the device over ssh" in msg
    assert "HOST=user@address" in msg


def test_refused_key_says_to_copy_the_key(sshd, model, tmp_path):
    port, _, d = sshd
    other = _keygen(tmp_path / "not_authorized")
    dev = _device(d, port, other, name="pi-key")
    with pytest.raises(DeviceError) as e:
        device_bench.run_litert(dev, model, _inputs(model, 5), None, tmp_path)
    assert "device pi-key" in str(e.value) and "refused the ssh key" in str(e.value)
    assert "ssh-copy-id root@127.0.0.1" in str(e.value)


def test_missing_interpreter_on_the_device(sshd, model, tmp_path):
    port, key, d = sshd
    dev = _device(d, port, key, name="pi-nopy", python="/opt/no/such/python3")
    with pytest.raises(DeviceError) as e:
        device_bench.run_litert(dev, model, _inputs(model, 5), None, tmp_path)
    assert "device pi-nopy" in str(e.value) and "'/opt/no/such/python3' not found" in str(e.value)


def test_python_without_tflite_interpreter_on_the_device(sshd, model, tmp_path):
    """Debian's own python3 has neither numpy nor a TFLite interpreter: the runner says what to install."""
    port, key, d = sshd
    dev = _device(d, port, key, name="pi-bare", python="/usr/bin/python3")
    with pytest.raises(DeviceError) as e:
        device_bench.run_litert(dev, model, _inputs(model, 5), None, tmp_path)
    assert "device pi-bare" in str(e.value) and "pip install" in str(e.value)


def test_runner_dying_mid_run_then_resuming_without_redoing_samples(sshd, model, tmp_path):
    port, key, d = sshd
    dev = _device(d, port, key, name="pi-crash", workdir=str(tmp_path / "remote"))
    xq = _inputs(model, 250)
    remote = tmp_path / "remote" / device_bench.litert_key(model.data, xq, 1, True) / "out"
    remote.mkdir(parents=True)
    # the runner cannot write its third chunk (samples 200..249): it dies after two finished chunks
    blocker = remote / f"chunk-{200:08d}.npy.tmp.npy"
    blocker.mkdir()
    with pytest.raises(DeviceError) as e:
        device_bench.run_litert(dev, model, xq, None, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "device pi-crash" in msg
    assert "stopped after 200 of 250 samples" in msg and "run again to resume" in msg
    first = {p.name: p.stat().st_mtime_ns for p in remote.glob("chunk-????????.npy")}
    assert len(first) == 2
    blocker.rmdir()
    r = device_bench.run_litert(dev, model, xq, None, tmp_path, latency_runs=5)
    assert r["resumed_samples"] == 200 and r["host_litert_mismatches"] == 0 and r["samples"] == 250
    assert {p: remote.joinpath(p).stat().st_mtime_ns for p in first} == first     # not redone


# ---- android without a phone ---------------------------------------------------------------------

PIXEL = 'id = "{id}"\nname = "a phone"\nkind = "android"\ncpu = "cortex-a78"\nverified = false\n'


def _phone(tmp_path, name="phone"):
    p = tmp_path / f"{name}.toml"
    p.write_text(PIXEL.format(id=name))
    return parse_device(p)


def test_android_missing_adb_is_a_clear_error(tmp_path, monkeypatch, model):
    monkeypatch.setenv("PATH", str(tmp_path))            # no adb on PATH
    with pytest.raises(DeviceError) as e:
        device_bench.run_litert(_phone(tmp_path), model, _inputs(model, 3), None, tmp_path)
    assert "device phone" in str(e.value) and "'adb' not found" in str(e.value) and "apt-get install adb" in str(e.value)


def test_android_no_device_attached(tmp_path, monkeypatch, model):
    """The real adb with its own server on a private port: `adb devices` lists nothing here."""
    assert shutil.which("adb"), "Debian package adb is installed by `make setup`"
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(_free_port()))
    try:
        with pytest.raises(DeviceError) as e:
            device_bench.run_litert(_phone(tmp_path), model, _inputs(model, 3), None, tmp_path)
        assert "no Android device attached" in str(e.value) and "USB debugging" in str(e.value)
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)


def test_android_unauthorized_and_choice_of_device(tmp_path):
    """`adb devices` as adb prints it for a phone that has not accepted this computer's key."""
    listed = parse_adb_devices("List of devices attached\n28131FDH2000AB\tunauthorized\n"
                               "emulator-5554\tdevice\n\n")
    assert listed == {"28131FDH2000AB": "unauthorized", "emulator-5554": "device"}

    class Listed(AdbTransport):
        def devices(self):
            return listed
    with pytest.raises(DeviceError) as e:
        Listed(_phone(tmp_path, "pixel"), serial="28131FDH2000AB").check()
    assert "device pixel (adb 28131FDH2000AB): unauthorized" in str(e.value)
    assert "Allow USB debugging" in str(e.value)
    with pytest.raises(DeviceError) as e:
        Listed(_phone(tmp_path, "pixel")).check()
    assert "2 devices attached" in str(e.value) and "SERIAL=" in str(e.value)


def test_benchmark_model_output_is_parsed():
    text = ("STARTING!\nNum runs: [50]\nInference timings in us: Init: 5685, First inference: 18535, "
            "Warmup (avg): 14462.3, Inference (avg): 14575.2\n"
            "count=20 first=15000 curr=14400 min=14300 max=15000 avg=14500.5 std=100\n"
            "count=50 first=14514 curr=14527 min=14479 max=14829 avg=14575.2 std=64\n")
    lat = device_bench.parse_benchmark_model(text)
    assert lat["mean"] == pytest.approx(14.5752) and lat["runs"] == 50 and lat["min"] == pytest.approx(14.479)
    assert lat["median"] is None and lat["p90"] is None and lat["source"] == "benchmark_model"
