"""Weight sharing as a parametrization: the paper's Fig. 3 example and the grouped gradient."""

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.share import SharedWeights, attach_shared, get_shared

# Deep Compression, Fig. 3: cluster index, gradient, and centroids (indexed 0..3).
FIG3_CODES = [[3, 0, 2, 1], [1, 1, 0, 3], [0, 3, 1, 0], [3, 1, 2, 2]]
FIG3_GRAD = [
    [-0.03, -0.01, 0.03, 0.02],
    [-0.01, 0.01, -0.02, 0.12],
    [-0.01, 0.02, 0.04, 0.01],
    [-0.07, -0.02, 0.01, -0.02],
]
FIG3_CENTROIDS = [-1.00, 0.00, 1.50, 2.00]
FIG3_FINE_TUNED = [-0.97, -0.04, 1.48, 1.96]


def fig3_layer() -> nn.Linear:
    layer = nn.Linear(4, 4, bias=False)
    attach_shared(
        layer,
        np.array(FIG3_CENTROIDS),
        np.array(FIG3_CODES),
        np.ones((4, 4), dtype=bool),
    )
    return layer


def test_fig3_centroids_after_one_step_at_learning_rate_one():
    layer = fig3_layer()
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0)
    # A loss whose gradient w.r.t. the weight is exactly the figure's gradient matrix.
    loss = (layer.weight * torch.tensor(FIG3_GRAD)).sum()
    loss.backward()
    optimizer.step()
    centroids = get_shared(layer).centroids.detach().numpy()
    np.testing.assert_allclose(centroids, FIG3_FINE_TUNED, atol=1e-6)
    # The weight is rebuilt from the new centroids.
    expected = np.array(FIG3_FINE_TUNED, dtype=np.float32)[np.array(FIG3_CODES)]
    np.testing.assert_allclose(layer.weight.detach().numpy(), expected, atol=1e-6)


def test_centroid_gradient_is_sum_of_cluster_weight_gradients():
    rng = np.random.default_rng(0)
    shape, k = (37, 23), 7
    codes = rng.integers(0, k, shape)
    mask = rng.random(shape) < 0.4
    layer = nn.Linear(23, 37)
    attach_shared(layer, rng.normal(size=k), codes, mask)
    x = torch.from_numpy(rng.normal(size=(5, 23)).astype(np.float32))
    weight = layer.weight  # the parametrized weight, a non-leaf tensor
    weight.retain_grad()
    out = nn.functional.linear(x, weight, layer.bias)
    (out**2).sum().backward()
    weight_grad = weight.grad.numpy()
    expected = np.bincount(codes[mask], weights=weight_grad[mask].astype(np.float64), minlength=k)
    got = get_shared(layer).centroids.grad.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_pruned_weights_stay_exactly_zero_through_training():
    rng = np.random.default_rng(1)
    mask = rng.random((10, 8)) < 0.3
    layer = nn.Linear(8, 10)
    attach_shared(layer, np.array([-0.5, 0.25, 1.0]), rng.integers(0, 3, (10, 8)), mask)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(20):
        optimizer.zero_grad()
        layer(torch.randn(4, 8)).pow(2).sum().backward()
        optimizer.step()
    w = layer.weight.detach().numpy()
    assert np.all(w[~mask] == 0)
    # +0.0, not -0.0: the bytes of a pruned weight are all zero.
    assert not np.any(np.signbit(w[~mask]))
    assert np.all(w[mask] != 0)


def test_state_dict_round_trip_into_a_fresh_layer():
    layer = fig3_layer()
    fresh = nn.Linear(4, 4, bias=False)
    attach_shared(fresh, np.zeros(4), np.zeros((4, 4), int), np.zeros((4, 4), bool))
    fresh.load_state_dict(layer.state_dict())
    assert torch.equal(fresh.weight, layer.weight)
    assert not fresh.parametrizations.weight.original.requires_grad


def test_bad_codes_are_rejected():
    with pytest.raises(ValueError, match="codes must be in"):
        SharedWeights(torch.zeros(2), torch.full((2, 2), 2), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        SharedWeights(torch.zeros(2), torch.zeros(2, 2), torch.ones(3, 2, dtype=torch.bool))
