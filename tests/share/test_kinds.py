"""Weight sharing of Conv1d, ConvTranspose2d, depthwise Conv2d, Embedding and every LSTM weight:
the forward uses centroids[codes] * mask, gradients reach the centroids as the per-cluster sum,
and compressed_layers hands over each weight, in its own shape, bit-exact, through the file."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepzip.compressed import CompressedModel
from deepzip.container import dzip_bytes, read_dzip
from deepzip.kinds import KINDS, weight_name
from deepzip.layers import select_weights
from deepzip.prune import PruneConfig, prune_step
from deepzip.share import QuantizeConfig, compressed_layers, get_shared, share_weights
from kind_modules import kind_modules, output, with_weights


def shared_model(name: str, config: QuantizeConfig | None = None):
    module, x = kind_modules()[name]
    plain = copy.deepcopy(module)
    model = nn.Sequential()
    model.add_module("m", module)
    prune_step(model, PruneConfig(sparsity=0.6, steps=1), 1)
    share_weights(model, config or QuantizeConfig(conv_bits=4, fc_bits=3))
    return model, module, x, plain


@pytest.mark.parametrize("name", list(kind_modules()))
def test_shared_module_computes_with_centroids_of_codes(name):
    model, module, x, plain = shared_model(name)
    targets = select_weights(model)
    weights = {}
    for target in targets.values():
        shared = get_shared(module, target.param)
        assert shared is not None
        value = shared.centroids.detach()[shared.codes.long()] * shared.mask
        weights[target.param] = value
        assert len(shared.centroids) <= 2 ** (4 if "conv" in target.kind else 3)
    reference = with_weights(plain, weights)
    torch.testing.assert_close(output(module, x), output(reference, x), rtol=0, atol=0)
    # Gradients reach the centroids: the per-cluster sum of the reference's weight gradients.
    output(module, x).square().sum().backward()
    output(reference, x).square().sum().backward()
    for target in targets.values():
        shared = get_shared(module, target.param)
        grad = getattr(reference, target.param).grad
        expected = torch.bincount(shared.codes.reshape(-1).long(), (grad * shared.mask).reshape(-1),
                                  minlength=len(shared.centroids))  # fmt: skip
        expected[0] = 0  # pruned weights are exactly zero: no gradient reaches code 0
        torch.testing.assert_close(shared.centroids.grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(kind_modules()))
def test_compressed_layers_give_each_weight_bit_exact_through_the_file(name):
    model, module, _, _ = shared_model(name)
    layers = compressed_layers(model, QuantizeConfig(conv_bits=4, fc_bits=3))
    targets = select_weights(model)
    assert [layer.name for layer in layers] == list(targets)
    back = read_dzip(dzip_bytes(CompressedModel(layers)))
    state = dict(model.named_parameters())
    for layer, read in zip(layers, back.layers, strict=True):
        target = targets[layer.name]
        weight = target.weight.detach().numpy()
        assert layer.kind == target.kind and layer.weight_shape == weight.shape
        assert weight_name(layer.kind, layer.name) == f"m.{target.param}"
        assert not layer.metadata  # conv settings live in the graph
        for got in (layer, read):
            np.testing.assert_array_equal(
                got.dense_weight().view(np.uint32), weight.view(np.uint32)
            )
            np.testing.assert_array_equal(
                KINDS[got.kind].from_matrix(got.matrix_codes(), got.weight_shape), got.codes
            )
        has_bias = KINDS[layer.kind].has_bias and getattr(module, "bias", None) is not None
        assert (layer.bias is not None) == has_bias
        if has_bias:
            np.testing.assert_array_equal(layer.bias, state["m.bias"].detach().numpy())


def test_lstm_weights_have_their_own_codebooks_and_bits_by_name():
    config = QuantizeConfig(fc_bits=3, bits={"m.weight_hh_l1_reverse": 2}, weights_per_cluster=0)
    model, _, _, _ = shared_model("lstm", config)
    layers = {layer.name: layer for layer in compressed_layers(model, config)}
    assert len(layers) == 8
    assert layers["m.weight_hh_l1_reverse"].weight_bits == 2
    assert len(layers["m.weight_hh_l1_reverse"].codebook) <= 4
    assert layers["m.weight_ih_l0"].weight_bits == 3
    assert all(layer.bias is None for layer in layers.values())  # LSTM biases stay tensors
    assert not np.array_equal(layers["m.weight_ih_l0"].codebook, layers["m.weight_hh_l0"].codebook)


def test_embedding_is_stored_one_token_per_column():
    model, module, _, _ = shared_model("embedding")
    (layer,) = compressed_layers(model)
    assert layer.matrix_shape == (5, 10)
    col_ptr, rows, codes = layer.csc()
    token = 3
    kept = get_shared(module).mask[token].numpy()
    np.testing.assert_array_equal(rows[col_ptr[token] : col_ptr[token + 1]], np.flatnonzero(kept))
    np.testing.assert_array_equal(
        codes[col_ptr[token] : col_ptr[token + 1]], get_shared(module).codes[token].numpy()[kept]
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_masks_codes_and_centroids_live_on_the_weights_device():
    cpu, _, _, _ = shared_model("lstm")
    module, x = kind_modules()["lstm"]
    model = nn.Sequential()
    model.add_module("m", module.cuda())
    prune_step(model, PruneConfig(sparsity=0.6, steps=1), 1)
    share_weights(model, QuantizeConfig(conv_bits=4, fc_bits=3))
    for target in select_weights(model).values():
        shared = get_shared(target.module, target.param)
        assert shared.codes.is_cuda and shared.mask.is_cuda and shared.centroids.is_cuda
    output(module, x.cuda()).sum().backward()
    for got, want in zip(compressed_layers(model), compressed_layers(cpu), strict=True):
        np.testing.assert_array_equal(got.dense_weight(), want.dense_weight())
