"""How the host reaches an OS device: copy files there, run a command there, copy files back.

Three transports, one interface: `arm64-qemu` (this machine, qemu-aarch64 user mode), `linux`
(ssh/scp, key authentication only: BatchMode never waits for a password) and `android` (adb).
Every failure a user can cause is one line naming the device and what to do.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from edgepipe_base.errors import EdgepipeError

from ..devices import Device
from . import arm64_sysroot

CONNECT_TIMEOUT_S = 10


class DeviceError(EdgepipeError):
    """The device could not be reached or did not do what was asked; the message says what to do."""


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


class Transport:
    device: Device
    workdir: str

    def where(self) -> str:
        return f"device {self.device.id}"

    def push_many(self, files: list[Path], remote_dir: str) -> None:
        """Copy files into remote_dir, keeping their names."""
        for f in files:
            self.push(f, f"{remote_dir}/{Path(f).name}")

    def mkdir(self, remote: str) -> None:
        self.shell(f"mkdir -p {shlex.quote(remote)}", "creating the work folder")

    def shell(self, command: str, what: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        proc = self.run_shell(command, timeout or self.device.timeout_s)
        if proc.returncode != 0:
            raise DeviceError(f"{self.where()}: {what} failed (exit {proc.returncode}: {_tail(proc.stderr)})")
        return proc

    def run_argv(self, argv: list[str], timeout: float, stdin: str | None = None,
                 stdout: str | None = None) -> subprocess.CompletedProcess:
        command = shlex.join(argv) + (f" < {shlex.quote(stdin)}" if stdin else "") + \
            (f" > {shlex.quote(stdout)}" if stdout else "")
        """Run argv on the device with stdin/stdout redirected from/to files there."""
        return self.run_shell(command, timeout)

    def _run(self, argv: list[str], timeout: float, stdin=None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=stdin)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.where()}: no answer within {timeout:.0f} s from `{shlex.join(argv[:3])} ...`;"
                              f" check the device, or raise timeout_s in {self.device.path}") from None


class QemuTransport(Transport):
    """The emulated Arm64 CPU: files stay on this machine; programs run under qemu-aarch64."""

    def __init__(self, device: Device, local_root: Path):
        self.device = device
        self.root = arm64_sysroot.require()
        self.workdir = str(Path(local_root).resolve())

    def where(self) -> str:
        return f"device {self.device.id} (qemu-aarch64)"

    def check(self) -> None:
        pass                                   # require() above checked qemu and the sysroot

    def push(self, local: Path, remote: str) -> None:
        if Path(local).resolve() != Path(remote).resolve():
            shutil.copyfile(local, remote)

    def pull(self, remote: str, local: Path) -> None:
        self.push(Path(remote), str(local))

    def python(self) -> list[str]:
        return arm64_sysroot.command(self.root)

    def native(self, binary: str, plugin: Path | None = None) -> list[str]:
        return ["qemu-aarch64", "-cpu", arm64_sysroot.QEMU_CPU, *(["-plugin", str(plugin)] if plugin else []), binary]

    def run_shell(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        return self._run(["sh", "-c", command], timeout)


class SshTransport(Transport):
    """A Linux board over ssh/scp with a key (`ssh-copy-id user@host` once)."""

    def __init__(self, device: Device, host: str | None = None):
        self.device = device
        self.host = host or device.host
        self.workdir = device.workdir
        for tool in ("ssh", "scp"):
            if shutil.which(tool) is None:
                raise DeviceError(f"{self.where()}: '{tool}' not found; install Debian package openssh-client")

    def where(self) -> str:
        return f"device {self.device.id} ({self.host})"

    def _options(self) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
                "-o", "StrictHostKeyChecking=accept-new"]
        if self.device.identity_file:
            opts += ["-i", str(Path(self.device.identity_file).expanduser())]
        return opts + list(self.device.ssh_options)

    def _ssh_error(self, proc: subprocess.CompletedProcess) -> DeviceError | None:
        """ssh's own failures (exit 255) as one line; None if the remote command ran."""
        if proc.returncode != 255:
            return None
        err = proc.stderr or ""
        if "Permission denied" in err or "Too many authentication failures" in err:
            return DeviceError(f"{self.where()}: the device refused the ssh key; copy your key there "
                               f"once with `ssh-copy-id {self.host}` (or set identity_file in {self.device.path})")
        if "Host key verification failed" in err or "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            return DeviceError(f"{self.where()}: the device's host key changed; check it is the right "
                               f"device, then `ssh-keygen -R {self.host.split('@')[-1]}`")
        return DeviceError(f"{self.where()}: cannot reach the device over ssh ({_tail(err)}); check it is "
                           f"on and the address, or pass HOST=user@address")

    def check(self) -> None:
        proc = self._run(["ssh", *self._options(), "-p", str(self.device.port), self.host, "true"],
                         CONNECT_TIMEOUT_S + 20)
        err = self._ssh_error(proc)
        if err:
            raise err

    def run_shell(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        proc = self._run(["ssh", *self._options(), "-p", str(self.device.port), self.host, command], timeout)
        err = self._ssh_error(proc)
        if err:
            raise err
        return proc

    def _scp(self, src: str, dst: str, what: str) -> None:
        self._scp_many([src], dst, what)

    def _scp_many(self, srcs: list[str], dst: str, what: str) -> None:
        proc = self._run(["scp", "-q", *self._options(), "-P", str(self.device.port), *srcs, dst],
                         self.device.timeout_s)
        if proc.returncode != 0:
            raise self._ssh_error(proc) or DeviceError(f"{self.where()}: {what} failed ({_tail(proc.stderr)})")

    def push(self, local: Path, remote: str) -> None:
        self._scp(str(local), f"{self.host}:{remote}", f"copying {Path(local).name} to the device")

    def push_many(self, files: list[Path], remote_dir: str) -> None:
        self._scp_many([str(f) for f in files], f"{self.host}:{remote_dir}/",
                       f"copying {', '.join(Path(f).name for f in files)} to the device")

    def pull(self, remote: str, local: Path) -> None:
        self._scp(f"{self.host}:{remote}", str(local), f"copying {remote} from the device")

    def python(self) -> list[str]:
        return [self.device.python]

    def native(self, binary: str) -> list[str]:
        return [binary]


class AdbTransport(Transport):
    """An Android device over adb (USB debugging on, this computer's key accepted on the phone)."""

    def __init__(self, device: Device, serial: str | None = None, adb: str = "adb"):
        self.device = device
        self.adb = adb
        self.serial = serial or device.serial or None
        self.workdir = device.workdir
        if shutil.which(adb) is None:
            raise DeviceError(f"device {device.id}: 'adb' not found; install Debian package adb "
                              f"(`apt-get install adb`) or Android's platform-tools")

    def where(self) -> str:
        return f"device {self.device.id}" + (f" (adb {self.serial})" if self.serial else "")

    def devices(self) -> dict[str, str]:
        """serial -> state ('device', 'unauthorized', 'offline', ...) from `adb devices`."""
        proc = self._run([self.adb, "devices"], 60)
        if proc.returncode != 0:
            raise DeviceError(f"device {self.device.id}: `adb devices` failed ({_tail(proc.stderr)}); "
                              f"try `adb kill-server` and run again")
        return parse_adb_devices(proc.stdout)

    def check(self) -> None:
        listed = self.devices()
        if not listed:
            raise DeviceError(f"device {self.device.id}: no Android device attached (`adb devices` lists "
                              f"none); connect the phone with USB debugging on")
        if self.serial is None:
            if len(listed) > 1:
                raise DeviceError(f"device {self.device.id}: {len(listed)} devices attached "
                                  f"({', '.join(listed)}); pick one with SERIAL=... (or serial in {self.device.path})")
            self.serial = next(iter(listed))
        state = listed.get(self.serial)
        if state is None:
            raise DeviceError(f"{self.where()}: not attached (`adb devices` lists "
                              f"{', '.join(listed)}); check the cable or SERIAL=")
        if state == "unauthorized":
            raise DeviceError(f"{self.where()}: unauthorized: unlock the phone and accept "
                              f"'Allow USB debugging' for this computer, then run again")
        if state != "device":
            raise DeviceError(f"{self.where()}: state '{state}'; reconnect it (`adb reconnect`) and run again")

    def _adb(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return self._run([self.adb, "-s", self.serial, *args], timeout or self.device.timeout_s)

    def run_shell(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        return self._adb("shell", command, timeout=timeout)

    def push(self, local: Path, remote: str) -> None:
        proc = self._adb("push", str(local), remote)
        if proc.returncode != 0:
            raise DeviceError(f"{self.where()}: adb push {Path(local).name} failed ({_tail(proc.stderr or proc.stdout)})")

    def pull(self, remote: str, local: Path) -> None:
        proc = self._adb("pull", remote, str(local))
        if proc.returncode != 0:
            raise DeviceError(f"{self.where()}: adb pull {remote} failed ({_tail(proc.stderr or proc.stdout)})")

    def python(self) -> list[str]:
        raise DeviceError(f"{self.where()}: Android has no Python; LiteRT latency comes from benchmark_model")

    def native(self, binary: str) -> list[str]:
        return [binary]


def parse_adb_devices(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(device|unauthorized|offline|recovery|sideload|bootloader|no permissions.*|host)\b",
                     line.strip())
        if m and not line.startswith("List of devices"):
            out[m.group(1)] = m.group(2).split()[0] if m.group(2).startswith("no permissions") else m.group(2)
    return out


def open_transport(device: Device, local_root: Path, host: str | None = None,
                   serial: str | None = None) -> Transport:
    """The transport for `device`, checked: reachable, authorized, tools present."""
    if device.kind == "arm64-qemu":
        t: Transport = QemuTransport(device, local_root)
    elif device.kind == "linux":
        t = SshTransport(device, host)
    else:
        t = AdbTransport(device, serial)
    t.check()
    return t
