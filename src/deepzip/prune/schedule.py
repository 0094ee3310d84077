"""Iterative pruning with retraining (Han et al. 2015, §3.3: prune, retrain, repeat).

Each round removes connections by magnitude (a target sparsity per layer, one global target, or
the paper's quality × std threshold), then calls the caller's retraining function; the masks stay
attached as parametrizations, so that function can be any training loop. A target sparsity s is
reached in ``steps`` rounds along a geometric schedule of the kept fraction, (1 − s)^(i / steps),
so every round removes the same share of what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from deepzip.core.masks import global_sparsity_masks, quality_mask, sparsity_mask
from deepzip.layers import select_layers
from deepzip.prune.mask import attach_mask, effective_weight, get_mask

#: ``retrain(model, round)`` retrains the pruned model in place after round ``round`` (1-based).
Retrain = Callable[[nn.Module, int], None]


@dataclass(frozen=True)
class PruneConfig:
    """How much to prune and how.

    Attributes:
        sparsity: fraction of weights to remove, one number for every layer or one per layer
            (fully-qualified names); layers not named are left dense.
        quality: instead of ``sparsity``, the paper's rule: |w| <= quality × std(w) is removed.
        scope: ``"layer"`` applies ``sparsity`` to each layer; ``"global"`` uses one magnitude
            threshold across all layers (``sparsity`` must be a number).
        steps: prune/retrain rounds.
        retrain_epochs: epochs of retraining after each round.
        retrain_lr_factor: retraining learning rate as a fraction of the original (paper: 1/10).
        final_retrain_epochs: epochs after the last round, where the network must recover at
            its final sparsity; None means ``retrain_epochs``.
    """

    sparsity: float | dict[str, float] | None = None
    quality: float | None = None
    scope: Literal["layer", "global"] = "layer"
    steps: int = 3
    retrain_epochs: int = 2
    retrain_lr_factor: float = 0.1
    layers: list[str] | None = field(default=None)
    final_retrain_epochs: int | None = None

    def __post_init__(self) -> None:
        if (self.sparsity is None) == (self.quality is None):
            raise ValueError("give exactly one of sparsity and quality")
        if self.scope not in ("layer", "global"):
            raise ValueError(f"scope must be 'layer' or 'global', got {self.scope!r}")
        if self.scope == "global" and not isinstance(self.sparsity, (int, float)):
            raise ValueError("global pruning needs one number for sparsity")
        values = self.sparsity.values() if isinstance(self.sparsity, dict) else [self.sparsity]
        for s in values:
            if s is not None and not 0.0 <= s < 1.0:
                raise ValueError(f"sparsity must be in [0, 1), got {s}")
        if self.quality is not None and self.quality < 0:
            raise ValueError(f"quality must be >= 0, got {self.quality}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.retrain_lr_factor <= 0:
            raise ValueError(f"retrain_lr_factor must be > 0, got {self.retrain_lr_factor}")
        for name in ("retrain_epochs", "final_retrain_epochs"):
            epochs = getattr(self, name)
            if epochs is not None and epochs < 0:
                raise ValueError(f"{name} must be >= 0, got {epochs}")

    def epochs_after(self, step: int) -> int:
        """Retraining epochs after round ``step`` (1-based)."""
        if step == self.steps and self.final_retrain_epochs is not None:
            return self.final_retrain_epochs
        return self.retrain_epochs

    def targets(self, model: nn.Module) -> dict[str, float]:
        """Final sparsity per layer for the sparsity modes (quality mode: empty)."""
        if self.sparsity is None:
            return {}
        if isinstance(self.sparsity, dict):
            select_layers(model, list(self.sparsity))  # unknown names raise here
            return dict(self.sparsity)
        return dict.fromkeys(select_layers(model, self.layers), float(self.sparsity))


def _step_sparsity(target: float, step: int, steps: int) -> float:
    return 1.0 - (1.0 - target) ** (step / steps)


def prune_step(model: nn.Module, config: PruneConfig, step: int) -> None:
    """Apply round ``step`` (1-based) of ``config``'s schedule: attach or shrink the masks."""
    if config.quality is not None:
        quality = config.quality * step / config.steps
        for module in select_layers(model, config.layers).values():
            mask = get_mask(module)
            new = quality_mask(
                effective_weight(module), quality, None if mask is None else mask.cpu().numpy()
            )
            attach_mask(module, torch.from_numpy(new))
        return
    targets = config.targets(model)
    layers = select_layers(model, list(targets))
    if config.scope == "global":
        sparsity = _step_sparsity(float(config.sparsity), step, config.steps)  # type: ignore[arg-type]
        weights = {n: effective_weight(m) for n, m in layers.items()}
        current = {n: get_mask(m) for n, m in layers.items()}
        masks = global_sparsity_masks(
            weights, sparsity, {n: c.cpu().numpy() for n, c in current.items() if c is not None}
        )
        for name, module in layers.items():
            attach_mask(module, torch.from_numpy(masks[name]))
        return
    for name, module in layers.items():
        mask = get_mask(module)
        new = sparsity_mask(
            effective_weight(module),
            _step_sparsity(targets[name], step, config.steps),
            None if mask is None else mask.cpu().numpy(),
        )
        attach_mask(module, torch.from_numpy(new))


def iterative_prune(
    model: nn.Module,
    config: PruneConfig,
    retrain: Retrain | None = None,
    start_step: int = 1,
) -> None:
    """Run rounds ``start_step``..``config.steps``: prune, then ``retrain(model, round)``."""
    for step in range(start_step, config.steps + 1):
        prune_step(model, config, step)
        if retrain is not None:
            retrain(model, step)
