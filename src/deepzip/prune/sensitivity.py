"""Sensitivity analysis (Han et al. 2015, Fig. 6 and §3.4; Deep Compression §2).

Prune one layer at a time by magnitude, without retraining, and measure the accuracy at each
pruning ratio; then choose per layer the largest ratio whose accuracy loss stays within a budget.
Layers that are robust to pruning get pruned harder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from deepzip.core.masks import sparsity_mask
from deepzip.layers import select_layers
from deepzip.prune.mask import remove_compression

DEFAULT_RATIOS: tuple[float, ...] = (
    0.0,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.97,
    0.99,
)

#: ``on_point(layer, ratio, accuracy)`` after each measurement.
PointCallback = Callable[[str, float, float], None]


@dataclass(frozen=True)
class SensitivityResult:
    """Accuracy of the model with one layer pruned to each ratio, the others untouched."""

    baseline: float
    ratios: tuple[float, ...]
    accuracy: Mapping[str, tuple[float, ...]]

    def to_dict(self) -> dict:
        return {
            "baseline": self.baseline,
            "ratios": list(self.ratios),
            "accuracy": {k: list(v) for k, v in self.accuracy.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SensitivityResult:
        return cls(
            float(d["baseline"]),
            tuple(d["ratios"]),
            {k: tuple(v) for k, v in d["accuracy"].items()},
        )


def sensitivity_analysis(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    ratios: tuple[float, ...] = DEFAULT_RATIOS,
    layers: list[str] | None = None,
    on_point: PointCallback | None = None,
) -> SensitivityResult:
    """Accuracy vs pruning ratio per layer, without retraining. ``model`` is left unchanged."""
    if not ratios or any(not 0.0 <= r <= 1.0 for r in ratios):
        raise ValueError(f"ratios must be a non-empty list of values in [0, 1], got {ratios}")
    probe = copy.deepcopy(model)
    remove_compression(probe)
    baseline = evaluate(probe)
    accuracy: dict[str, tuple[float, ...]] = {}
    for name, module in select_layers(probe, layers).items():
        original = module.weight.detach().clone()
        weights = original.cpu().numpy()
        points = []
        for ratio in ratios:
            mask = sparsity_mask(weights, ratio, weights != 0)
            with torch.no_grad():
                module.weight.copy_(original * torch.from_numpy(mask).to(original.device))
            acc = evaluate(probe)
            points.append(acc)
            if on_point is not None:
                on_point(name, ratio, acc)
        with torch.no_grad():
            module.weight.copy_(original)
        accuracy[name] = tuple(points)
    return SensitivityResult(baseline, tuple(ratios), accuracy)


def choose_sparsities(result: SensitivityResult, budget: float) -> dict[str, float]:
    """Per layer, the largest ratio such that it and every smaller ratio lose at most ``budget``
    accuracy (absolute, e.g. 0.005 for half a point) against the unpruned baseline."""
    if budget < 0:
        raise ValueError(f"accuracy budget must be >= 0, got {budget}")
    order = np.argsort(result.ratios, kind="stable")
    chosen = {}
    for name, accs in result.accuracy.items():
        best = 0.0
        for i in order:
            if result.baseline - accs[i] > budget:
                break
            best = result.ratios[i]
        chosen[name] = float(best)
    return chosen
