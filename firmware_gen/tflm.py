"""The TFLM reference interpreter (`tflite_micro` package), isolated in worker processes, with its
diagnostics made readable.

TFLM prints its reasons (missing op, arena too small) and its arena use to the C-level stderr (fd 2),
not to Python: `_capture_fd2` collects them so errors and `arena_bytes` are real messages and numbers.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from edgepipe_base.errors import EdgepipeError

_ARENA_RE = re.compile(r"Arena allocation total (\d+) bytes")
_MISSING_OP_RE = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'")
DEFAULT_ARENA = 64 * 1024 * 1024     # host memory is cheap; the real need is measured, not this


@contextlib.contextmanager
def _capture_fd2():
    """Redirect the process's fd 2 into a temp file; yields a list that receives the text."""
    out: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


class TFLMError(EdgepipeError):
    """TFLM refused the model; the message carries TFLM's own reason."""


@dataclass
class TFLMRun:
    outputs: np.ndarray          # [N, ...] raw output tensor values (int8 for int8 models)
    arena_bytes: int | None      # what TFLM's recording allocator reported; None if not printed


def _interpreter(model: bytes, arena_size: int, preserve: bool = False):
    from tflite_micro.python.tflite_micro import runtime
    cfg = (runtime.InterpreterConfig.kPreserveAllTensors if preserve
           else runtime.InterpreterConfig.kAllocationRecording)
    return runtime.Interpreter.from_bytes(model, arena_size=arena_size, intrepreter_config=cfg)


def _why(stderr: str) -> str:
    missing = sorted(set(_MISSING_OP_RE.findall(stderr)))
    if missing:
        return "TFLM has no kernel for " + ", ".join(missing)
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "no reason printed"


def interpreter(model: bytes, arena_size: int = DEFAULT_ARENA, where: str = "model"):
    """A loaded TFLM interpreter, for callers that time invoke() themselves (bench/)."""
    with _capture_fd2() as err:
        try:
            return _interpreter(model, arena_size)
        except Exception:
            pass
    raise TFLMError(f"{where}: TFLM cannot load it ({_why(err[0])})")


# The reference outputs of the last run per model, so that host-c and the boards compare against
# the outputs host-tflm already computed instead of running TFLM over the same samples again.
_REFERENCE: dict[str, tuple[np.ndarray, TFLMRun]] = {}
# host-c and the boards run in threads side by side and may ask for a reference at the same time
_LOCK = threading.RLock()


# How a sequence of inputs is run through a stateful (streaming) model: RESET re-initialises its
# state before every sample (independent samples: a dataset's accuracy), STREAM carries it from one
# input to the next (the frames of one stream). A model without state gives the same either way.
RESET, STREAM = "reset", "stream"
MODES = (RESET, STREAM)


def run(model: bytes, inputs: np.ndarray, arena_size: int = DEFAULT_ARENA, where: str = "model",
        doing: str = "computing reference outputs", mode: str = RESET) -> TFLMRun:
    """Invoke TFLM once per sample of `inputs` (shape [N, *input_shape]) and collect the outputs.
    `mode`: RESET (interpreter.reset() before each sample) or STREAM (one fresh interpreter, state
    carried from sample to sample).

    TFLM runs in worker processes (see _Worker): a model that crashes it ends in a TFLMError naming
    the signal, never in a dead edgepipe. Samples that an earlier call already ran through the same
    model (a prefix of its inputs) are not run again: TFLM is deterministic, so its outputs are reused."""
    with _LOCK:                   # one caller at a time: the workers' pipes carry one request each
        return _run_memoized(model, inputs, arena_size, where, doing, mode)


def _run_memoized(model: bytes, inputs: np.ndarray, arena_size: int, where: str, doing: str,
                  mode: str = RESET) -> TFLMRun:
    import hashlib
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {MODES}")
    key = hashlib.sha256(model).hexdigest() + f"/{arena_size}/{mode}"
    seen = _REFERENCE.get(key)
    if seen is not None and len(inputs) <= len(seen[0]) and np.array_equal(seen[0][:len(inputs)], inputs):
        return TFLMRun(outputs=seen[1].outputs[:len(inputs)], arena_bytes=seen[1].arena_bytes)
    result = _run_isolated(model, inputs, arena_size, where, doing, mode)
    if len(inputs) > 1:
        _REFERENCE.clear()                       # keep one model's reference: bounded memory
        _REFERENCE[key] = (np.array(inputs, copy=True), result)
    return result


