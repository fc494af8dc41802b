"""Third-party noise stays out of the terminal unless asked for (`--verbose` or EDGEPIPE_DEBUG=1).

TensorFlow, absl, oneDNN and the TFLite converter print banners and warnings from C++ straight to
the process's file descriptors, where Python's `warnings` and `logging` cannot reach them: `captured()`
points fds 1 and 2 at a temporary file for the duration of a noisy call and hands the text back, so
that a failure can still be explained from it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings


def verbose() -> bool:
    return bool(os.environ.get("EDGEPIPE_DEBUG") or os.environ.get("EDGEPIPE_VERBOSE"))


def silence_python_noise() -> None:
    """Python-level warnings and absl/TF loggers: off unless verbose."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(tensorflow|tf_keras|larq_compute_engine)\..*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import logging
    for name in ("absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


class Captured:
    text = ""


@contextlib.contextmanager
def captured():
    """Send what C++ and Python write to fds 1/2 into a buffer (returned as `.text`) unless verbose."""
    result = Captured()
    if verbose():
        yield result
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 1)
        os.dup2(buf.fileno(), 2)
        try:
            yield result
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            buf.seek(0)
            result.text = buf.read().decode(errors="replace")


# Converter failures with a known cause: (pattern in the error, what to do)
KNOWN_CONVERTER_FIXES = (
    (r"TensorList|tf\.While|element_shape to be static|UnidirectionalSequence|FlexTensorList",
     "a recurrent layer (LSTM/GRU/RNN) keeps a loop the converter cannot lower: build it with "
     "unroll=True and a fixed batch size (keras.Input(shape, batch_size=1)), then run again"),
    (r"Select TF ops|Flex\w+|not supported by the TFLite builtin",
     "the model uses TensorFlow ops with no TFLite builtin op: replace those layers with built-in ones"),
    (r"[Dd]ynamic.*(shape|dimension)|unknown rank|-1 in shape",
     "a dynamic shape: give every input a fixed shape (and batch size 1)"),
)


def converter_failure(exc: BaseException, noise: str = "") -> str:
    """One line for a TFLite converter failure: its first error, and the known fix where there is one."""
    text = str(exc)
    errors = re.findall(r"error: (.*)", text) or re.findall(r"error: (.*)", noise)
    first = errors[0].strip() if errors else next((ln.strip() for ln in text.splitlines() if ln.strip()),
                                                  type(exc).__name__)
    first = first if len(first) <= 160 else first[:157] + "..."
    fix = next((hint for pattern, hint in KNOWN_CONVERTER_FIXES if re.search(pattern, text + noise)), None)
    return f"{first}" + (f"; fix: {fix}" if fix else "")
