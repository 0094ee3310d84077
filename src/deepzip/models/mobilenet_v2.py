"""MobileNet v2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
§3-4, Table 2): inverted residual blocks, a 1×1 expansion (factor t) with ReLU6, a 3×3 depthwise
convolution with ReLU6, a linear 1×1 projection (no activation), and a residual add when the
block keeps its shape; each convolution is followed by BatchNorm.

- ``mobilenet_v2_1_0()``: width multiplier 1.0 at 224×224 (Table 2).
- ``mobilenet_v2()``: a scaled version for (N, 1, 28, 28) with the same block structure.

Convolutions have no bias, as in torchvision's mobilenet_v2, whose count is the reference.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from deepzip.models.reference import ReferenceCount

__all__ = [
    "MOBILENET_V2_1_0_REFERENCE",
    "InvertedResidual",
    "MobileNetV2",
    "mobilenet_v2",
    "mobilenet_v2_1_0",
]

MOBILENET_V2_1_0_REFERENCE = ReferenceCount(
    3_504_872,
    1,
    "torchvision's documentation of mobilenet_v2 (IMAGENET1K_V1: 3,504,872 parameters);"
    " the paper's Table 4 prints 3.4M",
)

# (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
_TABLE_2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip


def _conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> OrderedDict[str, nn.Module]:
    return OrderedDict(
        conv=nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        ),
        bn=nn.BatchNorm2d(out_channels),
    )


def _conv_bn_relu6(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    layers = _conv_bn(in_channels, out_channels, kernel_size, stride, groups)
    layers["relu6"] = nn.ReLU6()
    return nn.Sequential(layers)


class InvertedResidual(nn.Module):
    """Input (N, in_channels, H, W), output (N, out_channels, H / stride, W / stride)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if expansion != 1:
            layers["expand"] = _conv_bn_relu6(in_channels, hidden, 1)
        layers["depthwise"] = _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)
        layers["project"] = nn.Sequential(_conv_bn(hidden, out_channels, 1))
        self.block = nn.Sequential(layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ``residual`` is fixed at construction: a structural, not data-dependent, choice.
        if self.residual:
            return x + self.block(x)
        return self.block(x)


class MobileNetV2(nn.Module):
    """Stem, inverted residual blocks from (t, c, n, s) rows, a 1×1 convolution, average pooling,
    dropout and a linear classifier; output (N, num_classes)."""

    def __init__(
        self,
        stem_channels: int,
        settings: list[tuple[int, int, int, int]],
        last_channels: int,
        num_classes: int,
        in_channels: int,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        modules: OrderedDict[str, nn.Module] = OrderedDict(
            stem=_conv_bn_relu6(in_channels, stem_channels, 3, 2)
        )
        channels = stem_channels
        index = 0
        for expansion, out_channels, repeats, first_stride in settings:
            for j in range(repeats):
                index += 1
                stride = first_stride if j == 0 else 1
                modules[f"block{index}"] = InvertedResidual(
                    channels, out_channels, stride, expansion
                )
                channels = out_channels
        modules["last"] = _conv_bn_relu6(channels, last_channels, 1)
        modules["pool"] = nn.AdaptiveAvgPool2d(1)
        modules["flatten"] = nn.Flatten()
        self.features = nn.Sequential(modules)
        self.classifier = nn.Sequential(
            OrderedDict(dropout=nn.Dropout(dropout), fc=nn.Linear(last_channels, num_classes))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def mobilenet_v2_1_0(num_classes: int = 1000, in_channels: int = 3) -> MobileNetV2:
    """MobileNet v2 1.0 at 224×224 (Table 2): input (N, 3, 224, 224), output (N, 1000)."""
    return MobileNetV2(32, _TABLE_2, 1280, num_classes, in_channels)


def mobilenet_v2(num_classes: int = 10, in_channels: int = 1) -> MobileNetV2:
    """Scaled MobileNet v2 for (N, 1, 28, 28), output (N, 10); 51,114 parameters.

    A 3×3×16 stride-2 stem (28→14), rows (t, c, n, s) = (1, 8, 1, 1), (6, 16, 2, 2) (7),
    (6, 24, 2, 1), (6, 32, 2, 2) (4), a 1×1×128 convolution, pooling, dropout, linear.
    """
    settings = [(1, 8, 1, 1), (6, 16, 2, 2), (6, 24, 2, 1), (6, 32, 2, 2)]
    return MobileNetV2(16, settings, 128, num_classes, in_channels)
