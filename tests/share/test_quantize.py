"""Trained quantization on real layers: k-means over surviving weights, codes, handover."""

import numpy as np
import pytest
import torch

from deepzip.core.kmeans import init_centroids, kmeans_1d_reference
from deepzip.models import lenet_5, lenet_300_100
from deepzip.prune import PruneConfig, get_mask, prune_step
from deepzip.share import QuantizeConfig, compressed_layers, get_shared, share_weights


def pruned_lenet5(sparsity=0.8):
    torch.manual_seed(0)
    model = lenet_5()
    prune_step(model, PruneConfig(sparsity=sparsity, steps=1), 1)
    return model


def test_default_bits_conv_8_fc_5_and_pruned_stay_zero():
    model = pruned_lenet5()
    masks = {n: get_mask(getattr(model, n)).clone() for n in ("conv1", "conv2", "fc1", "fc2")}
    share_weights(model)
    layers = {layer.name: layer for layer in compressed_layers(model)}
    assert {n: layers[n].weight_bits for n in layers} == {
        "conv1": 5,  # 100 kept weights: capped at about one cluster per 4 (see below)
        "conv2": 8,
        "fc1": 5,
        "fc2": 5,
    }
    assert len(layers["fc1"].codebook) == 32
    assert len(layers["conv2"].codebook) == 256
    for name, mask in masks.items():
        w = getattr(model, name).weight.detach()
        assert torch.all(w[~mask] == 0)
        np.testing.assert_array_equal(layers[name].mask, mask.numpy())
        np.testing.assert_array_equal(layers[name].dense_weight(), w.numpy())


def test_clusters_match_reference_kmeans_on_surviving_weights_only():
    model = pruned_lenet5(0.9)
    weight = model.fc2.weight.detach().numpy().copy()
    mask = get_mask(model.fc2).numpy().copy()
    share_weights(model, QuantizeConfig(fc_bits=3), layers=["fc2"])
    survivors = weight[mask]
    # 3 bits: the zero code plus 7 clusters of surviving weights.
    ref = kmeans_1d_reference(survivors, init_centroids(survivors, 7, "linear"))
    shared = get_shared(model.fc2)
    centroids = shared.centroids.detach().numpy()
    assert centroids[0] == 0.0
    np.testing.assert_allclose(centroids[1:], ref.centroids, rtol=1e-5)
    np.testing.assert_array_equal(shared.codes.numpy()[mask], ref.labels + 1)
    assert np.all(shared.codes.numpy()[~mask] == 0)
    # Layers not named are untouched.
    assert get_shared(model.fc1) is None


def test_per_layer_override_and_init_choice():
    model = pruned_lenet5()
    config = QuantizeConfig(bits={"fc1": 2}, init="density")
    share_weights(model, config)
    layers = {layer.name: layer for layer in compressed_layers(model, config)}
    assert layers["fc1"].weight_bits == 2
    assert len(layers["fc1"].codebook) == 4
    assert layers["fc2"].weight_bits == 5


def test_fewer_survivors_than_clusters_and_fully_pruned_layer():
    torch.manual_seed(0)
    model = lenet_300_100()
    mask = torch.zeros(10, 100, dtype=torch.bool)
    mask[0, :3] = True
    from deepzip.prune import attach_mask

    attach_mask(model.fc3, mask)
    attach_mask(model.fc2, torch.zeros(100, 300, dtype=torch.bool))
    uncapped = QuantizeConfig(weights_per_cluster=0)  # the edge case itself, without the cap
    share_weights(model, uncapped)
    layers = {layer.name: layer for layer in compressed_layers(model, uncapped)}
    assert len(layers["fc3"].codebook) == 4  # the zero code and one per survivor
    assert layers["fc2"].num_kept == 0
    np.testing.assert_array_equal(layers["fc2"].codebook, [0.0])
    assert torch.all(model.fc2.weight == 0)


def test_bad_config():
    with pytest.raises(ValueError, match="bits"):
        QuantizeConfig(fc_bits=0)
    with pytest.raises(ValueError, match="init"):
        QuantizeConfig(init="kmeans++")


def test_per_layer_index_bits():
    model = pruned_lenet5()
    config = QuantizeConfig(index_bits=5, layer_index_bits={"fc1": 8})
    share_weights(model, config)
    bits = {layer.name: layer.index_bits for layer in compressed_layers(model, config)}
    assert bits == {"conv1": 5, "conv2": 5, "fc1": 8, "fc2": 5}
    with pytest.raises(ValueError, match="index bits for fc1"):
        QuantizeConfig(layer_index_bits={"fc1": 9})


