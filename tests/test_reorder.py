"""Sorting hidden units: same function, smaller relative index."""

import numpy as np
import pytest
import torch

from deepzip.compressed import CompressedLayer, CompressedModel, NetworkOp
from deepzip.container import dzip_bytes
from deepzip.network import to_torch
from deepzip.reorder import sort_units, unit_order


def _layer(name, kind, shape, density_per_row, rng, bits=4):
    rows = shape[0]
    per_row = np.asarray(density_per_row, dtype=float).reshape(rows, *([1] * (len(shape) - 1)))
    mask = rng.random(shape) < per_row
    codes = np.where(mask, rng.integers(1, 2**bits, shape), 0).astype(np.uint8)
    codebook = rng.normal(size=2**bits).astype(np.float32)
    codebook[0] = 0.0
    bias = rng.normal(size=rows).astype(np.float32)
    return CompressedLayer(name, kind, codebook, codes, codes != 0, bias, bits, 4)


def _outputs(model, x):
    with torch.no_grad():
        return to_torch(model)(torch.from_numpy(x)).numpy()


def test_hand_worked_two_layers():
    # fc1's units keep 1, 3 and 2 weights: sorted, most first, they go in the order 1, 2, 0; fc2's
    # columns follow, fc2's rows (the outputs) stay.
    c1 = np.array([[0, 1, 0], [2, 1, 3], [1, 0, 2]], dtype=np.uint8)
    c2 = np.array([[1, 2, 3], [0, 0, 1]], dtype=np.uint8)
    book = np.array([0.0, 0.5, -1.0, 2.0], dtype=np.float32)
    fc1 = CompressedLayer("fc1", "linear", book, c1, c1 != 0, np.float32([1, 2, 3]), 2, 2)
    fc2 = CompressedLayer("fc2", "linear", book, c2, c2 != 0, np.float32([4, 5]), 2, 2)
    net = [NetworkOp("linear", "fc1"), NetworkOp("relu"), NetworkOp("linear", "fc2")]
    np.testing.assert_array_equal(unit_order(fc1), [1, 2, 0])
    out = sort_units(CompressedModel([fc1, fc2], net))
    a, b = out.layers
    np.testing.assert_array_equal(a.codes, [[2, 1, 3], [1, 0, 2], [0, 1, 0]])
    np.testing.assert_array_equal(a.bias, [2, 3, 1])
    np.testing.assert_array_equal(b.codes, [[2, 3, 1], [0, 1, 0]])
    np.testing.assert_array_equal(b.bias, [4, 5])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        _outputs(out, x), _outputs(CompressedModel([fc1, fc2], net), x), rtol=1e-6
    )


def test_mlp_same_outputs_and_a_smaller_file():
    rng = np.random.default_rng(1)
    fc1 = _layer("fc1", "linear", (60, 40), rng.uniform(0.01, 0.3, 60), rng)
    fc2 = _layer("fc2", "linear", (30, 60), rng.uniform(0.01, 0.3, 30), rng)
    fc3 = _layer("fc3", "linear", (10, 30), np.full(10, 0.3), rng)
    net = [
        NetworkOp("linear", "fc1"),
        NetworkOp("relu"),
        NetworkOp("dropout"),
        NetworkOp("linear", "fc2"),
        NetworkOp("relu"),
        NetworkOp("linear", "fc3"),
    ]
    model = CompressedModel([fc1, fc2, fc3], net)
    out = sort_units(model)
    x = rng.normal(size=(8, 40)).astype(np.float32)
    np.testing.assert_allclose(_outputs(out, x), _outputs(model, x), rtol=1e-5, atol=1e-5)
    # The inputs of fc1 and the outputs of fc3 keep their order.
    np.testing.assert_array_equal(np.sort(out.layers[0].codes, axis=0), np.sort(fc1.codes, axis=0))
    np.testing.assert_array_equal(out.layers[2].codes.sum(1), fc3.codes.sum(1))
    kept = [np.count_nonzero(layer.mask, axis=1) for layer in out.layers[:2]]
    assert all(np.all(np.diff(k) <= 0) for k in kept)
    assert len(dzip_bytes(out)) < len(dzip_bytes(model))


