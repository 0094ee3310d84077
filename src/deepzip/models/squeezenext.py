"""SqueezeNext (Gholami et al. 2018, "SqueezeNext: Hardware-Aware Neural Network Design", §3).

The SqueezeNext block: a two-stage bottleneck (two 1×1 convolutions, each halving the channels),
a separable pair of 3×1 and 1×3 convolutions in place of a 3×3, a 1×1 expansion, and a residual
connection (a 1×1 projection when the shape changes). Every convolution has a bias and is followed
by BatchNorm and ReLU; the block's sum passes through a last ReLU.

- ``squeezenext_1_0_23()``: 1.0-SqNxt-23 (paper Fig. 6, Table 2): a 7×7×64 stride-2 convolution,
  max-pool, four stages of [6, 6, 8, 1] blocks with [32, 64, 128, 256] output channels (the first
  block of stages 2-4 has stride 2), a 1×1×128 convolution, average pooling, a 1000-way linear.
- ``squeezenext()``: a scaled version for (N, 1, 28, 28): three stages of two blocks each.

A block whose input has more channels than its output (the first block after the 64-channel stem)
bottlenecks by 4 instead of 2; a stride-2 block does not bottleneck its first 1×1 convolution.
These follow the layout whose count the issue cites (see ``SQUEEZENEXT_1_0_23_REFERENCE``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from deepzip.models.reference import ReferenceCount

__all__ = [
    "SQUEEZENEXT_1_0_23_REFERENCE",
    "SqueezeNext",
    "SqueezeNextBlock",
    "squeezenext",
    "squeezenext_1_0_23",
]

SQUEEZENEXT_1_0_23_REFERENCE = ReferenceCount(
    724_056,
    1,
    "issue 11; the paper's Table 2 prints 0.72M for 1.0-SqNxt-23, and 724,056 is the exact count"
    " of osmr/imgclsmob's sqnxt23_w1 (pytorchcv), which has this module's layout",
)


def _conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int] = 1,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(),
        )
    )


class SqueezeNextBlock(nn.Module):
    """Input (N, in_channels, H, W), output (N, out_channels, H / stride, W / stride)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride == 2:
            reduction = 1
        elif in_channels > out_channels:
            reduction = 4
        else:
            reduction = 2
        first = in_channels // reduction
        second = in_channels // (2 * reduction)
        self.squeeze1 = _conv_bn_relu(in_channels, first, stride=stride)
        self.squeeze2 = _conv_bn_relu(first, second)
        self.separable1x3 = _conv_bn_relu(second, first, (1, 3), padding=(0, 1))
        self.separable3x1 = _conv_bn_relu(first, first, (3, 1), padding=(1, 0))
        self.expand = _conv_bn_relu(first, out_channels)
        # The shape is fixed at construction, so the forward has no branch: Identity or projection.
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = _conv_bn_relu(in_channels, out_channels, stride=stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.separable3x1(self.separable1x3(self.squeeze2(self.squeeze1(x)))))
        return self.relu(y + self.shortcut(x))


class SqueezeNext(nn.Module):
    """Stem, stages of SqueezeNext blocks, a 1×1 convolution, average pooling, a linear layer."""

    def __init__(
        self,
        stem: nn.Sequential,
        stem_channels: int,
        stages: list[list[int]],
        final_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
        channels = stem_channels
        for i, stage in enumerate(stages):
            for j, out_channels in enumerate(stage):
                stride = 2 if j == 0 and i > 0 else 1
                layers[f"stage{i + 1}_block{j + 1}"] = SqueezeNextBlock(
                    channels, out_channels, stride
                )
                channels = out_channels
        layers["final"] = _conv_bn_relu(channels, final_channels)
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        self.features = nn.Sequential(layers)
        self.fc = nn.Linear(final_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def squeezenext_1_0_23(num_classes: int = 1000, in_channels: int = 3) -> SqueezeNext:
    """1.0-SqNxt-23: input (N, 3, 224, 224), output (N, 1000)."""
    stem = nn.Sequential(
        OrderedDict(
            conv=_conv_bn_relu(in_channels, 64, 7, stride=2, padding=1),
            pool=nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        )
    )
    stages = [[c] * n for c, n in zip((32, 64, 128, 256), (6, 6, 8, 1))]
    return SqueezeNext(stem, 64, stages, 128, num_classes)


def squeezenext(num_classes: int = 10, in_channels: int = 1) -> SqueezeNext:
    """Scaled SqueezeNext for (N, 1, 28, 28), output (N, 10); 32,738 parameters.

    A 3×3×16 stride-2 stem (28→14), stages of two blocks with 16, 32, 64 channels (14, 7, 4
    pixels), a 1×1×64 convolution, average pooling, a linear layer.
    """
    stem = nn.Sequential(OrderedDict(conv=_conv_bn_relu(in_channels, 16, 3, stride=2, padding=1)))
    return SqueezeNext(stem, 16, [[16, 16], [32, 32], [64, 64]], 64, num_classes)
