"""The board benchmark target: one .tflite on one board (emulated in QEMU, or real over serial).

run() reads top to bottom: fit check -> generate engine -> fit check with its arena and size -> build ->
TFLM reference -> start QEMU or flash -> run every sample -> compare -> numbers. Under QEMU the
counts are executed instructions (deterministic); on silicon they are DWT cycles. Latency in ms is
count / clock, labelled an estimate under emulation (an instruction is not a cycle). Under QEMU a
TCG plugin also records the executed instruction mix, which cycles.py prices with the core's TRM
timings: `cycles_estimate` per inference and per layer, and `ms_estimate` from it (estimates).

Samples reach a real board inside its RUN requests over the UART; under QEMU they are written to a
file the firmware reads by semihosting (RUNF), and only the requests and replies cross the UART.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np

from firmware_gen import boards as boards_mod
from firmware_gen import build
from firmware_gen import layout as layout_mod
from edgepipe_base.atomic import file_sha256
from edgepipe_base.errors import EdgepipeError
from ..results import latency_summary, top1
from . import cycles
from .serial_link import HOST_INPUTS, FirmwareFault, LinkError, SerialLink

PREFIX = "bench"   # not "ep_model": the glue header maps onto EP_MODEL_*
SESSIONS = 2            # an interrupted sample stream is resumed once in a fresh session


def _default_generate(tflite_path, out_dir, prefix, layout: str = layout_mod.DEFAULT):
    from firmware_gen import codegen
    return codegen.generate(tflite_path, out_dir, prefix, layout=layout)


def prepare(board_id: str, tflite_path, workdir, generate: Callable | None = None,
            layout: str = layout_mod.DEFAULT):
    """Fit check, engine generation, fit check with the real arena, cross build.
    `layout`: the kernel tables, speed or size (firmware_gen/layout.py; with `generate`, that
    function decides). `board_id` may be a Board itself. Returns (board, engine, firmware)."""
    from firmware_gen import board_build

    board = board_id if isinstance(board_id, boards_mod.Board) else boards_mod.load_board(board_id)
    layout_mod.check(layout)
    tflite_path = Path(tflite_path)
    what = f"model {tflite_path.name}"
    needs = board_build.tflite_needs(board, tflite_path)
    board_build.check_fit(board, needs, what)
    # one folder per (board, model, layout): variants benchmarked in the same run keep their firmware
    workdir = Path(workdir) / board.id / (file_sha256(tflite_path)[:12] +
                                          ("" if layout == layout_mod.DEFAULT else f"-{layout}"))
    engine = (generate or functools.partial(_default_generate, layout=layout))(tflite_path, workdir / "engine", PREFIX)
    flash = board_build.engine_flash_bytes(board, engine, workdir / "size")
    fitted = needs.with_engine(int(engine.arena_bytes), flash)
    hint = ""
    if fitted.flash_bytes > board.flash.size and generate is None and layout == layout_mod.SPEED:
        hint = size_layout_hint(board, tflite_path, workdir, flash, fitted.flash_bytes - board.flash.size)
    board_build.check_fit(board, fitted, what, flash_hint=hint)
    fw = board_build.build(board, workdir / "build", PREFIX, engine.h_path,
                           [engine.c_path, *engine.runtime_sources], list(engine.include_dirs))
    return board, engine, fw


def size_layout_hint(board, tflite_path, workdir, speed_flash: int, short: int) -> str:
    """What the "size" layout would save on this board, measured: the engine generated again with
    it and compiled for the board's core (its tables and code against the speed layout's). Empty
    when it saves nothing (no core-specific table grows flash here)."""
    from firmware_gen import board_build
    small = _default_generate(tflite_path, workdir / "engine-size", PREFIX, layout=layout_mod.SIZE)
    saved = speed_flash - board_build.engine_flash_bytes(board, small, workdir / "size-size")
    if saved <= 0:
        return ""
    then = ("enough to fit" if saved >= short else
            f"still {(short - saved + 1023) // 1024} KiB short")
    return (f"; use --layout size (LAYOUT=size) to keep int8 weights: about {(saved + 1023) // 1024} KiB "
            f"less ({saved} bytes, {then})")


def prepare_tflm(board_id: str, tflite_path, workdir, engine: str):
    """Fit check (from the .tflite), then the firmware with TFLM as its engine (engine `tflm` or
    `tflm-cmsis-nn`; firmware_gen/tflm_firmware.py). Returns (board, TflmBuild)."""
    from firmware_gen import board_build, tflm_firmware

    board = boards_mod.load_board(board_id)
    tflite_path = Path(tflite_path)
    board_build.check_fit(board, board_build.tflite_needs(board, tflite_path), f"model {tflite_path.name}")
    workdir = Path(workdir) / board.id / f"{file_sha256(tflite_path)[:12]}-{engine}"
    return board, tflm_firmware.build(board, engine, tflite_path, workdir / "build")


class _Session:
    """One boot of the firmware: QEMU started (emulated) or port opened (real)."""

    def __init__(self, board, fw, port, sha256, timeout_s, qemu_serial="tcp", tag=0):
        self.board, self.qemu, self.link = board, None, None
        self.mix_path = None    # the instruction mix QEMU's plugin writes at exit (cycles.py)
        if board.emulated:
            from .qemu import QemuBoard
            self.qemu = QemuBoard(board, fw.elf, fw.elf.parent / "qemu.log", backend=qemu_serial,
                                  extra_args=self._mix_plugin(board, fw, tag))
        # from here on QEMU runs: whatever stops the start (a link error, Ctrl-C, a bug) kills it
        try:
            if self.qemu is not None:
                self.qemu.wait_listening()      # its QemuError already carries QEMU's output
                port = self.qemu.url
            try:
                alive = (lambda: self.qemu.returncode() is None) if self.qemu else None
                self.link = SerialLink(port, baud=board.baud, timeout_s=timeout_s, where=board.id,
                                       peer_alive=alive, open_timeout_s=0.0 if self.qemu else 5.0)
                # the boot line comes within milliseconds if it comes at all (a real board or a
                # pty may have printed it before we listened); then INFO asks for the same line
                self.fields = self.link.wait_announce(min(timeout_s, 3.0), expect_sha256=sha256,
                                                      expect_board=board.id)
            except EdgepipeError as e:
                raise self._explain(e) from None
        except BaseException:
            self.close()
            raise

    def _mix_plugin(self, board, fw, tag) -> list[str]:
        """QEMU arguments for the instruction-mix plugin (the cycle estimate), or none where the
        core has no cycle model or the firmware has no counter function to split at."""
        usable = cycles.supported(board.core) and cycles.qemu_takes_plugins()
        mark = cycles.symbol_address(fw.elf, cycles.MARK_SYMBOL) if usable else None
        if mark is None:
            return []
        self.mix_path = fw.elf.parent / f"insn_mix-{tag}.txt"
        self.mix_path.unlink(missing_ok=True)
        return cycles.plugin_args(cycles.plugin(fw.elf.parent), self.mix_path, mark)

    def mix_marks(self):
        """The plugin's cumulative mixes at each counter read, once QEMU has exited; else None."""
        if self.mix_path is None or not self.mix_path.exists():
            return None
        return cycles.read_mix(self.mix_path)[0]

    def _explain(self, e: Exception) -> EdgepipeError:
        if self.qemu is None:
            return e if isinstance(e, EdgepipeError) else EdgepipeError(str(e))
        rc = self.qemu.returncode()
        if rc is not None:
            return EdgepipeError(f"{e} (QEMU exited with code {rc}: {self.qemu.log_tail(200)})")
        self.qemu.kill()
        return EdgepipeError(f"{e} (QEMU killed; its output: {self.qemu.log_tail(200)})")

    def finish(self) -> tuple[int, int]:
        used, size, invoke = self.link.stack_detail()
        self.fields["invoke_stack"] = invoke     # the engine's own stack, apart from the app's
        try:
            self.link.exit(0)
        except LinkError:
            # on a pty the reply sent right before a semihosting exit can be lost: a clean exit
            # code still proves the firmware got the request
            if self.qemu is None or self.qemu.returncode() != 0:
                raise
        if self.qemu is not None:
            rc = self.qemu.wait_exit(10.0)
            if rc != 0:
                raise EdgepipeError(f"{self.board.id}: firmware exited with code {rc}: "
                                    f"{self.link.last_output()}")
        return used, size

    def close(self):
        if self.link is not None:
            self.link.close()
        if self.qemu is not None:
            self.qemu.kill()


