"""Build the benchmark firmware for one board: fit check, linker script, cross-compile, sizes.

Order matters: `check_fit` runs before the model's code is generated or compiled, so a model that
cannot fit a board fails in seconds with "needs N bytes, board has M" instead of after a build or in
a linker error. Its flash figure adds the .tflite's weights (a lower bound for the engine's tables),
the runtime kernels compiled for the board's core (measured) and an upper bound for app + BSP + libc;
after generation the engine's own compiled size replaces the weights. The linker script comes from
the board file's memory regions; the compiler flags from its core; the firmware's sizes from the
ELF (`arm-none-eabi-size -A`), never from estimates.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from firmware_gen.boards import BSP_DIR, Board
from edgepipe_base.errors import EdgepipeError

from . import build as build_mod
from .build import BuildError  # noqa: F401  (callers catch board_build.BuildError)

APP_DIR = Path(__file__).resolve().parent / "runtime" / "app"
COMMON_DIR = BSP_DIR / "common"
CC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

# Upper bounds for what the app + BSP + newlib-nano/libgcc pieces take beyond the engine: measured
# from the ELFs of real builds on every core (4.0-4.4 KiB of flash); tests/test_linker.py builds
# the real generated engine and checks that the fit check's total stays an upper bound. The
# runtime kernels are not in here: their size is measured for each core (runtime_flash_bytes).
APP_BSP_FLASH_BYTES = 6 * 1024
APP_BSP_RAM_BYTES = 512 + 256      # protocol state, reply buffer, info line
# The frame length field is 16 bits (pipeline/bench/serial_link.py): a RUN request carries the
# input, its reply 8 count bytes + the output.
FRAME_PAYLOAD_LIMIT = 0xFFFF
RUN_REPLY_HEADER_BYTES = 8


@dataclass(frozen=True)
class Needs:
    """What a model needs on a board, in bytes, and what each number is made of."""
    weights_bytes: int
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    stack_bytes: int
    runtime_bytes: int = 0              # every runtime kernel compiled for the board's core
    arena_is_lower_bound: bool = False
    weights_are_lower_bound: bool = False   # .tflite buffers only, before the engine's tables

    @property
    def io_bytes(self) -> int:
        return 2 * self.input_bytes + 2 * self.output_bytes + 8   # request + reply buffers

    @property
    def flash_bytes(self) -> int:
        return self.weights_bytes + self.runtime_bytes + APP_BSP_FLASH_BYTES

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.stack_bytes + self.io_bytes + APP_BSP_RAM_BYTES

    @property
    def flash_detail(self) -> str:
        weights = "weights >= " if self.weights_are_lower_bound else "engine tables and code "
        return (f"{weights}{self.weights_bytes} + runtime kernels {self.runtime_bytes} (measured "
                f"for this core) + app/BSP/libc <= {APP_BSP_FLASH_BYTES}")

    @property
    def ram_detail(self) -> str:
        arena = "arena >= " if self.arena_is_lower_bound else "arena "
        return (f"{arena}{self.arena_bytes} + stack {self.stack_bytes} + I/O buffers "
                f"{self.io_bytes} + app/BSP <= {APP_BSP_RAM_BYTES}")

    def with_arena(self, arena_bytes: int) -> "Needs":
        """The same needs with the arena the engine's planner actually allocated."""
        return dataclasses.replace(self, arena_bytes=arena_bytes, arena_is_lower_bound=False)

    def with_engine(self, arena_bytes: int, engine_flash_bytes: int) -> "Needs":
        """The same needs with the generated engine's arena and its measured tables and code."""
        return dataclasses.replace(self.with_arena(arena_bytes), weights_bytes=engine_flash_bytes,
                                   weights_are_lower_bound=False)


def _compile_for(board: Board, sources, include_dirs, out_dir, std=build_mod.STD, flags=()):
    return build_mod.compile_objects(sources, out_dir, include_dirs=include_dirs,
                                     flags=[*board.cflags(), *flags], cc=CC, std=std, where=board.id)


def _flash_of(objs) -> int:
    sizes = build_mod.sum_sizes(objs, size_tool=SIZE)
    return sizes["text"] + sizes["rodata"] + sizes["data"]


@functools.lru_cache(maxsize=None)
def _runtime_flash_bytes(cflags: tuple, sources_digest: str) -> int:
    sources = sorted(RUNTIME_DIR.glob("ep_*.c"))
    with tempfile.TemporaryDirectory(prefix="ep-runtime-size-") as tmp:
        objs = build_mod.compile_objects(sources, tmp, include_dirs=[RUNTIME_DIR], flags=list(cflags),
                                         cc=CC, where=" ".join(cflags))
        return _flash_of(objs)


def runtime_flash_bytes(board: Board) -> int:
    """Flash taken by the runtime kernels on this board's core: every ep_*.c compiled with the
    board's flags, text + rodata + data summed (an upper bound: the link drops unused kernels).
    Measured once per core and runtime version in a process (a second or two)."""
    if shutil.which(CC) is None:
        raise BuildError(f"{CC} not found; install the Debian package gcc-arm-none-eabi "
                         f"(`make setup`)")
    digest = hashlib.sha256()
    for f in sorted([*RUNTIME_DIR.glob("ep_*.c"), *RUNTIME_DIR.glob("ep_*.h")]):
        digest.update(f.name.encode() + f.read_bytes())
    return _runtime_flash_bytes(tuple(board.cflags()), digest.hexdigest())


