"""Unit tests of the weight measurements and the compression registry (no training, no TensorFlow)."""

import numpy as np
import pytest

from pipeline.compress import COMPRESSIONS, order, weights
from edgepipe_base.errors import EdgepipeError, UnknownName

VARIANTS = ["prune75", "prune24", "distill", "student", "qat", "prune_qat", "distill_qat", "cluster16", "binary"]


def test_sparsity_overall_is_weighted_by_size():
    a = np.zeros((4, 4)); a[0, 0] = 1.0            # 15/16 zeros
    b = np.ones((2, 2)); b[0, 0] = 0.0              # 1/4 zeros
    overall, per = weights.sparsity({"a": a, "b": b})
    assert per == {"a": 15 / 16, "b": 0.25}
    assert overall == pytest.approx(16 / 20)


def test_m_by_n_along_input_axis():
    k = np.ones((3, 3, 8, 2), dtype=np.float32)     # Conv2D [kh, kw, in, out]
    k[:, :, 0::4, :] = 0
    k[:, :, 1::4, :] = 0
    assert weights.m_by_n_holds(k, 2, 4)
    k[0, 0, 1, 1] = 0.5                              # one group of 4 input channels keeps 3 values
    assert not weights.m_by_n_holds(k, 2, 4)
    dense = np.ones((6, 3))                          # [in, out]: groups {0..3}, {4,5} (partial)
    dense[[0, 1], :] = 0
    assert weights.m_by_n_holds(dense, 2, 4)         # partial group of 2 needs max(0, 2-2) = 0 zeros
    dense[0, 2] = 1
    assert not weights.m_by_n_holds(dense, 2, 4)


def test_m_by_n_groups_run_along_inputs_not_outputs():
    k = np.ones((4, 4))                              # zeros along the output axis only
    k[:, :2] = 0
    assert not weights.m_by_n_holds(k, 2, 4)
    assert weights.m_by_n_holds(k.T.copy(), 2, 4)


def test_unique_values_and_packed_bytes():
    assert weights.unique_values({"k": np.array([1.0, -1.0, 1.0, 0.5])}) == {"k": 3}
    assert weights.packed_bits_bytes(4096, 1) == 512
    assert weights.packed_bits_bytes(4097, 1) == 513
    assert weights.packed_bits_bytes(10, 4) == 5


def test_registry_has_the_cli_names_with_needs():
    assert COMPRESSIONS.names() == sorted(COMPRESSIONS.names(), key=VARIANTS.index)
    assert set(COMPRESSIONS.names()) == set(VARIANTS)
    assert COMPRESSIONS.get("prune_qat").needs == ("prune75",)
    assert COMPRESSIONS.get("distill_qat").needs == ("distill",)
    assert all(COMPRESSIONS.get(n).kind for n in VARIANTS)


def test_order_puts_needs_first_once():
    assert order(["prune_qat", "distill_qat", "prune75"]) == ["prune75", "prune_qat", "distill", "distill_qat"]
    assert order(["qat"]) == ["qat"]


def test_unknown_variant_lists_valid_names():
    with pytest.raises(UnknownName) as err:
        order(["prune90"])
    assert isinstance(err.value, EdgepipeError)
    assert "prune75" in str(err.value) and "binary" in str(err.value)


def test_prune_layer_targets_keep_small_layers_dense_and_reach_the_overall_target():
    from pipeline.compress.prune import layer_targets
    sizes = {"conv1": 144, "conv2": 4608, "fc1": 50176, "classifier": 320}
    per_layer, dense = layer_targets(sizes, 0.75)
    assert sorted(dense) == ["classifier", "conv1"]
    pruned = sum(c for n, c in sizes.items() if n not in dense)
    assert per_layer * pruned / sum(sizes.values()) >= 0.75
    assert layer_targets({"a": 100, "b": 100}, 0.75) == (0.75, {})          # nothing small
    assert layer_targets({"a": 5, "b": 200}, 0.94)[1] == {}                  # rest would need > 0.95


# ---- training budgets ------------------------------------------------------------------------

def test_budget_is_whole_epochs_or_a_fraction():
    from pipeline.compress import fine_tune_config
    train = {"batch_size": 32, "learning_rate": 1e-3}
    assert fine_tune_config(train, {"epochs": 3}, 1) == (train, 3)
    cfg, epochs = fine_tune_config(train, {"epochs": 0.25, "learning_rate": 5e-4}, 1)
    assert (cfg["learning_rate"], epochs) == (5e-4, 0.25)
    for bad in (1.5, 0, -1, "2"):
        with pytest.raises(EdgepipeError, match="whole number of epochs, or a fraction"):
            fine_tune_config(train, {"epochs": bad}, 1)


def test_fraction_of_an_epoch_is_one_pass_over_a_fixed_share():
    from types import SimpleNamespace

    from pipeline.compress import training_subset
    from pipeline.train import optimizer_steps
    x = np.arange(1000, dtype=np.float32).reshape(1000, 1)
    data = SimpleNamespace(x_train=x, y_train=np.arange(1000) % 10)
    xs, ys, passes = training_subset(data, 0.25, seed=7)
    assert (len(xs), passes) == (250, 1)
    assert len(np.unique(xs)) == 250                                   # no sample twice
    assert np.array_equal(ys, xs[:, 0].astype(int) % 10)               # labels stay with their samples
    assert np.array_equal(training_subset(data, 0.25, seed=7)[0], xs)  # fixed seed: the same share
    assert training_subset(data, 2, seed=7)[2] == 2 and training_subset(data, 2, seed=7)[0] is x
    assert optimizer_steps(1000, 32, 0.25) == 8                        # ceil(250 / 32)
    assert optimizer_steps(1000, 32, 2) == 64


def test_unknown_lr_schedule_lists_the_valid_ones():
    from pipeline.train import with_schedule
    with pytest.raises(UnknownName, match="constant, cosine"):
        with_schedule({"lr_schedule": "step", "epochs": 2, "batch_size": 8, "learning_rate": 1e-3}, 100)
