"""Boards as data: `boards/<id>.toml`, validated on load, listed by `edgepipe boards`.

A board file says what the firmware build and the benchmark need to know about one board: the core
and its compiler flags, the clock, the flash and RAM regions, the UART, the counter used for timing,
how to emulate it (QEMU) or flash it (pyocd/openocd), and the serial settings. Every error names the
file and the field, because the person who reads it is the one who just edited that file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from edgepipe_base.errors import EdgepipeError, UnknownName

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
BSP_DIR = BOARDS_DIR / "bsp"

KINDS = ("emulated", "real")
COUNTERS = ("systick", "dwt")
UART_TYPES = ("cmsdk", "stm32-usart", "stm32-lpuart", "nrf51")
FLOAT_ABIS = ("soft", "softfp", "hard")
FLASHERS = ("pyocd", "openocd")


class BoardFileError(EdgepipeError):
    """A board file that does not follow the schema; the message names the file and the field."""


@dataclass(frozen=True)
class Region:
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    kind: str                       # "emulated" | "real"
    family: str                     # boards/bsp/<family>/
    core: str                       # "cortex-m4", ...
    cpu: str                        # -mcpu=
    fpu: str | None                 # -mfpu= (None: no FPU flag)
    float_abi: str                  # -mfloat-abi=
    clock_hz: int
    flash: Region
    ram: Region
    stack_bytes: int
    uart_type: str
    uart_base: int
    counter: str                    # "systick" (QEMU -icount) | "dwt" (silicon)
    peak_macs_per_cycle: float      # int8 MACs per cycle the core can sustain at best
    verified: bool                  # has this board file been run on its target?
    baud: int = 115200
    qemu_machine: str | None = None
    icount_shift: int | None = None
    flasher: str | None = None
    flash_command: tuple[str, ...] = ()
    defines: dict = field(default_factory=dict, compare=False)   # BSP settings: clocks, pins
    path: Path | None = field(default=None, compare=False)

    @property
    def flash_bytes(self) -> int:
        return self.flash.size

    @property
    def ram_bytes(self) -> int:
        return self.ram.size

    @property
    def emulated(self) -> bool:
        return self.kind == "emulated"

    @property
    def bsp_dir(self) -> Path:
        return BSP_DIR / self.family

    def cflags(self) -> list[str]:
        flags = [f"-mcpu={self.cpu}", "-mthumb", f"-mfloat-abi={self.float_abi}"]
        if self.fpu:
            flags.append(f"-mfpu={self.fpu}")
        return flags

    def ticks_per_instruction(self) -> float:
        """SysTick ticks per executed instruction under `-icount shift=N` (2^N ns each)."""
        return self.clock_hz * (2 ** self.icount_shift) / 1e9


# --- schema -------------------------------------------------------------------------------------
# Each field: (type(s), required). Nested tables are listed by their dotted name.

_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "": {
        "id": ((str,), True), "name": ((str,), True), "kind": ((str,), True),
        "family": ((str,), True), "core": ((str,), True), "clock_hz": ((int,), True),
        "peak_int8_macs_per_cycle": ((int, float), True), "verified": ((bool,), True),
        "stack_bytes": ((int,), False),
        "compiler": ((dict,), True), "memory": ((dict,), True), "uart": ((dict,), True),
        "counter": ((dict,), True), "serial": ((dict,), True),
        "emulator": ((dict,), False), "flasher": ((dict,), False), "bsp": ((dict,), False),
    },
    "compiler": {"cpu": ((str,), True), "fpu": ((str,), False), "float_abi": ((str,), True)},
    "memory": {"flash": ((dict,), True), "ram": ((dict,), True)},
    "memory.flash": {"origin": ((int,), True), "size": ((int,), True)},
    "memory.ram": {"origin": ((int,), True), "size": ((int,), True)},
    "uart": {"type": ((str,), True), "base": ((int,), True)},
    "counter": {"type": ((str,), True)},
    "serial": {"baud": ((int,), True)},
    "emulator": {"qemu_machine": ((str,), True), "icount_shift": ((int,), True)},
    "flasher": {"tool": ((str,), True), "command": ((list,), True)},
}


def _check_table(path: Path, table: dict, where: str) -> None:
    schema = _SCHEMA[where]
    prefix = f"{where}." if where else ""
    for key in table:
        if key not in schema:
            raise BoardFileError(f"{path}: unknown field '{prefix}{key}' "
                                 f"(known: {', '.join(sorted(schema))})")
    for key, (types, required) in schema.items():
        if key not in table:
            if required:
                raise BoardFileError(f"{path}: missing field '{prefix}{key}'")
            continue
        value = table[key]
        # TOML `true` is a Python int too; it is never a number here.
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            names = " or ".join("table" if t is dict else "array" if t is list else t.__name__
                                for t in types)
            raise BoardFileError(f"{path}: field '{prefix}{key}' must be {names}, "
                                 f"got {type(value).__name__} {value!r}")
        if isinstance(value, dict) and f"{prefix}{key}" in _SCHEMA:
            _check_table(path, value, f"{prefix}{key}")


def _one_of(path: Path, field_name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise BoardFileError(f"{path}: field '{field_name}' is '{value}'; expected one of "
                             f"{', '.join(allowed)}")
    return value


def _positive(path: Path, field_name: str, value: int) -> int:
    if value <= 0:
        raise BoardFileError(f"{path}: field '{field_name}' must be > 0, got {value}")
    return value


def parse_board(path: Path, text: str | None = None) -> Board:
    """Parse and validate one board file; errors name the file and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(text if text is not None else path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise BoardFileError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise BoardFileError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise BoardFileError(f"{path}: cannot read the board file ({e.strerror or e})") from None
    _check_table(path, data, "")
    if data["id"] != path.stem:
        raise BoardFileError(f"{path}: field 'id' is '{data['id']}' but the file is named "
                             f"'{path.stem}.toml'; they must match")
    kind = _one_of(path, "kind", data["kind"], KINDS)
    cc = data["compiler"]
    _one_of(path, "compiler.float_abi", cc["float_abi"], FLOAT_ABIS)
    if not (BSP_DIR / data["family"]).is_dir():
        raise BoardFileError(f"{path}: field 'family' is '{data['family']}' but there is no "
                             f"{BSP_DIR / data['family']}/")
    _positive(path, "clock_hz", data["clock_hz"])
    if data["peak_int8_macs_per_cycle"] <= 0:
        raise BoardFileError(f"{path}: field 'peak_int8_macs_per_cycle' must be > 0")
    regions = {}
    for name in ("flash", "ram"):
        r = data["memory"][name]
        _positive(path, f"memory.{name}.size", r["size"])
        if r["origin"] < 0 or r["origin"] + r["size"] > 2 ** 32:
            raise BoardFileError(f"{path}: field 'memory.{name}' does not fit the 32-bit address "
                                 f"space (origin {r['origin']:#x}, size {r['size']:#x})")
        regions[name] = Region(r["origin"], r["size"])
    fl, ra = regions["flash"], regions["ram"]
    if fl.origin < ra.end and ra.origin < fl.end:
        raise BoardFileError(f"{path}: field 'memory.ram' overlaps 'memory.flash'")
    stack = data.get("stack_bytes", 8192)
    _positive(path, "stack_bytes", stack)
    if stack % 8 or stack >= ra.size:
        raise BoardFileError(f"{path}: field 'stack_bytes' ({stack}) must be a multiple of 8 and "
                             f"smaller than memory.ram.size ({ra.size})")
    uart_type = _one_of(path, "uart.type", data["uart"]["type"], UART_TYPES)
    counter = _one_of(path, "counter.type", data["counter"]["type"], COUNTERS)
    _positive(path, "serial.baud", data["serial"]["baud"])

    emu = data.get("emulator")
    flasher = data.get("flasher")
    if kind == "emulated":
        if emu is None:
            raise BoardFileError(f"{path}: missing field 'emulator' (kind is 'emulated')")
        if counter != "systick":
            raise BoardFileError(f"{path}: field 'counter.type' must be 'systick' under emulation "
                                 f"(QEMU does not model DWT CYCCNT; it reads 0)")
        shift = emu["icount_shift"]
        if not 0 <= shift <= 10:
            raise BoardFileError(f"{path}: field 'emulator.icount_shift' must be 0..10, got {shift}")
        if data["clock_hz"] * 2 ** shift / 1e9 < 2:
            raise BoardFileError(f"{path}: field 'emulator.icount_shift' ({shift}) gives fewer than "
                                 f"2 SysTick ticks per instruction at {data['clock_hz']} Hz")
    else:
        if flasher is None:
            raise BoardFileError(f"{path}: missing field 'flasher' (kind is 'real')")
        _one_of(path, "flasher.tool", flasher["tool"], FLASHERS)
        cmd = flasher["command"]
        if not cmd or not all(isinstance(c, str) for c in cmd) or not any("{elf}" in c for c in cmd):
            raise BoardFileError(f"{path}: field 'flasher.command' must be a list of strings with "
                                 f"an '{{elf}}' placeholder")
    defines = data.get("bsp", {})
    for k, v in defines.items():
        if not k.isidentifier() or not k.isupper() or isinstance(v, bool) or not isinstance(v, int):
            raise BoardFileError(f"{path}: field 'bsp.{k}' must be an UPPER_CASE name with an "
                                 f"integer value (it becomes -DEP_{k}=value)")
    return Board(
        id=data["id"], name=data["name"], kind=kind, family=data["family"], core=data["core"],
        cpu=cc["cpu"], fpu=cc.get("fpu"), float_abi=cc["float_abi"], clock_hz=data["clock_hz"],
        flash=fl, ram=ra, stack_bytes=stack, uart_type=uart_type, uart_base=data["uart"]["base"],
        counter=counter, peak_macs_per_cycle=float(data["peak_int8_macs_per_cycle"]),
        verified=data["verified"], baud=data["serial"]["baud"],
        qemu_machine=emu["qemu_machine"] if emu else None,
        icount_shift=emu["icount_shift"] if emu else None,
        flasher=flasher["tool"] if flasher else None,
        flash_command=tuple(flasher["command"]) if flasher else (),
        defines=dict(defines), path=path)


@lru_cache(maxsize=None)
def _load_all(directory: str) -> dict[str, Board]:
    return {p.stem: parse_board(p) for p in sorted(Path(directory).glob("*.toml"))}


def all_boards(directory: Path = BOARDS_DIR) -> dict[str, Board]:
    """Every board file in `directory`, validated, by id."""
    return _load_all(str(directory))


def get(board_id: str, directory: Path = BOARDS_DIR) -> Board:
    boards = all_boards(directory)
    if board_id not in boards:
        raise UnknownName("board", board_id, boards)
    return boards[board_id]


def names(directory: Path = BOARDS_DIR) -> list[str]:
    return list(all_boards(directory))


def list_boards(directory: Path = BOARDS_DIR) -> list[dict]:
    """Rows for `edgepipe boards`. `verified`: the board file has been run on its target
    (QEMU for emulated boards, silicon for real ones)."""
    return [{"id": b.id, "kind": b.kind, "core": b.core, "clock_hz": b.clock_hz,
             "flash_bytes": b.flash.size, "ram_bytes": b.ram.size, "verified": b.verified,
             "name": b.name}
            for b in all_boards(directory).values()]


def load_board(board_id: str, directory: Path = BOARDS_DIR) -> Board:
    """The validated board `board_id`; an unknown id lists the valid ones."""
    return get(board_id, directory)
