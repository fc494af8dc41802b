"""Host side of the benchmark protocol (firmware_gen/runtime/app/protocol.h), over pyserial.

The same code talks to QEMU (`socket://127.0.0.1:PORT` or a pty path) and to a real board
(`/dev/ttyACM0`). Every request carries a sequence number; a NAK or a silent board makes the host
resend the same frame (same seq), and the firmware answers a repeated seq from its cached reply, so
a request is never run twice and a lost reply is never replaced by a guess. When retries run out,
or the board answers garbage, or it announces another model, the error says so in one line with the
board's last output.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from dataclasses import dataclass

from edgepipe_base.errors import EdgepipeError

MAGIC = b"\xA5\x5E"
HEADER = struct.Struct("<2sBHH")          # magic, type, seq, len
HEADER_BYTES = HEADER.size                 # 7
CRC_BYTES = 4
MAX_PAYLOAD = 0xFFFF                       # the 16-bit length field

REQ_INFO, REQ_RUN, REQ_STACK, REQ_EXIT, REQ_RUN_FILE, REQ_FAULT = 0x01, 0x02, 0x03, 0x04, 0x05, 0x7E
REQ_LAYERS = 0x06
REQ_RESET = 0x07
NAK_UNKNOWN_TYPE = 4
REPLY_BIT = 0x80
NAK = 0x15
ERROR = 0x1F
ERR_BAD_LENGTH, ERR_NO_HOST_FILE = -1000, -1001
HOST_INPUTS = "ep_inputs.bin"             # RUNF's file, in QEMU's working directory
NAK_REASONS = {1: "bad CRC", 2: "bad length", 3: "timeout mid-frame", 4: "unknown type"}
ANNOUNCE_RE = re.compile(rb"EDGEPIPE ([^\r\n]*)\r?\n")


class LinkError(EdgepipeError):
    """The board did not answer, answered garbage, faulted, or runs something else."""


class UnsupportedRequest(LinkError):
    """The firmware does not know this request type (it predates it): resending cannot help."""


class FirmwareFault(LinkError):
    """The firmware reported a HardFault over the UART (it exits non-zero under emulation)."""


# --- codec (pure) -------------------------------------------------------------------------------

def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise LinkError(f"a payload of {len(payload)} bytes does not fit a frame (the length "
                        f"field is 16 bits: at most {MAX_PAYLOAD} bytes)")
    head = HEADER.pack(MAGIC, ftype, seq & 0xFFFF, len(payload))
    return head + payload + struct.pack("<I", crc32(head[2:] + payload))


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


class FrameDecoder:
    """Incremental decoder: feed bytes, collect frames. Bytes that are not part of a valid frame
    (text, corrupted frames) go to `noise` so errors can show them; `bad_crc` counts rejects."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.buf = bytearray()
        self.noise = bytearray()
        self.bad_crc = 0
        self.max_payload = max_payload

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            i = self.buf.find(MAGIC)
            if i < 0:
                keep = 1 if self.buf.endswith(MAGIC[:1]) else 0
                self.noise += self.buf[:len(self.buf) - keep]
                del self.buf[:len(self.buf) - keep]
                return frames
            self.noise += self.buf[:i]
            del self.buf[:i]
            if len(self.buf) < HEADER_BYTES:
                return frames
            _, ftype, seq, length = HEADER.unpack_from(self.buf)
            if length > self.max_payload:
                self.noise += self.buf[:1]
                del self.buf[:1]
                continue
            end = HEADER_BYTES + length + CRC_BYTES
            if len(self.buf) < end:
                return frames
            body = bytes(self.buf[2:HEADER_BYTES + length])
            (crc,) = struct.unpack_from("<I", self.buf, HEADER_BYTES + length)
            if crc != crc32(body):
                # not a frame after all (or a corrupted one): skip this magic, resync
                self.bad_crc += 1
                self.noise += self.buf[:1]
                del self.buf[:1]
                continue
            frames.append(Frame(ftype, seq, body[HEADER_BYTES - 2:]))
            del self.buf[:end]

    def noise_text(self, limit: int = 300) -> str:
        tail = bytes(self.noise[-limit:])
        return tail.decode("ascii", errors="backslashreplace").strip()


def parse_announce(line: str) -> dict[str, str]:
    """'board=x sha256=y ...' -> {'board': 'x', 'sha256': 'y', ...}"""
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


# --- link ---------------------------------------------------------------------------------------

@dataclass
class RunReply:
    output: bytes
    elapsed: int


def _error_text(ftype: int, code: int, payload: bytes) -> str:
    if code == ERR_BAD_LENGTH:
        return (f"the firmware refused request {ftype:#x} with a {len(payload)}-byte payload (wrong "
                "size: is it built for this model?)")
    if code == ERR_NO_HOST_FILE:
        index = struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else "?"
        return (f"the firmware cannot read record {index} of the host file {HOST_INPUTS} (missing "
                "or too short in QEMU's working directory, or a real board without semihosting)")
    return f"the firmware's invoke failed with code {code}"


