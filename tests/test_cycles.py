"""The cycle estimate, checked against cycle counts worked out by hand from the Arm TRMs.

Hand-written instruction sequences run bare-metal in QEMU under the instruction-mix plugin
(pipeline/bench/qemu_plugin/insn_mix.c); the marks around them are taken exactly as the firmware's
counter reads are (an empty marked region first: the marks' own cost, taken off). Each expected
number is the sum of the TRM's per-instruction cycles, written out next to the sequence, so a
wrong decode (class), a wrong timing table or a wrong split fails here.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from conftest import TESTDATA
from firmware_gen import boards
from pipeline.bench import board as board_bench
from pipeline.bench import cycles

CC = "arm-none-eabi-gcc"

# core flags for the assembler (no FPU needed)
CPU = {"microbit": "cortex-m0", "mps2-an385": "cortex-m3", "mps2-an386": "cortex-m4",
       "mps2-an500": "cortex-m7", "mps3-an547": "cortex-m55"}


def _elf(tmp_path, board_id: str, body: str):
    board = boards.load_board(board_id)
    mve = board_id == "mps3-an547"
    src = tmp_path / "seq.S"
    src.write_text(f"""
    .syntax unified
    .thumb
    .section .vectors, "a"
    .word {board.ram.origin + board.ram.size:#x}
    .word reset
    .text
    .thumb_func
    .global reset
reset:
    {"ldr r0, =0xE000ED88; ldr r1, [r0]; ldr r3, =0xF00000; orrs r1, r3; str r1, [r0]; dsb; isb" if mve else ""}
    ldr r2, ={board.ram.origin:#x}
    movs r1, #7
    movs r3, #3
    bl mark
    bl mark
    bl mark
{body}
    bl mark
    movs r0, #0x18
    ldr r1, =0x20026
    bkpt 0xab
    .thumb_func
mark:
    bx lr
    .pool
""")
    ld = tmp_path / "link.ld"
    ld.write_text(f"SECTIONS {{ . = {board.flash.origin:#x}; .text : {{ KEEP(*(.vectors)) *(.text*) }} }}\n")
    elf = tmp_path / "seq.elf"
    march = ["-mcpu=cortex-m55", "-mfloat-abi=hard"] if mve else [f"-mcpu={CPU[board_id]}"]
    subprocess.run([CC, *march, "-mthumb", "-nostdlib", "-nostartfiles", f"-T{ld}", str(src), "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    return board, elf


def _mix(tmp_path, board_id: str, body: str) -> dict[str, int]:
    board, elf = _elf(tmp_path, board_id, body)
    out = tmp_path / "mix.txt"
    mark = cycles.symbol_address(elf, "mark")
    proc = subprocess.run(["qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none",
                           "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                           *cycles.plugin_args(cycles.plugin(tmp_path), out, mark), "-kernel", str(elf)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    marks, _ = cycles.read_mix(out)
    assert len(marks) == 4
    return cycles.diff(marks[2], marks[3], cycles.diff(marks[0], marks[1]))


def _est(tmp_path, board_id, body):
    mix = _mix(tmp_path, board_id, body)
    e = cycles.estimate(boards.load_board(board_id).core, mix)
    return mix, (e.low, e.cycles, e.high)


LOOP = """
    movs r0, #4
1:  subs r0, #1
    bne 1b
"""


# (board, sequence, (low, typical, high) cycles from the TRM's instruction timings)
CASES = [
    # M4 TRM 3.3.1: data processing 1 cycle
    ("mps2-an386", "    adds r0, #1\n" * 10, (10, 10, 10)),
    # three neighbouring LDRs pipeline: 2 + 1 + 1; STR [Ry,#imm] is always 1
    ("mps2-an386", "    ldr r4, [r2]\n    ldr r5, [r2, #4]\n    ldr r6, [r2, #8]\n    str r4, [r2, #12]\n",
     (5, 5, 5)),
    # "nothing can be pipelined after the store": STR reg 2, LDR 2, LDR 1 (after a load), STR reg 1
    # (after a load); LDRD 3 and not pipelined with its neighbours: the LDR after it costs 2
    ("mps2-an386", "    str r4, [r2, r3]\n    ldr r5, [r2]\n    ldr r6, [r2, #4]\n    str r6, [r2, r3]\n"
                   "    ldrd r4, r5, [r2]\n    ldr r7, [r2]\n", (11, 11, 11)),
    # LDM/STM 1+N; PUSH 1+N; POP 1+N (no PC)
    ("mps2-an386", "    ldm r2, {r4-r7}\n    push {r4-r7, lr}\n    pop {r4-r7}\n    pop {r4}\n",
     (5 + 6 + 5 + 2, 18, 18)),
    # SMLAD, MLA, UMULL, SMLAL: 1 cycle each on the M4; SXTB16 1
    ("mps2-an386", "    sxtb16 r4, r1\n    smlad r0, r4, r1, r0\n    mla r0, r1, r3, r0\n"
                   "    umull r4, r5, r1, r3\n    smlal r4, r5, r1, r3\n", (5, 5, 5)),
    # MOVS 1; SUBS x4; BNE taken x3 at 1+P (P = 1..3, typical 2); not taken 1
    ("mps2-an386", LOOP, (1 + 4 + 3 * 2 + 1, 1 + 4 + 3 * 3 + 1, 1 + 4 + 3 * 4 + 1)),
    # UDIV 2..12 (typical: the middle)
    ("mps2-an386", "    udiv r0, r1, r3\n", (2, 7, 12)),
    # the M3 (TRM r2p1 table 18-1): MLA 2, UMULL 3..5, SMLAL 4..7
    ("mps2-an385", "    mla r0, r1, r3, r0\n    umull r4, r5, r1, r3\n    smlal r4, r5, r1, r3\n",
     (2 + 3 + 4, 2 + 4 + 5, 2 + 5 + 7)),
    # the M0 (TRM table 3-1): no load pipelining, LDR 2; B<cond> taken 3, not taken 1; MULS 1 or 32
    ("microbit", "    ldr r4, [r2]\n    ldr r5, [r2, #4]\n    muls r4, r5\n" + LOOP,
     (2 + 2 + 1 + 1 + 4 + 3 * 3 + 1, 2 + 2 + 1 + 1 + 4 + 3 * 3 + 1, 2 + 2 + 32 + 1 + 4 + 3 * 3 + 1)),
    # the M7 (dual issue as throughput): 10 ALU ops -> 5 cycles; 4 SMLADs -> one MAC pipe: 4
    ("mps2-an500", "    adds r0, #1\n" * 10, (5, 5, 10)),
    ("mps2-an500", "    smlad r0, r1, r3, r0\n" * 4, (4, 4, 4)),
    # the M55: a vector load and a vector MAC overlap, 2 cycles per 4-beat instruction at 2 beats
    # per cycle: 4 x (VLDRB + VMLADAVA) = 2 x max(4, 4) = 8 (16 without overlap)
    ("mps3-an547", "    vldrb.s8 q0, [r2]\n    vmladava.s8 r0, q0, q1\n" * 4, (8, 8, 16)),
    # a low-overhead loop: DLS 1, 3 x (VLDRB, VMLADAVA), LE taken twice (0 with the loop cache,
    # high 1+P = 4), not taken once (1)
    ("mps3-an547", "    dls lr, r3\n1:  vldrb.s8 q0, [r2]\n    vmladava.s8 r0, q0, q1\n    le lr, 1b\n",
     (1 + 6 + 1, 1 + 6 + 1, 1 + 12 + 2 * 4 + 1)),
]


@pytest.mark.parametrize("board_id,body,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_estimate_matches_the_trm_on_hand_written_sequences(tmp_path, board_id, body, expected):
    mix, got = _est(tmp_path, board_id, body)
    assert got == pytest.approx(expected), {k: v for k, v in mix.items() if v}


def test_decoder_classes_of_a_mixed_sequence(tmp_path):
    """Each instruction lands in the class the timing tables price (the mix itself, not just cycles)."""
    mix = _mix(tmp_path, "mps2-an386", "    ldr r4, [r2]\n    ldr r5, [r2, #4]\n    str r4, [r2, #8]\n"
               "    strb r4, [r2, r3]\n    ldrd r4, r5, [r2]\n    smlad r0, r4, r5, r0\n    push {r4, r5}\n"
               "    pop {r4, r5}\n    cmp r0, r0\n    it eq\n    moveq r0, r1\n" + LOOP)
    want = {"ld": 1, "ld_pipe": 1, "st_imm": 1, "st": 1, "ld_dual": 1, "dsp_mac": 1, "stm": 1, "stm_regs": 2,
            "ldm": 1, "ldm_regs": 2, "it": 1, "alu": 2 + 1 + 4, "b_cond_taken": 3, "b_cond_not_taken": 1}
    # the marks' own cost (BX LR, BL) was taken off: exactly the sequence is left
    assert {k: v for k, v in mix.items() if v} == want


def test_board_row_splits_the_mix_where_the_firmware_counts(tmp_path):
    """On a real firmware the plugin's per-inference and per-layer instruction counts equal the
    firmware's own -icount counts, and the row carries the labelled estimates."""
    model = TESTDATA / "tflm_hello_world_int8.tflite"
    x = np.random.default_rng(0).integers(-128, 128, size=(2, 1), dtype=np.int8)
    r = board_bench.run("mps2-an386", model, x, None, tmp_path)
    assert r["mismatches"] == 0
    est = r["cycles_estimate"]
    assert est["low"] <= est["median"] <= est["high"] and est["median"] >= r["instructions"]["median"]
    assert r["ms_estimate"] == pytest.approx(est["median"] / r["clock_hz"] * 1e3, rel=1e-3)
    assert r["macs_per_cycle_estimate"] == pytest.approx(r["macs"] / est["median"], rel=1e-3)
    assert "estimate" not in r["cycle_model"] or "wait states" in r["cycle_model"]
    marks, _ = cycles.read_mix(__import__("pathlib").Path(r["elf"]).parent / "insn_mix-0.txt")
    layers = r["layers"]
    parts = cycles.split(marks, 2, len(layers))
    assert [cycles.instructions(m) for m in parts.layers] == [l["instructions"] for l in layers]
    assert all(l["cycles_estimate"] >= l["instructions"] for l in layers)
    # per inference: the same span as the firmware's count (its counter-read cost taken off alike)
    assert cycles.instructions(parts.runs[-1]) == pytest.approx(r["instructions"]["median"], abs=32)


def test_no_mix_means_null_estimates():
    fields, layers = cycles.row_fields("cortex-m4", 25e6, None, 3, 2, 1000)
    assert layers is None and all(v is None for v in fields.values())
    # marks that do not follow the firmware's pattern are not guessed at
    row = {k: 0 for k in cycles.CLASSES}
    assert cycles.row_fields("cortex-m4", 25e6, [row] * 5, 3, 2, 1000)[0]["cycles_estimate"] is None
    assert cycles.row_fields("riscv", 25e6, [row] * 2, 0, 0, 1000)[0]["cycles_estimate"] is None


def test_mve_and_fp_classes_on_the_m55(tmp_path):
    """VDUP fills a whole vector (MVE, 4 beats); VMOV to one lane, VMSR and VADD.F32 are scalar FP-space
    instructions; VSTRW is vector memory."""
    mix = _mix(tmp_path, "mps3-an547", "    vdup.32 q1, r1\n    vmov.32 q1[2], r3\n    vmsr p0, r3\n"
               "    vadd.f32 s0, s1, s2\n    vstrw.32 q1, [r2]\n    vaddva.s32 r0, q1\n")
    assert {k: v for k, v in mix.items() if v} == {"mve_op": 2, "fp_op": 3, "mve_mem": 1}


def test_thumb2_forms_land_in_their_classes(tmp_path):
    """32-bit loads/stores in their several addressing forms, DSP and SIMD data processing, and
    compare-and-branch (CBZ not taken, then taken)."""
    mix = _mix(tmp_path, "mps2-an386",
               "    movs r0, #0\n    ldrsb.w r4, [r2, #1]\n    ldrh.w r5, [r2, #2]\n    ldr.w r6, [r2], #4\n"
               "    str.w r4, [r2, r3, lsl #2]\n    adds r0, #0\n    strb.w r4, [r2, #-1]\n"
               "    smulbb r4, r1, r3\n    smlabb r4, r1, r3, r4\n    smmul r4, r1, r3\n    sdiv r4, r1, r3\n"
               "    ubfx r4, r1, #1, #3\n    ssat r4, #8, r1\n    pkhbt r4, r1, r3\n    qadd16 r4, r1, r3\n"
               "    cbnz r0, 1f\n    cbz r0, 1f\n    nop\n1:  adds r0, #1\n")
    assert {k: v for k, v in mix.items() if v} == {
        "alu": 1 + 1 + 4 + 1, "ld": 1, "ld_pipe": 2, "st_pipe": 1, "st_imm": 1, "dsp_mac": 3, "div": 1,
        "b_cond_not_taken": 1, "b_cond_taken": 1}


def test_split_follows_the_firmware_counter_reads():
    """Boot: 2 counter reads (their cost) [+ 2 hook reads (the hook's cost)]; per inference: one
    before, one per layer boundary, one after. Costs come off as the firmware takes them off."""
    def m(n):
        return {k: (n if k == "alu" else 0) for k in cycles.CLASSES}
    # with a 2-layer hook: boot 0,5 (cost 5) 10,13 (hook cost 3); run: 100, 110, 150, 200, 230
    marks = [m(v) for v in (0, 5, 10, 13, 100, 110, 150, 200, 230)]
    parts = cycles.split(marks, 1, 2)
    assert [p["alu"] for p in parts.runs] == [230 - 100 - 5] and [p["alu"] for p in parts.layers] == [37, 47]
    # an engine without the hook (TFLM): pairs only
    parts = cycles.split([m(v) for v in (0, 4, 10, 50, 60, 99)], 2, 0)
    assert [p["alu"] for p in parts.runs] == [36, 35] and parts.layers is None
    # the hook pattern is tried first, the plain one after (a firmware whose engine has no hook)
    assert cycles.split([m(v) for v in (0, 4, 10, 50)], 1, 3).layers is None
