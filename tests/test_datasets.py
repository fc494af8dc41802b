import gzip

import numpy as np
import pytest

from pipeline import datasets
from edgepipe_base.errors import EdgepipeError, UnknownName


def _idx(tmp_path, arr, name="x.gz", truncate=0):
    header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    body = arr.astype(np.uint8).tobytes()
    path = tmp_path / name
    path.write_bytes(gzip.compress(header + body[:len(body) - truncate]))
    return path


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(datasets.read_idx(_idx(tmp_path, arr)), arr)


def test_read_idx_truncated_is_a_clear_error(tmp_path):
    arr = np.ones((4, 5), dtype=np.uint8)
    with pytest.raises(EdgepipeError, match="truncated IDX"):
        datasets.read_idx(_idx(tmp_path, arr, truncate=3))


def test_fashion_mnist_full_splits():
    d = datasets.load("fashion_mnist")
    assert d.x_train.shape == (55000, 28, 28, 1) and d.x_val.shape == (5000, 28, 28, 1)
    assert d.x_test.shape == (10000, 28, 28, 1) and d.y_test.shape == (10000,)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert sorted(np.unique(d.y_test)) == list(range(10)) and len(d.labels) == 10
    # the recorded preprocessing maps the raw byte range onto the model's input range
    p = d.preprocessing
    assert p.raw_max * p.scale + p.offset == pytest.approx(float(d.x_test.max()))


def test_calibration_is_fixed_subset_of_train(digits):
    a, b = digits.calibration(100), digits.calibration(100)
    assert a.shape == (100, 8, 8, 1) and np.array_equal(a, b)
    rows = {x.tobytes() for x in digits.x_train}
    assert all(x.tobytes() in rows for x in a)


def test_splits_do_not_overlap_and_fingerprint_is_stable(digits):
    train = {x.tobytes() for x in digits.x_train}
    overlap = sum(x.tobytes() in train for x in digits.x_val)
    # the 8x8 digits contain a few exact duplicate images; a split bug would overlap by hundreds
    assert overlap <= 2
    assert datasets.load("digits").fingerprint == digits.fingerprint


def test_missing_dataset_package_names_the_install_command(tmp_path):
    with pytest.raises(EdgepipeError, match="apt-get install dataset-fashion-mnist"):
        datasets.fashion_mnist(root=tmp_path)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownName, match="valid datasets: digits, fashion_mnist"):
        datasets.load("cifar10")
