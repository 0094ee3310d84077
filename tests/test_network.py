"""Describing a model as NetworkOps and rebuilding it: the dense reference for .dzip files."""

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.compressed import NetworkOp
from deepzip.models import lenet_5, lenet_300_100
from deepzip.network import dense_state_dict, describe_network, to_compressed_model, to_torch
from deepzip.prune import PruneConfig, prune_step
from deepzip.share import QuantizeConfig, share_weights


def compressed(model, layers=None, sparsity=0.8):
    torch.manual_seed(0)
    prune_step(model, PruneConfig(sparsity=sparsity, steps=1, layers=layers), 1)
    share_weights(model, QuantizeConfig(), layers=layers)
    return model


def test_lenet5_description():
    ops = describe_network(lenet_5())
    assert ops == [
        NetworkOp("conv2d", "conv1", (1, 1, 0, 0, 1, 1, 1)),
        NetworkOp("maxpool2d", None, (2, 2, 2, 2, 0, 0)),
        NetworkOp("conv2d", "conv2", (1, 1, 0, 0, 1, 1, 1)),
        NetworkOp("maxpool2d", None, (2, 2, 2, 2, 0, 0)),
        NetworkOp("flatten", None, (1, -1)),
        NetworkOp("linear", "fc1"),
        NetworkOp("relu"),
        NetworkOp("linear", "fc2"),
    ]


@pytest.mark.parametrize("factory", [lenet_300_100, lenet_5])
def test_rebuilt_network_computes_the_same(factory):
    model = compressed(factory())
    cm = to_compressed_model(model)
    assert cm.tensors == {}
    rebuilt = to_torch(cm)
    x = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=1e-5, atol=1e-6)


def test_partially_shared_model_keeps_other_weights_as_tensors():
    model = compressed(lenet_300_100(), layers=["fc1"])
    cm = to_compressed_model(model)
    assert [layer.name for layer in cm.layers] == ["fc1"]
    assert set(cm.tensors) == {"fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    state = dense_state_dict(cm)
    assert set(state) == {
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
        "fc3.weight",
        "fc3.bias",
    }
    assert torch.equal(state["fc1.weight"], model.fc1.weight.detach())
    assert cm.dense_bytes == 4 * sum(t.numel() for t in state.values())


def test_nested_sequential_and_padding():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU()),
        nn.AvgPool2d(2),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 10),
    )
    compressed(model)
    cm = to_compressed_model(model)
    assert cm.network[0] == NetworkOp("conv2d", "0.0", (2, 2, 1, 1, 1, 1, 1))
    rebuilt = to_torch(cm)
    model.eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=1e-5, atol=1e-6)


def test_undescribable_models_store_no_network():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x) * 2

    model = compressed(Net())
    cm = to_compressed_model(model)
    assert cm.network is None
    with pytest.raises(ValueError, match="no network"):
        to_torch(cm)
    bn = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    cm = to_compressed_model(compressed(bn, layers=["0"]))
    assert cm.network is None
    assert {"1.weight", "1.bias", "1.running_mean", "1.running_var"} <= set(cm.tensors)
    np.testing.assert_array_equal(cm.tensors["1.weight"], bn[1].weight.detach().numpy())
