"""Train the float base model from a recipe (tf-keras), cached by content."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

from . import cache
from .artifacts import KerasModel, keras_params, load_keras
from .datasets import Dataset
from edgepipe_base.errors import EdgepipeError, wrap_stage_failure
from .keras_env import keras, set_seed, tf
from .recipes import Recipe

STAGE_VERSION = 1


def optimizer(name: str, learning_rate: float):
    k = keras()
    table = {"adam": k.optimizers.Adam, "sgd": k.optimizers.SGD, "rmsprop": k.optimizers.RMSprop}
    if name not in table:
        from edgepipe_base.errors import UnknownName
        raise UnknownName("optimizer", name, table)
    return table[name](learning_rate=learning_rate)


def optimizer_steps(n_train: int, batch_size: int, epochs: float) -> int:
    """Optimizer steps in a budget of `epochs`: whole passes over `n_train` samples, or for a
    fraction in (0, 1) one pass over that share of them (see compress.fine_tune_config)."""
    if epochs >= 1:
        return math.ceil(n_train / batch_size) * int(epochs)
    return math.ceil(math.ceil(n_train * epochs) / batch_size)


def training_subset(data, epochs: float, seed: int):
    """The training samples one pass of a budget of `epochs` covers, and the number of passes:
    the whole set `epochs` times, or a fixed-seed random share of it once for a fraction."""
    if epochs >= 1:
        return data.x_train, data.y_train, int(epochs)
    n = max(1, math.ceil(len(data.x_train) * epochs))
    pick = np.sort(np.random.default_rng(seed).permutation(len(data.x_train))[:n])
    return data.x_train[pick], data.y_train[pick], 1


def cosine_decay(cfg: dict, n_train: int, epochs: float) -> dict:
    """`cfg` with its learning rate decaying to 0 along a cosine over `epochs` (short budgets gain
    most from ending at a small learning rate)."""
    steps = max(1, optimizer_steps(n_train, cfg["batch_size"], epochs))
    return {**cfg, "learning_rate": keras().optimizers.schedules.CosineDecay(cfg["learning_rate"], steps)}


LR_SCHEDULES = ("constant", "cosine")


def with_schedule(train: dict, n_train: int) -> dict:
    """The recipe's `train` settings with its `lr_schedule` applied: "constant" (the default), or
    "cosine": the learning rate decays to 0 over the recipe's epochs."""
    name = train.get("lr_schedule", "constant")
    if name not in LR_SCHEDULES:
        from edgepipe_base.errors import UnknownName
        raise UnknownName("lr_schedule", name, LR_SCHEDULES)
    return cosine_decay(train, n_train, train["epochs"]) if name == "cosine" else train


def batches(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 1024,
            shuffle_seed: int | None = None):
    """`x` (and `y`) as the tf.data pipeline that fit() and predict() read: batches of `batch_size`,
    reshuffled every epoch from `shuffle_seed` (None: in order).

    Built here rather than by Keras from the numpy arrays: Keras's pipelines run tf.data's autotuner,
    and tearing one down when fit() returned blocked for 5-40 s in 7 of 13 measured fits (2 cores;
    tf 2.21). With the autotuner off none of 13 blocked; a batch here is one gather anyway."""
    t = tf()
    xs = t.constant(x)
    ys = None if y is None else t.constant(y)
    ds = t.data.Dataset.range(len(x))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda i: t.gather(xs, i) if ys is None else (t.gather(xs, i), t.gather(ys, i)))
    options = t.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(1).with_options(options)


