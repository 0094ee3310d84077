"""Compressible parameters are found by type through the registry and named by compressed layer
name, parametrized or not."""

import pytest
import torch
from torch import nn

from deepzip.layers import COMPRESSIBLE, compressible_weights, select_layers, select_weights
from deepzip.prune import attach_mask


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 3)
        self.rnn = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
        self.conv = nn.Conv1d(8, 6, 3, groups=2)
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
        self.depthwise = nn.Conv2d(6, 6, 3, groups=6)
        self.head = nn.Linear(6, 2)
        self.norm = nn.LayerNorm(6)


LSTM_WEIGHTS = [f"rnn.weight_{g}_l{k}{d}" for k in (0, 1) for d in ("", "_reverse")
                for g in ("ih", "hh")]  # fmt: skip


def test_every_compressible_parameter_is_a_layer_in_module_order():
    weights = compressible_weights(Mixed())
    assert list(weights) == ["emb", *LSTM_WEIGHTS, "conv", "up", "depthwise", "head"]
    kinds = {n: w.kind for n, w in weights.items()}
    assert kinds["emb"] == "embedding" and kinds["up"] == "conv_transpose2d"
    assert kinds["conv"] == "conv1d" and kinds["depthwise"] == "conv2d"
    assert {kinds[n] for n in LSTM_WEIGHTS} == {"lstm"}
    assert weights["rnn.weight_hh_l1_reverse"].weight.shape == (16, 4)
    assert set(COMPRESSIBLE.values()) >= {"linear", "conv1d", "embedding", "lstm"}


def test_parametrized_parameters_are_still_found_in_the_same_order():
    model = Mixed()
    before = list(compressible_weights(model))
    attach_mask(model.rnn, torch.ones(16, 4, dtype=torch.bool), "weight_hh_l0")
    attach_mask(model.head, torch.ones(2, 6, dtype=torch.bool))
    assert list(compressible_weights(model)) == before


def test_unknown_names_raise_and_modules_are_the_owners():
    model = Mixed()
    with pytest.raises(KeyError, match=r"rnn\.weight_ih_l2"):
        select_weights(model, ["rnn.weight_ih_l2"])
    assert select_layers(model, ["rnn.weight_ih_l0", "emb"]) == {
        "rnn.weight_ih_l0": model.rnn,
        "emb": model.emb,
    }
