"""Estimated cycles on Cortex-M0/M3/M4/M7/M55 from the executed instruction mix (an estimate).

QEMU does not model a pipeline: under `-icount` a count is an executed instruction. The TCG plugin
qemu_plugin/insn_mix.c decodes every executed Thumb/Thumb-2/FP/MVE instruction into a class
(CLASSES; taken and not-taken branches apart, registers moved by LDM/STM/PUSH/POP summed) and splits
the counts wherever the firmware reads its counter (ep_counter_now: around each inference and each
layer), so the mix of an inference or a layer covers exactly what its instruction count covers.
`estimate()` prices a mix with the core's published instruction timings (the Arm Technical Reference
Manuals' cycle tables). Where the manual gives a range (pipeline refill P = 1..3 after a taken
branch, divide 2..12, long multiplies on the M3, the M0's multiplier) the estimate takes a typical
value and `low`/`high` take the ends of the ranges.

What the model ignores: flash and memory wait states, caches (M7), bus contention, load-use and
other interlocks, branch mispredictions (M7), and which IT-block instructions fail their condition.
It assumes zero-wait-state memory, as the TRM tables do. Simplifications per core (TIMING_NOTES):
- M3/M4: a single load/store costs 2 cycles, 1 when the previous instruction of the same block is a
  single load (pipelined; nothing pipelines after a store); `STR Rx,[Ry,#imm]` is 1 cycle; LDM/STM/PUSH/POP 1+N; a taken
  branch 1+P (P = 2, low 1, high 3); IT 1 (0 when folded: low).
- M7: dual issue, modelled as throughput: max(issue slots / 2, load/store slots, multiply slots)
  plus one cycle per taken branch (fetch redirect; predictions assumed right). `high`: single issue.
- M55: scalar instructions as on the M4 (single issue); an MVE instruction is 4 beats at 2 beats per
  cycle = 2 cycles, and a vector load/store overlaps a vector ALU/MAC instruction, so MVE costs
  2 x max(vector memory, vector ALU/MAC instructions) (`high`: no overlap); LE/LETP 0 when taken
  (low-overhead loop, served by the loop cache; `high`: 1+P).
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgepipe_base.errors import EdgepipeError

from . import qemu

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_plugin" / "insn_mix.c"
MARK_SYMBOL = "ep_counter_now"
MODEL_VERSION = "1"

CLASSES = (
    "alu", "it", "mul", "mla", "mul_long", "mla_long", "dsp_mac", "div",
    "ld", "ld_pipe", "st", "st_pipe", "st_imm", "ld_dual", "st_dual",
    "ldm", "ldm_regs", "stm", "stm_regs",
    "b_uncond", "b_call", "b_indirect", "b_pop_pc", "b_pop_pc_regs", "b_ld_pc", "b_table",
    "b_cond_taken", "b_cond_not_taken", "le_taken", "le_not_taken", "loop_start",
    "fp_op", "fp_mac", "fp_div", "fp_ld", "fp_st", "fp_ldm", "fp_ldm_regs",
    "mve_mem", "mve_op", "other",
)
# not instructions: registers moved, summed over the instructions of the class before
REGISTER_CLASSES = ("ldm_regs", "stm_regs", "b_pop_pc_regs", "fp_ldm_regs")
TAKEN = ("b_uncond", "b_call", "b_indirect", "b_pop_pc", "b_ld_pc", "b_table", "b_cond_taken")

# cycles per instruction (per register for *_regs) as (low, typical, high), from the instruction
# set summary tables of the Arm Technical Reference Manuals: Cortex-M0 (DDI 0432), Cortex-M3
# (DDI 0337), Cortex-M4 (DDI 0439: the instruction table, "Load/store timings", and the FPU's
# instruction table). The M7 and M55 manuals publish no such table: see the module doc.
def _branchy(p_low, p_typ, p_high, base=1):
    return (base + p_low, base + p_typ, base + p_high)


_M4 = {
    "alu": 1, "it": (0, 1, 1), "mul": 1, "mla": 1, "mul_long": 1, "mla_long": 1, "dsp_mac": 1,
    "div": (2, 7, 12),
    "ld": 2, "ld_pipe": 1, "st": 2, "st_pipe": 1, "st_imm": 1, "ld_dual": 3, "st_dual": 3,
    "ldm": 1, "ldm_regs": 1, "stm": 1, "stm_regs": 1,
    "b_uncond": _branchy(1, 2, 3), "b_call": _branchy(1, 2, 3), "b_indirect": _branchy(1, 2, 3),
    # LDR pc: "at least five cycles" (2 for the load, 3 for the reload); TBB/TBH "at least six"
    "b_pop_pc": _branchy(1, 2, 3), "b_pop_pc_regs": 1, "b_ld_pc": 5, "b_table": 6,
    "b_cond_taken": _branchy(1, 2, 3), "b_cond_not_taken": 1,
    "le_taken": _branchy(1, 2, 3), "le_not_taken": 1, "loop_start": 1,
    "fp_op": 1, "fp_mac": 3, "fp_div": 14, "fp_ld": 2, "fp_st": 2, "fp_ldm": 1, "fp_ldm_regs": 1,
    "mve_mem": 2, "mve_op": 2, "other": 1,
}
_M3 = {**_M4, "mla": 2, "mul_long": (3, 4, 5), "mla_long": (4, 5, 7)}
_M0 = {**{k: 1 for k in CLASSES},
       "mul": (1, 1, 32),            # 1 or 32 cycles: the multiplier is an implementation option
       "ld": 2, "ld_pipe": 2, "st": 2, "st_pipe": 2, "st_imm": 2, "ld_dual": 4, "st_dual": 4,
       "ldm": 1, "ldm_regs": 1, "stm": 1, "stm_regs": 1,
       "b_uncond": 3, "b_call": 4, "b_indirect": 3, "b_pop_pc": 4, "b_pop_pc_regs": 1,
       "b_ld_pc": 4, "b_table": 4, "b_cond_taken": 3, "b_cond_not_taken": 1, "other": 4}
_M55_SCALAR = {**_M4, "le_taken": (0, 0, 4), "le_not_taken": 1}

TABLES = {"cortex-m0": _M0, "cortex-m0plus": _M0, "cortex-m3": _M3, "cortex-m4": _M4,
          "cortex-m7": _M4, "cortex-m55": _M55_SCALAR}
MVE_CYCLES = 2          # 4 beats per 128-bit instruction, 2 beats per cycle (dual-beat M55)


def _cost(entry, which: int) -> float:
    return float(entry[which] if isinstance(entry, tuple) else entry)


def supported(core: str) -> bool:
    return core in TABLES


@dataclass(frozen=True)
class Estimate:
    cycles: float       # typical
    low: float
    high: float


def instructions(mix: dict[str, int]) -> int:
    """Executed instructions in a mix (the register sums are not instructions)."""
    return int(sum(v for k, v in mix.items() if k not in REGISTER_CLASSES))


def _linear(table, mix, which, skip=()):
    return sum(_cost(table[k], which) * mix.get(k, 0) for k in CLASSES if k not in skip)


def estimate(core: str, mix: dict[str, int]) -> Estimate:
    """Cycles of an executed instruction mix on `core` (see the module doc for the model)."""
    if core not in TABLES:
        raise EdgepipeError(f"no cycle model for core '{core}': models exist for {', '.join(sorted(TABLES))}")
    table = TABLES[core]
    if core == "cortex-m7":
        return _estimate_m7(mix)
    if core == "cortex-m55":
        vec = ("mve_mem", "mve_op")
        mem, op = mix.get("mve_mem", 0), mix.get("mve_op", 0)
        overlap = MVE_CYCLES * max(mem, op)
        return Estimate(cycles=_linear(table, mix, 1, vec) + overlap, low=_linear(table, mix, 0, vec) + overlap,
                        high=_linear(table, mix, 2, vec) + MVE_CYCLES * (mem + op))
    return Estimate(cycles=_linear(table, mix, 1), low=_linear(table, mix, 0), high=_linear(table, mix, 2))


_M7_MEM = ("ld", "ld_pipe", "st", "st_pipe", "st_imm", "ld_dual", "st_dual", "fp_ld", "fp_st",
           "ldm", "stm", "b_pop_pc", "b_ld_pc", "b_table", "fp_ldm")
_M7_MUL = ("mul", "mla", "mul_long", "mla_long", "dsp_mac", "fp_mac")


def _estimate_m7(mix: dict[str, int]) -> Estimate:
    """Dual issue as throughput: two instructions per cycle, one load/store pipe (a 64-bit one:
    LDM/STM move two registers per cycle), one multiply-accumulate pipe, one cycle per taken branch;
    divides 2..12 as on the M4. `high`: single issue at the M4's costs without load pipelining."""
    g = mix.get
    regs = g("ldm_regs", 0) + g("stm_regs", 0) + g("b_pop_pc_regs", 0) + g("fp_ldm_regs", 0)
    issue = instructions(mix) + regs / 2
    mem = sum(g(k, 0) for k in _M7_MEM) + regs / 2
    mul = sum(g(k, 0) for k in _M7_MUL)
    taken = sum(g(k, 0) for k in TAKEN) + g("le_taken", 0)
    div = g("div", 0)
    bound = max(issue / 2, mem, mul)
    high_mix = {**mix, "ld_pipe": 0, "st_pipe": 0, "ld": g("ld", 0) + g("ld_pipe", 0),
                "st": g("st", 0) + g("st_pipe", 0)}
    return Estimate(cycles=bound + taken + _cost(_M4["div"], 1) * div, low=bound + _cost(_M4["div"], 0) * div,
                    high=_linear(_M4, high_mix, 2))