PARALLEL_MIN_SAMPLES = 1000
SECONDS_PER_CALL = 120.0          # generous: what a worker may take before it counts as hung ...
SECONDS_PER_SAMPLE = 0.5          # ... plus this per sample (ResNet-8 takes ~0.05 s in TFLM here)


def _run_isolated(model: bytes, inputs: np.ndarray, arena_size: int, where: str, doing: str,
                  mode: str = RESET) -> TFLMRun:
    """Large sample sets are split over the machine's cores (TFLM itself is single-threaded).

    Each part runs in its own worker process; outputs are concatenated in order, so the result is
    the same as one sequential run (each sample starts from reset state: feed-forward models keep
    none, stateful ones are reset). A stream runs in one worker, in order. The first sample runs
    alone first: its diagnostics and arena use are what we report."""
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or len(inputs) < PARALLEL_MIN_SAMPLES or mode == STREAM:
        return _call(0, "run", (model, inputs, arena_size, where, mode), where, doing, len(inputs))
    first = _call(0, "run", (model, inputs[:1], arena_size, where, mode), where, doing, 1)
    chunks = np.array_split(inputs[1:], workers)
    for k, chunk in enumerate(chunks):
        _worker(k).send("outputs", (model, chunk, arena_size, where, mode))
    parts = [_worker(k).receive(where, doing, len(chunk)) for k, chunk in enumerate(chunks)]
    return TFLMRun(outputs=np.concatenate([first.outputs, *parts]), arena_bytes=first.arena_bytes)


def _call(k: int, fn: str, args: tuple, where: str, doing: str, samples: int):
    w = _worker(k)
    w.send(fn, args)
    return w.receive(where, doing, samples)


class _Worker:
    """One spawned process that runs TFLM for the parent and answers over a pipe.

    TFLM is C++ in our process otherwise: a malformed model that passes every check we know can
    still make it read out of bounds or divide by zero, and a signal would take the CLI down with no
    message. Here the worker dies instead; the parent sees the pipe close, reads the exit signal and
    raises a TFLMError that says so. A worker that does not answer in time is killed the same way.
    Workers start once per process (an interpreter start and the imports cost ~1 s) and are reused.
    A worker is a fresh `python -m firmware_gen.tflm` (never a fork of a TensorFlow process, and
    unlike multiprocessing's spawn it does not re-run the caller's main script), talking over two
    pipes of its own."""

    def __init__(self):
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_gen.tflm", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.conn = _Pipe(Connection(to_child_w, readable=False), Connection(from_child_r, writable=False))

    def send(self, fn: str, args: tuple):
        self.conn.send((fn, args))

    def receive(self, where: str, doing: str, samples: int):
        limit = SECONDS_PER_CALL + SECONDS_PER_SAMPLE * samples
        try:
            if not self.conn.poll(limit):
                self.stop()
                raise TFLMError(f"{where}: TFLM did not finish within {limit:.0f} s while {doing}: the model "
                                "is malformed or far too large for a microcontroller")
            status, value = self.conn.recv()
        except (EOFError, OSError, ConnectionError):
            code = self._wait(5)
            self.stop()
            raise TFLMError(f"{where}: TFLM crashed on this model ({_describe_exit(code)}) while {doing}: "
                            "the model is malformed; convert it again with the TFLite converter") from None
        if status == "error":
            raise TFLMError(value)
        return value

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _wait(self, seconds: float):
        import subprocess
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        self.conn.close()
        if self.alive():
            self.proc.kill()
        self._wait(5)


class _Pipe:
    """Two one-way multiprocessing Connections as one duplex: send to the worker, recv from it."""

    def __init__(self, out, inp):
        self.out, self.inp = out, inp

    def send(self, obj):
        self.out.send(obj)

    def poll(self, timeout):
        return self.inp.poll(timeout)

    def recv(self):
        return self.inp.recv()

    def close(self):
        for c in (self.out, self.inp):
            try:
                c.close()
            except OSError:
                pass


