"""Weight sharing as a parametrization (Deep Compression §3.3, Fig. 3).

``weight = where(mask, centroids[codes], 0)`` with ``centroids`` an ``nn.Parameter``. Autograd of
the gather is a scatter-add, so a centroid's gradient is exactly the paper's grouped gradient: the
sum of the gradients of the weights in its cluster. Pruned weights are exactly +0.0 and receive no
gradient. Create the optimizer after attaching: the centroids are new parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize


class _GatherCentroids(torch.autograd.Function):
    """``centroids[codes]`` whose backward is the paper's grouped gradient, computed by a serial
    ``bincount`` so that it is deterministic (the gather's own backward accumulates in parallel,
    in an order that varies from run to run)."""

    @staticmethod
    def forward(ctx: Any, centroids: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(codes)
        ctx.clusters = len(centroids)
        return centroids[codes]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (codes,) = ctx.saved_tensors
        summed = torch.bincount(codes.reshape(-1), grad.reshape(-1), minlength=ctx.clusters)
        return summed.to(grad.dtype), None


class SharedWeights(nn.Module):
    """Parametrization ``w -> where(mask, centroids[codes], 0)``; the original ``w`` is unused.

    Buffers ``codes`` (int32, the weight's shape) and ``mask`` (bool, the weight's shape); parameter
    ``centroids`` (float32, (k,)).
    """

    codes: torch.Tensor
    mask: torch.Tensor

    def __init__(self, centroids: torch.Tensor, codes: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        if codes.shape != mask.shape:
            raise ValueError(f"codes shape {tuple(codes.shape)} != mask shape {tuple(mask.shape)}")
        if centroids.ndim != 1 or len(centroids) == 0:
            raise ValueError("centroids must be a non-empty 1-D tensor")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= len(centroids)):
            raise ValueError(f"codes must be in [0, {len(centroids)})")
        self.centroids = nn.Parameter(centroids.detach().to(torch.float32).clone())
        self.register_buffer("codes", codes.to(torch.int32).clone())
        self.register_buffer("mask", mask.to(torch.bool).clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        shared = _GatherCentroids.apply(self.centroids, self.codes)
        return torch.where(self.mask, shared, torch.zeros((), dtype=shared.dtype))


def get_shared(module: nn.Module) -> SharedWeights | None:
    """The layer's SharedWeights parametrization, or None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in module.parametrizations["weight"]:  # type: ignore[index]
        if isinstance(p, SharedWeights):
            return p
    return None


def attach_shared(
    module: nn.Module, centroids: np.ndarray, codes: np.ndarray, mask: np.ndarray
) -> SharedWeights:
    """Replace the layer's parametrizations (a pruning mask) with weight sharing."""
    if parametrize.is_parametrized(module, "weight"):
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    shape = tuple(module.weight.shape)
    if codes.shape != shape:
        raise ValueError(f"codes shape {codes.shape} != weight shape {shape}")
    device = module.weight.device  # centroids, codes and mask live where the weight lives
    shared = SharedWeights(
        torch.from_numpy(np.asarray(centroids, dtype=np.float32)).to(device),
        torch.from_numpy(codes.astype(np.int32)).to(device),
        torch.from_numpy(mask.astype(bool)).to(device),
    )
    # unsafe: the forward ignores the original weight, so torch need not check it reproduces it.
    parametrize.register_parametrization(module, "weight", shared, unsafe=True)
    # The original weight no longer feeds the forward pass: freeze it so optimizers skip it and
    # DistributedDataParallel does not wait for a gradient that never comes.
    module.parametrizations["weight"].original.requires_grad_(False)  # type: ignore[index]
    return shared
