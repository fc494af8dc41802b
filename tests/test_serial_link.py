"""The benchmark wire protocol: the pure codec, then the real firmware in QEMU with corrupt,
truncated and duplicated frames, silent and garbage-talking peers, and a firmware fault."""

from __future__ import annotations

import re
import socket
import struct
import threading
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pipeline.bench import serial_link as sl
from pipeline.bench.serial_link import FrameDecoder, LinkError, SerialLink, encode_frame
from firmware_gen.board_build import APP_DIR

# --- codec ----------------------------------------------------------------------------------------


def test_protocol_constants_match_the_firmware_header():
    text = (APP_DIR / "protocol.h").read_text()
    defs = {m[0]: int(m[1], 16) for m in re.findall(r"#define EP_(\w+) 0x([0-9A-F]+)u", text)}
    assert bytes([defs["MAGIC0"], defs["MAGIC1"]]) == sl.MAGIC
    assert (defs["REQ_INFO"], defs["REQ_RUN"], defs["REQ_STACK"], defs["REQ_EXIT"], defs["REQ_RUN_FILE"],
            defs["REQ_FAULT"]) == (sl.REQ_INFO, sl.REQ_RUN, sl.REQ_STACK, sl.REQ_EXIT, sl.REQ_RUN_FILE,
                                   sl.REQ_FAULT)
    assert defs["REQ_LAYERS"] == sl.REQ_LAYERS
    codes = dict(re.findall(r"#define EP_(ERR_\w+) \((-\d+)\)", text))
    assert (int(codes["ERR_BAD_LENGTH"]), int(codes["ERR_NO_HOST_FILE"])) == (sl.ERR_BAD_LENGTH, sl.ERR_NO_HOST_FILE)
    assert f'#define EP_HOST_INPUTS "{sl.HOST_INPUTS}"' in text
    assert (defs["REPLY_BIT"], defs["NAK"], defs["ERROR"]) == (sl.REPLY_BIT, sl.NAK, sl.ERROR)
    assert f"#define EP_HEADER_BYTES {sl.HEADER_BYTES}u" in text


def test_frame_layout_is_the_documented_one():
    f = encode_frame(0x02, 0x1234, b"\x01\x02\x03")
    assert f[:7] == b"\xA5\x5E\x02\x34\x12\x03\x00"
    assert struct.unpack("<I", f[-4:])[0] == zlib.crc32(f[2:-4])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=300)),
                max_size=5),
       st.integers(1, 64))
def test_roundtrip_any_frames_in_any_chunking(frames, chunk):
    stream = b"".join(encode_frame(t, s, p) for t, s, p in frames)
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    assert [(f.type, f.seq, f.payload) for f in got] == frames
    assert not dec.noise and dec.bad_crc == 0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_single_corruption_is_rejected(payload, data):
    good = encode_frame(0x82, 7, payload)
    i = data.draw(st.integers(2, len(good) - 1))          # any byte after the magic
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(good)
    bad[i] ^= 1 << bit
    dec = FrameDecoder(max_payload=300)
    frames = dec.feed(bytes(bad)) + dec.feed(b"\x00" * 600)   # whatever the length says, it ends
    assert frames == []
    # and the decoder resynchronises on the next good frame
    assert dec.feed(good) == [sl.Frame(0x82, 7, payload)]


def test_truncated_frame_waits_then_resyncs_on_text_and_garbage():
    good = encode_frame(0x81, 1, b"hello")
    dec = FrameDecoder()
    assert dec.feed(good[:-1]) == []
    assert dec.feed(good[-1:]) == [sl.Frame(0x81, 1, b"hello")]
    assert FrameDecoder().feed(b"boot text\n\xA5 stray \xA5" + good) == [sl.Frame(0x81, 1, b"hello")]
    # a false magic swallows the good frame into a bogus one; once that bogus frame's length has
    # arrived its CRC fails and the decoder finds the good frame inside it
    dec = FrameDecoder()
    frames = dec.feed(b"\xA5\x5E\x99" + good) + dec.feed(b"\x00" * 400)
    assert frames == [sl.Frame(0x81, 1, b"hello")] and dec.bad_crc == 1
    dup = FrameDecoder().feed(good + good)
    assert dup == [sl.Frame(0x81, 1, b"hello")] * 2


def test_announce_line_parses():
    assert sl.parse_announce("board=x sha256=ab engine=0.1 arena=12") == {
        "board": "x", "sha256": "ab", "engine": "0.1", "arena": "12"}


# --- peers that misbehave (real pyserial over a local socket) -----------------------------------------


def _server(behaviour):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            behaviour(conn)
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"socket://127.0.0.1:{srv.getsockname()[1]}"


