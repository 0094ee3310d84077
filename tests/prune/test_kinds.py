"""Pruning Conv1d, ConvTranspose2d, depthwise Conv2d, Embedding and every LSTM weight: the forward
uses the masked weights, pruned entries get no gradient, and layers are addressed by name."""

import copy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepzip.layers import select_weights
from deepzip.prune import (
    PruneConfig,
    masks_of,
    prune_step,
    remove_compression,
    sensitivity_analysis,
    weights_kept,
)
from kind_modules import kind_modules, output, with_weights


class Wrap(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.m = module


@pytest.mark.parametrize("name", list(kind_modules()))
def test_pruned_module_computes_with_the_masked_weights(name):
    module, x = kind_modules()[name]
    plain = copy.deepcopy(module)
    model = Wrap(module)
    prune_step(model, PruneConfig(sparsity=0.5, steps=1), 1)
    masks = masks_of(model)
    targets = select_weights(model)
    assert set(masks) == set(targets) and masks
    masked = {}
    for layer, mask in masks.items():
        param = targets[layer].param
        original = module.parametrizations[param].original
        masked[param] = torch.where(mask, original, torch.zeros(()))
        assert abs(mask.float().mean().item() - 0.5) < 0.05
    reference = with_weights(plain, masked)
    torch.testing.assert_close(output(module, x), output(reference, x), rtol=0, atol=0)
    output(module, x).square().sum().backward()
    for layer, mask in masks.items():
        grad = module.parametrizations[targets[layer].param].original.grad
        assert torch.all(grad[~mask] == 0)
    assert weights_kept(model) == pytest.approx(0.5, abs=0.05)
    remove_compression(model)
    torch.testing.assert_close(output(module, x), output(reference, x), rtol=0, atol=0)


def test_lstm_layers_are_pruned_one_by_one_by_name():
    module, _ = kind_modules()["lstm"]
    model = Wrap(module)
    config = PruneConfig(sparsity={"m.weight_hh_l1_reverse": 0.75, "m.weight_ih_l0": 0.25}, steps=1)
    prune_step(model, config, 1)
    masks = masks_of(model)
    assert set(masks) == {"m.weight_hh_l1_reverse", "m.weight_ih_l0"}
    assert masks["m.weight_hh_l1_reverse"].float().mean().item() == pytest.approx(0.25, abs=0.02)
    assert masks["m.weight_ih_l0"].shape == (16, 3)


def test_global_and_quality_pruning_reach_lstm_and_embedding():
    for config in (PruneConfig(sparsity=0.6, scope="global", steps=1),
                   PruneConfig(quality=0.5, steps=1)):  # fmt: skip
        model = nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 3))
        prune_step(model, config, 1)
        assert set(masks_of(model)) == {"0", *(f"1.weight_{g}_l0" for g in ("ih", "hh"))}


def test_sensitivity_addresses_lstm_weights_by_name():
    module, x = kind_modules()["lstm"]
    model = Wrap(module)
    reference = output(module, x).detach()

    def evaluate(m):
        with torch.no_grad():
            return -float((output(m.m, x) - reference).abs().mean())

    result = sensitivity_analysis(model, evaluate, (0.0, 0.9), ["m.weight_hh_l0"])
    assert list(result.accuracy) == ["m.weight_hh_l0"]
    zero, heavy = result.accuracy["m.weight_hh_l0"]
    assert zero == 0.0 and heavy < 0.0
    torch.testing.assert_close(output(module, x), reference, rtol=0, atol=0)  # unchanged