def _flash(board, fw) -> None:
    cmd = [c.replace("{elf}", str(fw.elf)) for c in board.flash_command]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise EdgepipeError(f"{board.id}: flasher '{cmd[0]}' not found; install it "
                            f"(flasher.command in {board.path})") from None
    except subprocess.TimeoutExpired:
        raise EdgepipeError(f"{board.id}: '{' '.join(cmd)}' did not finish in 120 s") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgepipeError(f"{board.id}: flashing failed ({' '.join(cmd)}): {last[0]}")


INPUT_ROUTES = ("uart", "host-file")


def input_route(board, route: str | None = None) -> str:
    """How samples reach the firmware: "host-file" under QEMU (written next to the ELF, read by
    semihosting; only requests and replies cross the UART, whose host-to-board direction QEMU
    limits to ~15-30 KiB/s), "uart" on silicon (every sample is sent in its RUN request)."""
    route = route or ("host-file" if board.emulated else "uart")
    if route not in INPUT_ROUTES:
        raise EdgepipeError(f"input route '{route}': valid routes are {', '.join(INPUT_ROUTES)}")
    if route == "host-file" and not board.emulated:
        raise EdgepipeError(f"board {board.id}: samples from a host file need semihosting, which only "
                            "emulated boards have; use the uart route")
    return route


