"""Benchmark targets by name: the host interpreters, the generated C engine, and every board.

Host targets are registered here; board targets are the ids of `boards/*.toml`, looked up lazily so
that adding a board is adding a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgepipe_base.errors import UnknownName
from ..registry import Registry
from ..results import row


@dataclass(frozen=True)
class Options:
    workdir: Path
    samples: dict | None = None       # {target or "*": N}; unset: the target's default
    threads: int = 1
    latency_runs: int = 200
    port: str | None = None           # serial port of a real board
    host: str | None = None           # user@address of a Linux device (overrides its device file)
    serial: str | None = None         # adb serial of an Android device (overrides its device file)
    mode: str = "reset"               # a stateful (streaming) model's samples: "reset" before each,
                                      # or "stream" (the samples are the consecutive frames of one stream)
    layout: str = "speed"             # the C engine's kernel tables on boards: speed | size
                                      # (firmware_gen/layout.py)


@dataclass(frozen=True)
class Target:
    name: str
    kind: str                         # host | emulated | real
    needs_deployable: bool            # only variants that pass preflight run here
    needs_tflm: bool                  # only variants TFLM can run
    needs_engine: bool                # runs edgepipe's generated C engine
    default_samples: int | None
    run: Callable                     # run(variant, model, x, y, options) -> row dict
    depends: Callable                 # depends(options) -> what a cached result is valid for
    # its numbers are counts and outputs, not host wall-clock time, and it spends its time in one
    # external process (compiler, valgrind, QEMU, a board): it may run beside the variant's other
    # such targets without changing a number
    concurrent: bool = False
    needs_lce: bool = False           # only models with Larq Compute Engine ops (host-lce)
    # boards: the inference engine in the firmware (edgepipe | tflm | tflm-cmsis-nn); None: the
    # default, chosen per variant (resolve_engine)
    engine: str | None = None

    @property
    def key(self) -> str:
        """Unique among one run's targets: the board id, plus the engine when one was chosen."""
        return self.name if self.engine is None else f"{self.name}/{self.engine}"


def _litert(variant, model, x, y, opt):
    from . import host_litert
    return host_litert.run(variant.name, model, x, y, threads=opt.threads, latency_runs=opt.latency_runs,
                           mode=opt.mode)


def _tflm(variant, model, x, y, opt):
    from . import host_tflm
    return host_tflm.run(variant.name, model, x, y, mode=opt.mode)


def _host_c(variant, model, x, y, opt):
    from ..quant_io import quantize_inputs
    from . import host_c
    r = host_c.run(variant.tflite_path, quantize_inputs(model, x), y, opt.workdir / "host-c", mode=opt.mode)
    return row(variant.name, "host-c", engine="edgepipe", **{k: v for k, v in r.items() if k != "target"})


def _lce(variant, model, x, y, opt):
    from ..quant_io import quantize_inputs
    from . import host_lce
    return host_lce.run(variant.name, model, quantize_inputs(model, x), y, latency_runs=opt.latency_runs)


def _package_version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def tree_hash(*roots: Path, patterns=("*.py", "*.c", "*.cc", "*.h", "*.j2", "*.ld", "*.toml", "*.S")) -> str:
    """Hash of the source files under `roots`: a result measured with other code is not reused."""
    import hashlib
    h = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else sorted(f for p in patterns for f in root.rglob(p))
        for f in files:
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


REPO = Path(__file__).resolve().parent.parent.parent
FIRMWARE_GEN = REPO / "firmware_gen"
PIPELINE = REPO / "pipeline"
# the code that takes and shapes every measurement: a row it produced differently is not reused
MEASURING_CODE = (PIPELINE / "bench", FIRMWARE_GEN / "tflm.py", PIPELINE / "quant_io.py", PIPELINE / "results.py",
                  REPO / "edgepipe_base")


def cache_key(target: "Target", opt: Options) -> dict:
    """What a cached result of `target` is valid for: its own dependencies and the measuring code."""
    return {**target.depends(opt), "measuring_code": tree_hash(*MEASURING_CODE),
            **({"mode": opt.mode} if opt.mode != "reset" else {})}


