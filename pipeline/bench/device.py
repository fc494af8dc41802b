"""OS devices (phones, Linux boards, the emulated Arm64 CPU) as benchmark targets.

`<device>`: LiteRT on the device. The device-side runner (device_runner.py) gets the .tflite and
the samples (already in the model's input dtype), runs them with the device's own interpreter and
kernels, and its outputs are scored here and compared with host LiteRT (same XNNPACK setting and
threads), sample by sample: a difference is counted and shown, never hidden. Single invocations are
timed on the device after warm-up; under emulation (arm64-qemu) there is no latency (null).
On Android, which has no Python, latency comes from LiteRT's `benchmark_model` binary and there
are no outputs to score (the `<device>-c` target scores the C engine there).

`<device>-c`: the generated C engine cross-compiled for aarch64 (static), run through the same
transport on the same samples, compared with TFLM byte for byte.

The device-side work folder is named by a hash of the model, the samples and the settings, and the
runner keeps finished chunks there: a run that stopped resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import numpy as np

from edgepipe_base.errors import EdgepipeError
from edgepipe_base.tflite_file import TFLiteModel
from firmware_gen import build, codegen, host_run

from ..devices import Device
from ..results import top1
from . import device_runner, qemu
from .transports import DeviceError, Transport, open_transport

CHUNK = 100
RUNNER = Path(device_runner.__file__)
NO_LATENCY_UNDER_EMULATION = "none: qemu-aarch64 wall time is not a device latency"


def _key(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def litert_key(model_data: bytes, xq: np.ndarray, threads: int, xnnpack: bool) -> str:
    """The device-side folder of one LiteRT run: same model, samples and kernels, same outputs, same folder."""
    settings = f"threads={threads} xnnpack={xnnpack} chunk={CHUNK}".encode()
    return _key(model_data, xq.tobytes(), str(xq.shape).encode(), str(xq.dtype).encode(), settings)


def _remote_dir(t: Transport, key: str) -> str:
    d = f"{t.workdir}/{key}"
    t.mkdir(d)
    return d


# ---- LiteRT on the device ------------------------------------------------------------------------

def run_litert(device: Device, model: TFLiteModel, xq: np.ndarray, y: np.ndarray | None, workdir: Path,
               host: str | None = None, serial: str | None = None, threads: int | None = None,
               latency_runs: int = 200) -> dict:
    """Row fields for LiteRT on `device`, inputs xq already in the model's input dtype."""
    threads = threads or device.threads
    local = Path(workdir) / device.id
    local.mkdir(parents=True, exist_ok=True)
    t = open_transport(device, local, host, serial)
    if device.kind == "android":
        return _android_benchmark(t, device, model, local, threads, latency_runs)
    runs = 0 if device.emulated else latency_runs
    remote = _remote_dir(t, litert_key(model.data, xq, threads, device.xnnpack))
    (local / "model.tflite").write_bytes(model.data)
    (local / "runner.py").write_bytes(RUNNER.read_bytes())
    np.save(local / "samples.npy", xq)
    t.push_many([local / "model.tflite", local / "runner.py", local / "samples.npy"], remote)
    argv = [*t.python(), f"{remote}/runner.py", f"{remote}/model.tflite", f"{remote}/samples.npy",
            f"{remote}/out", "--threads", str(threads), "--xnnpack", "on" if device.xnnpack else "off",
            "--chunk", str(CHUNK), "--latency-runs", str(runs)]
    proc = t.run_argv(argv, device.timeout_s)
    if proc.returncode != 0:
        raise _runner_failed(t, device, proc, remote, len(xq))
    found = [ln for ln in proc.stdout.splitlines() if ln.startswith(device_runner.RESULT)]
    if not found:
        raise DeviceError(f"{t.where()}: the runner printed no result line; last output: "
                          f"{(proc.stdout.strip().splitlines() or ['none'])[-1][:200]}")
    info = json.loads(found[-1][len(device_runner.RESULT):])
    t.pull(f"{remote}/out/outputs.npy", local / "outputs.npy")
    outputs = np.load(local / "outputs.npy")
    if len(outputs) != len(xq):
        raise DeviceError(f"{t.where()}: the runner returned {len(outputs)} outputs for {len(xq)} samples")
    ref = host_outputs(model.data, xq, threads, device.xnnpack)
    differs = (outputs.reshape(len(xq), -1) != ref.reshape(len(xq), -1)).any(axis=1)
    max_diff = float(np.max(np.abs(outputs.astype(np.float64) - ref.astype(np.float64)))) if len(xq) else 0.0
    kernels = f"xnnpack {'on' if info['xnnpack'] else 'off'}, {info['threads']} thread(s)"
    latency = info["latency_ms"]
    flips = int((outputs.reshape(len(xq), -1).argmax(axis=1) != ref.reshape(len(xq), -1).argmax(axis=1)).sum())
    # the difference first: the terminal table shows a cell's first 48 characters
    note = (f"{int(differs.sum())}/{len(xq)} differ from host LiteRT (max {max_diff:.2g}, top-1 {flips}); "
            f"{info['interpreter']} {info['interpreter_version']} {info['machine']}, {kernels}")
    if device.emulated:
        note += "; no latency (emulated)"
    return {
        "accuracy": top1(outputs, np.asarray(y).reshape(-1)) if y is not None and len(xq) else None,
        "samples": len(xq),
        "latency_ms": latency,
        "latency_note": NO_LATENCY_UNDER_EMULATION if device.emulated else "single invocations after warm-up, on the device",
        "interpreter": info["interpreter"],
        "interpreter_version": info["interpreter_version"],
        "threads": info["threads"],
        "xnnpack": info["xnnpack"],
        "host_litert_mismatches": int(differs.sum()),   # samples whose output differs from host LiteRT's
        "host_litert_max_abs_diff": max_diff,
        "host_litert_top1_changes": flips,               # of those, samples whose top-1 class differs
        "resumed_samples": info["done_before"],
        "note": note,
    }


