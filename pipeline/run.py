"""The driver: one run of train -> compress -> convert -> preflight -> benchmark -> report.

`run()` reads as the table of contents of a run; each stage takes and returns typed artifacts and
is followed by a cheap invariant check. Stages cache by content under `<out>/`; `force` names the
first stage to redo (it and every later stage are recomputed).
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepipe_base import tflite_file
from . import __version__, accumulate, cache, convert, datasets, preflight, recipes, report
from .artifacts import KerasModel, TFLiteVariant
from .bench import targets as target_registry
from edgepipe_base.errors import EdgepipeError, UnknownName

STAGES = ("train", "compress", "convert", "bench")      # preflight is cheap and always runs
PTQ_VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
HOST_TARGETS = ("host-litert", "host-tflm")


@dataclass(frozen=True)
class RunConfig:
    model: str                                  # recipe name, or a .keras/.h5/.tflite file
    variants: tuple[str, ...] | None = None     # None: every registered variant
    targets: tuple[str, ...] = HOST_TARGETS
    out: Path | None = None                     # default runs/<model>
    force: str | None = None                    # first stage to redo
    dataset: str | None = None                  # needed when starting from a file: name, .npz or folder
    input_scale: float | None = None            # replace the dataset's x = raw * scale + offset
    input_offset: float | None = None
    calibration_samples: int = convert.DEFAULT_CALIBRATION_SAMPLES
    options: dict = field(default_factory=dict)  # samples, threads, latency_runs, port
    engines: tuple[str, ...] | None = None      # board engines; None: edgepipe, else TFLM+CMSIS-NN


@dataclass(frozen=True)
class Prepared:
    recipe: object | None
    data: datasets.Dataset
    out: Path
    base: KerasModel | None
    tflites: list[TFLiteVariant]


def run(cfg: RunConfig) -> tuple[dict, dict[str, Path]]:
    targets = target_registry.with_engines([target_registry.get(t) for t in cfg.targets], cfg.engines)
    _check_samples(cfg)
    p = prepare(cfg)                                   # train -> compress -> convert
    checks = preflight_stage(p.tflites, [t.name for t in targets if t.kind not in ("host", "os")])
    results = bench_stage(p.tflites, checks, targets, p.data, p.out, cfg)
    doc = results_document(p.recipe, cfg, p.data, p.base, p.tflites, checks, results)
    doc = accumulate.merge(accumulate.load_previous(p.out, doc), doc)   # keeps every row not redone
    return doc, report.write(doc, p.out)


def prepare(cfg: RunConfig) -> Prepared:
    """The model-side stages: the variants as .tflite files (each stage cached)."""
    _check_force(cfg.force)
    recipe, source = _source(cfg)
    if source == "tflite" and cfg.dataset is None:      # no labels: seeded random inputs
        from . import random_inputs
        wanted = [n for n in (cfg.options.get("samples") or {}).values()]
        data = random_inputs.dataset(Path(cfg.model), max(wanted) if wanted else random_inputs.SAMPLES)
    else:
        data = datasets.load(cfg.dataset or recipe.dataset, cfg.input_scale, cfg.input_offset)
    out = default_out(cfg)
    _check_writable(out)
    if source == "tflite":
        variant = convert.from_tflite(Path(cfg.model))
        if cfg.dataset is not None:
            _check_input_shape(variant, data)
        return Prepared(recipe, data, out, None, [variant])
    base = train_stage(recipe, data, out, cfg) if source == "recipe" else _from_keras_file(cfg, data)
    keras_models = compress_stage(_compressions(cfg, recipe), base, recipe, data, out, cfg)
    tflites = convert_stage(_variant_names(cfg, recipe), base, keras_models, data, out, cfg, recipe)
    return Prepared(recipe, data, out, base, tflites)


# ---- stages ---------------------------------------------------------------------------------

def train_stage(recipe, data, out: Path, cfg: RunConfig) -> KerasModel:
    from .train import train
    base = train(recipe, data, out, force=_forced(cfg, "train"))
    assert base.path.exists() and base.params > 0, "train stage produced no model"
    return base


def compress_stage(names: list[str], base: KerasModel, recipe, data, out: Path,
                   cfg: RunConfig) -> dict[str, KerasModel]:
    if not names:
        return {}
    if recipe is None:
        raise EdgepipeError(f"variants {', '.join(names)} need a recipe (they retrain a tf-keras model that "
                            "a recipe builds); a model file (tf-keras or Keras 3) runs the post-training "
                            f"variants {', '.join(PTQ_VARIANTS)}: start from a model name for the others")
    from .compress import compress
    models = compress(names, base, recipe, data, out, force=_forced(cfg, "compress"))
    missing = set(names) - set(models)
    assert not missing, f"compress stage did not produce {missing}"
    return models


def convert_stage(names: list[str], base: KerasModel, compressed: dict[str, KerasModel], data,
                  out: Path, cfg: RunConfig, recipe=None) -> list[TFLiteVariant]:
    variants = []
    for name in names:
        if name in PTQ_VARIANTS:
            q = convert.QUANTIZATIONS.get(name)
            source, kind, quant = base, q.kind, name
        else:
            from .compress import COMPRESSIONS
            source, kind = compressed[name], COMPRESSIONS.get(name).kind
            quant = source.meta.get("quantization", "int8")      # binary: "lce"
        print(f"convert {name}: {kind}", flush=True)
        v = convert.convert(source, name, kind, quant, data, out,
                            calibration_samples=cfg.calibration_samples, force=_forced(cfg, "convert"),
                            stream=getattr(recipe.module, "stream_model", None) if recipe else None)
        assert v.tflite_bytes > 0 and v.tensor_types, f"variant {name} has no model"
        variants.append(v)
    return variants


def preflight_stage(tflites: list[TFLiteVariant], board_ids: list[str]) -> dict:
    """Checks per variant (key: name) and, for each board target, per (name, board id)."""
    from firmware_gen.boards import load_board
    checks: dict = {}
    for v in tflites:
        model = tflite_file.read(v.tflite_path)
        checks[v.name] = preflight.run(v, model)
        for b in board_ids:
            checks[(v.name, b)] = preflight.for_board(checks[v.name], v, model, load_board(b))
    assert all(v.name in checks for v in tflites)
    return checks


def bench_stage(tflites, checks, targets, data, out: Path, cfg: RunConfig) -> list[dict]:
    """Every variant on every target; variant by variant, so TFLM's reference outputs for one
    variant are computed once (host-tflm) and reused by host-c and the boards. Within a variant the
    targets that time on this machine (host-litert) or use all its cores (host-tflm) run alone, in
    order; then the `concurrent` ones (host-c, boards: counts, not host time) run side by side."""
    import concurrent.futures
    opts = target_registry.Options(workdir=out / "work", **cfg.options)
    deps: dict = {}        # per target key (board + engine), computed when first needed
    n = {t.key: len(target_registry.select_samples(t, opts, data.x_test, data.y_test)[0]) for t in targets}
    rows = []
    from . import progress
    with progress.bar("bench", len(tflites) * sum(n.values()), "samples") as bar:
        for v in tflites:
            model = tflite_file.read(v.tflite_path)            # parsed once, used by every target

            def one(target, v=v, model=model) -> dict:
                key, pre = target.key, checks[v.name]
                target, note = target_registry.resolve_engine(target, pre.engine_runs or not pre.deployable,
                                                             pre.reason(("engine",)))
                x, y = target_registry.select_samples(target, opts, data.x_test, data.y_test)
                v_opts = opts
                if v.meta.get("stream"):    # the test windows' last frames, in order: one stream
                    x, v_opts = x[:, -1:, ...], dataclasses.replace(opts, mode="stream")
                why_not = _not_for(target, checks, v)
                bar.doing(f"{v.name} on {target.name}")
                if why_not is None:
                    if target.key not in deps:
                        deps[target.key] = target_registry.cache_key(target, opts)
                    why_not = _bench_one(target, v, model, x, y, v_opts, out, cfg, data.fingerprint,
                                         {**deps[target.key], **({"mode": "stream"} if v_opts.mode == "stream" else {})})
                if target.engine is not None:
                    why_not = {**why_not, "engine": target.engine, **({"note": note} if note else {})}
                if target.engine == "edgepipe" and target.kind not in ("host", "os"):
                    why_not = {**why_not, "layout": why_not.get("layout") or opts.layout}   # also on errors
                bar.update(n[key])
                return why_not

            done = {t.key: one(t) for t in targets if not t.concurrent}
            side_by_side = [t for t in targets if t.concurrent]
            with concurrent.futures.ThreadPoolExecutor(max(1, len(side_by_side))) as pool:
                done.update(zip([t.key for t in side_by_side], pool.map(one, side_by_side)))
            rows += [done[t.key] for t in targets]             # the table keeps the --targets order
    assert all(r["variant"] and r["target"] for r in rows)
    return rows


def _not_for(target, checks, v: TFLiteVariant) -> dict | None:
    """The row for a variant that this target cannot run, saying why; None if it can."""
    from .results import row
    pre = checks[v.name]
    if target.engine not in (None, "edgepipe"):
        from firmware_gen import tflm_tree
        why = tflm_tree.unavailable(target.engine)
        if why is not None:
            return row(v.name, target.name, skipped=why)
    if target.needs_deployable and not pre.deployable:
        return row(v.name, target.name, skipped=f"not deployable: {pre.reason()}")
    if target.needs_lce and pre.reference != "tflm+lce":
        return row(v.name, target.name, skipped="not a Larq Compute Engine model (host-litert runs it)")
    litert = target.name == "host-litert" or (target.kind == "os" and not target.needs_engine)
    if litert and pre.reference == "tflm+lce":
        return row(v.name, target.name, skipped="LiteRT has no kernels for LCE's ops (see host-lce)")
    engine_with_lce = target.needs_engine and pre.reference == "tflm+lce"     # TFLM + LCE kernels
    if target.needs_tflm and not pre.tflm_runs and not engine_with_lce:
        return row(v.name, target.name, skipped="TFLM cannot run it")
    if target.needs_engine and not pre.engine_runs:
        return row(v.name, target.name, skipped=f"not for the C engine: {pre.reason(('engine',))}")
    fit = checks.get((v.name, target.name))
    if fit is not None and not fit.deployable:     # fails before building, says why
        return row(v.name, target.name, error=f"does not fit: {fit.reason(('board',))}")
    return None


def _bench_one(target, v: TFLiteVariant, model, x, y, opts, out: Path, cfg: RunConfig, data_fp: str,
               deps: dict) -> dict:
    """One (variant, target) measurement, cached on everything the target's result depends on."""
    from .results import row
    config = {"variant_sha256": v.sha256, "target": target.name, "samples": len(x), "data": data_fp,
              "version": __version__, **deps}
    engine = f"-{target.engine}" if target.engine not in (None, "edgepipe") else ""
    from .progress import say
    say(f"bench {v.name} on {target.name}{' (' + target.engine + ')' if engine else ''} ({len(x)} samples)")
    try:
        _, m = cache.stage(out, f"bench-{target.name}{engine}-{v.name}", config,
                           lambda _dir: {"row": _measure(target, v, model, x, y, opts)},
                           force=_forced(cfg, "bench"))
    except EdgepipeError as exc:      # recorded, shown in the table, not cached: retried next run
        say(f"  failed: {exc}")
        return row(v.name, target.name, samples=len(x), error=str(exc))
    return m["row"]