def _engine_depends(opt: Options) -> dict:
    return {"firmware_gen": tree_hash(FIRMWARE_GEN), "cc": _tool_version("gcc")}


def _tool_version(tool: str) -> str:
    import subprocess
    try:
        return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        return "missing"


HOST_TARGETS: Registry[Target] = Registry("target")
for _t in (Target("host-litert", "host", False, False, False, None, _litert,
                  lambda o: {"litert": _package_version("ai-edge-litert"), "threads": o.threads,
                             "latency_runs": o.latency_runs}),
           Target("host-tflm", "host", False, True, False, None, _tflm,
                  lambda o: {"tflite_micro": _package_version("tflite-micro")}),
           Target("host-c", "host", True, True, True, None, _host_c,
                  lambda o: {**_engine_depends(o), "valgrind": _tool_version("valgrind"),
                             "tflite_micro": _package_version("tflite-micro")}, concurrent=True),
           Target("host-lce", "host", False, False, False, None, _lce,
                  lambda o: {"lce": _package_version("larq-compute-engine"), "latency_runs": o.latency_runs},
                  needs_lce=True)):
    HOST_TARGETS.register(_t.name, _t)


def _board_target(board_id: str, engine: str | None = None) -> Target:
    from . import board as board_bench
    from firmware_gen.boards import load_board

    b = load_board(board_id)

    def run(variant, model, x, y, opt):
        from ..quant_io import quantize_inputs
        r = board_bench.run(board_id, variant.tflite_path, quantize_inputs(model, x), y,
                            opt.workdir, port=opt.port, engine=engine or "edgepipe", mode=opt.mode,
                            layout=opt.layout)
        return row(variant.name, board_id, **{k: v for k, v in r.items() if k != "target"})

    def depends(opt: Options) -> dict:
        from firmware_gen.boards import BOARDS_DIR
        from firmware_gen import tflm_tree
        tree = tflm_tree.find(engine) if engine in tflm_tree.TFLM_ENGINES else None
        extra = {"engine": engine} if engine not in (None, "edgepipe") else {}
        if engine in (None, "edgepipe") and opt.layout != "speed":
            extra["layout"] = opt.layout
        if tree is not None:
            extra["tflm_tree"] = tflm_tree.tree_hash(tree.root)
        return {**_engine_depends(opt), "board": tree_hash(b.path), "bsp": tree_hash(BOARDS_DIR / "bsp"),
                "cross": _tool_version("arm-none-eabi-gcc"), "qemu": _tool_version("qemu-system-arm"),
                "port": opt.port, "tflite_micro": _package_version("tflite-micro"), **extra}

    return Target(board_id, b.kind, True, True, engine in (None, "edgepipe"), 500, run, depends,
                  concurrent=True, engine=engine)


FALLBACK_ENGINE = "tflm-cmsis-nn"


def with_engines(targets: list[Target], engines) -> list[Target]:
    """Each board target once per engine in `engines` (None: once, engine chosen per variant)."""
    if not engines:
        return list(targets)
    from firmware_gen import tflm_tree
    tflm_tree.check_engines(engines)
    out = []
    for t in targets:
        out += [t] if t.kind in ("host", "os") else [_board_target(t.name, e) for e in engines]
    return out


def resolve_engine(target: Target, engine_runs: bool, engine_reason: str) -> tuple[Target, str | None]:
    """A board target left to its default engine runs edgepipe's generated engine where that can
    run the variant, otherwise TFLM with CMSIS-NN when a TFLM tree is available. Returns the
    target with its engine and a note saying why, when it is not edgepipe."""
    if target.kind in ("host", "os") or target.engine is not None:      # boards only
        return target, None
    if engine_runs:
        return _board_target(target.name, "edgepipe"), None
    from firmware_gen import tflm_tree
    why = tflm_tree.unavailable(FALLBACK_ENGINE)
    if why is not None:
        return _board_target(target.name, "edgepipe"), f"no TFLM fallback: {why}"
    return (_board_target(target.name, FALLBACK_ENGINE),
            f"{FALLBACK_ENGINE} by default: edgepipe's C engine cannot run it ({engine_reason})")


