"""ENet (Paszke et al. 2016, "ENet: A Deep Neural Network Architecture for Real-Time Semantic
Segmentation", §3, Table 1): an initial block (a 3×3 stride-2 convolution concatenated with a
max-pool of the input), bottleneck modules (1×1 projection; a main convolution that is regular,
dilated, asymmetric 1×5 + 5×1 or transposed; 1×1 expansion; spatial dropout; residual add;
PReLU), downsampling bottlenecks whose shortcut is a max-pool (indices kept) padded with zero
channels, and upsampling bottlenecks whose shortcut max-unpools with those indices.

- ``enet_published()``: Table 1 at the paper's 512×512 input with Cityscapes' 19 classes.
- ``enet()``: a scaled ENet for (N, 1, 64, 64) scenes with 11 classes (background + 10 digits):
  the same block kinds, two downsampling and two upsampling stages.

The layout follows the authors' Torch code (e-lab/ENet-training, train/models/encoder.lua and
decoder.lua): projections and expansions have no bias, the main convolutions have one (of an
asymmetric pair, the second), BatchNorm follows every convolution, PReLU has one slope per
channel; the decoder uses ReLU and no dropout, and an upsampling bottleneck's internal width is
its output's / 4. The shortcut's zero channels are made with ``x * 0.0``, ``torch.cat`` and a
slice, ops that deepzip's stored graph has (it has no pad op).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from deepzip.models.reference import ReferenceCount

__all__ = [
    "ENET_REFERENCE",
    "ENet",
    "enet",
    "enet_published",
]

ENET_REFERENCE = ReferenceCount(
    370_000,
    10_000,
    "the paper's Table 3 (ENet: 0.37M parameters); not met: with the authors' Torch layout and"
    " Cityscapes' 19 classes this module has 364,311 (0.36M)",
)


def _activation(channels: int, decoder: bool) -> nn.Module:
    return nn.ReLU() if decoder else nn.PReLU(channels)


class InitialBlock(nn.Module):
    """(N, C_in, H, W) → (N, C_out, H/2, W/2): conv 3×3/2 ‖ max-pool 2×2, then BN, PReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activation = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class Bottleneck(nn.Module):
    """Shape-keeping bottleneck: ``kind`` is "regular", "dilated" or "asymmetric"."""

    def __init__(
        self,
        channels: int,
        kind: str = "regular",
        dilation: int = 1,
        dropout: float = 0.1,
        decoder: bool = False,
    ) -> None:
        super().__init__()
        internal = channels // 4
        if kind == "asymmetric":
            main: nn.Module = nn.Sequential(
                OrderedDict(
                    conv1x5=nn.Conv2d(internal, internal, (1, 5), padding=(0, 2), bias=False),
                    conv5x1=nn.Conv2d(internal, internal, (5, 1), padding=(2, 0)),
                )
            )
        elif kind in ("regular", "dilated"):
            main = nn.Conv2d(internal, internal, 3, padding=dilation, dilation=dilation)
        else:
            raise ValueError(f"unknown bottleneck kind {kind!r}")
        self.branch = nn.Sequential(
            OrderedDict(
                project=nn.Conv2d(channels, internal, 1, bias=False),
                project_bn=nn.BatchNorm2d(internal),
                project_activation=_activation(internal, decoder),
                main=main,
                main_bn=nn.BatchNorm2d(internal),
                main_activation=_activation(internal, decoder),
                expand=nn.Conv2d(internal, channels, 1, bias=False),
                expand_bn=nn.BatchNorm2d(channels),
            )
        )
        if not decoder:  # spatial dropout regularizes the encoder only
            self.branch.add_module("dropout", nn.Dropout2d(dropout))
        self.activation = _activation(channels, decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.branch(x))


