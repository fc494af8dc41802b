"""Launch and stop QEMU for an emulated board (machine, UART and -icount settings come from the board file).

The UART is a TCP server (`wait=on`: QEMU does not start the guest before we connect, so the boot
line is never lost; `nodelay=on`: no 44 ms Nagle delay per reply). `-icount shift=N,align=off,
sleep=off` makes SysTick count executed instructions, deterministically. The firmware ends QEMU
with a semihosting exit code. A QEMU that hangs is killed; its own output and the board's last
UART output go into the error message.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from firmware_gen import build
from firmware_gen.boards import Board
from edgepipe_base.errors import EdgepipeError

QEMU = "qemu-system-arm"


class QemuError(EdgepipeError):
    """QEMU could not start, crashed, hung, or the firmware exited with an error code."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(board: Board, elf: Path, serial: str, extra: tuple | list = ()) -> list[str]:
    if not board.emulated:
        raise QemuError(f"board {board.id} is a real board (kind = 'real'); QEMU cannot run it")
    return [QEMU, "-M", board.qemu_machine, "-nographic", "-monitor", "none",
            "-serial", serial, "-semihosting-config", "enable=on,target=native",
            "-icount", f"shift={board.icount_shift},align=off,sleep=off", *extra, "-kernel", str(Path(elf).resolve())]


class QemuBoard:
    """A running QEMU for `board` with `elf`; `url` is its UART for SerialLink.

    backend "tcp" (default): a TCP server that holds the guest until we connect. backend "pty":
    a pseudo-terminal, opened like a real board's /dev/ttyACM0 (the boot line may be gone by the
    time we open it, and bytes sent just before the exit can be lost; the link copes with both)."""

    def __init__(self, board: Board, elf: Path, log_path: Path, backend: str = "tcp", extra_args=()):
        if shutil.which(QEMU) is None:
            raise QemuError(f"{QEMU} not found; install the Debian package qemu-system-arm")
        if backend not in ("tcp", "pty"):
            raise ValueError(f"backend must be 'tcp' or 'pty', not {backend!r}")
        self.board = board
        self.backend = backend
        self.log_path = Path(log_path)
        if backend == "tcp":
            self.port = _free_port()
            self.url = f"socket://127.0.0.1:{self.port}"
            self.cmd = command(board, elf, f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on", extra_args)
        else:
            self.port, self.url = None, None          # known once QEMU prints the pty path
            self.cmd = command(board, elf, "pty", extra_args)
        self._log = open(self.log_path, "wb")
        try:
            # the firmware's semihosting file reads (RUNF) are relative to the ELF's folder
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, cwd=Path(elf).resolve().parent)
        except BaseException as e:
            self._log.close()
            if isinstance(e, OSError):
                raise QemuError(f"{board.id}: cannot start {QEMU} ({e.strerror or e})") from None
            raise

    def wait_listening(self, timeout_s: float = 10.0) -> None:
        """Block until QEMU's UART server accepts connections (QEMU is up, guest not started)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise QemuError(f"{self.board.id}: QEMU exited with code {self.proc.returncode} "
                                f"before the firmware started: {self.log_tail()}")
            log = self.log_path.read_bytes()
            if self.backend == "tcp" and b"waiting for connection" in log:
                return
            pty = re.search(rb"char device redirected to (/dev/pts/\d+)", log)
            if pty:
                self.url = pty.group(1).decode()
                return
            time.sleep(0.02)
        self.kill()
        raise QemuError(f"{self.board.id}: QEMU did not open its UART within {timeout_s:.0f} s: "
                        f"{self.log_tail()}")

    def log_tail(self, limit: int = 400) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            lines = self.log_path.read_bytes().decode(errors="replace").splitlines()
            text = "\n".join(ln for ln in lines if "waiting for connection" not in ln)[-limit:].strip()
        except OSError:
            text = ""
        return text or "(QEMU printed nothing)"

    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait_exit(self, timeout_s: float = 10.0) -> int:
        """Wait for the firmware's semihosting exit; kill QEMU if it does not come."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise QemuError(f"{self.board.id}: QEMU did not exit within {timeout_s:.0f} s after "
                            f"EXIT; killed it") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def plugin_so(source: Path, workdir: Path) -> Path:
    """A QEMU TCG plugin compiled from `source` for this machine, once per source version (the
    file name carries a hash of the source), written atomically."""
    import hashlib
    key = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:12]
    out = Path(workdir) / f"{Path(source).stem}-{key}.so"
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        build.compile_host([Path(source)], tmp, extra=["-shared", "-fPIC"])
        tmp.replace(out)
    return out
