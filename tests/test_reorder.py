"""Sorting hidden units over the network graph: same function, smaller relative index, and units
left alone wherever moving them would change what the network computes."""

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.core.relative_index import encode_column_major
from deepzip.graph import Graph, GraphInput, Node, chain
from deepzip.network import runnable_problems, to_compressed_model, to_torch
from deepzip.prune import PruneConfig, prune_step
from deepzip.reorder import sort_units, unit_order
from deepzip.share import QuantizeConfig, share_weights

CONV = {"stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
POOL = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0), "ceil_mode": False}
MAX_POOL = {**POOL, "dilation": (1, 1)}
AVG_POOL = {**POOL, "count_include_pad": True, "divisor_override": 0}
FLATTEN = {"start_dim": 1, "end_dim": -1}


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


def _index_entries(model):
    """Stored entries (kept weights and filler zeros) of all relative indices."""
    total = 0
    for layer in model.layers:
        codes = layer.matrix_codes()
        total += encode_column_major(codes, codes != 0, layer.index_bits, 0).n_entries
    return total


def _unchanged(before, after):
    return all(a is b for a, b in zip(before.layers, after.layers))


def test_hand_worked_two_layers():
    # fc1's units keep 1, 3 and 2 weights: sorted, most first, they go in the order 1, 2, 0; fc2's
    # columns follow, fc2's rows (the outputs) stay.
    c1 = np.array([[0, 1, 0], [2, 1, 3], [1, 0, 2]], dtype=np.uint8)
    c2 = np.array([[1, 2, 3], [0, 0, 1]], dtype=np.uint8)
    book = np.array([0.0, 0.5, -1.0, 2.0], dtype=np.float32)
    fc1 = CompressedLayer("fc1", "linear", book, c1, c1 != 0, np.float32([1, 2, 3]), 2, 2)
    fc2 = CompressedLayer("fc2", "linear", book, c2, c2 != 0, np.float32([4, 5]), 2, 2)
    net = chain([("linear", "fc1", {}), ("relu", None, {}), ("linear", "fc2", {})], (3,))
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


def test_mlp_same_outputs_and_fewer_index_entries():
    rng = np.random.default_rng(1)
    fc1 = _layer("fc1", "linear", (60, 40), rng.uniform(0.01, 0.3, 60), rng)
    fc2 = _layer("fc2", "linear", (30, 60), rng.uniform(0.01, 0.3, 30), rng)
    fc3 = _layer("fc3", "linear", (10, 30), np.full(10, 0.3), rng)
    net = chain(
        [("linear", "fc1", {}), ("relu", None, {}), ("linear", "fc2", {}),
         ("gelu", None, {"approximate": "none"}), ("linear", "fc3", {})],
        (40,),
    )  # fmt: skip
    model = CompressedModel([fc1, fc2, fc3], net)
    out = sort_units(model)
    x = rng.normal(size=(8, 40)).astype(np.float32)
    np.testing.assert_allclose(_outputs(out, x), _outputs(model, x), rtol=1e-5, atol=1e-5)
    # The inputs of fc1 and the outputs of fc3 keep their order.
    np.testing.assert_array_equal(np.sort(out.layers[0].codes, axis=0), np.sort(fc1.codes, axis=0))
    np.testing.assert_array_equal(out.layers[2].codes.sum(1), fc3.codes.sum(1))
    kept = [np.count_nonzero(layer.mask, axis=1) for layer in out.layers[:2]]
    assert all(np.all(np.diff(k) <= 0) for k in kept)
    assert _index_entries(out) < _index_entries(model)


def test_convnet_through_pools_batchnorm_and_flatten():
    rng = np.random.default_rng(2)
    conv1 = _layer("conv1", "conv2d", (6, 1, 3, 3), rng.uniform(0.2, 1, 6), rng)
    conv2 = _layer("conv2", "conv2d", (8, 6, 3, 3), rng.uniform(0.1, 0.8, 8), rng)
    fc1 = _layer("fc1", "linear", (12, 8 * 2 * 2), rng.uniform(0.05, 0.5, 12), rng)
    fc2 = _layer("fc2", "linear", (5, 12), np.full(5, 0.5), rng)
    tensors = {f"bn.{name}": rng.uniform(0.5, 2, 6).astype(np.float32)
               for name in ("weight", "bias", "running_mean", "running_var")}  # fmt: skip
    net = chain(
        [("conv2d", "conv1", CONV), ("batch_norm", "bn", {"eps": 1e-5}),
         ("max_pool2d", None, MAX_POOL), ("conv2d", "conv2", CONV), ("avg_pool2d", None, AVG_POOL),
         ("flatten", None, FLATTEN), ("linear", "fc1", {}), ("relu", None, {}),
         ("linear", "fc2", {})],
        (1, 14, 14),
    )  # fmt: skip
    model = CompressedModel([conv1, conv2, fc1, fc2], net, tensors)
    out = sort_units(model)
    for before, after in zip(model.layers[:3], out.layers[:3]):
        assert not np.array_equal(before.codes, after.codes)
    assert not np.array_equal(out.tensors["bn.running_mean"], tensors["bn.running_mean"])
    x = rng.normal(size=(3, 1, 14, 14)).astype(np.float32)
    np.testing.assert_allclose(_outputs(out, x), _outputs(model, x), rtol=1e-5, atol=1e-5)


