"""The TFLM reference interpreter (`tflite_micro` package), with its diagnostics made readable.

TFLM prints its reasons (missing op, arena too small) and its arena use to the C-level stderr (fd 2),
not to Python: `_capture_fd2` collects them so errors and `arena_bytes` are real messages and numbers.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
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


def run(model: bytes, inputs: np.ndarray, arena_size: int = DEFAULT_ARENA, where: str = "model") -> TFLMRun:
    """Invoke TFLM once per sample of `inputs` (shape [N, *input_shape]) and collect the outputs.

    Samples that an earlier call already ran through the same model (a prefix of its inputs) are
    not run again: TFLM is deterministic, so its outputs are reused."""
    import hashlib
    key = hashlib.sha256(model).hexdigest() + f"/{arena_size}"
    seen = _REFERENCE.get(key)
    if seen is not None and len(inputs) <= len(seen[0]) and np.array_equal(seen[0][:len(inputs)], inputs):
        return TFLMRun(outputs=seen[1].outputs[:len(inputs)], arena_bytes=seen[1].arena_bytes)
    result = _run_parallel(model, inputs, arena_size, where)
    if len(inputs) > 1:
        _REFERENCE.clear()                       # keep one model's reference: bounded memory
        _REFERENCE[key] = (np.array(inputs, copy=True), result)
    return result


PARALLEL_MIN_SAMPLES = 1000


def _run_parallel(model: bytes, inputs: np.ndarray, arena_size: int, where: str) -> TFLMRun:
    """Large sample sets are split over the machine's cores (TFLM itself is single-threaded).

    Each worker is a fresh interpreter in a spawned process; outputs are concatenated in order, so
    the result is the same as one sequential run (TFLM keeps no state between invocations of these
    feed-forward models)."""
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or len(inputs) < PARALLEL_MIN_SAMPLES:
        return _run(model, inputs, arena_size, where)
    import concurrent.futures.process
    first = _run(model, inputs[:1], arena_size, where)           # diagnostics + arena, in-process
    chunks = np.array_split(inputs[1:], workers)
    try:
        parts = list(_pool(workers).map(_outputs_only, [model] * workers, chunks, [arena_size] * workers,
                                        [where] * workers))
    except concurrent.futures.process.BrokenProcessPool:
        _close_pool()
        raise TFLMError(f"{where}: a TFLM worker process died (out of memory, or killed); "
                        "run again, or with fewer samples (--samples host-tflm=N)") from None
    return TFLMRun(outputs=np.concatenate([first.outputs, *parts]), arena_bytes=first.arena_bytes)


_POOL = None


def _pool(workers: int):
    """The worker processes, started once per run and reused by every variant (a spawned worker
    costs an interpreter start and imports); spawned, not forked, from a TensorFlow process."""
    global _POOL
    if _POOL is None:
        import atexit
        import concurrent.futures
        import multiprocessing
        _POOL = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_close_pool)
    return _POOL


def _close_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(cancel_futures=True)
        _POOL = None


def _outputs_only(model: bytes, inputs: np.ndarray, arena_size: int, where: str) -> np.ndarray:
    return _run(model, inputs, arena_size, where).outputs


def _run(model: bytes, inputs: np.ndarray, arena_size: int, where: str) -> TFLMRun:
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
            for i, x in enumerate(inputs):
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
    return run(model, np.zeros((1, *input_shape), dtype=input_dtype), where=where).arena_bytes


def all_tensors(model: bytes, x: np.ndarray, tensor_indices, where: str = "model") -> dict[int, np.ndarray]:
    """Run one sample with every tensor preserved; return the values of `tensor_indices` (debugging)."""
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
