"""Iterative pruning schedules: targets reached exactly, retraining called between rounds."""

import itertools

import numpy as np
import pytest
import torch

from deepzip.models import lenet_300_100
from deepzip.prune import PruneConfig, get_mask, iterative_prune, masks_of, weights_kept


def test_per_layer_targets_reached_in_rounds_with_shrinking_masks():
    torch.manual_seed(0)
    model = lenet_300_100()
    targets = {"fc1": 0.92, "fc2": 0.91, "fc3": 0.74}
    config = PruneConfig(sparsity=targets, steps=3)
    history = []

    def retrain(m, step):
        history.append((step, {n: mk.clone() for n, mk in masks_of(m).items()}))

    iterative_prune(model, config, retrain)
    assert [s for s, _ in history] == [1, 2, 3]
    for name, target in targets.items():
        layer = getattr(model, name)
        n = layer.weight.numel()
        assert int(get_mask(layer).sum()) == n - round(target * n)
        # Geometric schedule: kept fraction (1 - s)^(i/3) after round i; masks shrink.
        for (_, masks), (_, later) in itertools.pairwise(history):
            assert not torch.any(later[name] & ~masks[name])
        kept_after_1 = int(history[0][1][name].sum())
        assert kept_after_1 == n - round((1 - (1 - target) ** (1 / 3)) * n)


def test_global_scope_one_threshold():
    torch.manual_seed(0)
    model = lenet_300_100()
    layers = (model.fc1, model.fc2, model.fc3)
    dense = [layer.weight.detach().abs().clone() for layer in layers]
    iterative_prune(model, PruneConfig(sparsity=0.9, scope="global", steps=1))
    assert weights_kept(model) == pytest.approx(0.1, abs=1e-5)
    masks = [get_mask(layer) for layer in layers]
    smallest_kept = min(float(w[m].min()) for w, m in zip(dense, masks))
    largest_pruned = max(float(w[~m].max()) for w, m in zip(dense, masks))
    assert smallest_kept >= largest_pruned
    # Layers end at different sparsities: one threshold, not one ratio per layer.
    assert len({round(float(m.float().mean()), 3) for m in masks}) > 1


def test_global_scope_in_rounds_reaches_target():
    torch.manual_seed(0)
    model = lenet_300_100()
    iterative_prune(model, PruneConfig(sparsity=0.9, scope="global", steps=3))
    assert weights_kept(model) == pytest.approx(0.1, abs=1e-5)


def test_quality_mode_prunes_below_quality_times_std():
    torch.manual_seed(0)
    model = lenet_300_100()
    w = model.fc2.weight.detach().numpy().copy()
    iterative_prune(model, PruneConfig(quality=1.0, steps=1, layers=["fc2"]))
    expected = np.abs(w) > w.std()
    np.testing.assert_array_equal(get_mask(model.fc2).numpy(), expected)
    assert get_mask(model.fc1) is None


def test_bad_configs():
    with pytest.raises(ValueError, match="exactly one"):
        PruneConfig()
    with pytest.raises(ValueError, match="exactly one"):
        PruneConfig(sparsity=0.5, quality=1.0)
    with pytest.raises(ValueError, match="sparsity must be"):
        PruneConfig(sparsity=1.2)
    with pytest.raises(ValueError, match="global"):
        PruneConfig(sparsity={"fc1": 0.5}, scope="global")
    with pytest.raises(KeyError, match="fc9"):
        iterative_prune(lenet_300_100(), PruneConfig(sparsity={"fc9": 0.5}))


def test_final_round_retrains_longer():
    config = PruneConfig(sparsity=0.9, steps=3, retrain_epochs=2, final_retrain_epochs=7)
    assert [config.epochs_after(step) for step in (1, 2, 3)] == [2, 2, 7]
    assert PruneConfig(sparsity=0.9, steps=2, retrain_epochs=4).epochs_after(2) == 4
    with pytest.raises(ValueError, match="final_retrain_epochs"):
        PruneConfig(sparsity=0.9, final_retrain_epochs=-1)
