"""The built-in networks have the paper's shapes and weight counts."""

import pytest
import torch

from deepzip.layers import compressible_layers
from deepzip.models import build_model


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("lenet-300-100", {"fc1": (300, 784), "fc2": (100, 300), "fc3": (10, 100)}),
        (
            "lenet-5",
            {"conv1": (20, 1, 5, 5), "conv2": (50, 20, 5, 5), "fc1": (500, 800), "fc2": (10, 500)},
        ),
    ],
)
def test_shapes_and_forward(name, shapes):
    model = build_model(name)
    layers = compressible_layers(model)
    assert {n: tuple(m.weight.shape) for n, m in layers.items()} == shapes
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_lenet5_has_431k_weights():
    total = sum(m.weight.numel() for m in compressible_layers(build_model("lenet-5")).values())
    assert total == 430_500


def test_unknown_model():
    with pytest.raises(ValueError, match="lenet-5"):
        build_model("alexnet")
