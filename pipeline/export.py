"""`edgepipe export`: C files for firmware from a model recipe, a Keras file or a .tflite.

Writes the TFLM drop-in files (`<name>_model_data.c/.h`, `<name>_model_settings.h`), the
self-contained generated engine (`<name>_model.c/.h` + the runtime kernels it calls), the input
preprocessing (`<name>_input.h`), an example program (`main.c`), a build snippet (`Makefile`) and a
README.md that says how they fit together.

An export is all-or-nothing: every file is written into a temporary folder next to `--out` and
moved into place only when the whole export is complete, so a failed export leaves `--out` as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from edgepipe_base.errors import EdgepipeError


def c_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


def export(model: str, out: Path, prefix: str | None = None, variant: str = "int8",
           dataset: str | None = None, run_dir: Path | None = None, scale: float | None = None,
           offset: float | None = None, note=print, layout: str = "speed") -> list[Path]:
    """Export `model` (recipe name, .keras/.h5 or .tflite) into `out`; returns the files written.
    `layout`: the generated engine's kernel tables, speed or size (firmware_gen/layout.py).

    A recipe or Keras file is prepared in its run folder (`run_dir`, default runs/<name>): what that
    folder already holds (trained model, converted variants) is reused, not redone."""
    from . import convert, datasets
    from .run import RunConfig, default_out, prepare
    if model.endswith(".tflite"):             # a finished model: no dataset needed, labels optional
        if not Path(model).exists():
            raise EdgepipeError(f"{model}: no such file")
        v, stem = convert.from_tflite(Path(model)), Path(model).stem
        data = datasets.load(dataset, scale, offset) if dataset else None
        source = Path(model).name
    else:
        cfg = RunConfig(model=model, variants=(variant,), targets=(), dataset=dataset, out=run_dir,
                        input_scale=scale, input_offset=offset)
        where = Path(run_dir or default_out(cfg))
        trained = any(where.glob("train-*/manifest.json")) or any(where.glob("convert-*/manifest.json"))
        note(f"export: run folder {where} ({'reusing what it holds' if trained else 'nothing there yet: preparing the model there'})")
        p = prepare(cfg)
        v, data = p.tflites[0], p.data
        stem = f"{p.recipe.name}_{variant}" if p.recipe else f"{Path(model).stem}_{variant}"
        source = f"{p.recipe.name if p.recipe else Path(model).name}, variant {variant}"
    if v.tensor_types not in ("int8", "int16x8"):
        raise EdgepipeError(f"{v.name} computes in {v.tensor_types}; the C exports need a "
                            "full-integer int8 (or int16x8) model (--variant int8, int16x8, qat, ...)")
    name = prefix or c_name(stem)
    out = Path(out)
    with staging(out) as tmp:
        written = _write_all(v, data, name, tmp, source, layout)
        return commit(tmp, out, written)


def _write_all(v, data, name: str, out: Path, source: str, layout: str = "speed") -> list[Path]:
    from firmware_gen import codegen, export_example, export_tflm

    from . import __version__
    labels = data.labels if data is not None else None
    written = export_tflm.export(v.tflite_path, out, name, labels=labels)
    engine = codegen.generate(v.tflite_path, out, name, layout=layout)
    written += [engine.c_path, engine.h_path]
    runtime = out / "edgepipe_runtime"
    runtime.mkdir(exist_ok=True)
    for src in sorted({*engine.runtime_sources, *codegen.RUNTIME_DIR.glob("*.h")}):
        shutil.copy2(src, runtime / src.name)
        written.append(runtime / src.name)
    pre = data.preprocessing.to_dict() if data is not None else None
    written += export_example.write(engine, out, source, pre, labels, __version__)
    return written


class staging:
    """A temporary folder beside `out` (same file system, so the final moves are renames), removed
    on the way out whatever happens."""

    def __init__(self, out: Path):
        self.out = Path(out)

    def __enter__(self) -> Path:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.export-", dir=self.out.parent))
        except OSError as exc:
            raise EdgepipeError(f"{self.out}: cannot create the export folder ({exc.strerror}); "
                                "pass --out with a folder you can write") from None
        return self.tmp

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def commit(tmp: Path, out: Path, written: list[Path]) -> list[Path]:
    """Move a complete export from `tmp` into `out`. A new `out` is one rename; into an existing
    folder each file is renamed over its old version and files that are not ours are left alone."""
    from edgepipe_base.atomic import normal_mode
    for p in [tmp, *tmp.rglob("*")]:
        normal_mode(p)
    final = [out / p.relative_to(tmp) for p in written]
    try:
        if not out.exists():
            os.rename(tmp, out)
            tmp.mkdir()                          # for staging.__exit__ to remove
            return final
        if not out.is_dir():
            raise EdgepipeError(f"{out}: exists and is not a folder; pass --out with a folder")
        for src, dst in zip(written, final):
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    except OSError as exc:
        raise EdgepipeError(f"{out}: cannot move the export into place ({exc.strerror})") from None
    return final
