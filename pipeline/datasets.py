"""Datasets that work offline, behind a registry: train / val / test / calibration splits + labels.

Each dataset records its preprocessing (`x = raw * scale + offset`) so that the int8 input
quantization of an exported model can be related to the sensor's raw values.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
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


def load(name: str, scale: float | None = None, offset: float | None = None) -> Dataset:
    """A dataset by recipe name, a .npz file (x_train, y_train, x_test, y_test) or a folder of
    images with one subfolder per class; `scale`/`offset` replace its preprocessing
    (x = raw * scale + offset)."""
    path = Path(name)
    if name.endswith(".npz"):
        data = from_npz(path)
    elif path.is_dir():
        data = from_image_folder(path)
    elif name not in DATASETS and (os.sep in name or "." in name):
        _no_such(name)
    else:
        data = DATASETS.get(name).load()
    return data if scale is None and offset is None else with_preprocessing(data, scale, offset)


def _no_such(name: str):
    raise EdgepipeError(f"dataset {name}: no such file or folder; pass a dataset name "
                        f"({', '.join(DATASETS.names())}), a .npz file or a folder of class subfolders")


def with_preprocessing(data: Dataset, scale: float | None, offset: float | None) -> Dataset:
    """`data` re-derived from its raw values with another x = raw * scale + offset."""
    old = data.preprocessing
    new = Preprocessing(raw_min=old.raw_min, raw_max=old.raw_max,
                        scale=old.scale if scale is None else float(scale),
                        offset=old.offset if offset is None else float(offset))
    if new.scale == 0:
        raise EdgepipeError("--input-scale 0: the scale must not be zero")
    fix = lambda x: ((x - np.float32(old.offset)) / np.float32(old.scale) * np.float32(new.scale)
                     + np.float32(new.offset)).astype(np.float32)
    h = hashlib.sha256(data.fingerprint.encode())
    h.update(repr(new).encode())
    return dataclasses.replace(data, preprocessing=new, x_train=fix(data.x_train), x_val=fix(data.x_val),
                               x_test=fix(data.x_test), fingerprint=h.hexdigest())


def _preprocessing_for(x: np.ndarray, scale=None, offset=None) -> Preprocessing:
    """uint8 data is taken as 0..255 and scaled to 0..1; anything else is used as stored."""
    raw_min, raw_max = (0, 255) if x.dtype == np.uint8 else (float(np.min(x)), float(np.max(x)))
    default = 1 / 255 if x.dtype == np.uint8 else 1.0
    return Preprocessing(raw_min=raw_min, raw_max=raw_max, scale=float(default if scale is None else scale),
                         offset=float(0.0 if offset is None else offset))


def _apply(pre: Preprocessing, raw: np.ndarray) -> np.ndarray:
    x = raw.astype(np.float32) * np.float32(pre.scale)
    return x + np.float32(pre.offset) if pre.offset else x


def from_npz(path: Path) -> Dataset:
    """A user's .npz: x_train, y_train, x_test, y_test (raw values), optional labels, scale, offset."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise EdgepipeError(f"{path}: cannot read as a .npz file ({exc})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise EdgepipeError(f"{path}: no {', '.join(missing)} in the .npz (it has {', '.join(sorted(arrays))}); "
                            "save x_train, y_train, x_test, y_test with numpy.savez")
    x, y, xt, yt = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    if len(x) != len(y) or len(xt) != len(yt) or x.shape[1:] != xt.shape[1:]:
        raise EdgepipeError(f"{path}: x_train {x.shape} / y_train {y.shape} / x_test {xt.shape} / "
                            f"y_test {yt.shape} do not agree")
    y, yt = y.reshape(-1).astype(np.int64), yt.reshape(-1).astype(np.int64)
    classes = int(max(y.max(), yt.max())) + 1
    labels = [str(l) for l in arrays["labels"]] if "labels" in arrays else [str(i) for i in range(classes)]
    if len(labels) < classes:
        raise EdgepipeError(f"{path}: {len(labels)} labels for {classes} classes")
    pre = _preprocessing_for(x, arrays.get("scale"), arrays.get("offset"))
    return _split(path.name, labels, pre, _apply(pre, x), y, _apply(pre, xt), yt,
                  n_val=max(1, len(x) // 10), raw_hash=_fingerprint(x, y, xt, yt))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _read_images(root: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from .keras_env import tf
    t = tf()
    xs, ys, shape = [], [], None
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                img = t.io.decode_image(f.read_bytes(), expand_animations=False).numpy()
            except Exception:
                raise EdgepipeError(f"{f}: cannot decode the image") from None
            if shape is None:
                shape = img.shape
            if img.shape != shape:
                raise EdgepipeError(f"{f}: image is {img.shape[1]}x{img.shape[0]}x{img.shape[2]}, the first "
                                    f"one was {shape[1]}x{shape[0]}x{shape[2]}; resize them to one size")
            xs.append(img)
            ys.append(label)
    if not xs:
        raise EdgepipeError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return np.stack(xs).astype(np.uint8), np.asarray(ys, dtype=np.int64)


def from_image_folder(root: Path) -> Dataset:
    """Images in one subfolder per class (Keras' directory layout), or train/ and test/ each in that
    layout; without test/, a fixed-seed 20% of the images is the test split. Pixels 0..255 -> 0..1."""
    split = (root / "train").is_dir() and (root / "test").is_dir()
    base = root / "train" if split else root
    classes = sorted(d.name for d in base.iterdir() if d.is_dir())
    if len(classes) < 2:
        raise EdgepipeError(f"{base}: an image dataset needs one subfolder per class (found {len(classes)})")
    x, y = _read_images(base, classes)
    if split:
        xt, yt = _read_images(root / "test", classes)
    else:
        perm = np.random.default_rng(SPLIT_SEED + 2).permutation(len(x))
        n_test = max(1, len(x) // 5)
        xt, yt, x, y = x[perm[:n_test]], y[perm[:n_test]], x[perm[n_test:]], y[perm[n_test:]]
    pre = Preprocessing(raw_min=0, raw_max=255, scale=1 / 255)
    return _split(root.name, classes, pre, _apply(pre, x), y, _apply(pre, xt), yt,
                  n_val=max(1, len(x) // 10), raw_hash=_fingerprint(x, y, xt, yt))


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


HAR_LABELS = ("still", "walk", "run", "stairs")
HAR_STEPS, HAR_RATE_HZ = 32, 25.0


def _har_windows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n windows of a 3-axis accelerometer (in g) at HAR_RATE_HZ: gravity on a randomly tilted axis
    plus each activity's periodic motion (random frequency, amplitude, phase) and sensor noise."""
    t = np.arange(HAR_STEPS) / HAR_RATE_HZ
    y = rng.integers(0, len(HAR_LABELS), n)
    x = np.empty((n, HAR_STEPS, 3), dtype=np.float32)
    for k in range(n):
        tilt = rng.normal(0, 0.25, 2)
        gravity = np.array([np.sin(tilt[0]), np.sin(tilt[1]), np.cos(tilt[0]) * np.cos(tilt[1])])
        phase = rng.uniform(0, 2 * np.pi)
        freq, amp = {0: (0.0, 0.0), 1: (1.8, 0.35), 2: (2.8, 0.9), 3: (1.2, 0.6)}[int(y[k])]
        freq *= rng.uniform(0.8, 1.2)
        amp *= rng.uniform(0.7, 1.3)
        wave = np.sin(2 * np.pi * freq * t + phase)
        if y[k] == 3:                                # stairs: a step's impact, then a lift
            wave = np.abs(wave) * 2 - 1
        motion = np.stack([0.5 * amp * np.cos(2 * np.pi * freq * t + phase), 0.3 * amp * wave, amp * wave], -1)
        x[k] = gravity + motion + rng.normal(0, 0.06, (HAR_STEPS, 3))
    return x, y.astype(np.int64)


@register("synthetic_har", (HAR_STEPS, 3), len(HAR_LABELS))
def synthetic_har() -> Dataset:
    """Synthetic human-activity windows: 3-axis accelerometer (g), 32 steps at 25 Hz, 4 activities
    (still, walk, run, stairs); seeded, generated offline in well under a second."""
    rng = np.random.default_rng(SPLIT_SEED + 2)
    x, y = _har_windows(rng, 2400)
    x_test, y_test = _har_windows(rng, 400)
    pre = Preprocessing(raw_min=-4.0, raw_max=4.0, scale=1.0)
    return _split("synthetic_har", HAR_LABELS, pre, x, y, x_test, y_test, n_val=300,
                  raw_hash=_fingerprint(x, y, x_test, y_test))


KWS_STREAM_LABELS = ("background", "yes", "no", "go")
KWS_STREAM_FEATURES, KWS_STREAM_WINDOW, KWS_STREAM_WORD = 10, 6, 4


def kws_stream_frames(frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic keyword stream: `frames` frames of KWS_STREAM_FEATURES band energies (smooth
    background noise) with a keyword (a fixed KWS_STREAM_WORD-frame pattern of its class, random
    gain) every 8..20 frames. The label of frame t is the class of a keyword that ended at t or
    t - 1, else background: what a streaming detector with a KWS_STREAM_WINDOW-frame receptive
    field can see. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(20261201).uniform(0, 1, (len(KWS_STREAM_LABELS) - 1, KWS_STREAM_WORD,
                                                               KWS_STREAM_FEATURES)).astype(np.float32)
    x = rng.normal(0.2, 0.3, (frames, KWS_STREAM_FEATURES)).astype(np.float32)
    x = (x + np.roll(x, 1, axis=0)) / 2                      # slowly varying background
    y = np.zeros(frames, dtype=np.int64)
    t = int(rng.integers(4, 12))
    while t + KWS_STREAM_WORD < frames:
        c = int(rng.integers(1, len(KWS_STREAM_LABELS)))
        x[t:t + KWS_STREAM_WORD] += templates[c - 1] * rng.uniform(0.4, 1.2)
        end = t + KWS_STREAM_WORD - 1
        y[end:end + 2] = c
        t += KWS_STREAM_WORD + int(rng.integers(4, 16))
    return x, y


def stream_windows(frames: np.ndarray, window: int) -> np.ndarray:
    """Window t holds frames t - window + 1 .. t (zeros before the stream starts): the input a
    non-streaming model needs to give, at t, what a streaming model fed frame by frame gives."""
    padded = np.concatenate([np.zeros((window - 1, *frames.shape[1:]), frames.dtype), frames])
    return np.stack([padded[t:t + window] for t in range(len(frames))])


@register("kws_stream", (KWS_STREAM_WINDOW, KWS_STREAM_FEATURES), len(KWS_STREAM_LABELS))
def kws_stream() -> Dataset:
    """Synthetic keyword stream (offline, seeded): windows of 6 frames x 10 band energies, 4 classes
    (background, yes, no, go); the test split is one continuous stream in order, so its last frames
    are the frames a streaming model takes one by one (6,000 train / 2,000 test frames)."""
    x, y = kws_stream_frames(6000, seed=1)
    x_test, y_test = kws_stream_frames(2000, seed=2)
    pre = Preprocessing(raw_min=float(min(x.min(), x_test.min())), raw_max=float(max(x.max(), x_test.max())),
                        scale=1.0)
    return _split("kws_stream", KWS_STREAM_LABELS, pre, stream_windows(x, KWS_STREAM_WINDOW), y,
                  stream_windows(x_test, KWS_STREAM_WINDOW), y_test, n_val=600, raw_hash=_fingerprint(x, x_test, y, y_test))