def engine_flash_bytes(board: Board, engine, out_dir: Path) -> int:
    """Flash taken by a generated engine's tables and code (its .c compiled for the board)."""
    return _flash_of(_compile_for(board, [engine.c_path], engine.include_dirs, out_dir))


def tflite_needs(board: Board, tflite_path: Path) -> Needs:
    """Needs read from the .tflite alone (before any code generation).

    The arena figure is a lower bound no planner can beat: the largest sum of one operator's
    non-constant input and output tensors, which must all be live at once."""
    from edgepipe_base import tflite_file
    from edgepipe_base.tflite_types import numpy_dtype
    import numpy as np

    model = tflite_file.read(tflite_path)
    sg = model.main

    def nbytes(t):
        if t.dtype == "RESOURCE":       # a variable's handle; the variable is in the state region
            return 0
        return int(np.prod(t.shape, dtype=np.int64)) * np.dtype(numpy_dtype(t.dtype)).itemsize

    weights = sum(len(model.buffers[t.buffer]) for t in sg.tensors if t.is_constant)
    live = 0
    for op in sg.operators:
        ts = [sg.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
        live = max(live, sum(nbytes(t) for t in ts if not t.is_constant))
    return Needs(weights_bytes=weights, arena_bytes=live, input_bytes=nbytes(sg.tensors[sg.inputs[0]]),
                 output_bytes=nbytes(sg.tensors[sg.outputs[0]]), stack_bytes=board.stack_bytes,
                 runtime_bytes=runtime_flash_bytes(board), arena_is_lower_bound=True,
                 weights_are_lower_bound=True)


def check_fit(board: Board, needs: Needs, what: str = "model", flash_hint: str = "") -> None:
    """Raise EdgepipeError if `needs` exceeds the board's flash or RAM, or a frame of the serial
    protocol (needed vs available). `flash_hint` ends the flash message (what would help)."""
    for part, payload in (("input", needs.input_bytes),
                          ("output", RUN_REPLY_HEADER_BYTES + needs.output_bytes)):
        if payload > FRAME_PAYLOAD_LIMIT:
            raise EdgepipeError(
                f"{what} cannot be benchmarked on board {board.id}: its {part} needs a frame "
                f"payload of {payload} bytes, the benchmark protocol's limit is "
                f"{FRAME_PAYLOAD_LIMIT} (16-bit length field); use a smaller input/output")
    if needs.flash_bytes > board.flash.size:
        raise EdgepipeError(
            f"{what} does not fit board {board.id}: needs {needs.flash_bytes} bytes of flash "
            f"({needs.flash_detail}), the board has {board.flash.size}{flash_hint}")
    if needs.ram_bytes > board.ram.size:
        raise EdgepipeError(
            f"{what} does not fit board {board.id}: needs {needs.ram_bytes} bytes of RAM "
            f"({needs.ram_detail}), the board has {board.ram.size}")


# --- generated files ----------------------------------------------------------------------------

def linker_script(board: Board) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(COMMON_DIR)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("linker.ld.j2").render(board=board)


def board_config_header(board: Board) -> str:
    lines = [
        f"/* Generated by firmware_gen/board_build.py from {board.path.name if board.path else board.id}; "
        "do not edit. */",
        "#ifndef EP_BOARD_CONFIG_H", "#define EP_BOARD_CONFIG_H", "",
        f'#define EP_BOARD_ID "{board.id}"',
        f"#define EP_CLOCK_HZ {board.clock_hz}u",
        f"#define EP_UART_BASE 0x{board.uart_base:08X}u",
        f"#define EP_UART_BAUD {board.baud}u",
        f"#define EP_UART_LPUART {int(board.uart_type == 'stm32-lpuart')}",
        f"#define EP_COUNTER_SYSTICK {int(board.counter == 'systick')}",
        f"#define EP_COUNTER_DWT {int(board.counter == 'dwt')}",
        f"#define EP_SEMIHOSTING {int(board.emulated)}",
    ]
    lines += [f"#define EP_{k} {v}u" for k, v in sorted(board.defines.items())]
    lines += ["", "#endif /* EP_BOARD_CONFIG_H */", ""]
    return "\n".join(lines)


def engine_version_header(dirs: list[Path]) -> str | None:
    """The engine header that defines EP_ENGINE_VERSION (the runtime's main header), by name."""
    for d in dirs:
        for h in sorted(Path(d).glob("*.h")):
            if "#define EP_ENGINE_VERSION" in h.read_text(errors="replace"):
                return h.name
    return None


def model_glue_header(prefix: str, model_header: str, version_header: str | None = None) -> str:
    """Map the engine's prefixed names onto the fixed names the app uses."""
    P = prefix.upper()
    extra = [f'#include "{version_header}"'] if version_header else []
    names = {"INPUT_BYTES": "INPUT_BYTES", "OUTPUT_BYTES": "OUTPUT_BYTES",
             "ARENA_BYTES": "ARENA_BYTES", "MACS": "MACS", "SHA256": "MODEL_SHA256"}
    lines = [
        "/* Generated by firmware_gen/board_build.py; do not edit. */",
        "#ifndef EP_MODEL_GLUE_H", "#define EP_MODEL_GLUE_H", "",
        f'#include "{model_header}"', *extra, "",
        "#ifndef EP_ENGINE_VERSION",
        '#error "the engine headers must define EP_ENGINE_VERSION"',
        "#endif", "",
    ]
    lines += [f"#define EP_MODEL_{ours} {P}_{theirs}" for ours, theirs in names.items()]
    lines += [f"#define EP_MODEL_INVOKE {prefix}_invoke",
              f"#ifdef {P}_STATE_BYTES", f"#define EP_MODEL_RESET {prefix}_reset", "#endif",
              f"#ifdef {P}_LAYERS", f"#define EP_MODEL_LAYERS {P}_LAYERS",
              f"#define EP_MODEL_PROFILE_HOOK {prefix}_profile", "#endif",
              "", "#endif /* EP_MODEL_GLUE_H */", ""]
    return "\n".join(lines)


# --- build --------------------------------------------------------------------------------------

@dataclass
class Firmware:
    elf: Path
    board: Board
    sections: dict[str, tuple[int, int]]   # name -> (size, address), from arm-none-eabi-size -A
    flash_bytes: int                        # text + rodata + exidx + data's load image
    ram_static_bytes: int                   # data + bss (the stack is measured at run time)
    sources: list[Path] = field(default_factory=list)


_NOT_LOADED = (".debug", ".comment", ".ARM.attributes", ".stack")


def flash_and_ram(board: Board, sections: dict[str, tuple[int, int]]) -> tuple[int, int]:
    flash = ram = 0
    for name, (size, addr) in sections.items():
        if name.startswith(_NOT_LOADED) or size == 0:
            continue
        if name == ".data":
            flash += size
            ram += size
        elif board.flash.origin <= addr < board.flash.end:
            flash += size
        elif board.ram.origin <= addr < board.ram.end:
            ram += size
    return flash, ram


def build(board: Board, out_dir: Path, prefix: str, model_header: Path,
          engine_sources: list[Path], engine_include_dirs: list[Path],
          opt: str = "-O2", extra_defines: dict | None = None) -> Firmware:
    """Cross-compile app + BSP + engine for `board` into out_dir/firmware.elf. Everything compiles
    with -Wall -Wextra -Werror; the engine (generated C + runtime) as -std=c99, the app and BSP
    as gnu11 (inline asm)."""
    if shutil.which(CC) is None:
        raise BuildError(f"{CC} not found; install the Debian package gcc-arm-none-eabi")
    out_dir = Path(out_dir)
    gen = out_dir / "gen"
    obj_dir = out_dir / "obj"
    gen.mkdir(parents=True, exist_ok=True)
    obj_dir.mkdir(parents=True, exist_ok=True)
    (gen / "ep_board_config.h").write_text(board_config_header(board))
    engine_dirs = [Path(model_header).parent, *engine_include_dirs,
                   *sorted({Path(s).parent for s in engine_sources})]
    (gen / "ep_model_glue.h").write_text(model_glue_header(
        prefix, Path(model_header).name, engine_version_header(engine_dirs)))
    (out_dir / "link.ld").write_text(linker_script(board))

    includes = [gen, COMMON_DIR, board.bsp_dir, APP_DIR, *dict.fromkeys(engine_dirs)]
    common = ["-g", "-ffunction-sections", "-fdata-sections"]
    common += [f"-D{k}={v}" for k, v in (extra_defines or {}).items()]
    # the engine calls the app's per-layer counter hook (LAYERS request, protocol.h)
    common += [f"-D{prefix.upper()}_PROFILE=1"]
    ours = sorted(COMMON_DIR.glob("*.c")) + sorted(board.bsp_dir.glob("*.c")) + sorted(APP_DIR.glob("*.c"))
    objects = [*build_mod.compile_objects(ours, obj_dir / "app", includes, [*board.cflags(), *common],
                                          cc=CC, opt=opt, std="gnu11", where=board.id),
               *build_mod.compile_objects(engine_sources, obj_dir / "engine", includes,
                                          [*board.cflags(), *common], cc=CC, opt=opt, where=board.id)]
    elf = out_dir / "firmware.elf"
    build_mod.run_tool([CC, *board.cflags(), "-nostartfiles", "-specs=nano.specs",
                        "-specs=nosys.specs", "-Wl,--gc-sections", f"-T{out_dir / 'link.ld'}",
                        f"-Wl,-Map={out_dir / 'firmware.map'}", *objects, "-o", elf],
                       f"linking firmware for {board.id}")
    sections = build_mod.sections(elf, size_tool=SIZE)
    flash, ram = flash_and_ram(board, sections)
    return Firmware(elf=elf, board=board, sections=sections, flash_bytes=flash,
                    ram_static_bytes=ram, sources=[*ours, *engine_sources])
