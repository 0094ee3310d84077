"""Pruning masks as parametrizations, with the checks of PyTorch's own pruning tests."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.models import lenet_5, lenet_300_100
from deepzip.prune import (
    attach_mask,
    attach_masks,
    get_mask,
    masks_of,
    remove_compression,
    weights_kept,
)


def random_mask(shape, density, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).random(shape) < density)


def test_pruned_entries_get_zero_gradient_and_stay_zero():
    torch.manual_seed(0)
    model = lenet_5()
    masks = {"conv2": random_mask((50, 20, 5, 5), 0.3), "fc1": random_mask((500, 800), 0.1, 1)}
    attach_masks(model, masks)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(8, 1, 28, 28)).logsumexp(1).sum().backward()
        original = model.fc1.parametrizations.weight.original
        assert torch.all(original.grad[~masks["fc1"]] == 0)
        optimizer.step()
    for name, mask in masks.items():
        w = getattr(model, name).weight
        assert torch.all(w[~mask] == 0)


def test_masks_only_shrink():
    layer = nn.Linear(20, 10)
    first = random_mask((10, 20), 0.5, 1)
    second = random_mask((10, 20), 0.5, 2)
    attach_mask(layer, first)
    attach_mask(layer, second)
    assert torch.equal(get_mask(layer), first & second)


def test_forward_unchanged_after_removing_parametrizations():
    torch.manual_seed(0)
    model = lenet_300_100()
    attach_masks(model, {"fc1": random_mask((300, 784), 0.1), "fc3": random_mask((10, 100), 0.5)})
    x = torch.randn(4, 784)
    before = model(x)
    baked = copy.deepcopy(model)
    remove_compression(baked)
    assert not masks_of(baked)
    assert torch.equal(baked(x), before)
    assert torch.all(baked.fc1.weight[~get_mask(model.fc1)] == 0)


def test_weights_kept_counts_all_compressible_weights():
    model = lenet_300_100()
    attach_mask(model.fc1, torch.zeros(300, 784, dtype=torch.bool))
    total = 784 * 300 + 300 * 100 + 100 * 10
    assert weights_kept(model) == pytest.approx((total - 784 * 300) / total)


def test_wrong_shape_and_unknown_layer():
    model = lenet_300_100()
    with pytest.raises(ValueError, match="shape"):
        attach_mask(model.fc1, torch.ones(3, 3))
    with pytest.raises(KeyError, match="nope"):
        attach_masks(model, {"nope": torch.ones(3)})
