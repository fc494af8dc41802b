"""Linker script from the board's memory regions, the cross build, ELF sizes, and the fit check."""

from __future__ import annotations

import dataclasses
import re
import subprocess

import pytest

from firmware_gen import board_build
from firmware_gen import boards
from firmware_gen.boards import Region
from edgepipe_base.errors import EdgepipeError


def test_linker_script_comes_from_the_board_regions():
    for b in boards.all_boards().values():
        ld = board_build.linker_script(b)
        assert f"FLASH (rx)  : ORIGIN = 0x{b.flash.origin:08X}, LENGTH = 0x{b.flash.size:X}" in ld
        assert f"RAM   (rwx) : ORIGIN = 0x{b.ram.origin:08X}, LENGTH = 0x{b.ram.size:X}" in ld
        assert re.search(r"\*\(\.rodata\*\)[^}]*\} > FLASH", ld)       # weights in flash
        assert "} > RAM AT > FLASH" in ld                                  # .data copied from flash
        assert re.search(r"\*\(\.bss\*\)[^}]*\} > RAM", ld)             # arena in RAM
        assert f". += {b.stack_bytes};" in ld
        assert b.path.name in ld


def test_board_config_header_carries_board_data():
    h = board_build.board_config_header(boards.load_board("nucleo-f446re"))
    assert '#define EP_BOARD_ID "nucleo-f446re"' in h
    assert "#define EP_COUNTER_DWT 1" in h and "#define EP_SEMIHOSTING 0" in h
    assert "#define EP_PLL_N 180u" in h and "#define EP_UART_BASE 0x40004400u" in h
    h = board_build.board_config_header(boards.load_board("mps2-an386"))
    assert "#define EP_COUNTER_SYSTICK 1" in h and "#define EP_SEMIHOSTING 1" in h


@pytest.fixture(scope="module")
def engine(tmp_path_factory, testdata):
    """The real generated engine (firmware_gen.codegen) for the hello-world model."""
    from firmware_gen import codegen
    return codegen.generate(testdata / "tflm_hello_world_int8.tflite", tmp_path_factory.mktemp("hw"), "hw")


def _symbols(elf):
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()           # address [size] type name
        if len(parts) >= 3:
            syms[parts[-1]] = int(parts[0], 16)
    return syms


@pytest.mark.parametrize("board_id", ["mps2-an386", "mps3-an547", "netduinoplus2", "microbit",
                                      "nucleo-f446re", "nucleo-l4r5zi"])
def test_firmware_builds_and_lands_in_the_right_regions(tmp_path, engine, testdata, board_id):
    b = boards.load_board(board_id)
    fw = board_build.build(b, tmp_path, "hw", engine.h_path,
                           [engine.c_path, *engine.runtime_sources], engine.include_dirs)
    syms = _symbols(fw.elf)
    in_flash = lambda a: b.flash.origin <= a < b.flash.end  # noqa: E731
    in_ram = lambda a: b.ram.origin <= a < b.ram.end        # noqa: E731
    assert in_flash(syms["ep_vectors"]) and syms["ep_vectors"] == b.flash.origin
    weights = [n for n in syms if n.startswith("hw_") and n.endswith("_weights")]
    assert weights and all(in_flash(syms[n]) for n in weights) and in_flash(syms["hw_invoke"])
    assert in_ram(syms["hw_arena"]) and in_ram(syms["rx_payload"])     # arena and buffers
    assert in_ram(syms["__stack_limit"]) and syms["__stack_top"] - syms["__stack_limit"] == b.stack_bytes
    # sizes are read from the ELF, and agree with the section table
    text_size = fw.sections[".text"][0]
    assert fw.flash_bytes >= text_size > 0
    assert fw.ram_static_bytes == fw.sections[".bss"][0] + fw.sections.get(".data", (0, 0))[0]
    # the fit check's figures stay upper bounds of what the real build takes, and not wildly so
    needs = board_build.tflite_needs(b, testdata / "tflm_hello_world_int8.tflite")
    needs = needs.with_engine(engine.arena_bytes,
                              board_build.engine_flash_bytes(b, engine, tmp_path / "size"))
    assert fw.flash_bytes <= needs.flash_bytes <= fw.flash_bytes + needs.runtime_bytes + 8 * 1024
    assert fw.ram_static_bytes + b.stack_bytes <= needs.ram_bytes
    assert needs.runtime_bytes > 1000                      # the kernels are counted


def test_ram_overflow_is_a_clear_build_error(tmp_path, engine):
    b = boards.load_board("mps2-an386")
    tiny = dataclasses.replace(b, ram=Region(b.ram.origin, 4096), stack_bytes=4096)
    with pytest.raises(board_build.BuildError, match=r"region RAM overflowed by \d+ bytes"):
        board_build.build(tiny, tmp_path, "hw", engine.h_path,
                          [engine.c_path, *engine.runtime_sources], engine.include_dirs)


def test_engine_and_runtime_build_with_werror_and_errors_are_one_line(tmp_path, engine):
    """A warning in engine code fails the board build; the error names the file and line."""
    bad = tmp_path / "hw_extra.c"
    bad.write_text("int hw_extra(int a) { int unused; return a; }\n")
    with pytest.raises(board_build.BuildError) as e:
        board_build.build(boards.load_board("mps2-an386"), tmp_path / "b", "hw", engine.h_path,
                          [engine.c_path, *engine.runtime_sources, bad], engine.include_dirs)
    msg = str(e.value)
    assert "\n" not in msg and re.search(r"hw_extra\.c:1:\d+: error: unused variable", msg), msg


def test_microbit_fit_check_fails_before_building(tmp_path, testdata):
    from pipeline.bench import board as board_bench
    import numpy as np

    mb = boards.load_board("microbit")
    needs = board_build.tflite_needs(mb, testdata / "mlperf_tiny_ic_resnet8_int8.tflite")
    assert needs.ram_bytes > mb.ram.size
    x = np.zeros((1, 32, 32, 3), dtype=np.int8)
    with pytest.raises(EdgepipeError) as e:
        board_bench.run("microbit", testdata / "mlperf_tiny_ic_resnet8_int8.tflite", x, None, tmp_path)
    msg = str(e.value)
    assert re.search(rf"needs {needs.ram_bytes} bytes of RAM .*arena >= \d+.*the board has 16384", msg), msg
    assert not (tmp_path / "microbit").exists()          # nothing generated, nothing built
    # the same model fits the 4 MiB MPS2 board
    board_build.check_fit(boards.load_board("mps2-an386"),
                          board_build.tflite_needs(boards.load_board("mps2-an386"),
                                                   testdata / "mlperf_tiny_ic_resnet8_int8.tflite"))


def test_flash_fit_check_states_needed_and_available(testdata):
    mb = dataclasses.replace(boards.load_board("microbit"), flash=Region(0, 16 * 1024))
    with pytest.raises(EdgepipeError, match=r"needs \d+ bytes of flash \(weights >= \d+ \+ runtime "
                                            r"kernels \d+ .*the board has 16384"):
        board_build.check_fit(mb, board_build.tflite_needs(mb, testdata / "tflm_micro_speech_int8.tflite"))


def test_input_larger_than_a_frame_fails_the_fit_check(testdata):
    b = boards.load_board("mps2-an386")
    needs = dataclasses.replace(board_build.tflite_needs(b, testdata / "tflm_hello_world_int8.tflite"),
                                input_bytes=70_000)
    with pytest.raises(EdgepipeError, match=r"its input needs a frame payload of 70000 bytes, the "
                                            r"benchmark protocol's limit is 65535"):
        board_build.check_fit(b, needs)
