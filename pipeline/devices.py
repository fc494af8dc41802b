"""OS devices as data: `devices/<id>.toml` (phones, Linux boards, the emulated Arm64 CPU).

A device runs an operating system and is reached through a transport; a board (`boards/`) runs
edgepipe's bare-metal firmware. They are separate files because they share almost no fields: a
board file describes a firmware build (flash/RAM regions, UART, BSP, linker), a device file says
how to reach the device and what runs there. Each schema stays strict (every field required where
it is needed, errors name the file and the field); `edgepipe boards` lists both.

    kind = "arm64-qemu"   this machine, qemu-aarch64 user mode and the sysroot `make setup` builds
    kind = "linux"        ssh/scp to host (user@address), key authentication only (BatchMode)
    kind = "android"      adb -s serial push/shell; latency from LiteRT's benchmark_model binary

Every device also gives a `<id>-c` target: the generated C engine, cross-compiled for aarch64
(static), run through the same transport.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from edgepipe_base.errors import EdgepipeError, UnknownName

DEVICES_DIR = Path(__file__).resolve().parent.parent / "devices"
KINDS = ("arm64-qemu", "linux", "android")
ENGINE_SUFFIX = "-c"

_COMMON = {"id": (str, True), "name": (str, True), "kind": (str, True), "verified": (bool, True),
           "cpu": (str, True), "threads": (int, False), "xnnpack": (bool, False),
           "samples": (int, False), "timeout_s": (int, False), "cc": (str, False)}
_BY_KIND = {
    "arm64-qemu": {},
    "linux": {"host": (str, True), "port": (int, False), "identity_file": (str, False),
              "python": (str, False), "workdir": (str, False), "ssh_options": (list, False)},
    "android": {"serial": (str, False), "benchmark_model": (str, False), "workdir": (str, False)},
}


class DeviceFileError(EdgepipeError):
    """A device file that does not follow the schema; the message names the file and the field."""


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    kind: str
    verified: bool
    cpu: str
    threads: int = 1
    xnnpack: bool = True
    samples: int = 500                  # test samples by default (--samples overrides)
    timeout_s: int = 1800               # one runner call; a hung device is an error, not a hang
    cc: str = "aarch64-linux-gnu-gcc"   # compiles the C engine (static) for the device's CPU
    host: str | None = None             # linux: user@address
    port: int = 22
    identity_file: str | None = None
    python: str = "python3"
    workdir: str = "/tmp/edgepipe"
    ssh_options: tuple[str, ...] = ()
    serial: str | None = None           # android
    benchmark_model: str | None = None  # android: LiteRT's benchmark_model binary on this machine
    path: Path | None = field(default=None, compare=False)

    @property
    def emulated(self) -> bool:
        return self.kind == "arm64-qemu"


def parse_device(path: Path, text: str | None = None) -> Device:
    path = Path(path)
    try:
        data = tomllib.loads(text if text is not None else path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise DeviceFileError(f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise DeviceFileError(f"{path}: cannot read the device file ({e.strerror or e})") from None
    kind = data.get("kind")
    if kind not in KINDS:
        raise DeviceFileError(f"{path}: field 'kind' is {kind!r}; expected one of {', '.join(KINDS)}")
    schema = {**_COMMON, **_BY_KIND[kind]}
    for key in data:
        if key not in schema:
            raise DeviceFileError(f"{path}: unknown field '{key}' for kind '{kind}' "
                                  f"(known: {', '.join(sorted(schema))})")
    for key, (typ, required) in schema.items():
        if key not in data:
            if required:
                raise DeviceFileError(f"{path}: missing field '{key}'")
            continue
        v = data[key]
        if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool):
            raise DeviceFileError(f"{path}: field '{key}' must be {typ.__name__}, got {v!r}")
    if data["id"] != path.stem:
        raise DeviceFileError(f"{path}: field 'id' is '{data['id']}' but the file is named "
                              f"'{path.stem}.toml'; they must match")
    for key in ("threads", "samples", "timeout_s", "port"):
        if key in data and data[key] <= 0:
            raise DeviceFileError(f"{path}: field '{key}' must be > 0, got {data[key]}")
    if "ssh_options" in data and not all(isinstance(o, str) for o in data["ssh_options"]):
        raise DeviceFileError(f"{path}: field 'ssh_options' must be a list of strings")
    fields = {k: v for k, v in data.items() if k != "ssh_options"}
    return Device(**fields, ssh_options=tuple(data.get("ssh_options", ())), path=path)


def all_devices(directory: Path | None = None) -> dict[str, Device]:
    directory = Path(directory or DEVICES_DIR)
    return {p.stem: parse_device(p) for p in sorted(directory.glob("*.toml"))}


def names(directory: Path | None = None) -> list[str]:
    return list(all_devices(directory))


def load_device(device_id: str, directory: Path | None = None) -> Device:
    devices = all_devices(directory)
    if device_id not in devices:
        raise UnknownName("device", device_id, devices)
    return devices[device_id]


def list_devices(directory: Path | None = None) -> list[dict]:
    """Rows for `edgepipe boards` (`verified`: this device file has been run on its device)."""
    return [{"id": d.id, "kind": d.kind, "cpu": d.cpu, "verified": d.verified, "name": d.name,
             "reach": d.host or (f"adb -s {d.serial or '(the only device)'}" if d.kind == "android"
                                       else "this machine (qemu-aarch64)")}
            for d in all_devices(directory).values()]