def host_outputs(model_data: bytes, xq: np.ndarray, threads: int, xnnpack: bool) -> np.ndarray:
    """Host LiteRT's outputs for the same single invocations the device made."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    kwargs = {} if xnnpack else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    interp = Interpreter(model_content=model_data, num_threads=threads, **kwargs)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    outs = []
    for sample in xq:
        interp.set_tensor(inp, sample[None, ...])
        interp.invoke()
        outs.append(interp.get_tensor(out)[0].copy())
    return np.stack(outs) if outs else np.zeros((0,))


def _runner_failed(t: Transport, device: Device, proc, remote: str, n: int) -> DeviceError:
    err = [ln for ln in (proc.stderr or "").splitlines() if ln.startswith("EDGEPIPE-ERROR ")]
    if err:
        return DeviceError(f"{t.where()}: {err[-1][len('EDGEPIPE-ERROR '):]}")
    if proc.returncode == 127:
        return DeviceError(f"{t.where()}: Python '{device.python}' not found there; install python3 with numpy "
                           f"and tflite-runtime on the device, or set python = \"/path/to/python3\" in {device.path}")
    done = t.run_shell(f"ls {shlex.quote(remote)}/out 2>/dev/null", 60).stdout.split()
    finished = min(n, CHUNK * sum(1 for f in done if re.fullmatch(r"chunk-\d+\.npy", f)))
    last = ((proc.stderr or "").strip().splitlines() or ["no output"])[-1][:200]
    return DeviceError(f"{t.where()}: the runner stopped after {finished} of {n} samples (exit {proc.returncode}: "
                       f"{last}); run again to resume from there")


def parse_benchmark_model(text: str) -> dict:
    """Latency from LiteRT's benchmark_model output: the last `count=... avg=... std=...` line (the
    timed runs; the first is warm-up) in microseconds, and 'Inference timings in us' as a fallback.
    benchmark_model prints no percentiles: median and p90 stay null, the mean is labelled."""
    stats = re.findall(r"count=(\d+) first=(\d+) curr=(\d+) min=(\d+) max=(\d+) avg=([\d.e+]+) std=(\d+)", text)
    if stats:
        count, _, _, lo, hi, avg, std = stats[-1]
        return {"median": None, "p90": None, "mean": float(avg) / 1e3, "min": int(lo) / 1e3,
                "max": int(hi) / 1e3, "std": int(std) / 1e3, "runs": int(count), "source": "benchmark_model"}
    m = re.search(r"Inference \(avg\):\s*([\d.e+]+)", text)
    if m:
        return {"median": None, "p90": None, "mean": float(m.group(1)) / 1e3, "runs": None,
                "source": "benchmark_model"}
    raise EdgepipeError("benchmark_model printed no timings (no 'count=... avg=...' line); "
                        "check it is LiteRT's benchmark_model for this device's CPU")


def _android_benchmark(t: Transport, device: Device, model: TFLiteModel, local: Path, threads: int,
                       runs: int) -> dict:
    if not device.benchmark_model:
        raise DeviceError(f"{t.where()}: set benchmark_model = \"/path/to/android_aarch64_benchmark_model\" in "
                          f"{device.path} (LiteRT's prebuilt benchmark tool; see README.md, Phones)")
    binary = Path(device.benchmark_model).expanduser()
    if not binary.is_file():
        raise DeviceError(f"{t.where()}: benchmark_model {binary} does not exist; fix the path in {device.path}")
    remote = _remote_dir(t, _key(model.data))
    t.push(binary, f"{remote}/benchmark_model")
    t.shell(f"chmod 755 {shlex.quote(remote)}/benchmark_model", "chmod benchmark_model")
    local.joinpath("model.tflite").write_bytes(model.data)
    t.push(local / "model.tflite", f"{remote}/model.tflite")
    proc = t.run_argv([f"{remote}/benchmark_model", f"--graph={remote}/model.tflite", f"--num_threads={threads}",
                       f"--use_xnnpack={'true' if device.xnnpack else 'false'}", f"--num_runs={runs}",
                       "--warmup_runs=20"], device.timeout_s)
    if proc.returncode != 0:
        raise DeviceError(f"{t.where()}: benchmark_model failed (exit {proc.returncode}: "
                          f"{((proc.stderr or proc.stdout).strip().splitlines() or ['no output'])[-1][:200]})")
    return {"accuracy": None, "samples": 0, "latency_ms": parse_benchmark_model(proc.stdout + proc.stderr),
            "threads": threads, "xnnpack": device.xnnpack, "interpreter": "benchmark_model",
            "note": "latency: benchmark_model mean (no percentiles); accuracy: none (no Python on Android; "
                    f"see {device.id}-c)"}


# ---- the generated C engine on the device --------------------------------------------------------

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_plugin" / "insn_count.c"


def insn_plugin(workdir: Path) -> Path:
    """The instruction-counting QEMU plugin, compiled for this machine."""
    return qemu.plugin_so(PLUGIN_SOURCE, workdir)


def _insns(stderr: str) -> int:
    m = re.findall(r"^EDGEPIPE-INSNS (\d+)$", stderr or "", re.MULTILINE)
    if not m:
        raise DeviceError(f"qemu-aarch64 printed no instruction count ({_last(stderr)})")
    return int(m[-1])


def _last(text: str) -> str:
    return ((text or "").strip().splitlines() or ["no output"])[-1][:200]


def build_engine(tflite_path: Path, workdir: Path, cc: str, prefix: str = "ep"):
    """Cross-compile the generated engine with its stdin/stdout driver: (engine, static binary, objects)."""
    engine = codegen.generate(tflite_path, workdir / "src", prefix)
    objects = build.compile_objects(engine.sources, workdir / "obj", include_dirs=engine.include_dirs,
                                    cc=cc, opt="-O2", where=cc)
    main = host_run.write_main(engine, workdir / "src")
    binary = build.compile_host([*objects, main], workdir / f"{prefix}_aarch64", include_dirs=engine.include_dirs,
                                cc=cc, opt="-O2", extra=["-static"])
    return engine, binary, objects


def run_engine(device: Device, tflite_path: Path, x_int8: np.ndarray, y: np.ndarray | None, workdir: Path,
               host: str | None = None, serial: str | None = None) -> dict:
    """Row fields for the generated C engine on `device`: outputs compared with TFLM byte for byte."""
    local = Path(workdir) / f"{device.id}-c"
    engine, binary, objects = build_engine(Path(tflite_path), local, device.cc)
    x = np.ascontiguousarray(x_int8, dtype=np.int8).reshape(len(x_int8), *engine.input_shape[1:])
    t = open_transport(device, local, host, serial)
    remote = _remote_dir(t, _key(binary.read_bytes(), x.tobytes()))
    (local / "inputs.bin").write_bytes(x.tobytes())
    t.push_many([binary, local / "inputs.bin"], remote)
    t.shell(f"chmod 755 {shlex.quote(remote)}/{binary.name}", "chmod the engine")
    plugin = insn_plugin(local) if device.emulated else None
    argv = t.native(f"{remote}/{binary.name}", plugin) if plugin else t.native(f"{remote}/{binary.name}")
    proc = t.run_argv(argv, device.timeout_s, stdin=f"{remote}/inputs.bin", stdout=f"{remote}/outputs.bin")
    if proc.returncode != 0:
        raise DeviceError(f"{t.where()}: the C engine exited with {proc.returncode} "
                          f"({_last(proc.stderr)})")
    t.pull(f"{remote}/outputs.bin", local / "outputs.bin")
    ours = np.frombuffer((local / "outputs.bin").read_bytes(), dtype=np.int8)
    n = len(x)
    per = int(np.prod(engine.output_shape[1:])) if engine.output_shape[:1] == (1,) else int(np.prod(engine.output_shape))
    if ours.size != n * per:
        raise DeviceError(f"{t.where()}: the C engine wrote {ours.size} bytes for {n} samples of {per}")
    ours = ours.reshape(n, per)
    from edgepipe_base import tflite_file
    from firmware_gen import lce
    ref, reference = lce.reference_outputs(tflite_file.read(tflite_path), x, where=str(tflite_path))
    ref = ref.reshape(n, -1)
    differs = (ours != ref).any(axis=1)
    sizes = build.sum_sizes(objects, size_tool=device.cc[:-3] + "size" if device.cc.endswith("gcc") else "size")
    instructions = None
    if plugin and n:      # (all N inferences - a run with none) / N: the engine's own instructions
        empty = t.run_argv(argv, device.timeout_s, stdin="/dev/null", stdout="/dev/null")
        instructions = (_insns(proc.stderr) - _insns(empty.stderr)) // n
    return {
        "accuracy": top1(ours, np.asarray(y).reshape(-1)) if y is not None and n else None,
        "samples": n,
        "mismatches": int(differs.sum()),          # samples whose output differs from the reference's
        "bit_exact_reference": reference,
        "bit_exact": bool(not differs.any()),
        "arena_bytes": engine.arena_bytes,
        "engine_code_bytes": sizes["text"] + sizes["rodata"],    # the device's objects, not a board's flash
        "engine_data_bytes": sizes["data"] + sizes["bss"],
        "binary_bytes": binary.stat().st_size,                   # the static executable pushed
        "latency_ms": None,
        "instructions": instructions,
        "instructions_note": "aarch64 instructions executed per inference (mean), counted by a QEMU TCG plugin; "
                             "not cycles" if instructions is not None else None,
        "note": f"generated C engine, {device.cc} -O2 -static" + (", under qemu-aarch64" if device.emulated else ""),
    }
