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
    import shutil
    from tqdm import tqdm
    size = shutil.get_terminal_size((120, 24))          # a pty without a size reports 0x0: defaults
    with tqdm(total=total, desc=stage, unit=unit, disable=not enabled(), file=sys.stderr, leave=True,
              ncols=min(size.columns or 120, 160), nrows=size.lines or 24, bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} "
                                              "{unit} [{elapsed}<{remaining}]{postfix}") as t:
        t.doing = lambda text: t.set_postfix_str(text, refresh=True)
        yield t


def say(text: str) -> None:
    """A line of the run's log, printed above the bar when one is shown."""
    if enabled():
        from tqdm import tqdm
        tqdm.write(text, file=sys.stdout)
    else:
        print(text, flush=True)


@contextlib.contextmanager
def training(label: str):
    """Label the epochs of the fits inside (train, compress prune, ...)."""
    old, _label["stage"] = _label["stage"], label
    try:
        yield
    finally:
        _label["stage"] = old


def keras_verbosity() -> int:
    """Keras's own fit() printing: only when verbose (otherwise the bar, or one summary line)."""
    return 1 if verbose() else 0


def epoch_callback(epochs: int):
    """A Keras callback that moves an epoch bar labelled with the current training stage."""
    from .keras_env import keras

    class EpochBar(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.cm = bar(_label["stage"] or "fit", epochs, "epochs")
            self.t = self.cm.__enter__()

        def on_epoch_end(self, epoch, logs=None):
            self.last, self.epochs_run = dict(logs or {}), epoch + 1
            self.t.doing(_metrics(self.last))
            self.t.update(1)

        def on_train_end(self, logs=None):
            self.cm.__exit__(None, None, None)
            if not enabled() and not verbose() and hasattr(self, "last"):   # logs: one line per fit
                print(f"  {_label['stage'] or 'fit'}: {self.epochs_run}/{epochs} epochs, {_metrics(self.last)}",
                      flush=True)

    return EpochBar()


def _metrics(logs: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