def stream(board, fw, x: np.ndarray, sha256: str, port: str | None,
           timeout_s: float = 10.0, qemu_serial: str = "tcp", output_bytes: int | None = None,
           route: str | None = None, reset_each: bool = False,
           one_stream: bool = False) -> tuple[list[bytes], list[int], int, int, dict]:
    """Run every sample, resuming in a fresh session if the link breaks; never returns fewer
    results than samples. `output_bytes`: the model's output size, checked on every reply.
    `route`: see input_route. `reset_each`: send RESET before every sample (the independent samples
    of a stateful model). `one_stream`: the samples are the frames of one stream, so a broken
    session restarts from the first (a fresh boot has lost the state). Returns (outputs, counts,
    stack_used, retransmits, announce fields)."""
    route = input_route(board, route)
    samples = np.ascontiguousarray(x)
    if route == "host-file":
        _write_host_inputs(fw.elf.parent / HOST_INPUTS, samples)
    outputs: list[bytes] = []
    counts: list[int] = []
    retransmits = 0
    errors = []
    for tag in range(SESSIONS):
        session = _Session(board, fw, port, sha256, timeout_s, qemu_serial, tag)
        first = len(outputs)
        try:
            if one_stream:
                outputs, counts = [], []
            while len(outputs) < len(x):
                i = len(outputs)
                if reset_each:
                    session.link.reset()
                r = (session.link.run_record(i, output_bytes) if route == "host-file"
                     else session.link.run(samples[i].tobytes(), output_bytes))
                outputs.append(r.output)
                counts.append(r.elapsed)
            layer_ticks = session.link.layers()
            stack_used, _ = session.finish()
            retransmits += session.link.retransmits
            # the instruction mix of this session's inferences (cycle estimate; None without one)
            mix = (session.mix_marks(), len(outputs) - first)
            return outputs, counts, stack_used, retransmits, session.fields, layer_ticks, mix
        except FirmwareFault as e:
            raise session._explain(e) from None    # a fault repeats: no point resuming
        except LinkError as e:
            retransmits += session.link.retransmits
            errors.append(str(session._explain(e)))
        finally:
            session.close()
    raise EdgepipeError(f"{board.id}: sample stream interrupted after {len(outputs)} of {len(x)} "
                        f"samples, also after resuming: {errors[-1]}")


