"""The built-in networks of Deep Compression's MNIST experiments (Han et al. 2016, Table 1).

Both are plain ``nn.Sequential`` stacks of Linear, Conv2d, ReLU, max-pooling and flatten layers
with named children, so that compression finds their layers by type and the container can describe
them without their Python class.

- LeNet-300-100: fully connected 784-300-100-10 with ReLU (LeCun et al. 1998).
- LeNet-5 as in Caffe's MNIST example: conv 5×5×20, max-pool 2, conv 5×5×50, max-pool 2,
  fc 800→500, ReLU, fc 500→10 (430,500 weights; Caffe's net has no ReLU after the convolutions).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def lenet_300_100() -> nn.Sequential:
    """LeNet-300-100: input (N, 1, 28, 28) or (N, 784), output (N, 10) logits."""
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(784, 300),
            relu1=nn.ReLU(),
            fc2=nn.Linear(300, 100),
            relu2=nn.ReLU(),
            fc3=nn.Linear(100, 10),
        )
    )


def lenet_5() -> nn.Sequential:
    """Caffe's LeNet-5: input (N, 1, 28, 28), output (N, 10) logits."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 20, kernel_size=5),
            pool1=nn.MaxPool2d(2, 2),
            conv2=nn.Conv2d(20, 50, kernel_size=5),
            pool2=nn.MaxPool2d(2, 2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(800, 500),
            relu1=nn.ReLU(),
            fc2=nn.Linear(500, 10),
        )
    )
