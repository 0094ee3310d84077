"""SegNet (Badrinarayanan et al. 2017, "SegNet: A Deep Convolutional Encoder-Decoder Architecture
for Image Segmentation", §3, Fig. 2-3): an encoder of 3×3 convolutions with BatchNorm and ReLU
whose 2×2 max-pools keep their indices, and a mirrored decoder that max-unpools with those
indices (the pooling indices are the only thing passed from encoder to decoder) and convolves
the sparse maps back to dense ones; the last convolution gives one map per class.

- ``segnet_published()``: the VGG-16 encoder (13 convolutions in 5 blocks) and its mirror, with
  CamVid's 11 classes, input (N, 3, 360, 480).
- ``segnet()``: a scaled SegNet for (N, 1, 64, 64) scenes with 11 classes: three blocks of
  widths 16, 32, 64 with one, one and two convolutions.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import pairwise

import torch
from torch import nn

from deepzip.models.reference import ReferenceCount

__all__ = ["SEGNET_REFERENCE", "SegNet", "segnet", "segnet_published"]

SEGNET_REFERENCE = ReferenceCount(
    29_450_000,
    10_000,
    "the paper's Table 6 (SegNet: 29.45M parameters, VGG-16 encoder; CamVid's 11 classes)",
)

# VGG-16's convolution widths, one list per pooling block.
_VGG16 = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 3, padding=1),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(),
        )
    )


class SegNet(nn.Module):
    """Encoder blocks of widths ``blocks`` (each followed by a 2×2 max-pool with indices) and
    the mirrored decoder (each block starts with a max-unpool). Input (N, C, H, W) with H, W
    divisible by 2 ** len(blocks); output (N, num_classes, H, W) logits."""

    def __init__(self, blocks: list[list[int]], num_classes: int, in_channels: int) -> None:
        super().__init__()
        encoder = []
        channels = in_channels
        for widths in blocks:
            layers = []
            for width in widths:
                layers.append(_conv_bn_relu(channels, width))
                channels = width
            encoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)
        # Rounding up, as Caffe's pooling does, lets odd sizes (360 → 180 → 90 → 45 → 23 → 12)
        # unpool back to the sizes the encoder saw.
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        # The decoder mirrors the encoder: block i's widths in reverse order, its last convolution
        # narrowing to the width that entered block i, or, in the last block, to the classes.
        decoder = []
        for i in reversed(range(len(blocks))):
            widths = blocks[i][::-1]
            layers = [_conv_bn_relu(a, b) for a, b in pairwise(widths)]
            if i > 0:
                layers.append(_conv_bn_relu(widths[-1], blocks[i - 1][-1]))
            else:
                layers.append(nn.Conv2d(widths[-1], num_classes, 3, padding=1))
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices = []
        sizes = []
        for block in self.encoder:
            x = block(x)
            sizes.append(x.shape[-2:])
            x, block_indices = self.pool(x)
            indices.append(block_indices)
        for block, block_indices, size in zip(self.decoder, reversed(indices), reversed(sizes)):
            x = block(self.unpool(x, block_indices, output_size=size))
        return x


def segnet_published(num_classes: int = 11, in_channels: int = 3) -> SegNet:
    """SegNet with the VGG-16 encoder: input (N, 3, 360, 480) → (N, 11, 360, 480)."""
    return SegNet(_VGG16, num_classes, in_channels)


def segnet(num_classes: int = 11, in_channels: int = 1) -> SegNet:
    """Scaled SegNet for (N, 1, 64, 64) scenes, output (N, 11, 64, 64); 122,411 parameters."""
    return SegNet([[16], [32], [64, 64]], num_classes, in_channels)