def test_silent_board_is_a_clear_error_after_bounded_retries():
    stop = threading.Event()
    url = _server(lambda conn: stop.wait(10))
    with SerialLink(url, timeout_s=0.3, retries=2, where="test-board") as link:
        with pytest.raises(LinkError, match=r"test-board: no valid reply .* after 3 tries \(no reply"):
            link.info()
        assert link.retransmits == 2
    stop.set()


def test_garbage_talking_board_is_a_clear_error():
    rng = np.random.default_rng(0)
    junk = bytes(rng.integers(0, 256, 20000, dtype=np.uint8)).replace(b"\xA5", b"\x00")
    url = _server(lambda conn: (conn.recv(100), conn.sendall(junk), conn.recv(100)))
    with SerialLink(url, timeout_s=3, retries=0, where="b") as link:
        with pytest.raises(LinkError, match="answers garbage"):
            link.info()


def _answering(reply_type_payload):
    """A peer that answers every request with one CRC-valid frame of its own choosing."""
    def behaviour(conn):
        dec = FrameDecoder()
        while True:
            data = conn.recv(4096)
            if not data:
                return
            for f in dec.feed(data):
                rtype, payload = reply_type_payload(f)
                conn.sendall(encode_frame(rtype, f.seq, payload))
    return _server(behaviour)


@pytest.mark.parametrize("reply, call, message", [
    (lambda f: (sl.ERROR, b"\x01"), lambda link: link.run(b"\0"), r"ERROR reply of 1 bytes"),
    (lambda f: (sl.REQ_STACK | sl.REPLY_BIT, b"\0" * 5), lambda link: link.stack(),
     r"STACK reply of 5 bytes, expected 8"),
    (lambda f: (sl.REQ_RUN | sl.REPLY_BIT, b"\0" * 3), lambda link: link.run(b"\0"),
     r"RUN reply of 3 bytes is too short"),
    (lambda f: (sl.REQ_RUN | sl.REPLY_BIT, b"\0" * 8 + b"\1" * 3),
     lambda link: link.run(b"\0", output_bytes=4), r"RUN reply carries 3 output bytes, the model has 4"),
    (lambda f: (sl.REQ_LAYERS | sl.REPLY_BIT, b"\0" * 6), lambda link: link.layers(),
     r"LAYERS reply of 6 bytes, expected a multiple of 4"),
], ids=["short-error", "short-stack", "short-run", "run-wrong-output-length", "layers-not-u32"])
def test_malformed_but_crc_valid_replies_are_link_errors(reply, call, message):
    with SerialLink(_answering(reply), timeout_s=2, retries=0, where="b") as link:
        with pytest.raises(LinkError, match=message):
            call(link)


def test_oversized_payload_is_a_link_error():
    with pytest.raises(LinkError, match=r"70000 bytes does not fit a frame .* at most 65535"):
        encode_frame(sl.REQ_RUN, 1, bytes(70000))


def test_unopenable_port_is_a_clear_error():
    with pytest.raises(LinkError, match=r"cannot open serial port /dev/nonexistent-tty"):
        SerialLink("/dev/nonexistent-tty")


# --- the real firmware in QEMU ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_fw(tmp_path_factory, testdata):
    from pipeline.bench import board as board_bench
    board, engine, fw = board_bench.prepare("mps2-an386", testdata / "tflm_hello_world_int8.tflite",
                                            tmp_path_factory.mktemp("fw"))
    from edgepipe_base import tflite_file
    return board, fw, tflite_file.read(testdata / "tflm_hello_world_int8.tflite").sha256


@pytest.fixture
def qemu_link(hello_fw):
    from pipeline.bench.qemu import QemuBoard
    board, fw, sha = hello_fw
    q = QemuBoard(board, fw.elf, fw.elf.parent / "qemu-test.log")
    q.wait_listening()
    link = SerialLink(q.url, timeout_s=5.0, where=board.id)
    yield q, link, sha
    link.close()
    q.kill()


@pytest.mark.slow
def test_firmware_rejects_corrupt_truncated_and_oversized_frames(qemu_link):
    q, link, sha = qemu_link
    fields = link.wait_announce(5, expect_sha256=sha, expect_board="mps2-an386")
    assert fields["runs"] == "0" and fields["engine"]

    def naks(raw, seq):
        link.write(raw)
        return link._await_reply(seq, 10.0)   # the firmware gives up mid-frame after ~1 s

    good = encode_frame(sl.REQ_RUN, 100, b"\x05")
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    assert naks(bytes(bad_crc), 100) == sl.Frame(sl.NAK, 100, bytes([1]))        # bad CRC
    bad_payload = bytearray(good)
    bad_payload[7] ^= 0x10
    assert naks(bytes(bad_payload), 100) == sl.Frame(sl.NAK, 100, bytes([1]))
    too_long = encode_frame(sl.REQ_RUN, 101, b"\x00" * 65)
    assert naks(too_long[:7], 101) == sl.Frame(sl.NAK, 101, bytes([2]))           # bad length
    assert naks(good[:5], 0) == sl.Frame(sl.NAK, 0, bytes([3]))                    # timeout
    assert naks(good[:9], 100) == sl.Frame(sl.NAK, 100, bytes([3]))
    assert link.info()["runs"] == "0"               # nothing bad was ever run
    # after all that, the link still works
    assert len(link.run(b"\x05").output) == 1
    link.exit(0)
    assert q.wait_exit(5) == 0


