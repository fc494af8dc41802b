"""Datasets that work offline, behind a registry: train / val / test / calibration splits + labels.

Each dataset records its preprocessing (`x = raw * scale + offset`) so that the int8 input
quantization of an exported model can be related to the sensor's raw values.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgepipe_base.errors import EdgepipeError
from .registry import Registry

SPLIT_SEED = 1234


@dataclass(frozen=True)
class Preprocessing:
    """How stored raw values become model inputs: x = raw * scale + offset."""

    raw_min: float
    raw_max: float
    scale: float
    offset: float = 0.0

    def to_dict(self) -> dict:
        return {"raw_min": self.raw_min, "raw_max": self.raw_max, "scale": self.scale, "offset": self.offset}


@dataclass(frozen=True)
class Dataset:
    name: str
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    fingerprint: str = ""        # sha256 over all arrays: part of every cache key downstream

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def calibration(self, n: int, seed: int = SPLIT_SEED) -> np.ndarray:
        """A fixed random subset of the training set for post-training quantization."""
        n = min(n, len(self.x_train))
        idx = np.random.default_rng(seed).permutation(len(self.x_train))[:n]
        return self.x_train[np.sort(idx)]


@dataclass(frozen=True)
class DatasetSpec:
    """What is known about a dataset without loading it (for listings and model summaries)."""

    name: str
    load: Callable[[], Dataset]
    input_shape: tuple[int, ...]
    num_classes: int

    @property
    def doc(self) -> str:
        return (self.load.__doc__ or "").strip()


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register(name: str, input_shape: tuple[int, ...], num_classes: int):
    def deco(fn):
        DATASETS.register(name, DatasetSpec(name, fn, input_shape, num_classes))
        return fn
    return deco


def load(name: str) -> Dataset:
    return DATASETS.get(name).load()


def _fingerprint(*raw: np.ndarray) -> hashlib._Hash:
    """Hash of the raw (pre-scaling) arrays: cheap, and changes whenever the data does."""
    h = hashlib.sha256()
    for a in raw:
        h.update(np.ascontiguousarray(a).tobytes())
    return h


def _split(name, labels, pre, x, y, x_test, y_test, n_val: int, raw_hash) -> Dataset:
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    val, train = perm[:n_val], perm[n_val:]
    h = raw_hash.copy()
    h.update(repr((n_val, SPLIT_SEED, pre)).encode())
    return Dataset(name=name, labels=tuple(labels), preprocessing=pre,
                   x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val],
                   x_test=x_test, y_test=y_test, fingerprint=h.hexdigest())


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                        "sandal", "shirt", "sneaker", "bag", "ankle boot")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST container: magic, dims, big-endian uint8 data), gzip or plain."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise EdgepipeError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise EdgepipeError(f"{path}: truncated IDX file ({body.size} of {int(np.prod(dims))} bytes)")
    return body.reshape(dims)


@register("fashion_mnist", (28, 28, 1), 10)
def fashion_mnist(root: Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST, 60k train / 10k test 28x28 grey images, 10 classes (Debian dataset-fashion-mnist)."""
    files = {k: root / f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz"
             for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise EdgepipeError(f"dataset fashion_mnist: {missing[0]} not found; install it with "
                            "`sudo apt-get install dataset-fashion-mnist` (or run `make setup`)")
    pre = Preprocessing(raw_min=0, raw_max=255, scale=1 / 255)
    raw = {k: read_idx(p) for k, p in files.items()}
    x = (raw["train-images"].astype(np.float32) * pre.scale)[..., None]
    x_test = (raw["t10k-images"].astype(np.float32) * pre.scale)[..., None]
    y = raw["train-labels"].astype(np.int64)
    y_test = raw["t10k-labels"].astype(np.int64)
    return _split("fashion_mnist", FASHION_MNIST_LABELS, pre, x, y, x_test, y_test, n_val=5000,
                  raw_hash=_fingerprint(*raw.values()))


@register("digits", (8, 8, 1), 10)
def digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): seconds to train."""
    from sklearn.datasets import load_digits
    d = load_digits()
    pre = Preprocessing(raw_min=0, raw_max=16, scale=1 / 16)
    x = (d.images.astype(np.float32) * pre.scale)[..., None]
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(SPLIT_SEED + 1).permutation(len(x))
    test, rest = perm[:360], perm[360:]
    return _split("digits", [str(i) for i in range(10)], pre, x[rest], y[rest], x[test], y[test], n_val=240,
                  raw_hash=_fingerprint(d.images, d.target))