def _measure(target, v, model, x, y, opts) -> dict:
    """target.run; a target that runs alone (the host interpreters) has its runtime's own log lines
    (LiteRT's delegate banner, ...) kept out of the terminal. Concurrent targets share the process's
    file descriptors with each other, so they are left as they are."""
    if target.concurrent:
        return target.run(v, model, x, y, opts)
    from .quiet import captured
    with captured():
        return target.run(v, model, x, y, opts)


# ---- results --------------------------------------------------------------------------------

def results_document(recipe, cfg, data, base, tflites, checks, results) -> dict:
    variants = []
    for v in tflites:
        d = v.to_json()
        d["preflight"] = {**checks[v.name].to_json(), "reason": checks[v.name].reason(),
                          "boards": {k[1]: {"deployable": c.deployable, "reason": c.reason()}
                                     for k, c in checks.items() if isinstance(k, tuple) and k[0] == v.name}}
        variants.append(d)
    return {
        "model": recipe.name if recipe else Path(cfg.model).name,
        "dataset": data.name,
        "dataset_sha256": data.fingerprint,
        "edgepipe_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "test_samples": len(data.x_test),
        "float_test_accuracy": base.test_accuracy if base else None,
        "labels": list(data.labels),
        "preprocessing": data.preprocessing.to_dict(),
        "warnings": [base.meta["input_warning"]] if base and base.meta.get("input_warning") else [],
        "variants": variants,
        "results": results,
    }


