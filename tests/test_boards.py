"""Board files: every shipped board loads; a bad field is an error naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_gen import boards
from firmware_gen.boards import BoardFileError
from edgepipe_base.errors import UnknownName

EMULATED = {"mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547", "netduinoplus2", "microbit"}
REAL = {"nucleo-f446re", "nucleo-l4r5zi"}


def test_every_shipped_board_loads_and_is_listed():
    rows = boards.list_boards()
    ids = {r["id"] for r in rows}
    assert EMULATED | REAL <= ids
    assert any(i.endswith("-fpga") for i in ids)
    for r in rows:
        assert set(r) >= {"id", "kind", "core", "clock_hz", "flash_bytes", "ram_bytes", "verified", "name"}
        b = boards.load_board(r["id"])
        assert b.path.name == f"{b.id}.toml"
        assert b.bsp_dir.is_dir()
        if b.kind == "real":
            assert b.counter == "dwt" and b.verified is False and "{elf}" in " ".join(b.flash_command)
        else:
            assert b.counter == "systick" and b.qemu_machine and b.ticks_per_instruction() >= 2


def test_board_numbers_match_the_qemu_facts():
    an547 = boards.load_board("mps3-an547")
    assert (an547.flash.origin, an547.uart_base, an547.clock_hz) == (0x10000000, 0x59303000, 32_000_000)
    mb = boards.load_board("microbit")
    assert mb.ram.size == 16 * 1024 and mb.cpu == "cortex-m0" and mb.float_abi == "soft"
    nd = boards.load_board("netduinoplus2")
    assert nd.uart_type == "stm32-usart" and nd.uart_base == 0x40011000 and nd.family == "stm32f4"
    assert boards.load_board("mps2-an386").cflags() == [
        "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def test_peak_mac_numbers_are_documented_in_the_file():
    for b in boards.all_boards().values():
        text = b.path.read_text()
        before = text.split("peak_int8_macs_per_cycle")[0].rstrip().splitlines()
        assert before[-1].startswith("#"), f"{b.path}: peak_int8_macs_per_cycle needs a source comment"


def test_unknown_board_lists_valid_names():
    with pytest.raises(UnknownName) as e:
        boards.load_board("mps2-an999")
    assert "mps2-an386" in str(e.value) and e.value.kind == "board"


GOOD = (Path(boards.BOARDS_DIR) / "mps2-an386.toml").read_text()


def _bad(tmp_path, old, new, name="mps2-an386"):
    text = GOOD.replace(old, new, 1) if old else GOOD + new
    assert text != GOOD
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    with pytest.raises(BoardFileError) as e:
        boards.parse_board(p)
    msg = str(e.value)
    assert str(p) in msg
    return msg


@pytest.mark.parametrize("old,new,field", [
    ("clock_hz = 25000000", 'clock_hz = "25 MHz"', "clock_hz"),
    ("clock_hz = 25000000", "clock_hz = 0", "clock_hz"),
    ('kind = "emulated"', 'kind = "virtual"', "kind"),
    ("verified = true", "verified = 1", "verified"),
    ('family = "cmsdk"', 'family = "nosuch"', "family"),
    ("size = 0x400000\n\n[memory.ram]", "size = 0x400000\nspeed = 1\n\n[memory.ram]", "memory.flash.speed"),
    ("origin = 0x20000000\nsize = 0x400000", "origin = 0x20000000", "memory.ram.size"),
    ("origin = 0x20000000", "origin = 0x00100000", "memory.ram"),
    ("origin = 0x20000000\nsize = 0x400000", "origin = 0xFFFFF000\nsize = 0x400000", "memory.ram"),
    ('type = "systick"', 'type = "dwt"', "counter.type"),
    ('type = "cmsdk"', 'type = "pl011"', "uart.type"),
    ("icount_shift = 7", "icount_shift = 2", "emulator.icount_shift"),
    ("stack_bytes = 8192", "stack_bytes = 8191", "stack_bytes"),
    ('float_abi = "hard"', 'float_abi = "hardest"', "compiler.float_abi"),
    (None, "\n[bsp]\nclock = 5\n", "bsp.clock"),
    (None, "colour = 1\n", "emulator.colour"),
    ("id = ", "colour = 1\nid = ", "colour"),
])
def test_bad_field_names_file_and_field(tmp_path, old, new, field):
    msg = _bad(tmp_path, old, new)
    assert f"'{field}'" in msg, msg


def test_missing_table_and_id_mismatch(tmp_path):
    start = GOOD.index("[emulator]")
    p = tmp_path / "mps2-an386.toml"
    p.write_text(GOOD[:start])
    with pytest.raises(BoardFileError, match=r"missing field 'emulator'"):
        boards.parse_board(p)
    q = tmp_path / "other.toml"
    q.write_text(GOOD)
    with pytest.raises(BoardFileError, match=r"field 'id'.*other\.toml"):
        boards.parse_board(q)
    r = tmp_path / "mps2-an386.toml"
    r.write_text("id = [")
    with pytest.raises(BoardFileError, match="not valid TOML"):
        boards.parse_board(r)


def test_unreadable_or_binary_board_file_names_the_file(tmp_path):
    p = tmp_path / "mps2-an386.toml"
    p.write_bytes(b"id = \"\xff\xfe\"\n")
    with pytest.raises(BoardFileError, match=r"mps2-an386\.toml: not a UTF-8 text file"):
        boards.parse_board(p)
    d = tmp_path / "dir.toml"
    d.mkdir()
    with pytest.raises(BoardFileError, match=r"dir\.toml: cannot read the board file"):
        boards.parse_board(d)


def test_real_board_needs_a_flasher(tmp_path):
    text = (Path(boards.BOARDS_DIR) / "nucleo-f446re.toml").read_text()
    p = tmp_path / "nucleo-f446re.toml"
    p.write_text(re.sub(r"\[flasher\]\ntool = .*\ncommand = .*\n", "", text))
    with pytest.raises(BoardFileError, match=r"nucleo-f446re\.toml: missing field 'flasher'"):
        boards.parse_board(p)
    p.write_text(text.replace('"program {elf} verify reset exit"', '"program verify"'))
    with pytest.raises(BoardFileError, match=r"'flasher\.command'"):
        boards.parse_board(p)


def test_a_user_adds_a_board_by_adding_a_file(tmp_path):
    (tmp_path / "my-board.toml").write_text(GOOD.replace('id = "mps2-an386"', 'id = "my-board"'))
    assert boards.names(tmp_path) == ["my-board"]
    assert boards.load_board("my-board", tmp_path).core == "cortex-m4"