def test_conv_into_linear_on_the_last_axis_stays():
    """Issue 10: Conv2d → Linear acting on the last axis (W == channels) paired the wrong axis."""
    rng = np.random.default_rng(5)
    conv = _layer("conv", "conv2d", (4, 2, 1, 1), rng.uniform(0.1, 1, 4), rng)
    fc = _layer("fc", "linear", (3, 4), np.full(3, 0.7), rng)
    net = chain([("conv2d", "conv", CONV), ("relu", None, {}), ("linear", "fc", {})], (2, 5, 4))
    model = CompressedModel([conv, fc], net)
    out = sort_units(model)
    assert _unchanged(model, out)
    x = rng.normal(size=(2, 2, 5, 4)).astype(np.float32)
    np.testing.assert_array_equal(_outputs(out, x), _outputs(model, x))


def test_units_that_cannot_move_stay():
    rng = np.random.default_rng(3)
    fc1 = _layer("fc1", "linear", (6, 4), rng.uniform(0.1, 0.9, 6), rng)
    fc2 = _layer("fc2", "linear", (6, 6), rng.uniform(0.1, 0.9, 6), rng)
    # No network: nothing is known about how the layers connect.
    assert sort_units(CompressedModel([fc1, fc2])).layers[0] is fc1
    # fc2 is used twice (weight tying): neither its inputs nor its outputs may move.
    tied = chain([("linear", "fc1", {}), ("linear", "fc2", {}), ("linear", "fc2", {})], (4,))
    assert _unchanged(
        CompressedModel([fc1, fc2], tied), sort_units(CompressedModel([fc1, fc2], tied))
    )
    # The last layer's consumer is a plain tensor: its units stay where they are.
    plain = {"head.weight": np.ones((2, 6), np.float32)}
    net = chain([("linear", "fc1", {}), ("linear", "fc2", {}), ("linear", "head", {})], (4,))
    out = sort_units(CompressedModel([fc1, fc2], net, plain))
    assert out.layers[1].bias.tobytes() == fc2.bias.tobytes()
    # A residual: fc1's output is read by fc2 and by the add.
    nodes = (
        Node("linear", ("x",), ("h",), "fc1"),
        Node("linear", ("h",), ("y",), "fc2"),
        Node("add", ("h", "y"), ("z",), None, {"scalar": 0.0}),
    )
    residual = Graph((GraphInput("x", "float32", (4,)),), nodes, ("z",))
    assert _unchanged(CompressedModel([fc1, fc2], residual),
                      sort_units(CompressedModel([fc1, fc2], residual)))  # fmt: skip


def test_grouped_convolutions_stay():
    rng = np.random.default_rng(4)
    conv1 = _layer("conv1", "conv2d", (4, 2, 3, 3), rng.uniform(0.1, 0.9, 4), rng)
    conv2 = _layer("conv2", "conv2d", (4, 2, 3, 3), rng.uniform(0.1, 0.9, 4), rng)
    net = chain([("conv2d", "conv1", CONV), ("conv2d", "conv2", {**CONV, "groups": 2})], (2, 9, 9))
    model = CompressedModel([conv1, conv2], net)
    assert _unchanged(model, sort_units(model))


@pytest.mark.parametrize("with_bn", [False, True])
def test_captured_cnn_sorted_matches_the_model(with_bn):
    torch.manual_seed(0)
    norm = [nn.BatchNorm2d(6)] if with_bn else []
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3), *norm, nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 5, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(5 * 3 * 3, 7), nn.ReLU(), nn.Linear(7, 3),
    )  # fmt: skip
    if with_bn:
        with torch.no_grad():
            model[1].running_mean.normal_()
            model[1].running_var.uniform_(0.5, 2)
    prune_step(model, PruneConfig(sparsity=0.6, steps=1), 1)
    share_weights(model, QuantizeConfig())
    x = torch.randn(2, 1, 12, 12)
    plain = to_compressed_model(model.eval(), QuantizeConfig(), x)
    cm = to_compressed_model(model, QuantizeConfig(sort_units=True), x)
    assert runnable_problems(cm) == []
    assert sum(not np.array_equal(a.codes, b.codes) for a, b in zip(plain.layers, cm.layers)) >= 3
    with torch.no_grad():
        torch.testing.assert_close(to_torch(cm)(x), model(x), rtol=1e-5, atol=1e-5)


def test_captured_conv_then_linear_on_the_last_axis():
    """Issue 10's --sort-units bug, from a real model: W == channels == 4."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Linear(4, 2))
    prune_step(model, PruneConfig(sparsity=0.5, steps=1), 1)
    share_weights(model, QuantizeConfig())
    x = torch.randn(2, 3, 5, 4)
    cm = to_compressed_model(model.eval(), QuantizeConfig(sort_units=True), x)
    with torch.no_grad():
        torch.testing.assert_close(to_torch(cm)(x), model(x), rtol=1e-5, atol=1e-6)