def test_without_relocation_the_codebook_holds_the_clusters_in_use():
    model = pruned_lenet5(0.9)
    weight = model.fc1.weight.detach().numpy().copy()
    mask = get_mask(model.fc1).numpy().copy()
    config = QuantizeConfig(fc_bits=6, relocate_empty=False)
    share_weights(model, config, layers=["fc1"])
    survivors = weight[mask]
    ref = kmeans_1d_reference(survivors, init_centroids(survivors, 63, "linear"), relocate=False)
    used = np.unique(ref.labels)
    assert used.size < 63  # linear centroids in the pruned gap stay empty
    shared = get_shared(model.fc1)
    centroids = shared.centroids.detach().numpy()
    np.testing.assert_allclose(centroids[1:], ref.centroids[used], rtol=1e-5)
    codes = shared.codes.numpy()
    np.testing.assert_array_equal(codes[mask], np.searchsorted(used, ref.labels) + 1)
    assert set(np.unique(codes[mask])) == set(range(1, used.size + 1))


def test_half_values_round_centroids_and_biases_to_float16():
    model = pruned_lenet5()
    config = QuantizeConfig(value_bits=16)
    share_weights(model, config)
    for layer in compressed_layers(model, config):
        assert layer.value_bits == 16
        for values in (layer.codebook, layer.bias):
            np.testing.assert_array_equal(values.astype(np.float16).astype(np.float32), values)
        module = getattr(model, layer.name)
        np.testing.assert_array_equal(module.bias.detach().numpy(), layer.bias)
    with pytest.raises(ValueError, match="value_bits"):
        QuantizeConfig(value_bits=8)


def test_clusters_capped_by_kept_weights():
    """Issue 15: a 3×3 conv with 230 kept weights at 8 bits got 231 clusters, sharing nothing.
    The cap allows about one cluster per 4 kept weights, rounded to a power of two: 6 bits."""
    from deepzip.share import capped_layers

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8, 4))
    mask = torch.zeros(8 * 8 * 9, dtype=torch.bool)
    mask[torch.randperm(mask.numel())[:230]] = True
    from deepzip.prune import attach_mask

    attach_mask(model[0], mask.reshape(8, 8, 3, 3))
    config = QuantizeConfig(conv_bits=8, fc_bits=5)
    share_weights(model, config)
    conv, fc = compressed_layers(model, config)
    assert conv.weight_bits == 6 and len(conv.codebook) <= 64  # 63 clusters and the zero
    assert len(conv.codebook) - 1 <= 230 / 4 * 1.2
    assert fc.weight_bits == 3  # 32 weights: 8 clusters
    assert capped_layers(model, config) == {"0": (8, 6), "2": (5, 3)}
    # The file stores it, and the dense weight still has at most 63 distinct non-zero values.
    assert len(np.unique(conv.dense_weight()[conv.mask])) <= 63

    uncapped = QuantizeConfig(conv_bits=8, weights_per_cluster=0)
    assert uncapped.capped_bits("0", "conv2d", 230) == 8
    assert config.capped_bits("0", "conv2d", 330) == 6  # LeNet-5's conv1 at 66% kept
    assert config.capped_bits("0", "conv2d", 3000) == 8  # plenty of weights: as asked


def test_exact_layers_keep_every_surviving_weight():
    """A depthwise convolution whose channels differ 1000× in scale: a shared codebook of 31
    clusters maps the small channel to a few values, an exact layer keeps every weight (the
    original values, float32 with value_bits 32) with the fewest bits that code them all."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, groups=2, bias=False))
    with torch.no_grad():
        model[0].weight[1] *= 1e-3
    original = model[0].weight.detach().clone()
    config = QuantizeConfig(conv_bits=5, exact=["0"])
    assert config.capped_bits("0", "conv2d", 18) == 5  # 18 weights need codes 1..18
    assert config.capped_bits("0", "conv2d", 15) == 4
    share_weights(model, config)
    (layer,) = compressed_layers(model, config)
    assert layer.weight_bits == 5 and len(layer.codebook) == 19
    np.testing.assert_array_equal(layer.dense_weight(), original.numpy())
    torch.testing.assert_close(model[0].weight, original, rtol=0, atol=0)

    shared = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, groups=2, bias=False))
    shared.load_state_dict({"0.weight": original})
    share_weights(shared, QuantizeConfig(conv_bits=5))  # capped to 3 clusters for 18 weights
    small = shared[0].weight.detach()[1]
    assert torch.unique(small).numel() == 1  # the small channel's nine weights share one value
    assert (small - original[1]).abs().max() > 0.5 * original[1].abs().max()

    with pytest.raises(ValueError, match=r"stored exactly.*5,000 weights"):
        QuantizeConfig(exact=["0"]).capped_bits("0", "conv2d", 5000)


def test_a_code_for_every_weight_when_the_codebook_has_room():
    """With at least as many clusters as surviving weights, each distinct value is its own
    centroid (k-means' exact optimum), whatever the initialisation would have done."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False))
    with torch.no_grad():
        model[0].weight[0, :3] = 0.25  # repeated values share a code
    original = model[0].weight.detach().clone()
    config = QuantizeConfig(fc_bits=5, weights_per_cluster=0)  # 31 clusters for 30 weights
    share_weights(model, config)
    (layer,) = compressed_layers(model, config)
    assert len(layer.codebook) == 1 + len(np.unique(original.numpy()))
    np.testing.assert_array_equal(layer.dense_weight(), original.numpy())
