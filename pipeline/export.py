"""`edgepipe export`: C files for firmware from a model name or a .tflite.

Writes the TFLM drop-in files (`<name>_model_data.c/.h`, `<name>_model_settings.h`) and the
self-contained generated engine (`<name>_model.c/.h` + the runtime kernels it calls).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from edgepipe_base.errors import EdgepipeError


def c_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


def export(model: str, out: Path, prefix: str | None = None, variant: str = "int8",
           dataset: str | None = None) -> list[Path]:
    from firmware_gen import codegen, export_tflm

    from . import convert, datasets
    from .run import RunConfig, prepare
    if model.endswith(".tflite"):             # a finished model: no dataset needed, labels optional
        v, stem = convert.from_tflite(Path(model)), Path(model).stem
        labels = datasets.load(dataset).labels if dataset else None
    else:
        p = prepare(RunConfig(model=model, variants=(variant,), targets=(), dataset=dataset))
        v, stem, labels = p.tflites[0], f"{p.recipe.name}_{variant}", p.data.labels
    if v.tensor_types not in ("int8", "int16x8"):
        raise EdgepipeError(f"{v.name} computes in {v.tensor_types}; the C exports need a "
                            "full-integer int8 (or int16x8) model (--variant int8, int16x8, qat, ...)")
    name = prefix or c_name(stem)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgepipeError(f"{out}: cannot create the export folder ({exc.strerror})") from None
    written = export_tflm.export(v.tflite_path, out, name, labels=labels)
    engine = codegen.generate(v.tflite_path, out, name)
    written += [engine.c_path, engine.h_path]
    runtime = out / "edgepipe_runtime"
    runtime.mkdir(exist_ok=True)
    for src in sorted({*engine.runtime_sources, *codegen.RUNTIME_DIR.glob("*.h")}):
        shutil.copy2(src, runtime / src.name)
        written.append(runtime / src.name)
    return written