def test_convnet_through_pools_and_flatten():
    rng = np.random.default_rng(2)
    conv1 = _layer("conv1", "conv2d", (6, 1, 3, 3), rng.uniform(0.2, 1, 6), rng)
    conv2 = _layer("conv2", "conv2d", (8, 6, 3, 3), rng.uniform(0.1, 0.8, 8), rng)
    fc1 = _layer("fc1", "linear", (12, 8 * 2 * 2), rng.uniform(0.05, 0.5, 12), rng)
    fc2 = _layer("fc2", "linear", (5, 12), np.full(5, 0.5), rng)
    for layer in (conv1, conv2):
        layer.metadata.update(stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
    conv = (1, 1, 0, 0, 1, 1, 1)
    net = [
        NetworkOp("conv2d", "conv1", conv),
        NetworkOp("maxpool2d", None, (2, 2, 2, 2, 0, 0)),
        NetworkOp("conv2d", "conv2", conv),
        NetworkOp("avgpool2d", None, (2, 2, 2, 2, 0, 0)),
        NetworkOp("flatten", None, (1, -1)),
        NetworkOp("linear", "fc1"),
        NetworkOp("relu"),
        NetworkOp("linear", "fc2"),
    ]
    model = CompressedModel([conv1, conv2, fc1, fc2], net)
    out = sort_units(model)
    assert [layer.name for layer in out.layers] == ["conv1", "conv2", "fc1", "fc2"]
    for before, after in zip(model.layers[:3], out.layers[:3]):
        assert not np.array_equal(before.codes, after.codes)
    x = rng.normal(size=(3, 1, 14, 14)).astype(np.float32)
    np.testing.assert_allclose(_outputs(out, x), _outputs(model, x), rtol=1e-5, atol=1e-5)


def test_units_that_cannot_move_stay():
    rng = np.random.default_rng(3)
    fc1 = _layer("fc1", "linear", (6, 4), rng.uniform(0.1, 0.9, 6), rng)
    fc2 = _layer("fc2", "linear", (6, 6), rng.uniform(0.1, 0.9, 6), rng)
    # No network: nothing is known about how the layers connect.
    assert sort_units(CompressedModel([fc1, fc2])).layers[0] is fc1
    # fc2 is used twice (weight tying): neither its inputs nor its outputs may move.
    tied = [NetworkOp("linear", "fc1"), NetworkOp("linear", "fc2"), NetworkOp("linear", "fc2")]
    out = sort_units(CompressedModel([fc1, fc2], tied))
    assert out.layers[0] is fc1 and out.layers[1] is fc2
    # The last layer's consumer is a plain tensor: its units stay where they are.
    plain = {"head.weight": np.ones((2, 6), np.float32)}
    chain = [NetworkOp("linear", "fc1"), NetworkOp("linear", "fc2"), NetworkOp("linear", "head")]
    out = sort_units(CompressedModel([fc1, fc2], chain, plain))
    assert out.layers[1].bias.tobytes() == fc2.bias.tobytes()
    assert np.array_equal(np.sort(out.layers[1].codes, axis=1), np.sort(fc2.codes, axis=1))


@pytest.mark.parametrize("groups", [2])
def test_grouped_convolutions_stay(groups):
    rng = np.random.default_rng(4)
    conv1 = _layer("conv1", "conv2d", (4, 2, 3, 3), rng.uniform(0.1, 0.9, 4), rng)
    conv2 = _layer("conv2", "conv2d", (4, 4 // groups, 3, 3), rng.uniform(0.1, 0.9, 4), rng)
    net = [
        NetworkOp("conv2d", "conv1", (1, 1, 0, 0, 1, 1, 1)),
        NetworkOp("conv2d", "conv2", (1, 1, 0, 0, 1, 1, groups)),
    ]
    out = sort_units(CompressedModel([conv1, conv2], net))
    assert out.layers[0] is conv1 and out.layers[1] is conv2
