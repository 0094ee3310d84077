"""The pruning mask as a parametrization (Han et al. 2015, §3: retrain with pruned weights fixed).

``weight = original * mask`` through ``torch.nn.utils.parametrize``: autograd gives pruned
connections zero gradient, so any training loop (a plain one, Lightning, DDP) retrains the remaining
connections while pruned ones stay exactly zero. Masks only ever shrink: attaching a new mask to an
already-pruned layer keeps the intersection.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from deepzip.layers import select_layers


class PruningMask(nn.Module):
    """Parametrization ``w -> w * mask``; ``mask`` is a bool buffer of the weight's shape."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.to(torch.bool).clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, weight, torch.zeros((), dtype=weight.dtype))


def _parametrizations(module: nn.Module) -> list[nn.Module]:
    if not parametrize.is_parametrized(module, "weight"):
        return []
    return list(module.parametrizations["weight"])  # type: ignore[index]


def get_mask(module: nn.Module) -> torch.Tensor | None:
    """The layer's current pruning mask (from a PruningMask or a SharedWeights), or None."""
    for p in _parametrizations(module):
        mask = getattr(p, "mask", None)
        if isinstance(mask, torch.Tensor):
            return mask
    return None


def effective_weight(module: nn.Module) -> np.ndarray:
    """The weight as the forward pass sees it (pruned entries zero), as a float32 numpy copy."""
    with torch.no_grad():
        return module.weight.detach().cpu().numpy().astype(np.float32, copy=True)


def attach_mask(module: nn.Module, mask: torch.Tensor | np.ndarray) -> None:
    """Prune ``module.weight`` with ``mask``, intersected with any mask already attached."""
    mask_t = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if tuple(mask_t.shape) != tuple(module.weight.shape):
        raise ValueError(
            f"mask shape {tuple(mask_t.shape)} != weight shape {tuple(module.weight.shape)}"
        )
    mask_t = mask_t.to(device=module.weight.device, dtype=torch.bool)  # on the weight's device
    for p in _parametrizations(module):
        if isinstance(p, PruningMask):
            p.mask &= mask_t
            return
        if hasattr(p, "mask"):
            raise ValueError("this layer's weights are already shared; prune before quantizing")
    parametrize.register_parametrization(module, "weight", PruningMask(mask_t))


def attach_masks(model: nn.Module, masks: Mapping[str, torch.Tensor | np.ndarray]) -> None:
    """Attach a mask to each named layer (fully-qualified names)."""
    layers = select_layers(model, list(masks))
    for name, module in layers.items():
        attach_mask(module, masks[name])


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current mask of every pruned layer, by fully-qualified name."""
    out = {}
    for name, module in select_layers(model).items():
        mask = get_mask(module)
        if mask is not None:
            out[name] = mask
    return out


def remove_compression(model: nn.Module) -> None:
    """Bake every parametrization into a plain weight (pruned entries stay exactly zero)."""
    for module in select_layers(model).values():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def weights_kept(model: nn.Module) -> float:
    """Fraction of all compressible weights that are non-zero in the forward pass."""
    total = kept = 0
    for module in select_layers(model).values():
        with torch.no_grad():
            w = module.weight
        total += w.numel()
        kept += int(torch.count_nonzero(w))
    return kept / total if total else 0.0
