"""One progress display for a run (tqdm, on stderr, only when stderr is a terminal): the stage,
what it works on (variant, target), samples done and the time left. Training epochs show as a bar
labelled with the stage that trains (train, or the compression), instead of Keras's own lines.
"""

from __future__ import annotations

import contextlib
import sys

from .quiet import verbose

_label = {"stage": ""}       # what is training now, for the epoch bar (display only)


def enabled() -> bool:
    return sys.stderr.isatty() and not verbose()


@contextlib.contextmanager
def bar(stage: str, total: int, unit: str):
    """A bar for one stage; `.update(n)` and `.doing(text)` (variant, target...)."""
    from tqdm import tqdm
    with tqdm(total=total, desc=stage, unit=unit, disable=not enabled(), file=sys.stderr, leave=True,
              dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} "
                                              "{unit} [{elapsed}<{remaining}] {postfix}") as t:
        t.doing = lambda text: t.set_postfix_str(text, refresh=True)
        yield t


@contextlib.contextmanager
def training(label: str):
    """Label the epochs of the fits inside (train, compress prune, ...)."""
    old, _label["stage"] = _label["stage"], label
    try:
        yield
    finally:
        _label["stage"] = old


def keras_verbosity() -> int:
    """Keras's own fit() printing: off behind a bar, one line per epoch in logs, full when verbose."""
    if verbose():
        return 1
    return 0 if enabled() else 2


def epoch_callback(epochs: int):
    """A Keras callback that moves an epoch bar labelled with the current training stage."""
    from .keras_env import keras

    class EpochBar(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.cm = bar(_label["stage"] or "fit", epochs, "epochs")
            self.t = self.cm.__enter__()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.t.doing(" ".join(f"{k}={v:.3f}" for k, v in logs.items() if k in ("loss", "val_accuracy")))
            self.t.update(1)

        def on_train_end(self, logs=None):
            self.cm.__exit__(None, None, None)

    return EpochBar()