class DownsamplingBottleneck(nn.Module):
    """(N, C_in, H, W) → ((N, C_out, H/2, W/2), max-pool indices (N, C_in, H/2, W/2))."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        internal = out_channels // 4
        if out_channels <= in_channels:
            raise ValueError("a downsampling bottleneck widens: out_channels > in_channels")
        self.out_channels = out_channels
        self.zero_copies = -(-(out_channels - in_channels) // in_channels)  # ceil division
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.branch = nn.Sequential(
            OrderedDict(
                project=nn.Conv2d(in_channels, internal, 2, stride=2, bias=False),
                project_bn=nn.BatchNorm2d(internal),
                project_activation=nn.PReLU(internal),
                main=nn.Conv2d(internal, internal, 3, padding=1),
                main_bn=nn.BatchNorm2d(internal),
                main_activation=nn.PReLU(internal),
                expand=nn.Conv2d(internal, out_channels, 1, bias=False),
                expand_bn=nn.BatchNorm2d(out_channels),
                dropout=nn.Dropout2d(dropout),
            )
        )
        self.activation = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shortcut, indices = self.pool(x)
        # Zero channels after the pooled ones, (N, C_in, ...) → (N, C_out, ...), written with
        # mul, cat and slice (ops deepzip's graph stores) rather than a pad op.
        zeros = shortcut * 0.0
        shortcut = torch.cat([shortcut] + [zeros] * self.zero_copies, 1)[:, : self.out_channels]
        return self.activation(shortcut + self.branch(x)), indices


class UpsamplingBottleneck(nn.Module):
    """(N, C_in, H, W) and the matching downsampling's indices → (N, C_out, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        internal = out_channels // 4
        self.shortcut = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 1, bias=False),
                bn=nn.BatchNorm2d(out_channels),
            )
        )
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.branch = nn.Sequential(
            OrderedDict(
                project=nn.Conv2d(in_channels, internal, 1, bias=False),
                project_bn=nn.BatchNorm2d(internal),
                project_activation=nn.ReLU(),
                main=nn.ConvTranspose2d(
                    internal, internal, 3, stride=2, padding=1, output_padding=1
                ),
                main_bn=nn.BatchNorm2d(internal),
                main_activation=nn.ReLU(),
                expand=nn.Conv2d(internal, out_channels, 1, bias=False),
                expand_bn=nn.BatchNorm2d(out_channels),
            )
        )
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        shortcut = self.unpool(self.shortcut(x), indices)
        return self.activation(shortcut + self.branch(x))


class ENet(nn.Module):
    """Encoder: initial block, stage 1 (downsampling to ``widths[1]``, regular bottlenecks), stage 2
    (downsampling to ``widths[2]``, then ``stage2`` bottlenecks given as (kind, dilation), repeated
    in stage 3 when ``stage3``); decoder: two upsampling stages back to ``widths[1]`` and
    ``widths[0]`` with ``decoder_blocks`` regular bottlenecks each, then a 2×2 stride-2 transposed
    convolution to ``num_classes`` maps. Input (N, C, H, W) with H, W divisible by 8; output
    (N, num_classes, H, W) logits."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        widths: tuple[int, int, int],
        stage1_blocks: int,
        stage2: list[tuple[str, int]],
        stage3: bool,
        decoder_blocks: tuple[int, int],
    ) -> None:
        super().__init__()
        w0, w1, w2 = widths
        self.initial = InitialBlock(in_channels, w0)
        self.down1 = DownsamplingBottleneck(w0, w1, dropout=0.01)
        self.stage1 = nn.Sequential(*[Bottleneck(w1, dropout=0.01) for _ in range(stage1_blocks)])
        self.down2 = DownsamplingBottleneck(w1, w2)
        blocks = [Bottleneck(w2, kind, dilation) for kind, dilation in stage2]
        if stage3:
            blocks += [Bottleneck(w2, kind, dilation) for kind, dilation in stage2]
        self.stage2 = nn.Sequential(*blocks)
        self.up4 = UpsamplingBottleneck(w2, w1)
        self.stage4 = nn.Sequential(
            *[Bottleneck(w1, decoder=True) for _ in range(decoder_blocks[0])]
        )
        self.up5 = UpsamplingBottleneck(w1, w0)
        self.stage5 = nn.Sequential(
            *[Bottleneck(w0, decoder=True) for _ in range(decoder_blocks[1])]
        )
        self.fullconv = nn.ConvTranspose2d(w0, num_classes, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.initial(x)
        x, indices1 = self.down1(x)
        x = self.stage1(x)
        x, indices2 = self.down2(x)
        x = self.stage2(x)
        x = self.stage4(self.up4(x, indices2))
        x = self.stage5(self.up5(x, indices1))
        return self.fullconv(x)


_STAGE_2 = [("regular", 1), ("dilated", 2), ("asymmetric", 1), ("dilated", 4),
            ("regular", 1), ("dilated", 8), ("asymmetric", 1), ("dilated", 16)]  # fmt: skip


def enet_published(num_classes: int = 19, in_channels: int = 3) -> ENet:
    """ENet as in Table 1: input (N, 3, 512, 512), output (N, num_classes, 512, 512)."""
    return ENet(num_classes, in_channels, (16, 64, 128), 4, _STAGE_2, True, (2, 1))


def enet(num_classes: int = 11, in_channels: int = 1) -> ENet:
    """Scaled ENet for (N, 1, 64, 64) scenes, output (N, 11, 64, 64); 35,457 parameters.

    Widths 16, 32, 64 (instead of 16, 64, 128); stage 1 has two bottlenecks; stage 2 is regular,
    dilated 2, asymmetric 5, dilated 4 (no stage 3); one bottleneck after each upsampling. The
    first width stays the paper's 16: at 8, the last decoder stage works through 2 internal
    channels, and on the scenes the digits' classes were learnt far more slowly (with the
    background's loss left out, 22% of digit pixels right after 4 epochs against 37% at 16).
    """
    stage2 = [("regular", 1), ("dilated", 2), ("asymmetric", 1), ("dilated", 4)]
    return ENet(num_classes, in_channels, (16, 32, 64), 2, stage2, False, (1, 1))
