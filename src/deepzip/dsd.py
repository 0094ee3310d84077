"""Dense-Sparse-Dense training (Han et al., ICLR 2017).

Starting from a trained dense model: the sparse phase prunes each layer's smallest weights
(30% by default) and retrains with the mask held fixed; the re-dense phase removes the mask,
restoring the pruned connections at zero, and retrains the whole network at 1/10 of the learning
rate. The caller supplies the training as ``retrain(model, phase, lr_factor)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from deepzip.prune.mask import remove_compression
from deepzip.prune.schedule import PruneConfig, prune_step

#: ``retrain(model, phase, lr_factor)`` with phase ``"sparse"`` or ``"redense"``.
PhaseTrain = Callable[[nn.Module, str, float], None]


@dataclass(frozen=True)
class DSDConfig:
    sparsity: float = 0.3
    sparse_lr_factor: float = 1.0
    redense_lr_factor: float = 0.1
    layers: list[str] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")


def dsd(model: nn.Module, retrain: PhaseTrain, config: DSDConfig | None = None) -> None:
    """Run the sparse and re-dense phases on a trained model, in place."""
    config = config or DSDConfig()
    prune_step(model, PruneConfig(sparsity=config.sparsity, steps=1, layers=config.layers), 1)
    retrain(model, "sparse", config.sparse_lr_factor)
    # Baking the mask in leaves pruned weights at exactly zero; they are then free to grow back.
    remove_compression(model)
    retrain(model, "redense", config.redense_lr_factor)