def _write_host_inputs(path: Path, samples: np.ndarray) -> None:
    """The samples as RUNF records (each sample's bytes, back to back), replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(samples.tobytes())
    tmp.replace(path)


def _count_unit(board, ticks: list[int]) -> list[int]:
    if board.counter == "systick":
        tpi = board.ticks_per_instruction()
        return [int(round(t / tpi)) for t in ticks]
    return list(ticks)


def run(board_id: str, tflite_path, x_int8: np.ndarray, y: np.ndarray | None, workdir,
        port: str | None = None, samples: int | None = None, generate: Callable | None = None,
        timeout_s: float = 10.0, qemu_serial: str = "tcp", route: str | None = None,
        engine: str = "edgepipe", mode: str = "reset", layout: str = layout_mod.DEFAULT) -> dict:
    """Benchmark `tflite_path` on `board_id` with int8 inputs `x_int8` [N, ...]; see module doc.
    `route`: how samples reach the firmware (input_route). `engine`: edgepipe (the generated C
    engine), tflm (TFLM, reference kernels) or tflm-cmsis-nn (TFLM with Arm's CMSIS-NN kernels);
    every engine is compared with the host TFLM interpreter (`mismatches`). `mode`: how a stateful
    (streaming) model takes the samples: "reset" (state reset before each) or "stream" (one stream).
    `layout`: the edgepipe engine's kernel tables, speed or size (firmware_gen/layout.py)."""
    from edgepipe_base import tflite_file
    from firmware_gen import lce, state, tflm

    board = boards_mod.load_board(board_id)
    if not board.emulated and port is None:
        raise EdgepipeError(f"board {board.id} is a real board: give its serial port "
                            f"(e.g. --port /dev/ttyACM0)")
    x = np.asarray(x_int8)
    if samples is not None:
        x = x[:samples]
    if y is not None:
        y = np.asarray(y)[:len(x)]
    if x.dtype not in (np.int8, np.int16):
        raise EdgepipeError(f"board {board.id}: inputs must be quantized (int8, or int16 for int16x8), "
                            f"got {x.dtype}")
    route = input_route(board, route)
    model = tflite_file.read(tflite_path)
    extra = {}
    if engine == "edgepipe":
        board, gen, fw = prepare(board_id, tflite_path, workdir, generate, layout)
        input_shape, macs, arena = tuple(gen.input_shape), int(gen.macs), int(gen.arena_bytes)
        if x.dtype != np.dtype(gen.input_dtype):
            raise EdgepipeError(f"board {board.id}: samples are {x.dtype}, the model takes {gen.input_dtype}")
    else:
        board, built = prepare_tflm(board_id, tflite_path, workdir, engine)
        fw, macs, arena = built.firmware, None, None            # arena: as the board reports it
        input_shape = tuple(model.main.tensors[model.main.inputs[0]].shape)
        extra = {"arena_alloc_bytes": built.arena_alloc_bytes, "host_tflm_arena_bytes": built.host_arena_bytes,
                 "tflm_tree": str(built.tree), "ops": built.ops,
                 # TFLM sources this build compiled (0: all cached), and their compile wall time
                 "tflm_library": {"compiled": len(built.library.compiled),
                                  "compile_s": round(built.library.compile_seconds, 1)}}
    if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
        raise EdgepipeError(f"board {board.id}: samples have shape {x.shape[1:]}, the model "
                            f"takes {input_shape}")
    if mode not in tflm.MODES:
        raise EdgepipeError(f"evaluation mode '{mode}': one of {', '.join(tflm.MODES)}")
    stateful = state.is_stateful(model)
    ref, reference = lce.reference_outputs(model, x.reshape((len(x), *input_shape[1:]))
                                           if len(input_shape) > 1 else x, where=str(tflite_path),
                                           mode=mode)

    if not board.emulated:
        _flash(board, fw)
    outs, ticks, stack_used, retransmits, fields, layer_ticks, mix = stream(
        board, fw, x, model.sha256, port, timeout_s, qemu_serial, output_bytes=int(ref[0].nbytes),
        route=route, reset_each=stateful and mode == tflm.RESET, one_stream=stateful and mode == tflm.STREAM)

    out = np.stack([np.frombuffer(o, dtype=ref.dtype) for o in outs]).reshape(ref.shape)
    mismatches = int(np.sum(np.any((out != ref).reshape(len(x), -1), axis=1)))
    counts = _count_unit(board, ticks)
    if not any(counts):
        counter = "DWT cycle counter" if board.counter == "dwt" else "SysTick counter"
        hint = ("DWT not running? (enable TRCENA in DEMCR and CYCCNTENA in DWT_CTRL; some cores "
                "have no DWT)" if board.counter == "dwt" else "SysTick not running?")
        raise EdgepipeError(
            f"cycle counter reads 0 on {board.id}: {hint}; the {counter} gave 0 for all "
            f"{len(counts)} samples, so there is no latency to report ({mismatches} of "
            f"{len(x)} outputs differed from TFLM)")
    median = statistics.median_low(counts)
    flat = out.reshape(len(x), -1)
    accuracy = top1(flat, y) if y is not None and flat.shape[1] > 1 else None
    count_block = {"median": median, "max": max(counts)}
    if arena is None:
        arena = int(fields["arena"]) if str(fields.get("arena", "")).isdigit() else None
    # under emulation a count is an instruction, not a cycle: the fraction of the core's peak
    # MAC rate is then an estimate and is named so
    peak_fraction = macs / (median * board.peak_macs_per_cycle) if median and macs else None
    # estimated cycles from the executed instruction mix (emulated boards; cycles.py)
    n_layers = len(gen.layers) if engine == "edgepipe" and layer_ticks else 0
    estimates, layer_estimates = cycles.row_fields(board.core, board.clock_hz, mix[0], mix[1], n_layers, macs)
    return {
        "engine": engine,
        **({"layout": gen.layout} if engine == "edgepipe" else {}),
        "target": board.id,
        "board_kind": board.kind,
        "accuracy": accuracy,
        "samples": len(x),
        "mismatches": mismatches,
        "bit_exact": mismatches == 0,
        "bit_exact_reference": reference,
        "instructions": count_block if board.emulated else None,
        "cycles": None if board.emulated else count_block,
        "latency_ms": {**latency_summary([c / board.clock_hz for c in counts]),
                       "estimate": board.emulated},
        "clock_hz": board.clock_hz,
        "macs": macs,
        "macs_per_instruction": macs / median if board.emulated and median and macs else None,
        "macs_per_cycle": None if board.emulated or not median or not macs else macs / median,
        "peak_fraction": None if board.emulated else peak_fraction,
        "peak_fraction_estimate": peak_fraction if board.emulated else None,
        "peak_macs_per_cycle": board.peak_macs_per_cycle,
        **estimates,
        "flash_bytes": fw.flash_bytes,
        "ram_bytes": fw.ram_static_bytes + stack_used,
        "stack_bytes": stack_used,
        "engine_stack_bytes": fields.get("invoke_stack"),
        "arena_bytes": arena,
        "state_bytes": int(gen.state_bytes) if engine == "edgepipe" else None,
        **({"eval_mode": mode} if stateful else {}),
        "engine_version": fields.get("engine"),
        "retransmits": retransmits,
        "inputs_via": route,
        "elf": str(fw.elf),
        # the engine's constant tables as stored in the ELF (1-bit packed, int8, per-channel)
        "weight_bytes_elf": build.table_bytes(fw.elf, PREFIX, "arm-none-eabi-nm") if engine == "edgepipe" else None,
        **extra,
        "layers": layer_profile(board, gen, layer_ticks, layer_estimates) if engine == "edgepipe" else None,
    }


def layer_profile(board, engine, layer_ticks: list[int] | None,
                  estimates: list | None = None) -> list[dict] | None:
    """One row per kernel call of the last sample: opcode, name, MACs, count (instructions under
    emulation, cycles on silicon), MACs per count and the fraction of the core's peak MAC rate
    (an estimate under emulation, where a count is an instruction). None without a profile."""
    if not layer_ticks or len(layer_ticks) != len(engine.layers):
        return None
    counts = _count_unit(board, layer_ticks)
    unit = "instructions" if board.emulated else "cycles"
    rows = []
    for (index, opcode, name, _), macs, n in zip(engine.layers, engine.layer_macs, counts):
        rate = macs / n if n else None
        rows.append({"index": index, "opcode": opcode, "name": name, "macs": macs, unit: n,
                     f"macs_per_{unit[:-1]}": rate,
                     "peak_fraction" + ("_estimate" if board.emulated else ""):
                         rate / board.peak_macs_per_cycle if rate is not None and board.peak_macs_per_cycle else None})
    for row, est in zip(rows, estimates or [None] * len(rows)):
        # estimated cycles from the layer's executed instruction mix (cycles.py); null without one
        row["cycles_estimate"] = round(est.cycles) if est else None
        row["macs_per_cycle_estimate"] = row["macs"] / est.cycles if est and est.cycles and row["macs"] else None
    return rows