@pytest.mark.slow
def test_duplicated_frame_is_answered_from_cache_and_never_run_twice(qemu_link):
    q, link, sha = qemu_link
    link.wait_announce(5, expect_sha256=sha)
    frame = encode_frame(sl.REQ_RUN, 500, b"\x10")
    link.write(frame + frame)                       # the same request twice (a host retry)
    first = link._await_reply(500, 5)
    second = link._await_reply(500, 5)
    assert first.type == sl.REQ_RUN | sl.REPLY_BIT and first == second
    assert link.info()["runs"] == "1"
    # a corrupted first transmission is NAKed and retried by request(): exactly one run
    link.seq = 600
    good = encode_frame(sl.REQ_RUN, 601, b"\x11")
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    reply = link.request(sl.REQ_RUN, b"\x11", frame=corrupt)
    assert link.retransmits == 1 and len(reply.payload) == 9
    assert link.info()["runs"] == "2"
    used, size = link.stack()
    assert 0 < used < size == 8192
    link.exit(7)
    assert q.wait_exit(5) == 7                      # the exit code travels through semihosting


@pytest.mark.slow
def test_wrong_model_is_refused(qemu_link):
    q, link, sha = qemu_link
    with pytest.raises(LinkError, match=rf"runs model sha256={sha}, expected 0+;"):
        link.wait_announce(5, expect_sha256="0" * 64)


@pytest.mark.slow
def test_firmware_fault_is_reported_and_exits_nonzero(qemu_link):
    q, link, sha = qemu_link
    link.wait_announce(5)
    with pytest.raises(sl.FirmwareFault,
                       match=r"firmware fault: FAULT HardFault pc=0x[0-9a-f]{8} lr=0x[0-9a-f]{8} "
                             r"cfsr=0x00010000 hfsr=0x40000000$"):   # UNDEFINSTR, FORCED
        link.fault()
    assert q.wait_exit(5) == 3


@pytest.mark.slow
def test_cortex_m0_fault_path(tmp_path, testdata):
    """ARMv6-M has no CFSR: the microbit report stops at pc/lr, and still exits 3."""
    from pipeline.bench import board as board_bench
    from pipeline.bench.qemu import QemuBoard
    board, engine, fw = board_bench.prepare("microbit", testdata / "tflm_hello_world_int8.tflite", tmp_path)
    with QemuBoard(board, fw.elf, tmp_path / "qemu.log") as q:
        q.wait_listening()
        with SerialLink(q.url, timeout_s=3, peer_alive=lambda: q.returncode() is None) as link:
            assert link.wait_announce(3)["board"] == "microbit"
            with pytest.raises(sl.FirmwareFault, match=r"FAULT HardFault pc=0x[0-9a-f]{8} lr=0x[0-9a-f]{8}$"):
                link.fault()
        assert q.wait_exit(5) == 3


def test_layers_request_to_a_firmware_that_predates_it_is_none_after_one_try():
    """An older firmware answers the LAYERS request NAK(unknown type): layers() is None at once
    (an intact frame of an unknown type is not resent), and the link keeps working."""
    seen = []

    def reply(f):
        seen.append(f.type)
        if f.type == sl.REQ_LAYERS:
            return sl.NAK, bytes([sl.NAK_UNKNOWN_TYPE])
        return sl.REQ_STACK | sl.REPLY_BIT, (100).to_bytes(4, "little") + (8192).to_bytes(4, "little")
    with SerialLink(_answering(reply), timeout_s=2, retries=3, where="b") as link:
        assert link.layers() is None
        assert link.stack() == (100, 8192)
        assert link.retransmits == 0
    assert seen == [sl.REQ_LAYERS, sl.REQ_STACK]


def test_layers_reply_decodes_u32_per_layer():
    counts = [7, 0, 123456, 2**32 - 1]
    payload = b"".join(c.to_bytes(4, "little") for c in counts)
    with SerialLink(_answering(lambda f: (sl.REQ_LAYERS | sl.REPLY_BIT, payload)), timeout_s=2,
                    retries=0, where="b") as link:
        assert link.layers() == counts
    with SerialLink(_answering(lambda f: (sl.REQ_LAYERS | sl.REPLY_BIT, b"")), timeout_s=2,
                    retries=0, where="b") as link:
        assert link.layers() is None          # an engine without the hook
