"""Whole models through capture and to_torch, the silent bugs of issue 10, and the ops and
attributes deepzip refuses by name."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepzip.capture import capture
from deepzip.network import NO_NETWORK, runnable_problems, to_compressed_model, to_torch

sys.path.insert(0, str(Path(__file__).parent))
from capture_oracle import (
    Lambda,
    ResidualCNN,
    assert_faithful,
    image,
    trained_statistics,
)


class MLP(nn.Module):
    """A custom module, not a Sequential."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(10, 16)
        self.gate = nn.Linear(10, 16)
        self.head = nn.Linear(16, 3)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        h = F.relu(self.hidden(x)) * torch.sigmoid(self.gate(x))
        return self.head(self.dropout(h))


def test_custom_mlp():
    assert_faithful(MLP(), torch.randn(2, 10))


def test_batchnorm_residual_cnn():
    model = trained_statistics(ResidualCNN())
    assert_faithful(model, image(h=8, w=8))
    cm = to_compressed_model(model, example_inputs=image(h=8, w=8))
    assert sum(n.op == "batch_norm" for n in cm.network.nodes) == 5
    assert "stem.1.running_var" in cm.tensors
    assert "stem.1.num_batches_tracked" not in cm.tensors  # an integer no op reads


class InvertedResidual(nn.Module):
    """MobileNetV2/V3-style: expand, depthwise, squeeze-and-excite, project, residual."""

    def __init__(self, channels=6, expand=12):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(channels, expand, 1), nn.BatchNorm2d(expand),
                                    nn.Hardswish())  # fmt: skip
        self.depthwise = nn.Sequential(nn.Conv2d(expand, expand, 3, padding=1, groups=expand),
                                       nn.BatchNorm2d(expand), nn.ReLU6())  # fmt: skip
        self.squeeze = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(expand, 4, 1), nn.ReLU(),
                                     nn.Conv2d(4, expand, 1), nn.Sigmoid())  # fmt: skip
        self.project = nn.Conv2d(expand, channels, 1)

    def forward(self, x):
        y = self.depthwise(self.expand(x))
        return x + self.project(y * self.squeeze(y))


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.1))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.mid = nn.Conv2d(8, 8, 3, padding="same")
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.head = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        skip = self.down(x)
        y = self.up(torch.relu(self.mid(self.pool(skip))))
        y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear")
        return torch.softmax(self.head(torch.cat([skip, y], dim=1)), dim=1)


def test_mobilenet_block_and_unet():
    assert_faithful(trained_statistics(InvertedResidual()), image(c=6, h=7, w=9))
    assert_faithful(TinyUNet(), image(h=9, w=11))


def test_module_used_twice_shares_its_weights():
    model = Lambda(lambda s, x: s.fc(torch.tanh(s.fc(x))), fc=nn.Linear(6, 6))
    assert_faithful(model, torch.randn(2, 6))
    graph = capture(model, torch.randn(2, 6)).graph
    assert [n.layer for n in graph.nodes if n.op == "linear"] == ["fc", "fc"]


def test_reused_relu_instance_keeps_both_ops():
    """Issue 10: a Sequential that reuses one ReLU lost an op (outputs off by 0.3)."""
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(5, 8), relu, nn.Linear(8, 8), relu, nn.Linear(8, 2))
    assert_faithful(model, torch.randn(2, 5))
    graph = capture(model, torch.randn(2, 5)).graph
    assert [n.op for n in graph.nodes] == ["linear", "relu", "linear", "relu", "linear"]


def test_tensors_used_directly_become_constants():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.gamma = nn.Parameter(torch.randn(3))
            self.register_buffer("offset", torch.randn(3, 1, 1))
            self.register_buffer("shift", torch.randn(3, 1, 1), persistent=False)

        def forward(self, x):
            y = self.conv(x) * self.gamma.view(1, -1, 1, 1) + self.offset - self.shift
            return y - torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)

    assert_faithful(Scaled(), image())
    cm = to_compressed_model(Scaled(), example_inputs=image())
    constants = [n.layer for n in cm.network.nodes if n.op == "constant"]
    assert {"offset", "shift"} <= set(constants) and all(n in cm.tensors for n in constants)


def test_compressed_weight_read_directly():
    def forward(s, x):
        return torch.relu(s.fc(x)) @ s.proj.weight  # proj's weight is also a plain operand

    assert_faithful(Lambda(forward, fc=nn.Linear(3, 4), proj=nn.Linear(5, 4)), torch.randn(2, 3))


