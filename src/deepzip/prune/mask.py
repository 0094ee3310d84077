"""The pruning mask as a parametrization (Han et al. 2015, §3: retrain with pruned weights fixed).

``weight = original * mask`` through ``torch.nn.utils.parametrize``: autograd gives pruned
connections zero gradient, so any training loop (a plain one, Lightning, DDP) retrains the remaining
connections while pruned ones stay exactly zero. Masks only ever shrink: attaching a new mask to an
already-pruned layer keeps the intersection. Any parameter can be masked (``param``: a module's
``weight``, an LSTM's ``weight_hh_l0``, ...); the mask lives on the parameter's device.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from deepzip.layers import select_weights


class PruningMask(nn.Module):
    """Parametrization ``w -> w * mask``; ``mask`` is a bool buffer of the weight's shape."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.to(torch.bool).clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, weight, weight.new_zeros(()))


def _parametrizations(module: nn.Module, param: str) -> list[nn.Module]:
    if not parametrize.is_parametrized(module, param):
        return []
    return list(module.parametrizations[param])  # type: ignore[index]


def get_mask(module: nn.Module, param: str = "weight") -> torch.Tensor | None:
    """The parameter's current pruning mask (from a PruningMask or a SharedWeights), or None."""
    for p in _parametrizations(module, param):
        mask = getattr(p, "mask", None)
        if isinstance(mask, torch.Tensor):
            return mask
    return None


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy of ``tensor``, from any device."""
    return tensor.detach().cpu().numpy().copy()


def effective_weight(module: nn.Module, param: str = "weight") -> np.ndarray:
    """The parameter as the forward pass sees it (pruned entries zero), as a float32 numpy copy."""
    with torch.no_grad():
        return to_numpy(getattr(module, param)).astype(np.float32, copy=False)


def attach_mask(module: nn.Module, mask: torch.Tensor | np.ndarray, param: str = "weight") -> None:
    """Prune ``module``'s ``param`` with ``mask``, intersected with any mask already attached."""
    weight = getattr(module, param)
    mask_t = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if tuple(mask_t.shape) != tuple(weight.shape):
        raise ValueError(f"mask shape {tuple(mask_t.shape)} != {param} shape {tuple(weight.shape)}")
    mask_t = mask_t.to(device=weight.device, dtype=torch.bool)
    for p in _parametrizations(module, param):
        if isinstance(p, PruningMask):
            p.mask &= mask_t
            return
        if hasattr(p, "mask"):
            raise ValueError("this layer's weights are already shared; prune before quantizing")
    parametrize.register_parametrization(module, param, PruningMask(mask_t))


def attach_masks(model: nn.Module, masks: Mapping[str, torch.Tensor | np.ndarray]) -> None:
    """Attach a mask to each named layer (compressed layer names, ``deepzip.kinds``)."""
    for name, target in select_weights(model, list(masks)).items():
        attach_mask(target.module, masks[name], target.param)


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current mask of every pruned layer, by compressed layer name."""
    out = {}
    for name, target in select_weights(model).items():
        mask = get_mask(target.module, target.param)
        if mask is not None:
            out[name] = mask
    return out


def remove_compression(model: nn.Module) -> None:
    """Bake every parametrization into a plain weight (pruned entries stay exactly zero)."""
    for target in select_weights(model).values():
        if parametrize.is_parametrized(target.module, target.param):
            parametrize.remove_parametrizations(
                target.module, target.param, leave_parametrized=True
            )


def weights_kept(model: nn.Module) -> float:
    """Fraction of all compressible weights that are non-zero in the forward pass."""
    total = kept = 0
    for target in select_weights(model).values():
        with torch.no_grad():
            w = target.weight
        total += w.numel()
        kept += int(torch.count_nonzero(w))
    return kept / total if total else 0.0
