"""What the capture tests share: the oracle (the user's model itself) and small model builders."""

import torch
import torch.nn.functional as F
from torch import nn

from deepzip.layers import compressible_layers
from deepzip.network import runnable_problems, to_compressed_model, to_torch
from deepzip.prune import PruneConfig, prune_step
from deepzip.share import QuantizeConfig, share_weights

RTOL = 1e-5


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = want.abs().max().clamp_min(1e-12)
    return float((got - want).abs().max() / scale)


def assert_faithful(model: nn.Module, *inputs: torch.Tensor, compress: bool = True) -> None:
    """Compress ``model`` (prune + share its linear/conv2d layers), capture it on ``inputs``
    and check the stored graph against the model on a batch of a different size."""
    torch.manual_seed(0)
    model.eval()
    if compress and compressible_layers(model):
        prune_step(model, PruneConfig(sparsity=0.5, steps=1), 1)
        share_weights(model, QuantizeConfig(conv_bits=6, fc_bits=5))
    cm = to_compressed_model(model, example_inputs=inputs)
    assert runnable_problems(cm) == []
    bigger = tuple(torch.cat([x, x.flip(0), x[:1]]) for x in inputs)
    with torch.no_grad():
        want, got = model(*bigger), to_torch(cm)(*bigger)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    flat = []
    for w in want:
        flat += list(w) if isinstance(w, tuple) else [w]
    assert len(got) == len(flat)
    for g, w in zip(got, flat):
        assert relative_error(g, w) <= RTOL


class Lambda(nn.Module):
    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x, y=None):  # not *args: torch.export's dynamic shapes follow the signature
        return self.fn(self, x) if y is None else self.fn(self, x, y)


def image(n=2, c=3, h=9, w=7):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(1))


class Block(nn.Module):
    def __init__(self, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class ResidualCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(Block(8), Block(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def trained_statistics(model):
    """BatchNorms with running statistics and affine parameters that are not the identity."""
    generator = torch.Generator().manual_seed(5)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                module.running_mean.normal_(generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.normal_(generator=generator)
                module.bias.normal_(generator=generator)
    return model


def bn_net() -> nn.Module:
    """A small MNIST-shaped CNN with BatchNorm, for the pipeline's folding test."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 8 * 8, 10),
    )  # fmt: skip
