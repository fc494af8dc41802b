"""host-litert: accuracy and single-sample latency with the LiteRT interpreter on this machine."""

from __future__ import annotations

import time

import numpy as np

from ..quant_io import quantize_inputs
from ..results import latency_summary, row, top1
from ..tflite_file import TFLiteModel


def run(name: str, model: TFLiteModel, x: np.ndarray, y: np.ndarray, threads: int = 1,
        latency_runs: int = 200, warmup: int = 20) -> dict:
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_content=model.data, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    xq = quantize_inputs(model, x)
    outputs = np.empty((len(xq), *interp.get_output_details()[0]["shape"][1:]),
                       dtype=interp.get_output_details()[0]["dtype"])
    for i, sample in enumerate(xq):
        interp.set_tensor(inp, sample[None, ...])
        interp.invoke()
        outputs[i] = interp.get_tensor(out)[0]
    times = []
    for i in range(warmup + latency_runs):
        interp.set_tensor(inp, xq[i % len(xq)][None, ...])
        t0 = time.perf_counter()
        interp.invoke()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return row(name, "host-litert", accuracy=top1(outputs, y), samples=len(xq),
               latency_ms=latency_summary(times) if times else None, threads=threads,
               delegate="xnnpack (LiteRT default)")