def _device_target(name: str) -> Target:
    """An OS device (devices/<id>.toml): `<id>` runs LiteRT there, `<id>-c` the generated C engine."""
    from ..devices import ENGINE_SUFFIX, load_device
    engine = name not in device_ids(engines=False)
    d = load_device(name[:-len(ENGINE_SUFFIX)] if engine else name)

    def run(variant, model, x, y, opt):
        from ..quant_io import quantize_inputs
        from . import device
        from edgepipe_base.errors import EdgepipeError
        from firmware_gen.state import is_stateful
        if is_stateful(model) and (opt.mode == "stream" or not engine):
            raise EdgepipeError(f"{name}: OS devices run a stateful (streaming) model's samples independently, "
                                "with the C engine only; streams run on host-litert, host-tflm, host-c and boards")
        xq = quantize_inputs(model, x)
        if engine:
            r = device.run_engine(d, variant.tflite_path, xq, y, opt.workdir, host=opt.host, serial=opt.serial)
        else:
            r = device.run_litert(d, model, xq, y, opt.workdir, host=opt.host, serial=opt.serial,
                                  latency_runs=opt.latency_runs)
        return row(variant.name, name, **r)

    def depends(opt: Options) -> dict:
        from . import arm64_sysroot
        stamp = arm64_sysroot.sysroot() / arm64_sysroot.STAMP
        return {"device": tree_hash(d.path), "host": opt.host, "serial": opt.serial, "latency_runs": opt.latency_runs, "qemu": _tool_version("qemu-aarch64") if d.emulated else None,
                "sysroot": stamp.read_text() if d.emulated and stamp.is_file() else None,
                **(_engine_depends(opt) | {"cross": _tool_version(d.cc),
                                           "tflite_micro": _package_version("tflite-micro")} if engine else
                   {"litert": _package_version("ai-edge-litert")})}

    # emulated: counts and outputs, not host time, so it may run beside other targets; a real device
    # times itself, and two targets on one device at once would disturb each other
    return Target(name, "os", engine, engine, engine, d.samples, run, depends, concurrent=d.emulated)


def device_ids(engines: bool = True) -> list[str]:
    """OS device targets: each device id, and (engines=True) `<id>-c` for its C engine."""
    from ..devices import ENGINE_SUFFIX, names
    ids = names()
    return ids + [i + ENGINE_SUFFIX for i in ids] if engines else ids


def board_ids() -> list[str]:
    from firmware_gen.boards import names
    return names()


def get(name: str, engine: str | None = None) -> Target:
    if name in HOST_TARGETS:
        return HOST_TARGETS.get(name)
    if name in board_ids():
        return _board_target(name, engine)
    if name in device_ids():
        return _device_target(name)
    raise UnknownName("target", name, [*HOST_TARGETS.names(), *board_ids(), *device_ids()])


def parse_samples(text: str) -> dict:
    """`--samples`: "N" for every target, or "target=N,..." (e.g. "host-c=1000,mps2-an386=100")."""
    from edgepipe_base.errors import EdgepipeError
    out = {}
    for part in text.split(","):
        name, _, n = part.rpartition("=")
        try:
            out[name.strip() or "*"] = int(n)
        except ValueError:
            raise EdgepipeError(f"--samples {text!r}: expected N or TARGET=N[,TARGET=N...]") from None
        if out[name.strip() or "*"] <= 0:
            raise EdgepipeError(f"--samples {text!r}: sample counts must be positive")
    return out


def select_samples(target: Target, opt: Options, x: np.ndarray, y: np.ndarray):
    chosen = opt.samples or {}
    n = chosen.get(target.name, chosen.get("*", target.default_samples))
    return (x, y) if n is None or n >= len(x) else (x[:n], None if y is None else y[:n])
