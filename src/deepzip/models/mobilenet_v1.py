"""MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications", §3, Table 1): depthwise separable convolutions, a 3×3 depthwise
convolution (one filter per channel) followed by a 1×1 pointwise convolution, each followed by
BatchNorm and ReLU; global average pooling and one linear classifier.

- ``mobilenet_v1_1_0()``: width multiplier 1.0 at 224×224 (Table 1's 13 separable layers).
- ``mobilenet_v1()``: a scaled version for (N, 1, 28, 28): five separable layers, widths 16-128.

Convolutions have no bias (BatchNorm's shift replaces it), as in the reference implementations.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from deepzip.models.reference import ReferenceCount

__all__ = [
    "MOBILENET_V1_1_0_REFERENCE",
    "DepthwiseSeparable",
    "MobileNetV1",
    "mobilenet_v1",
    "mobilenet_v1_1_0",
]

MOBILENET_V1_1_0_REFERENCE = ReferenceCount(
    4_231_976,
    1,
    "the paper's Table 8 prints 4.2M for 1.0 MobileNet-224; 4,231,976 is the exact trainable count"
    " of the standard implementation (Keras applications' MobileNet(alpha=1.0), convolutions"
    " without bias, BatchNorm scale and shift, a 1000-way classifier with bias)",
)


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
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
            relu=nn.ReLU(),
        )
    )


class DepthwiseSeparable(nn.Sequential):
    """3×3 depthwise (stride ``stride``) then 1×1 pointwise, each with BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            OrderedDict(
                depthwise=_conv_bn_relu(in_channels, in_channels, 3, stride, groups=in_channels),
                pointwise=_conv_bn_relu(in_channels, out_channels, 1, 1),
            )
        )


class MobileNetV1(nn.Module):
    """A stem convolution, depthwise separable layers (out_channels, stride), average pooling and
    a linear classifier; output (N, num_classes)."""

    def __init__(
        self,
        stem_channels: int,
        layers: list[tuple[int, int]],
        num_classes: int,
        in_channels: int,
        stem_stride: int = 2,
    ) -> None:
        super().__init__()
        modules: OrderedDict[str, nn.Module] = OrderedDict(
            stem=_conv_bn_relu(in_channels, stem_channels, 3, stem_stride)
        )
        channels = stem_channels
        for i, (out_channels, stride) in enumerate(layers):
            modules[f"separable{i + 1}"] = DepthwiseSeparable(channels, out_channels, stride)
            channels = out_channels
        modules["pool"] = nn.AdaptiveAvgPool2d(1)
        modules["flatten"] = nn.Flatten()
        self.features = nn.Sequential(modules)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def mobilenet_v1_1_0(num_classes: int = 1000, in_channels: int = 3) -> MobileNetV1:
    """1.0 MobileNet-224 (Table 1): input (N, 3, 224, 224), output (N, 1000)."""
    layers = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    layers += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    return MobileNetV1(32, layers, num_classes, in_channels)


def mobilenet_v1(num_classes: int = 10, in_channels: int = 1) -> MobileNetV1:
    """Scaled MobileNet v1 for (N, 1, 28, 28), output (N, 10); 78,730 parameters.

    A 3×3×24 stride-2 stem (28→14), separable layers 48, 96/2 (7), 96, 192/2 (4), 192.
    """
    layers = [(48, 1), (96, 2), (96, 1), (192, 2), (192, 1)]
    return MobileNetV1(24, layers, num_classes, in_channels)
