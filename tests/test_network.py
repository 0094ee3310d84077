"""From a model to a CompressedModel and back: the tensors kept, and to_torch (the graph's
independent executor) against the original model."""

import numpy as np
import pytest
import torch
from torch import nn

from deepzip.compressed import CompressedLayer, CompressedModel
from deepzip.models import lenet_5, lenet_300_100
from deepzip.network import dense_state_dict, runnable_problems, to_compressed_model, to_torch
from deepzip.prune import PruneConfig, prune_step
from deepzip.share import QuantizeConfig, share_weights


def compressed(model, layers=None, sparsity=0.8):
    torch.manual_seed(0)
    prune_step(model, PruneConfig(sparsity=sparsity, steps=1, layers=layers), 1)
    share_weights(model, QuantizeConfig(), layers=layers)
    return model.eval()


@pytest.mark.parametrize("factory", [lenet_300_100, lenet_5])
def test_builtin_networks_compute_the_same(factory):
    model = compressed(factory())
    x = torch.rand(16, 1, 28, 28)
    cm = to_compressed_model(model, example_inputs=x[:2])
    assert cm.tensors == {}
    assert runnable_problems(cm) == []
    with torch.no_grad():
        torch.testing.assert_close(to_torch(cm)(x), model(x), rtol=1e-5, atol=1e-6)


def test_lenet5_graph():
    cm = to_compressed_model(compressed(lenet_5()), example_inputs=torch.rand(2, 1, 28, 28))
    ops = [(n.op, n.layer) for n in cm.network.nodes]
    assert ops == [
        ("conv2d", "conv1"), ("max_pool2d", None), ("conv2d", "conv2"), ("max_pool2d", None),
        ("flatten", None), ("linear", "fc1"), ("relu", None), ("linear", "fc2"),
    ]  # fmt: skip
    assert cm.network.inputs[0].shape == (1, 28, 28)


def test_partially_shared_model_keeps_other_weights_as_tensors():
    model = compressed(lenet_300_100(), layers=["fc1"])
    cm = to_compressed_model(model, example_inputs=torch.rand(2, 784))
    assert [layer.name for layer in cm.layers] == ["fc1"]
    assert set(cm.tensors) == {"fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    state = dense_state_dict(cm)
    assert set(state) == {f"fc{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}
    assert torch.equal(state["fc1.weight"], model.fc1.weight.detach())
    # Pruned but not shared: the effective (masked) weight.
    assert torch.equal(state["fc2.weight"], model.fc2.weight.detach())
    assert cm.dense_bytes == 4 * sum(t.numel() for t in state.values())
    x = torch.rand(5, 784)
    with torch.no_grad():
        torch.testing.assert_close(to_torch(cm)(x), model(x), rtol=1e-5, atol=1e-6)


def test_a_compressed_lstm_weight_runs_under_its_parameter_name():
    torch.manual_seed(1)
    lstm = nn.Sequential(nn.LSTM(3, 4, batch_first=True))
    x = torch.randn(2, 5, 3)
    cm = to_compressed_model(lstm, example_inputs=x)
    weight = lstm[0].weight_hh_l0.detach().numpy()
    values, codes = np.unique(weight, return_inverse=True)
    layer = CompressedLayer(
        "0.weight_hh_l0", "lstm", np.concatenate([[0.0], values]).astype(np.float32),
        (codes.reshape(weight.shape) + 1).astype(np.uint16), np.ones(weight.shape, bool), None,
        12, 4,
    )  # fmt: skip
    tensors = {k: v for k, v in cm.tensors.items() if k != "0.weight_hh_l0"}
    with_layer = CompressedModel([layer], cm.network, tensors)
    assert "0.weight_hh_l0" in dense_state_dict(with_layer)
    with torch.no_grad():
        want = lstm(x)[0]
        for got, expected in zip(to_torch(with_layer)(x), (want,)):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_the_users_model_is_left_as_it_was():
    model = compressed(lenet_300_100())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    to_compressed_model(model, example_inputs=torch.rand(2, 784))
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    model(torch.rand(1, 784))  # still parametrized and runnable
