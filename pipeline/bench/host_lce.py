"""host-lce: accuracy and single-sample latency of a binarized model with Larq Compute Engine's
interpreter on this machine (the x86-64 build of LCE: reference LceBconv2d kernels, TFLite's own
builtin kernels; LCE's optimized binary kernels are for Arm). The host target for `binary`.

Latency is the wall time of one `predict` of one sample (LCE's Python binding has no separate
invoke), so it includes setting the input and reading the output; the median and p90 of
`latency_runs` calls after warm-up."""

from __future__ import annotations

import time

import numpy as np

from edgepipe_base.tflite_file import TFLiteModel

from ..results import latency_summary, row, top1


def run(name: str, model: TFLiteModel, xq: np.ndarray, y: np.ndarray, latency_runs: int = 200,
        warmup: int = 20) -> dict:
    from firmware_gen import lce
    interp = lce._interpreter(model.data, name)
    outputs = lce._predict(interp, xq)[0]
    times = []
    for i in range(warmup + latency_runs):
        sample = xq[i % len(xq)][None, ...]
        t0 = time.perf_counter()
        interp.predict(sample)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return row(name, "host-lce", accuracy=top1(outputs.reshape(len(xq), -1), y), samples=len(xq),
               latency_ms=latency_summary(times) if times else None, threads=1,
               delegate="none (LCE interpreter, reference binary kernels on x86-64)",
               tflite_bytes=len(model.data))