# --- the plugin ---------------------------------------------------------------------------------

def plugin(workdir: Path) -> Path:
    """The instruction-mix plugin for qemu-system-arm, compiled for this machine."""
    return qemu.plugin_so(PLUGIN_SOURCE, workdir)


@functools.lru_cache(maxsize=None)
def qemu_takes_plugins(qemu: str = "qemu-system-arm") -> bool:
    """Whether this QEMU was built with TCG plugins (Debian's is); without, estimates are null."""
    try:
        out = subprocess.run([qemu, "-help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "-plugin" in out


def symbol_address(elf: Path, name: str, nm: str = "arm-none-eabi-nm") -> int | None:
    try:
        out = subprocess.run([nm, str(elf)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(rf"^([0-9a-fA-F]+) [Tt] {re.escape(name)}$", out, re.MULTILINE)
    return int(m.group(1), 16) if m else None


def plugin_args(so: Path, out: Path, mark: int | None) -> list[str]:
    for p in (so, out):
        if "," in str(p):
            raise EdgepipeError(f"{p}: QEMU's -plugin option cannot take a path with a comma; "
                                "use a work folder without one")
    arg = f"{so},out={out}" + (f",mark={mark:#x}" if mark is not None else "")
    return ["-plugin", arg]


def read_mix(path: Path) -> tuple[list[dict[str, int]], dict[str, int]]:
    """(cumulative mixes at each mark, the total) from the plugin's output file."""
    lines = Path(path).read_text().splitlines()
    if not lines or not lines[0].startswith("classes "):
        raise EdgepipeError(f"{path}: not an instruction-mix file (no 'classes' line)")
    names = lines[0].split()[1:]
    if tuple(names) != CLASSES:
        raise EdgepipeError(f"{path}: the plugin's classes differ from cycles.CLASSES; rebuild the plugin")
    marks, total = [], None
    for ln in lines[1:]:
        tag, *vals = ln.split()
        row = dict(zip(names, map(int, vals)))
        if tag == "mark":
            marks.append(row)
        elif tag == "total":
            total = row
    if total is None:
        raise EdgepipeError(f"{path}: no 'total' line (QEMU did not exit cleanly?)")
    return marks, total


def diff(a: dict[str, int], b: dict[str, int], minus: dict[str, int] | None = None) -> dict[str, int]:
    """b - a (- minus), per class, never below 0."""
    return {k: max(0, b[k] - a[k] - (minus[k] if minus else 0)) for k in CLASSES}


@dataclass(frozen=True)
class Split:
    runs: list[dict[str, int]]              # per inference, in order
    layers: list[dict[str, int]] | None     # per layer, of the last inference


def split(marks: list[dict[str, int]], n_runs: int, n_layers: int) -> Split | None:
    """The firmware reads its counter twice at boot (its own cost), twice more for the per-layer
    hook's cost when the engine has one, then per inference once before, once per layer boundary
    (n_layers + 1) and once after. The same costs are taken off here as there. None when the marks
    do not follow that pattern (e.g. a firmware that reads its counter elsewhere)."""
    for layers, boot in ((n_layers, 4), (0, 2)) if n_layers else ((0, 2),):
        per = layers + 3 if layers else 2
        if len(marks) != boot + n_runs * per or n_runs == 0:
            continue
        counter = diff(marks[0], marks[1])
        hook = diff(marks[2], marks[3]) if boot == 4 else None
        runs, last_layers = [], None
        for r in range(n_runs):
            m = marks[boot + r * per: boot + (r + 1) * per]
            runs.append(diff(m[0], m[-1], counter))
            if layers:
                last_layers = [diff(m[1 + i], m[2 + i], hook) for i in range(layers)]
        return Split(runs=runs, layers=last_layers)
    return None


SIMPLIFIED = {"cortex-m7": "; dual issue modelled as throughput with ideal pairing (high: single issue)",
              "cortex-m55": "; MVE 4 beats per instruction at 2 beats per cycle, vector loads/stores "
                            "overlapping vector ALU/MAC (high: no overlap)"}


def describe(core: str) -> str:
    return (f"{core}, edgepipe cycle model v{MODEL_VERSION}: TRM instruction timings applied to the executed "
            f"instruction mix{SIMPLIFIED.get(core, '')}; zero wait states, no caches, no bus contention, no "
            "interlocks (pipeline/bench/cycles.py)")


def row_fields(core: str, clock_hz: float, marks: list[dict[str, int]] | None, n_runs: int,
               n_layers: int, macs: int | None) -> tuple[dict, list[Estimate] | None]:
    """The estimate fields of a board row (all null when there is no mix to price) and the
    per-layer estimates of the last inference (None without them)."""
    empty = {"cycles_estimate": None, "ms_estimate": None, "macs_per_cycle_estimate": None,
             "cycle_model": None, "instruction_mix": None}
    parts = split(marks, n_runs, n_layers) if marks is not None and supported(core) else None
    if parts is None:
        return empty, None
    ests = [estimate(core, m) for m in parts.runs]
    order = sorted(range(len(ests)), key=lambda i: ests[i].cycles)
    mid = order[(len(order) - 1) // 2]           # the lower median, as the instruction counts use
    med = ests[mid]
    fields = {
        "cycles_estimate": {"median": round(med.cycles), "max": round(max(e.cycles for e in ests)),
                            "low": round(med.low), "high": round(med.high)},
        "ms_estimate": med.cycles / clock_hz * 1e3,
        "macs_per_cycle_estimate": macs / med.cycles if macs and med.cycles else None,
        "cycle_model": describe(core),
        "instruction_mix": parts.runs[mid],
    }
    layers = [estimate(core, m) for m in parts.layers] if parts.layers else None
    return fields, layers
