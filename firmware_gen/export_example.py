"""The parts of an export that make it usable without edgepipe at hand: `<prefix>_input.h` (the
input preprocessing as constants and a quantize function), an example `main.c`, a `Makefile`
snippet that builds it, and a README.md with the API, the arenas and the preprocessing formula."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from edgepipe_base.atomic import write_atomic

from .codegen import TEMPLATE_DIR, GeneratedEngine, c_float, engine_version


def write(engine: GeneratedEngine, out_dir, source: str, preprocessing: dict | None,
          labels=None, edgepipe_version: str = "") -> list[Path]:
    """Write input.h, main.c, Makefile and README.md for `engine` (already generated in out_dir).

    preprocessing: {"scale", "offset", "raw_min", "raw_max"} (x = raw * scale + offset), or None
    when it is not known (raw values are then taken as the model's float inputs)."""
    out_dir = Path(out_dir)
    p, P = engine.prefix, engine.prefix.upper()
    pre = preprocessing or {"scale": 1.0, "offset": 0.0, "raw_min": None, "raw_max": None}
    settings = out_dir / f"{p}_model_settings.h"
    m = re.search(rf"#define {P}_TFLM_ARENA_BYTES (\d+)", settings.read_text()) if settings.exists() else None
    import numpy as np
    input_elements = int(np.prod(engine.input_shape))      # int8: one byte per element
    output_elements = int(np.prod(engine.output_shape))
    values = dict(
        prefix=p, PREFIX=P, source=source, sha256=engine.sha256, edgepipe_version=edgepipe_version,
        engine_version=engine_version(), input_elements=input_elements,
        input_shape="x".join(map(str, engine.input_shape)), output_shape="x".join(map(str, engine.output_shape)),
        input_bytes=input_elements, output_bytes=output_elements, engine_arena=engine.arena_bytes,
        tflm_arena=m.group(1) if m else "not measured", macs=engine.macs, state_bytes=engine.state_bytes,
        raw_scale=c_float(pre["scale"]), raw_offset=c_float(pre["offset"]),
        raw_scale_text=f"{pre['scale']:.9g}", raw_offset_text=f"{pre['offset']:.9g}",
        raw_min=_num(pre.get("raw_min")), raw_max=_num(pre.get("raw_max")),
        input_scale_text=f"{engine.input_scale:.9g}", input_zero_point=engine.input_zero_point,
        preprocessing_note="the dataset's preprocessing" if preprocessing else
        "preprocessing not given: export with --dataset to record it; raw is taken as the model input",
        labels_text=", ".join(f"{i} `{l}`" for i, l in enumerate(labels)) if labels else "not given (export with --dataset)",
        runtime_sources=" ".join(f"edgepipe_runtime/{s.name}" for s in engine.runtime_sources))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    written = []
    for template, name in (("export_input.h.j2", f"{p}_input.h"), ("export_main.c.j2", "main.c"),
                           ("export_Makefile.j2", "Makefile")):
        path = out_dir / name
        write_atomic(path, env.get_template(template).render(**values))
        written.append(path)
    files = sorted(str(f.relative_to(out_dir)) for f in out_dir.rglob("*") if f.is_file())
    readme = out_dir / "README.md"
    write_atomic(readme, env.get_template("export_README.md.j2").render(**values, files=sorted({*files, "README.md"})))
    return [*written, readme]


def _num(v) -> str:
    return "unknown" if v is None else f"{float(v):g}"
