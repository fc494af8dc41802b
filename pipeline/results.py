"""One result row per (variant, target), in the schema of ARCHITECTURE.md.

A measurement that was not taken is None (null in JSON), never a made-up number.
"""

from __future__ import annotations

import numpy as np

ROW_FIELDS = ("variant", "target", "accuracy", "metric", "samples", "latency_ms", "instructions",
              "cycles", "arena_bytes", "flash_bytes", "ram_bytes", "bit_exact", "mismatches", "error",
              "engine", "note")    # engine: edgepipe | tflm | tflm-cmsis-nn on boards and host-c


def row(variant: str, target: str, **fields) -> dict:
    unknown = set(fields) - set(ROW_FIELDS)
    r = {k: None for k in ROW_FIELDS}
    r.update(variant=variant, target=target, metric="top1")
    r.update({k: v for k, v in fields.items() if k in ROW_FIELDS})
    r.update({k: fields[k] for k in sorted(unknown)})      # target-specific extras are kept
    return r


def top1(outputs: np.ndarray, labels: np.ndarray | None) -> float | None:
    if labels is None:          # random inputs, no labels: no accuracy
        return None
    return float(np.mean(np.argmax(outputs.reshape(len(outputs), -1), axis=-1) == labels))


def latency_summary(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "runs": len(ms)}