def test_batch_of_one_still_runs_other_batches():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 7 * 5, 2))
    cm = to_compressed_model(model, example_inputs=image(n=1))
    x = image(n=3)
    with torch.no_grad():
        torch.testing.assert_close(to_torch(cm)(x), model(x), rtol=1e-5, atol=1e-6)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 3))

    def forward(self, x):
        return F.linear(x, self.w)


# -- refused, by name ---------------------------------------------------------------------------


def refused(model, *inputs):
    """The problems of a model the engine cannot run; the file still gets every tensor."""
    cm = to_compressed_model(model, example_inputs=inputs)
    problems = runnable_problems(cm)
    assert problems
    with pytest.raises(ValueError, match="cannot be run"):
        to_torch(cm)
    state = {k for k, v in model.state_dict().items() if torch.is_floating_point(v)}
    assert state <= set(cm.tensors) | {f"{layer.name}.weight" for layer in cm.layers}
    return " | ".join(problems)


@pytest.mark.parametrize(
    ("model", "inputs", "words"),
    [
        (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")), (image(),),
         ["aten.pad", "reflect", "'0'"]),
        (Lambda(lambda s, x: x.add(x, alpha=2)), (image(),), ["aten.add.Tensor", "alpha=2"]),
        (Lambda(lambda s, x: F.interpolate(x, scale_factor=2, mode="bicubic")), (image(),),
         ["upsample_bicubic2d"]),
        (Lambda(lambda s, x: x.reshape(-1, 7)), (image(),), ["batch"]),
        (Lambda(lambda s, x: x.mean(0)), (image(),), ["batch"]),
        (Functional(), (torch.randn(2, 3),), ["aten.linear", "not a Linear module's own"]),
        (nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False)), (torch.randn(2, 4),),
         ["running statistics"]),
        (nn.Sequential(nn.LSTM(3, 4, proj_size=2)), (torch.randn(2, 2, 3),), ["proj_size"]),
        (nn.Sequential(nn.Linear(3, 4), nn.Hardshrink()), (torch.randn(2, 3),),
         ["aten.hardshrink", "'1'"]),
        (nn.Sequential(nn.Hardtanh(-2, 2)), (torch.randn(2, 3),), ["min_val=-2"]),
        (nn.Sequential(nn.Softmax(dim=0)), (torch.randn(2, 3),), []),
    ],
    ids=["reflect-pad", "alpha", "bicubic", "merge-batch", "mean-batch", "functional-weight",
         "batch-statistics", "lstm-projection", "hardshrink", "hardtanh", "softmax-over-batch"],
)  # fmt: skip
def test_refused_ops_are_named(model, inputs, words):
    if not words:  # softmax over the batch is torch semantics on dimension 0: it runs
        assert_faithful(model, *inputs)
        return
    problems = refused(model, *inputs)
    for word in words:
        assert word in problems


def test_in_place_ops():
    def through_view(s, x):  # in place on a view nothing else reads: runs
        y = s.fc(x).view(x.shape[0], 2, 3)
        return torch.relu_(y) + 1

    assert_faithful(Lambda(through_view, fc=nn.Linear(4, 6)), torch.randn(2, 4))

    def residual(s, x):  # the pre-activation is read after the write: the new value is read
        y = s.fc(x)
        z = y.relu_()
        return y * 2 + z

    assert_faithful(Lambda(residual, fc=nn.Linear(4, 6)), torch.randn(2, 4))

    def view_read_after(s, x):  # a view taken before the write sees it in torch: refused
        y = s.fc(x)
        v = y.view(x.shape[0], 2, 3)
        y.relu_()
        return v + 0

    assert "read again under another name" in refused(
        Lambda(view_read_after, fc=nn.Linear(4, 6)), torch.randn(2, 4)
    )


def test_export_failure_is_reported():
    def forward(s, x):
        return x * 2 if x.sum() > 0 else x  # data-dependent control flow

    cm = to_compressed_model(Lambda(forward), example_inputs=torch.randn(2, 3))
    (problem,) = runnable_problems(cm)
    assert "torch.export failed" in problem


def test_buffer_written_in_forward_is_reported():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros(1))

        def forward(self, x):
            self.calls.add_(1)
            return x * 2

    problems = refused(Counter(), torch.randn(2, 3))
    assert "calls" in problems


def test_no_example_inputs_no_network():
    model = MLP()
    cm = to_compressed_model(model)
    assert cm.network is None
    assert runnable_problems(cm) == [NO_NETWORK]
    with pytest.raises(ValueError, match="example_inputs"):
        to_torch(cm)
    np.testing.assert_array_equal(cm.tensors["head.weight"], model.head.weight.detach().numpy())
