"""Modules of every new layer kind, with an input each, for the torch-side tests."""

from __future__ import annotations

import torch
from torch import nn


def kind_modules() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """name -> (module, input): Conv1d, ConvTranspose2d, depthwise Conv2d, Embedding, LSTM."""
    torch.manual_seed(0)
    return {
        "conv1d": (nn.Conv1d(4, 6, 3, groups=2), torch.randn(2, 4, 9)),
        "conv_transpose2d": (
            nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2),
            torch.randn(2, 4, 5, 5),
        ),
        "depthwise": (nn.Conv2d(4, 4, 3, groups=4), torch.randn(2, 4, 6, 6)),
        "embedding": (nn.Embedding(10, 5), torch.tensor([[1, 3, 3, 9], [0, 2, 4, 9]])),
        "lstm": (
            nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
            torch.randn(2, 5, 3),
        ),
    }


def output(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    y = module(x)
    return y[0] if isinstance(y, tuple) else y


def with_weights(plain: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    """``plain`` (an unparametrized copy taken before compression) with the named parameters set
    to ``weights``: the independent reference a compressed module must match."""
    with torch.no_grad():
        for name, value in weights.items():
            getattr(plain, name).copy_(value)
    return plain
