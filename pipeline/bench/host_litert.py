"""host-litert: accuracy and single-sample latency with the LiteRT interpreter on this machine."""

from __future__ import annotations

import time

import numpy as np

from ..quant_io import quantize_inputs
from ..results import latency_summary, row, top1
from edgepipe_base.tflite_file import TFLiteModel

BATCH = 256


def run(name: str, model: TFLiteModel, x: np.ndarray, y: np.ndarray, threads: int = 1,
        latency_runs: int = 200, warmup: int = 20, mode: str = "reset") -> dict:
    """`mode`: how a stateful (streaming) model takes the samples: "reset" (state re-initialised
    before each) or "stream" (one stream); a stateless model gives the same either way."""
    from firmware_gen.state import is_stateful
    xq = quantize_inputs(model, x)
    stateful = is_stateful(model)
    outputs = _stateful_outputs(model, xq, threads, mode) if stateful else _outputs(model, xq, threads)
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_content=model.data, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    times = []
    for i in range(warmup + latency_runs):
        interp.set_tensor(inp, xq[i % len(xq)][None, ...])
        t0 = time.perf_counter()
        interp.invoke()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return row(name, "host-litert", accuracy=top1(outputs, y), samples=len(xq),
               latency_ms=latency_summary(times) if times else None, threads=threads,
               delegate="xnnpack (LiteRT default)", **({"eval_mode": mode} if stateful else {}))


def _stateful_outputs(model: TFLiteModel, xq: np.ndarray, threads: int, mode: str) -> np.ndarray:
    """One invoke per sample, in order. LiteRT's reset_all_variables() re-initialises variable
    tensors but not resource variables (their CALL_ONCE does not run again), so "reset" takes a
    fresh interpreter per sample for a model with resource variables."""
    from ai_edge_litert.interpreter import Interpreter
    resources = any(op.opcode == "VAR_HANDLE" for sg in model.subgraphs for op in sg.operators)
    interp = None
    out = []
    for k, sample in enumerate(xq):
        if interp is None or (mode != "stream" and resources):
            interp = Interpreter(model_content=model.data, num_threads=threads)
            interp.allocate_tensors()
            inp, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
        elif mode != "stream":
            interp.reset_all_variables()
        interp.set_tensor(inp, sample[None, ...])
        interp.invoke()
        out.append(interp.get_tensor(o)[0].copy())
    return np.stack(out) if out else np.empty((0,))


def _outputs(model: TFLiteModel, xq: np.ndarray, threads: int) -> np.ndarray:
    """Outputs for every sample, in batches when the model's shapes allow it (much faster than one
    invoke per sample through Python; each sample's result does not depend on its batch-mates)."""
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_content=model.data, num_threads=threads)
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    batch = min(BATCH, len(xq))
    try:
        interp.resize_tensor_input(inp, [batch, *xq.shape[1:]])
        interp.allocate_tensors()
        chunks = []
        for start in range(0, len(xq), batch):
            part = xq[start:start + batch]
            if len(part) < batch:                  # pad the last batch; drop the padding after
                part = np.concatenate([part, np.repeat(part[-1:], batch - len(part), axis=0)])
            interp.set_tensor(inp, part)
            interp.invoke()
            chunks.append(interp.get_tensor(out).copy())
        result = np.concatenate(chunks)[:len(xq)]
        if result.shape[0] == len(xq):
            return result
    except (RuntimeError, ValueError):             # a fixed batch of 1 baked into the graph
        pass
    interp = Interpreter(model_content=model.data, num_threads=threads)
    interp.allocate_tensors()
    single = []
    for sample in xq:
        interp.set_tensor(inp, sample[None, ...])
        interp.invoke()
        single.append(interp.get_tensor(out)[0].copy())
    return np.stack(single)