def _describe_exit(code) -> str:
    import signal
    if code is not None and code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _serve(inp, out):
    """The worker's loop: run what the parent asks, reply (status, value)."""
    handlers = {"run": _run, "outputs": _outputs_only, "all_tensors": _all_tensors}
    while True:
        try:
            fn, args = inp.recv()
        except EOFError:
            return
        try:
            out.send(("ok", handlers[fn](*args)))
        except TFLMError as exc:
            out.send(("error", str(exc)))


_WORKERS: dict[int, _Worker] = {}


def _worker(k: int) -> _Worker:
    w = _WORKERS.get(k)
    if w is None or not w.alive():
        if not _WORKERS:
            import atexit
            atexit.register(_close_workers)
        w = _WORKERS[k] = _Worker()
    return w


def _close_workers() -> None:
    for w in _WORKERS.values():
        w.stop()
    _WORKERS.clear()


def _outputs_only(model: bytes, inputs: np.ndarray, arena_size: int, where: str, mode: str = RESET) -> np.ndarray:
    return _run(model, inputs, arena_size, where, mode).outputs


def is_stateful(model: bytes) -> bool:
    """Whether the model keeps state between invocations (resource variables or variable tensors)."""
    from tflite_micro.python.tflite_micro import runtime
    m = runtime.convert_bytearray_to_object(bytearray(model))
    return runtime.count_resource_variables(m) > 0 or any(
        bool(t.isVariable) for sg in m.subgraphs or [] for t in sg.tensors or [])


def _run(model: bytes, inputs: np.ndarray, arena_size: int, where: str, mode: str = RESET) -> TFLMRun:
    with _capture_fd2() as err:
        try:
            interp = _interpreter(model, arena_size)
        except Exception:
            interp = None
    if interp is None:
        raise TFLMError(f"{where}: TFLM cannot load it ({_why(err[0])})")
    outs = []
    with _capture_fd2() as err:
        try:
            reset = mode == RESET and is_stateful(model)
            for i, x in enumerate(inputs):
                if reset and i > 0:
                    interp.reset()
                interp.set_input(np.ascontiguousarray(x[None, ...]), 0)
                interp.invoke()
                outs.append(np.array(interp.get_output(0))[0])
                if i == 0:
                    interp.print_allocations()
        except Exception:
            outs = None
    if outs is None:
        raise TFLMError(f"{where}: TFLM failed to run it ({_why(err[0])})")
    match = _ARENA_RE.search(err[0])
    return TFLMRun(outputs=np.stack(outs) if outs else np.empty((0,)),
                   arena_bytes=int(match.group(1)) if match else None)


def arena_bytes(model: bytes, input_shape, input_dtype, where: str = "model") -> int | None:
    """The arena TFLM needs for `model`, measured by running one zero input through it."""
    return run(model, np.zeros((1, *input_shape), dtype=input_dtype), where=where,
               doing="measuring its arena").arena_bytes


def all_tensors(model: bytes, x: np.ndarray, tensor_indices, where: str = "model") -> dict[int, np.ndarray]:
    """Run one sample with every tensor preserved; return the values of `tensor_indices` (debugging)."""
    with _LOCK:
        return _call(0, "all_tensors", (model, x, list(tensor_indices), where), where,
                     "reading every layer's output", 1)


def _all_tensors(model: bytes, x: np.ndarray, tensor_indices, where: str) -> dict[int, np.ndarray]:
    with _capture_fd2() as err:
        try:
            interp = _interpreter(model, DEFAULT_ARENA, preserve=True)
            interp.set_input(np.ascontiguousarray(x[None, ...]), 0)
            interp.invoke()
            out = {}
            for i in tensor_indices:
                # GetTensor returns {"dtype", "shape", "tensor_data"}, not an array
                t = interp.GetTensor(i, 0)
                out[i] = np.asarray(t["tensor_data"]).reshape(tuple(int(d) for d in t["shape"]))
            return out
        except Exception:
            pass
    raise TFLMError(f"{where}: TFLM failed to run it ({_why(err[0])})")


if __name__ == "__main__":          # a worker (_Worker): read requests on fd argv[1], reply on argv[2]
    import sys
    from multiprocessing.connection import Connection
    from firmware_gen import tflm as this      # under its own name, so that replies unpickle as such
    this._serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
