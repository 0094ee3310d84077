"""A user's own model, as deepzip's README example compresses it: not an ``nn.Sequential`` but a
small residual CNN with BatchNorm, for 28×28 grey images in 10 classes (Fashion-MNIST here).

``deepzip compress --model examples.own_model.usermodels:residual_cnn`` calls the factory
``residual_cnn()``; the command looks the module up from the current folder, as ``python -m``
does.
"""

import torch
from torch import nn


class ResidualCNN(nn.Module):
    def __init__(self, width: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.head = nn.Linear(2 * width * 7 * 7, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_bn(self.stem(x)))
        y = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(x + self.bn2(self.conv2(y)))  # the residual connection
        x = nn.functional.max_pool2d(x, 2)  # 14×14
        x = torch.relu(self.down(x))  # 7×7
        return self.head(torch.flatten(x, 1))


def residual_cnn() -> ResidualCNN:
    return ResidualCNN()