class SerialLink:
    """One connection to the benchmark firmware."""

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 10.0, retries: int = 4,
                 where: str = "board", max_payload: int = MAX_PAYLOAD, peer_alive=None,
                 open_timeout_s: float = 0.0):
        import serial

        self.where = where
        self.timeout_s = timeout_s
        self.retries = retries
        self.seq = 0
        self.decoder = FrameDecoder(max_payload)
        self.raw_tail = bytearray()      # last bytes received, for error messages
        self.retransmits = 0
        self.info_fields: dict[str, str] = {}
        self.peer_alive = peer_alive     # e.g. "is QEMU still running?": stop waiting if not
        # a board that was just flashed may take a moment to (re)appear: keep trying briefly
        deadline = time.monotonic() + open_timeout_s
        while True:
            try:
                if "://" in port:
                    self.ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
                else:
                    self.ser = serial.Serial(port, baudrate=baud, timeout=0.05)
                break
            except (serial.SerialException, OSError, ValueError) as e:
                if time.monotonic() >= deadline:
                    raise LinkError(f"{where}: cannot open serial port {port} ({e})") from None
                time.sleep(0.1)
        self.port = port

    # low level
    def _read_some(self) -> bytes:
        import serial
        try:
            data = self.ser.read(max(1, self.ser.in_waiting or 1))
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"{self.where}: serial link lost ({e}); last output: "
                            f"{self.last_output()!r}") from None
        if not data and self.peer_alive is not None and not self.peer_alive():
            raise LinkError(f"{self.where}: the board's process exited; last output: "
                            f"{self.last_output() or '(nothing)'}")
        if data:
            self.raw_tail += data
            del self.raw_tail[:-2000]
            if b"FAULT " in self.raw_tail:
                # the report is one line: collect the rest of it (at most 1 s)
                deadline = time.monotonic() + 1.0
                while (b"\n" not in self.raw_tail[self.raw_tail.rfind(b"FAULT "):]
                       and time.monotonic() < deadline):
                    try:
                        # byte by byte: pyserial's socket:// drops a partial read when the
                        # peer (QEMU, exiting after the fault) closes mid-read
                        self.raw_tail += self.ser.read(1)
                    except Exception:
                        break
                raise FirmwareFault(f"{self.where}: firmware fault: {self.last_output()}")
        return data

    def last_output(self, limit: int = 300) -> str:
        text = bytes(self.raw_tail[-limit:]).decode("ascii", errors="backslashreplace")
        m = re.search(r"FAULT [^\n]*", text)
        return m.group(0).strip() if m else text.strip()

    def write(self, data: bytes) -> None:
        import serial
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"{self.where}: serial link lost while sending ({e})") from None

    def wait_announce(self, timeout_s: float = 10.0, expect_sha256: str | None = None,
                      expect_board: str | None = None) -> dict[str, str]:
        """Wait for the boot line; a board that booted before we listened is asked with INFO."""
        deadline = time.monotonic() + timeout_s
        buf = bytearray()
        fields = None
        while time.monotonic() < deadline:
            buf += self._read_some()
            m = ANNOUNCE_RE.search(buf)
            if m:
                fields = parse_announce(m.group(1).decode("ascii", errors="replace"))
                break
        if fields is None:
            fields = self.info()        # raises a clear error if the board stays silent
        self.check_identity(fields, expect_sha256, expect_board)
        return fields

    def check_identity(self, fields, expect_sha256=None, expect_board=None) -> None:
        self.info_fields = dict(fields)
        if expect_board and fields.get("board") != expect_board:
            raise LinkError(f"{self.where}: the firmware announces board '{fields.get('board')}', "
                            f"expected '{expect_board}'; flash the firmware built for this board")
        if expect_sha256 and fields.get("sha256") != expect_sha256:
            raise LinkError(f"{self.where}: the firmware runs model sha256={fields.get('sha256')}, "
                            f"expected {expect_sha256}; flash the firmware built for this model")

    def request(self, ftype: int, payload: bytes = b"", timeout_s: float | None = None,
                frame: bytes | None = None) -> Frame:
        """Send one request and return its reply, resending the same frame (same seq) after a
        NAK or a timeout, at most `retries` times."""
        self.seq = (self.seq + 1) & 0xFFFF
        seq = self.seq
        frame = frame if frame is not None else encode_frame(ftype, seq, payload)
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        problems = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.retransmits += 1
                frame = encode_frame(ftype, seq, payload)   # a clean copy of the same request
            self.write(frame)
            reply = self._await_reply(seq, timeout_s)
            if reply is None:
                problems.append("no reply")
                continue
            if reply.type == NAK:
                reason = reply.payload[0] if reply.payload else 0
                if reason == NAK_UNKNOWN_TYPE:
                    # the frame arrived intact (CRC checked first): an older firmware
                    raise UnsupportedRequest(f"{self.where}: the firmware does not know request "
                                             f"{ftype:#x}; rebuild it with this edgepipe")
                problems.append(f"NAK ({NAK_REASONS.get(reason, reason)})")
                continue
            if reply.type == ERROR:
                if len(reply.payload) < 4:
                    raise LinkError(f"{self.where}: ERROR reply of {len(reply.payload)} bytes, "
                                    f"expected at least 4 (an int32 code): garbage on the link")
                (code,) = struct.unpack_from("<i", reply.payload)
                raise LinkError(f"{self.where}: {_error_text(ftype, code, payload)}")
            if reply.type != (ftype | REPLY_BIT):
                raise LinkError(f"{self.where}: answered type {reply.type:#x} to request "
                                f"{ftype:#x}: garbage on the link")
            return reply
        noise = self.decoder.noise_text()
        raise LinkError(f"{self.where}: no valid reply to request {ftype:#x} after "
                        f"{self.retries + 1} tries ({', '.join(problems)}); last output: "
                        f"{noise or self.last_output() or '(nothing)'}")

    def _await_reply(self, seq: int, timeout_s: float) -> Frame | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for f in self.decoder.feed(self._read_some()):
                if f.type == NAK and f.seq in (seq, 0):
                    return f
                if f.seq == seq:
                    return f
                # a late reply to an earlier request: ignore it
            if len(self.decoder.noise) > 8192:
                raise LinkError(f"{self.where}: the board answers garbage (no valid frame in "
                                f"{len(self.decoder.noise)} bytes): {self.decoder.noise_text()!r}")
        return None

    # requests
    def info(self) -> dict[str, str]:
        reply = self.request(REQ_INFO)
        text = reply.payload.decode("ascii", errors="replace")
        if not text.startswith("EDGEPIPE "):
            raise LinkError(f"{self.where}: INFO reply is not an edgepipe firmware: {text!r}")
        return parse_announce(text[len("EDGEPIPE "):])

    def run(self, input_bytes: bytes, output_bytes: int | None = None) -> RunReply:
        """One inference on `input_bytes` sent over the link; `output_bytes`, when given, is the
        output size the model has."""
        return self._run_reply(self.request(REQ_RUN, bytes(input_bytes)), output_bytes)

    def run_record(self, index: int, output_bytes: int | None = None) -> RunReply:
        """One inference on record `index` of the host file HOST_INPUTS, which an emulated board
        reads by semihosting (the request carries 4 bytes instead of the whole input)."""
        return self._run_reply(self.request(REQ_RUN_FILE, struct.pack("<I", index)), output_bytes)

    def _run_reply(self, reply: Frame, output_bytes: int | None) -> RunReply:
        if len(reply.payload) < 8:
            raise LinkError(f"{self.where}: RUN reply of {len(reply.payload)} bytes is too short "
                            f"(at least 8: the elapsed count)")
        (elapsed,) = struct.unpack_from("<Q", reply.payload)
        output = reply.payload[8:]
        if output_bytes is not None and len(output) != output_bytes:
            raise LinkError(f"{self.where}: RUN reply carries {len(output)} output bytes, the model "
                            f"has {output_bytes}; is the firmware built for this model?")
        return RunReply(output=output, elapsed=elapsed)

    def stack(self) -> tuple[int, int]:
        return self.stack_detail()[:2]

    def stack_detail(self) -> tuple[int, int, int | None]:
        """(bytes of stack ever used, stack size, the most one invoke used below the app's frame;
        None from a firmware that does not measure the last)."""
        payload = self.request(REQ_STACK).payload
        if len(payload) < 8:
            raise LinkError(f"{self.where}: STACK reply of {len(payload)} bytes, expected 8 "
                            f"(used, size)")
        used, size = struct.unpack_from("<II", payload)
        invoke = struct.unpack_from("<I", payload, 8)[0] if len(payload) >= 12 else None
        return used, size, invoke

    def layers(self) -> list[int] | None:
        """Per-kernel-call counts (ticks) of the last inference, in invoke order; None when the
        firmware predates the LAYERS request or its engine has no per-layer hook."""
        try:
            payload = self.request(REQ_LAYERS).payload
        except UnsupportedRequest:
            return None
        if len(payload) % 4:
            raise LinkError(f"{self.where}: LAYERS reply of {len(payload)} bytes, expected a "
                            f"multiple of 4 (u32 per layer)")
        return list(struct.unpack(f"<{len(payload) // 4}I", payload)) or None

    def reset(self) -> None:
        """Re-initialise the model's state (a streaming model's variables) before the next RUN."""
        try:
            self.request(REQ_RESET)
        except UnsupportedRequest:
            raise EdgepipeError(f"{self.where}: the firmware predates the RESET request (it cannot reset a "
                            "streaming model's state); rebuild it") from None

    def exit(self, code: int = 0) -> None:
        self.request(REQ_EXIT, bytes([code & 0xFF]))

    def fault(self) -> None:
        """Make the firmware fault on purpose (tests the fault report); raises LinkError."""
        self.request(REQ_FAULT, timeout_s=2.0)

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
