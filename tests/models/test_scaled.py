"""The scaled networks: their size, their defining blocks, a forward and one SGD step on two
samples, and capture by torch.export."""

import pytest
import torch
from torch import nn

from deepzip.models import CATALOGUE, build_model, count_parameters
from deepzip.models.enet import DownsamplingBottleneck, InitialBlock, UpsamplingBottleneck
from deepzip.models.mobilenet_v2 import InvertedResidual
from deepzip.models.squeezenet import Fire
from deepzip.models.squeezenext import SqueezeNextBlock

SCALED = {
    "squeezenet": 16_058,
    "squeezenext": 32_738,
    "mobilenet-v1": 78_730,
    "mobilenet-v2": 51_114,
    "lstm": 82_186,
    "enet": 35_457,
    "segnet": 122_411,
    "squeezedet": 109_341,
}


def _modules(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return _modules(model, nn.Conv2d)


def test_every_scaled_network_is_listed():
    assert set(SCALED) == {
        name for name, entry in CATALOGUE.items()
        if entry.reference is None and not name.startswith("lenet")
    }  # fmt: skip


@pytest.mark.parametrize(("name", "count"), SCALED.items())
def test_size(name, count):
    assert count_parameters(build_model(name)) == count
    assert 2_000 <= count <= 200_000  # trainable on 2 CPU cores in minutes


def _target(name: str, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A loss for one training step: cross-entropy over classes or pixels; for ConvDet outputs,
    a squared error (the detection loss is not the point here, the gradient path is)."""
    task = CATALOGUE[name].task
    if task == "classification":
        return nn.functional.cross_entropy(output, torch.tensor([3, 7]))
    if task == "segmentation":
        target = torch.zeros(output.shape[0], *output.shape[2:], dtype=torch.int64)
        target[:, 20:30, 20:30] = 4
        return nn.functional.cross_entropy(output, target)
    return output.square().mean()


@pytest.mark.parametrize("name", SCALED)
def test_forward_and_one_sgd_step(name):
    torch.manual_seed(0)
    entry = CATALOGUE[name]
    model = build_model(name).train()
    x = torch.rand(2, *entry.input_shape)
    output = model(x)
    if entry.task == "classification":
        assert output.shape == (2, 10)
    elif entry.task == "segmentation":
        assert output.shape == (2, 11, 64, 64)
    else:
        assert output.shape == (2, 3 * (10 + 1 + 4), 8, 8)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = _target(name, output)
    loss.backward()
    # The gradient reaches every parameter (through concatenations, shortcuts, unpooling).
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not silent
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_squeezenet_keeps_fire_modules():
    model = build_model("squeezenet")
    fires = _modules(model, Fire)
    assert len(fires) == 4
    out = fires[0](torch.rand(1, 32, 5, 5))
    assert out.shape == (1, 32, 5, 5)  # expand 1×1 (16) and 3×3 (16), concatenated


def test_squeezenext_keeps_two_stage_bottleneck_and_separable_convs():
    blocks = _modules(build_model("squeezenext"), SqueezeNextBlock)
    assert len(blocks) == 6
    block = blocks[1]  # 16 → 16: squeeze to 8, then 4, separable 1×3 and 3×1 at 8, expand to 16
    kernels = [(c.in_channels, c.out_channels, c.kernel_size) for c in _convs(block)]
    assert kernels == [(16, 8, (1, 1)), (8, 4, (1, 1)), (4, 8, (1, 3)), (8, 8, (3, 1)),
                       (8, 16, (1, 1))]  # fmt: skip
    assert isinstance(block.shortcut, nn.Identity)


def test_mobilenet_v1_is_depthwise_separable():
    convs = _convs(build_model("mobilenet-v1"))[1:]  # after the stem
    depthwise, pointwise = convs[0::2], convs[1::2]
    assert all(c.groups == c.in_channels == c.out_channels for c in depthwise)
    assert all(c.kernel_size == (1, 1) and c.groups == 1 for c in pointwise)


def test_mobilenet_v2_has_inverted_residuals_with_relu6():
    model = build_model("mobilenet-v2")
    blocks = _modules(model, InvertedResidual)
    assert any(b.residual for b in blocks) and _modules(model, nn.ReLU6)
    assert not _modules(model, nn.ReLU)
    expand = blocks[1].block.expand.conv
    assert expand.out_channels == 6 * expand.in_channels


def test_enet_keeps_its_blocks():
    model = build_model("enet")
    assert _modules(model, InitialBlock) and _modules(model, nn.PReLU)
    assert len(_modules(model, DownsamplingBottleneck)) == 2
    assert len(_modules(model, UpsamplingBottleneck)) == 2
    assert _modules(model, nn.MaxUnpool2d)
    convs = _convs(model)
    assert any(c.dilation == (4, 4) for c in convs)
    assert any(c.kernel_size == (1, 5) for c in convs) and any(
        c.kernel_size == (5, 1) for c in convs
    )


def test_enet_downsampling_shortcut_is_max_pool_with_zero_channels():
    torch.manual_seed(0)
    block = DownsamplingBottleneck(8, 32).eval()
    x = torch.randn(2, 8, 6, 6)
    pooled, indices = nn.functional.max_pool2d(x, 2, 2, return_indices=True)
    expected = block.activation(nn.functional.pad(pooled, (0, 0, 0, 0, 0, 24)) + block.branch(x))
    output, block_indices = block(x)
    torch.testing.assert_close(output, expected)
    assert torch.equal(block_indices, indices)


def test_segnet_unpools_with_the_encoder_indices():
    model = build_model("segnet")
    assert model.pool.return_indices and _modules(model, nn.MaxUnpool2d)
    assert len(model.encoder) == len(model.decoder) == 3


def test_squeezedet_has_a_convdet_head():
    model = build_model("squeezedet")
    assert model.convdet.kernel_size == (3, 3)
    assert model.convdet.out_channels == len(model.anchor_shapes) * (model.num_classes + 1 + 4)
    assert len(_modules(model, Fire)) == 8


@pytest.mark.parametrize("name", SCALED)
def test_torch_export_captures_it(name):
    model = build_model(name).eval()
    x = torch.rand(1, *CATALOGUE[name].input_shape)
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(program.module()(x), model(x))
