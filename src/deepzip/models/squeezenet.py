"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
and <0.5MB model size", §3): fire modules, a 1×1 squeeze convolution feeding 1×1 and 3×3 expand
convolutions whose outputs are concatenated along channels; no fully connected layer, the last
1×1 convolution gives one map per class and global average pooling turns them into logits.

- SqueezeNet 1.0: the paper's Table 1 (conv1 7×7×96, max-pools after conv1, fire4 and fire8).
- SqueezeNet 1.1: the authors' revision in the DeepScale/SqueezeNet repository (conv1 3×3×64,
  max-pools after conv1, fire3 and fire5; 2.4× less computation, same accuracy).
- ``squeezenet()``: a width- and depth-scaled SqueezeNet for 1×28×28 inputs (MNIST, Fashion-MNIST):
  conv1, four fire modules, one max-pool, dropout, the 1×1 class convolution and average pooling.

Max-pooling rounds up (``ceil_mode=True``) in the published sizes, as Caffe's pooling does.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from deepzip.models.reference import ReferenceCount

__all__ = [
    "SQUEEZENET_1_0_REFERENCE",
    "SQUEEZENET_1_1_REFERENCE",
    "Fire",
    "SqueezeNet",
    "squeezenet",
    "squeezenet_1_0",
    "squeezenet_1_1",
]

SQUEEZENET_1_0_REFERENCE = ReferenceCount(
    1_248_424,
    1,
    "the reference Caffe model of SqueezeNet 1.0 (DeepScale/SqueezeNet, weights and biases);"
    " torchvision's squeezenet1_0 documents the same 1,248,424",
)
SQUEEZENET_1_1_REFERENCE = ReferenceCount(
    1_235_496, 1, "torchvision's documentation of squeezenet1_1 (DeepScale/SqueezeNet v1.1)"
)


class Fire(nn.Module):
    """Fire module: squeeze 1×1 (ReLU), then expand 1×1 and 3×3 (ReLU each), concatenated.

    Input (N, in_channels, H, W), output (N, expand1x1 + expand3x3, H, W).
    """

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.squeeze_relu = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_relu = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_relu(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_relu(self.expand1x1(s)), self.expand3x3_relu(self.expand3x3(s))], 1
        )


class SqueezeNet(nn.Module):
    """``features`` (convolutions, fire modules, pools), then ``classifier``: dropout, 1×1
    convolution to ``num_classes`` maps, ReLU, global average pooling; output (N, num_classes)."""

    def __init__(self, features: nn.Sequential, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.features = features
        self.classifier = nn.Sequential(
            OrderedDict(
                dropout=nn.Dropout(dropout),
                conv10=nn.Conv2d(channels, num_classes, kernel_size=1),
                relu10=nn.ReLU(),
                pool10=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(),
            )
        )

        he_init(self, last=self.classifier.conv10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def he_init(model: nn.Module, last: nn.Conv2d) -> None:
    """The reference implementations' initialisation (torchvision's SqueezeNet): He's uniform
    for every convolution (ReLU gain), normal with std 0.01 for the last, zero biases. These
    networks have no BatchNorm: with PyTorch's default (a third of He's variance) the signal
    shrinks layer by layer and a 20-layer SqueezeDet barely trained (class loss 2.25 → 2.17,
    chance being 2.30, in 144 steps)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            if module is last:
                nn.init.normal_(module.weight, 0.0, 0.01)
            else:
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


def squeezenet_1_0(num_classes: int = 1000, in_channels: int = 3) -> SqueezeNet:
    """SqueezeNet 1.0 (paper Table 1): input (N, 3, 224, 224), output (N, 1000)."""
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 96, kernel_size=7, stride=2),
            relu1=nn.ReLU(),
            pool1=_pool(),
            fire2=Fire(96, 16, 64, 64),
            fire3=Fire(128, 16, 64, 64),
            fire4=Fire(128, 32, 128, 128),
            pool4=_pool(),
            fire5=Fire(256, 32, 128, 128),
            fire6=Fire(256, 48, 192, 192),
            fire7=Fire(384, 48, 192, 192),
            fire8=Fire(384, 64, 256, 256),
            pool8=_pool(),
            fire9=Fire(512, 64, 256, 256),
        )
    )
    return SqueezeNet(features, 512, num_classes, dropout=0.5)


def squeezenet_1_1(num_classes: int = 1000, in_channels: int = 3) -> SqueezeNet:
    """SqueezeNet 1.1: input (N, 3, 224, 224), output (N, 1000)."""
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 64, kernel_size=3, stride=2),
            relu1=nn.ReLU(),
            pool1=_pool(),
            fire2=Fire(64, 16, 64, 64),
            fire3=Fire(128, 16, 64, 64),
            pool3=_pool(),
            fire4=Fire(128, 32, 128, 128),
            fire5=Fire(256, 32, 128, 128),
            pool5=_pool(),
            fire6=Fire(256, 48, 192, 192),
            fire7=Fire(384, 48, 192, 192),
            fire8=Fire(384, 64, 256, 256),
            fire9=Fire(512, 64, 256, 256),
        )
    )
    return SqueezeNet(features, 512, num_classes, dropout=0.5)


def squeezenet(num_classes: int = 10, in_channels: int = 1) -> SqueezeNet:
    """Scaled SqueezeNet for (N, 1, 28, 28) inputs, output (N, 10); 16,058 parameters.

    conv1 3×3×32 stride 2 (28→14), fire2-3 (squeeze 8, expand 16+16), max-pool (14→7),
    fire4-5 (squeeze 16, expand 32+32), dropout 0.2, conv10 1×1, average pooling.
    """
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 32, kernel_size=3, stride=2, padding=1),
            relu1=nn.ReLU(),
            fire2=Fire(32, 8, 16, 16),
            fire3=Fire(32, 8, 16, 16),
            pool3=nn.MaxPool2d(kernel_size=2, stride=2),
            fire4=Fire(32, 16, 32, 32),
            fire5=Fire(64, 16, 32, 32),
        )
    )
    return SqueezeNet(features, 64, num_classes, dropout=0.2)
