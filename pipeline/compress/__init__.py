"""Training-side compressions: each turns the float base model into a float Keras variant.

A compression is registered by the name users pass on the CLI (`--variants qat,prune75,...`). Its
`run(base, recipe, data, out, inputs)` writes one saved tf-keras model into the folder `out` and
returns a `KerasModel` whose `meta` holds the facts measured from the weights (sparsity, unique
values, packed bits, parameter counts). Every variant is ready for standard full-integer int8
conversion (`TFLiteConverter.from_keras_model` + representative dataset + TFLITE_BUILTINS_INT8).

`compress()` runs the requested compressions and those they start from (`needs`) in order, each
one a cached stage (`compress-<name>-<hash>/`) keyed by its version, the base model's sha256, the
recipe's parameters for it, the sha256 of the models it starts from and the dataset fingerprint.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import cache
from ..artifacts import KerasModel, keras_params, load_keras
from edgepipe_base.errors import EdgepipeError, wrap_stage_failure
from ..registry import Registry
from ..train import cosine_decay, optimizer_steps, training_subset


@dataclass(frozen=True)
class Compression:
    name: str                 # variant name on the CLI: --variants qat,prune75,...
    kind: str                 # table label, e.g. "pruned 75% + int8"
    needs: tuple[str, ...]    # compressions whose output it starts from, e.g. ("prune75",)
    run: Callable             # run(base, recipe, data, out: Path, inputs: dict[str, KerasModel]) -> KerasModel
    section: str = ""         # the recipe's compress[section] parameters it reads (part of the cache key)
    version: int = 1          # bump when the stage's code changes what it produces


COMPRESSIONS: Registry[Compression] = Registry("variant")


def register(name: str, kind: str, section: str, needs: tuple[str, ...] = (), version: int = 2):
    """Decorator: register `run` as compression `name`."""
    def deco(run: Callable) -> Callable:
        COMPRESSIONS.register(name, Compression(name=name, kind=kind, needs=needs, run=run,
                                                section=section, version=version))
        return run
    return deco


def order(names: list[str]) -> list[str]:
    """`names` with everything they need, dependencies first; an unknown name lists the valid ones."""
    seen: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise EdgepipeError(f"variant '{name}' needs itself ({' -> '.join(path + (name,))})")
        comp = COMPRESSIONS.get(name)
        for dep in comp.needs:
            visit(dep, path + (name,))
        if name not in seen:
            seen.append(name)

    for n in names:
        visit(n, ())
    return seen


def compress(names: list[str], base: KerasModel, recipe, data, root: Path,
             force: bool = False) -> dict[str, KerasModel]:
    """Run compressions `names` (and what they need) on `base`; returns the requested variants by name."""
    done: dict[str, KerasModel] = {}
    for name in order(list(names)):
        comp = COMPRESSIONS.get(name)
        inputs = {dep: done[dep] for dep in comp.needs}
        config = {"stage_version": comp.version, "variant": name, "base": base.sha256,
                  "params": recipe.params(comp.section) if comp.section else {},
                  "student": recipe.student, "train": recipe.train, "recipe_sha256": recipe.source_sha256,
                  "inputs": {dep: m.sha256 for dep, m in inputs.items()}, "data": data.fingerprint}

        def produce(out: Path, comp=comp, inputs=inputs) -> dict:
            from ..progress import training
            start = time.perf_counter()
            print(f"compress {name}: {comp.kind}", flush=True)
            try:
                with training(f"compress {name}"):
                    model = comp.run(base, recipe, data, out, inputs)
            except EdgepipeError:
                raise
            except Exception as exc:
                if os.environ.get("EDGEPIPE_DEBUG"):
                    raise
                raise wrap_stage_failure(recipe.path, f"compression '{name}'", exc) from None
            meta = {**model.meta, "stage_seconds": round(time.perf_counter() - start, 1)}
            json.dumps(meta)                               # the manifest must hold it as JSON
            return {"file": Path(model.path).name, "kind": comp.kind, "params": model.params,
                    "test_accuracy": model.test_accuracy, "meta": meta}

        folder, m = cache.stage(root, f"compress-{name}", config, produce, force=force)
        path = folder / m["file"]
        done[name] = KerasModel(name=name, path=path, sha256=cache.file_sha256(path), params=m["params"],
                                test_accuracy=m["test_accuracy"], meta=m["meta"])
    return {n: done[n] for n in dict.fromkeys(names)}


def save_variant(model, name: str, out: Path, data, meta: dict, filename: str = "model.keras",
                 params: int | None = None) -> KerasModel:
    """Save `model` into `out`, reload it as a consumer will, and measure its float test accuracy.

    `params` overrides the count of the saved model (a QAT model also counts its quantizer ranges).
    """
    from ..train import accuracy
    path = Path(out) / filename
    model.save(path)
    loaded = load_keras(path)
    return KerasModel(name=name, path=path, sha256=cache.file_sha256(path), params=params if params is not None else keras_params(loaded),
                      test_accuracy=accuracy(loaded, data.x_test, data.y_test), meta=meta)


def fine_tune_config(train: dict, params: dict, default_epochs: float) -> tuple[dict, float]:
    """The recipe's training settings overridden by a compression's own, and its epoch budget.

    A compression's params may set `epochs`, `learning_rate` and `batch_size`. `epochs` is a whole
    number of passes over the training set, or a fraction in (0, 1): one pass over that share of it
    (fine-tuning a trained model may need less than a full pass; measure before cutting one).
    """
    epochs = params.get("epochs", default_epochs)
    whole = isinstance(epochs, (int, float)) and epochs >= 1 and float(epochs).is_integer()
    fraction = isinstance(epochs, float) and 0 < epochs < 1
    if not (whole or fraction):
        raise EdgepipeError(f"compress epochs {epochs!r}: give a whole number of epochs, or a fraction "
                            "between 0 and 1 (one pass over that share of the training set)")
    cfg = {**train, **{k: params[k] for k in ("learning_rate", "batch_size") if k in params}}
    return cfg, (int(epochs) if epochs >= 1 else float(epochs))


def fine_tune(model, data, cfg: dict, epochs: float, callbacks=()) -> dict:
    """Fit for exactly `epochs` (see fine_tune_config) with a cosine-decayed learning rate, keeping
    the last weights.

    Not `train.fit`: its EarlyStopping(restore_best_weights=True) restores the best epoch's weights at
    the end of training even when it never stops early (tf-keras 2.21), which for pruning means the
    weights (and masks) of an epoch before the schedule reached its target sparsity.
    """
    from ..keras_env import set_seed
    from .. import progress
    from ..train import batches, optimizer
    set_seed(cfg["seed"])
    cfg = cosine_decay(cfg, len(data.x_train), epochs)
    x, y, passes = training_subset(data, epochs, cfg["seed"])
    model.compile(optimizer=optimizer(cfg["optimizer"], cfg["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(batches(x, y, cfg["batch_size"], shuffle_seed=cfg["seed"]),
                     validation_data=batches(data.x_val, data.y_val), epochs=passes,
                     callbacks=[*callbacks, progress.epoch_callback(passes)], verbose=progress.keras_verbosity())
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


# The compressions register themselves on import, in the order `edgepipe` lists them.
from . import prune, distill, qat, cluster, binary  # noqa: E402,F401,I001

__all__ = ["COMPRESSIONS", "Compression", "compress", "order", "register", "save_variant", "fine_tune_config", "fine_tune",
           "cosine_decay", "optimizer_steps", "training_subset"]