# ---- helpers --------------------------------------------------------------------------------

def default_out(cfg: RunConfig) -> Path:
    """The run folder: --out, else runs/<recipe name or model file stem> (relative to the cwd)."""
    return Path(cfg.out) if cfg.out else Path("runs") / Path(cfg.model).stem


def _source(cfg: RunConfig):
    p = Path(cfg.model)
    if p.suffix in (".keras", ".h5", ".tflite"):
        if not p.exists():
            raise EdgepipeError(f"{p}: no such file")
        if cfg.dataset is None and p.suffix != ".tflite":     # a .tflite alone: random inputs
            raise EdgepipeError(f"{p}: starting from a file needs --dataset "
                                f"({', '.join(datasets.DATASETS.names())})")
        return None, "tflite" if p.suffix == ".tflite" else "keras"
    recipe = recipes.load(cfg.model)
    recipe.register_layers()
    return recipe, "recipe"


def _from_keras_file(cfg: RunConfig, data) -> KerasModel:
    from .train import from_file
    return from_file(Path(cfg.model), data)


def all_variant_names() -> list[str]:
    from .compress import COMPRESSIONS
    return [*PTQ_VARIANTS, *COMPRESSIONS.names()]


def _variant_names(cfg: RunConfig, recipe) -> list[str]:
    valid = all_variant_names() if recipe else list(PTQ_VARIANTS)
    refused = recipe.not_applicable() if recipe else {}
    names = list(cfg.variants) if cfg.variants else [n for n in valid if n not in refused]
    for n in names:
        if n in refused:
            raise EdgepipeError(f"variant {n} does not apply to recipe {recipe.name}: {refused[n]}; leave it "
                                f"out of --variants")
        if n not in valid and recipe is None and n in all_variant_names():
            raise EdgepipeError(f"variant {n} needs a recipe (compressions retrain a tf-keras model that a "
                                "recipe builds); a model file (tf-keras or Keras 3) runs the post-training "
                                f"variants {', '.join(PTQ_VARIANTS)}")
        if n not in valid:
            raise UnknownName("variant", n, valid)
    return names


