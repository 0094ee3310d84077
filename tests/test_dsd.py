"""DSD: the sparse phase trains with a fixed mask, re-dense restores pruned weights at zero."""

import numpy as np
import pytest
import torch

from deepzip.dsd import DSDConfig, dsd
from deepzip.models import lenet_300_100
from deepzip.prune import get_mask, masks_of


def test_phases_masks_and_learning_rates():
    torch.manual_seed(0)
    model = lenet_300_100()
    dense = {n: getattr(model, n).weight.detach().clone() for n in ("fc1", "fc2", "fc3")}
    seen = []

    def retrain(m, phase, lr_factor):
        masks = masks_of(m)
        if phase == "sparse":
            for name, w in dense.items():
                mask = masks[name]
                # 30% of each layer pruned, the smallest magnitudes first.
                assert int((~mask).sum()) == round(0.3 * w.numel())
                assert float(w[~mask].abs().max()) <= float(w[mask].abs().min())
            # Simulate training: move every weight; pruned ones must stay zero.
            with torch.no_grad():
                for name in dense:
                    getattr(m, name).parametrizations.weight.original.add_(0.01)
            for name in dense:
                w = getattr(m, name).weight
                assert torch.all(w[~masks[name]] == 0)
        else:
            assert masks == {}  # re-dense: no mask any more
            for name in dense:
                w = getattr(m, name).weight
                assert w.requires_grad
                assert int((w == 0).sum()) >= round(0.3 * w.numel())  # pruned restart at zero
        seen.append((phase, lr_factor))

    dsd(model, retrain)
    assert seen == [("sparse", 1.0), ("redense", 0.1)]
    assert get_mask(model.fc1) is None


def test_dsd_improves_or_keeps_a_trained_toy_model():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(256, 784)).astype(np.float32))
    y = torch.from_numpy((x[:, :10].numpy().argmax(1)).astype(np.int64))
    from deepzip.training import TrainConfig, evaluate, train

    torch.manual_seed(0)
    model = lenet_300_100()
    base = TrainConfig(epochs=3, lr=0.05, batch_size=32)
    train(model, x, y, base)
    before = evaluate(model, x, y)
    dsd(model, lambda m, phase, f: train(m, x, y, base.retraining(2, f)))
    assert evaluate(model, x, y) >= before - 0.02


def test_bad_sparsity():
    with pytest.raises(ValueError, match="sparsity"):
        DSDConfig(sparsity=1.0)
