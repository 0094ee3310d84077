"""Pruning (Han et al. 2015): magnitude masks as parametrizations, schedules, sensitivity."""

from deepzip.prune.mask import (
    PruningMask,
    attach_mask,
    attach_masks,
    get_mask,
    masks_of,
    remove_compression,
    weights_kept,
)
from deepzip.prune.schedule import PruneConfig, iterative_prune, prune_step
from deepzip.prune.sensitivity import (
    SensitivityResult,
    choose_sparsities,
    interpolate_sparsities,
    sensitivity_analysis,
)

__all__ = [
    "PruneConfig",
    "PruningMask",
    "SensitivityResult",
    "attach_mask",
    "attach_masks",
    "choose_sparsities",
    "get_mask",
    "interpolate_sparsities",
    "iterative_prune",
    "masks_of",
    "prune_step",
    "remove_compression",
    "sensitivity_analysis",
    "weights_kept",
]
