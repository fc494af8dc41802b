"""The board target end to end: real generated engine, real cross build, real QEMU, real pyserial,
outputs compared with TFLM. Fixed seeds; instruction counts must repeat exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edgepipe_base import tflite_file
from firmware_gen import boards
from pipeline.bench import board as board_bench
from pipeline.bench import serial_link
from edgepipe_base.errors import EdgepipeError

pytestmark = pytest.mark.slow


def _inputs(path, n, seed=0):
    m = tflite_file.read(path)
    shape = m.main.tensors[m.main.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


@pytest.fixture(scope="module")
def hello(testdata):
    return testdata / "tflm_hello_world_int8.tflite"


def test_mps2_an386_hello_world_matches_tflm(tmp_path, hello):
    x = _inputs(hello, 64)
    r = board_bench.run("mps2-an386", hello, x, None, tmp_path)
    assert r["target"] == "mps2-an386" and r["samples"] == 64
    assert r["mismatches"] == 0 and r["bit_exact"] is True
    assert r["cycles"] is None and r["latency_ms"]["estimate"] is True
    med = r["instructions"]["median"]
    assert 1000 < med <= r["instructions"]["max"] < 100_000
    assert r["latency_ms"]["median"] == pytest.approx(med / 25e6 * 1e3, rel=0.01)
    assert r["macs"] == 16 + 16 * 16 + 16 and r["macs_per_instruction"] == pytest.approx(r["macs"] / med)
    # instructions are not cycles: the fraction of peak is labelled an estimate
    assert r["peak_fraction"] is None
    assert r["peak_fraction_estimate"] == pytest.approx(r["macs"] / (med * 2.0))
    assert r["latency_ms"]["runs"] == 64
    assert 0 < r["stack_bytes"] < 8192 and r["ram_bytes"] > r["arena_bytes"] + r["stack_bytes"]
    assert r["flash_bytes"] > 2000 and r["engine_version"]
    assert r["accuracy"] is None                          # one output: nothing to argmax


def test_per_layer_counts_add_up_to_the_inference(tmp_path, testdata):
    """The engine's per-layer hook: one row per kernel call, counts that sum to the measured
    inference (less the hook calls' own cost), MACs that sum to the model's."""
    kws = testdata / "mlperf_tiny_kws_ref_model.tflite"
    r = board_bench.run("mps2-an386", kws, _inputs(kws, 1), None, tmp_path)
    layers = r["layers"]
    total = r["instructions"]["median"]
    assert [l["opcode"] for l in layers] == ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4 + \
        ["AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"]
    assert sum(l["macs"] for l in layers) == r["macs"]
    assert 0.99 * total < sum(l["instructions"] for l in layers) <= total
    assert all(l["instructions"] > 0 for l in layers)
    conv = layers[0]
    assert conv["macs_per_instruction"] == pytest.approx(conv["macs"] / conv["instructions"])
    assert conv["peak_fraction_estimate"] == pytest.approx(conv["macs_per_instruction"] / 2.0)


def test_instruction_counts_repeat_exactly_and_samples_resume(tmp_path, hello, monkeypatch):
    board, engine, fw = board_bench.prepare("mps2-an386", hello, tmp_path)
    sha = tflite_file.read(hello).sha256
    x = _inputs(hello, 24, seed=1)
    outs1, counts1, *_ = board_bench.stream(board, fw, x, sha, None, route="uart")
    # the same samples read from the host file by semihosting: the same outputs and counts
    outs_file, counts_file, *_ = board_bench.stream(board, fw, x, sha, None, route="host-file")
    assert outs_file == outs1 and counts_file == counts1
    # on each route the link breaks at sample 10; the stream resumes in a fresh QEMU
    for route, method in (("uart", "run"), ("host-file", "run_record")):
        real = getattr(serial_link.SerialLink, method)
        calls = {"n": 0}

        def flaky(self, data, *rest, real=real, calls=calls):
            calls["n"] += 1
            if calls["n"] == 11:
                raise serial_link.LinkError("injected: link lost")
            return real(self, data, *rest)

        monkeypatch.setattr(serial_link.SerialLink, method, flaky)
        outs2, counts2, *_ = board_bench.stream(board, fw, x, sha, None, route=route)
        assert calls["n"] == 25 and len(counts2) == 24          # resumed, not shortened
        assert outs1 == outs2 and counts1 == counts2             # deterministic, sample by sample


def test_a_record_past_the_host_file_is_a_clear_error(tmp_path, hello):
    """The firmware's semihosting read fails (file too short): an ERROR reply naming the record
    and the file, not a hang or a wrong output."""
    board, engine, fw = board_bench.prepare("mps2-an386", hello, tmp_path)
    sha = tflite_file.read(hello).sha256
    board_bench._write_host_inputs(fw.elf.parent / serial_link.HOST_INPUTS, _inputs(hello, 3))
    session = board_bench._Session(board, fw, None, sha, 5.0)
    try:
        assert len(session.link.run_record(2).output) == 1
        with pytest.raises(serial_link.LinkError, match=r"cannot read record 3 of the host file ep_inputs.bin"):
            session.link.run_record(3)
    finally:
        session.close()


def test_host_file_route_is_for_emulated_boards_only():
    assert board_bench.input_route(boards.load_board("mps2-an386")) == "host-file"
    real = boards.load_board("nucleo-f446re")
    assert board_bench.input_route(real) == "uart"
    with pytest.raises(EdgepipeError, match="need semihosting, which only emulated boards have"):
        board_bench.input_route(real, "host-file")


def test_interrupted_stream_that_keeps_failing_is_an_error_not_a_short_result(tmp_path, hello, monkeypatch):
    board, engine, fw = board_bench.prepare("mps2-an386", hello, tmp_path)
    sha = tflite_file.read(hello).sha256

    def dead(self, data, *rest):
        raise serial_link.LinkError("injected: link lost")

    monkeypatch.setattr(serial_link.SerialLink, "run", dead)
    monkeypatch.setattr(serial_link.SerialLink, "run_record", dead)
    with pytest.raises(EdgepipeError, match=r"interrupted after 0 of 5 samples"):
        board_bench.stream(board, fw, _inputs(hello, 5), sha, None)


def test_netduinoplus2_runs_through_the_stm32f4_usart(tmp_path, hello):
    assert boards.load_board("netduinoplus2").uart_type == "stm32-usart"
    r = board_bench.run("netduinoplus2", hello, _inputs(hello, 32, seed=2), None, tmp_path)
    assert r["mismatches"] == 0 and r["samples"] == 32 and r["instructions"]["median"] > 1000


def test_micro_speech_conv_model_on_mps2_an386(tmp_path, testdata):
    """A model with DEPTHWISE_CONV_2D, FULLY_CONNECTED, SOFTMAX: still bit-exact with TFLM."""
    path = testdata / "tflm_micro_speech_int8.tflite"
    r = board_bench.run("mps2-an386", path, _inputs(path, 3, seed=3), np.array([0, 1, 2]), tmp_path)
    assert r["mismatches"] == 0 and r["accuracy"] is not None
    assert r["arena_bytes"] > 1000 and r["macs"] == 336000


def test_silent_firmware_is_killed_with_a_clear_error(tmp_path, hello):
    """microbit firmware on the mps2-an386 machine runs but talks to a UART that is not there:
    the host gives up after bounded retries and QEMU is killed, not left hanging."""
    import subprocess

    board, engine, fw = board_bench.prepare("microbit", hello, tmp_path)
    wrong = boards.load_board("mps2-an386")
    with pytest.raises(EdgepipeError, match=r"mps2-an386: no valid reply .* last output: \(nothing\)"
                                            r".*QEMU killed"):
        board_bench.stream(wrong, fw, _inputs(hello, 2), "x", None, timeout_s=1.0)
    ps = subprocess.run(["pgrep", "-f", str(fw.elf)], capture_output=True, text=True).stdout
    assert ps.strip() == ""


def test_interrupt_while_the_session_starts_leaves_no_qemu(tmp_path, hello, monkeypatch):
    """Ctrl-C (or any other exception) between starting QEMU and the boot line kills QEMU."""
    import subprocess

    board, engine, fw = board_bench.prepare("mps2-an386", hello, tmp_path)

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(serial_link.SerialLink, "wait_announce", interrupted)
    with pytest.raises(KeyboardInterrupt):
        board_bench.stream(board, fw, _inputs(hello, 2), "x", None)
    ps = subprocess.run(["pgrep", "-f", str(fw.elf)], capture_output=True, text=True).stdout
    assert ps.strip() == ""


def test_real_board_without_port_or_flasher_is_a_clear_error(tmp_path, hello):
    with pytest.raises(EdgepipeError, match=r"nucleo-f446re is a real board: give its serial port"):
        board_bench.run("nucleo-f446re", hello, _inputs(hello, 2), None, tmp_path)
    assert not (tmp_path / "nucleo-f446re").exists()


def test_pty_backend_opens_like_a_real_tty_and_counts_the_same(tmp_path, hello):
    """`-serial pty` is opened with serial.Serial('/dev/pts/N'), as /dev/ttyACM0 would be; the
    boot line may be missed (INFO answers instead) and the counts equal the TCP backend's."""
    x = _inputs(hello, 8, seed=4)
    pty = board_bench.run("mps2-an386", hello, x, None, tmp_path / "pty", qemu_serial="pty")
    tcp = board_bench.run("mps2-an386", hello, x, None, tmp_path / "tcp")
    assert pty["mismatches"] == 0 and pty["instructions"] == tcp["instructions"]


def test_real_board_path_rehearsed_on_qemu(tmp_path, hello, monkeypatch):
    """The real-board path end to end (flash command, port opened after flashing, boot line
    missed so INFO answers, DWT counter, firmware parks instead of exiting), with QEMU standing in
    for the probe and the board: its "flasher" starts QEMU with the ELF in the background."""
    import dataclasses
    import os
    import signal
    import socket

    fpga = boards.load_board("mps2-an386-fpga")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pidfile = tmp_path / "qemu.pid"
    flasher = ("qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-monitor", "none",
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on",
               "-daemonize", "-pidfile", str(pidfile), "-kernel", "{elf}")
    fake = dataclasses.replace(fpga, flash_command=flasher)
    real_load = boards.load_board
    monkeypatch.setattr(boards, "load_board", lambda bid, *a: fake if bid == fpga.id else real_load(bid, *a))
    # QEMU does not model DWT CYCCNT (it reads 0): every sample runs and is compared, then the
    # zeros are refused instead of being reported as 0 cycles / 0.00 ms
    try:
        with pytest.raises(EdgepipeError, match=r"cycle counter reads 0 on mps2-an386-fpga: DWT not "
                                                r"running\?.* 0 for all 6 samples.*\(0 of 6 outputs "
                                                r"differed from TFLM\)"):
            board_bench.run(fpga.id, hello, _inputs(hello, 6, seed=5), None, tmp_path,
                            port=f"socket://127.0.0.1:{port}")
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_missing_flasher_is_a_clear_error(tmp_path, hello, monkeypatch):
    import dataclasses

    fake = dataclasses.replace(boards.load_board("nucleo-f446re"),
                               flash_command=("edgepipe-no-such-flasher", "{elf}"))
    monkeypatch.setattr(boards, "load_board", lambda bid, *a: fake)
    with pytest.raises(EdgepipeError, match=r"flasher 'edgepipe-no-such-flasher' not found"):
        board_bench.run("nucleo-f446re", hello, _inputs(hello, 2), None, tmp_path, port="/dev/ttyACM9")