def fit(model, data: Dataset, train: dict, loss="sparse_categorical_crossentropy", epochs=None,
        callbacks=()):
    """Compile and fit with early stopping on validation loss (best weights restored), for a budget
    of `epochs` (default: the recipe's; a fraction is one pass over that share, training_subset)."""
    k = keras()
    set_seed(train["seed"])
    model.compile(optimizer=optimizer(train["optimizer"], train["learning_rate"]), loss=loss,
                  metrics=["accuracy"])
    stop = k.callbacks.EarlyStopping(monitor="val_loss", patience=train["patience"],
                                     restore_best_weights=True)
    from . import progress
    x, y, passes = training_subset(data, epochs or train["epochs"], train["seed"])
    hist = model.fit(batches(x, y, train["batch_size"], shuffle_seed=train["seed"]),
                     validation_data=batches(data.x_val, data.y_val), epochs=passes,
                     callbacks=[stop, *callbacks, progress.epoch_callback(passes)],
                     verbose=progress.keras_verbosity())
    return {k_: [float(v) for v in vals] for k_, vals in hist.history.items()}


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    pred = model.predict(batches(x), verbose=0)
    return float(np.mean(np.argmax(pred, axis=-1) == y))


def train(recipe: Recipe, data: Dataset, root: Path, force: bool = False) -> KerasModel:
    config = {"stage_version": STAGE_VERSION, "recipe": recipe.name, "recipe_sha256": recipe.source_sha256,
              "train": recipe.train, "arch": recipe.arch, "data": data.fingerprint,
              "tensorflow": tf().__version__}

    def produce(out: Path) -> dict:
        model = recipe.build(data.input_shape, data.num_classes)
        print(f"training {recipe.name}: {keras_params(model):,} parameters on {data.name} "
              f"({len(data.x_train):,} train / {len(data.x_val):,} val)", flush=True)
        cfg = with_schedule(recipe.train, len(data.x_train))
        from .progress import training
        try:
            with training("train"):
                history = fit(model, data, cfg)
        except Exception as exc:
            if os.environ.get("EDGEPIPE_DEBUG"):
                raise
            raise wrap_stage_failure(recipe.path, "training", exc) from None
        model.save(out / "model.keras")
        return {"file": "model.keras", "params": keras_params(model),
                "test_accuracy": accuracy(model, data.x_test, data.y_test),
                "epochs_run": len(history["loss"]), "history": history}

    folder, m = cache.stage(root, "train", config, produce, force=force)
    path = folder / m["file"]
    return KerasModel(name="base", path=path, sha256=cache.file_sha256(path), params=m["params"],
                      test_accuracy=m["test_accuracy"], meta={"epochs_run": m["epochs_run"]})


def from_file(path: Path, data: Dataset) -> KerasModel:
    """Start from a user's own .keras/.h5 model instead of training one (tf-keras or Keras 3)."""
    from . import keras3
    meta = {}
    try:
        model = load_keras(path)
    except Exception as first:
        try:
            model = keras3.load(path)
            meta["keras_version"] = keras3.KERAS3
        except Exception as exc:
            raise EdgepipeError(f"{path}: cannot load as a Keras model: tf-keras says {_short(first)}; "
                                f"Keras 3 says {_short(exc)}") from None
    from .run import check_io
    check_io(str(path), tuple(model.input_shape[1:]), int(model.output_shape[-1]), data)
    acc = accuracy(model, data.x_test, data.y_test)
    warning = scale_warning(path, model, acc, data)
    if warning:
        print(f"edgepipe: warning: {warning}", file=sys.stderr, flush=True)
        meta["input_warning"] = warning
    return KerasModel(name="base", path=Path(path), sha256=cache.file_sha256(path),
                      params=keras_params(model), test_accuracy=acc, meta=meta)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def scale_warning(path, model, acc: float, data: Dataset) -> str | None:
    """A model near chance on our preprocessing whose own layers rescale the input was most likely
    trained on other input values: say so, and how to feed it what it expects."""
    from .keras3 import input_scaling_layers
    chance = 1 / data.num_classes
    layers = input_scaling_layers(model)
    if acc > 2 * chance or not layers:
        return None
    pre = data.preprocessing
    return (f"{path}: float accuracy {acc:.1%} on {data.name} is near chance ({chance:.0%}) with inputs "
            f"x = raw * {pre.scale:g} + {pre.offset:g}, and the model has {', '.join(layers)} inside: it "
            f"probably expects other input values (raw {pre.raw_min:g}..{pre.raw_max:g}: try --input-scale 1)")