def _compressions(cfg: RunConfig, recipe) -> list[str]:
    return [n for n in _variant_names(cfg, recipe) if n not in PTQ_VARIANTS]


def _forced(cfg: RunConfig, stage: str) -> bool:
    return cfg.force is not None and STAGES.index(stage) >= STAGES.index(cfg.force)


def _check_force(force):
    if force is not None and force not in STAGES:
        raise UnknownName("stage", force, STAGES)


def _check_input_shape(variant: TFLiteVariant, data) -> None:
    model = tflite_file.read(variant.tflite_path)
    shape = tuple(model.main.tensors[model.main.inputs[0]].shape[1:])
    classes = int(np.prod(model.main.tensors[model.main.outputs[0]].shape[1:]))
    check_io(str(variant.tflite_path), shape, classes, data)


def check_io(where: str, input_shape: tuple, classes: int, data) -> None:
    """A model from a file must take the dataset's samples and score its classes."""
    if tuple(input_shape) != data.input_shape:
        raise EdgepipeError(f"{where}: model input {tuple(input_shape)} does not match dataset "
                            f"{data.name} samples {data.input_shape}; pick the dataset it was trained on")
    if classes != data.num_classes:
        raise EdgepipeError(f"{where}: model has {classes} outputs but dataset {data.name} has "
                            f"{data.num_classes} classes; pick the dataset it was trained on")


def _check_samples(cfg: RunConfig) -> None:
    for name, n in (cfg.options.get("samples") or {}).items():
        if name != "*" and name not in cfg.targets:
            raise EdgepipeError(f"--samples names target '{name}', which is not among --targets "
                                f"({', '.join(cfg.targets)})")
    if cfg.calibration_samples <= 0:
        raise EdgepipeError(f"--calibration-samples {cfg.calibration_samples}: must be positive")


def _check_writable(out: Path):
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise EdgepipeError(f"{out}: output folder is not writable ({exc.strerror}); "
                            "pass --out with a folder you can write") from None
