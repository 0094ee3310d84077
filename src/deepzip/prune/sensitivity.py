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
from deepzip.layers import select_weights
from deepzip.prune.mask import remove_compression, to_numpy

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
    """Accuracy vs pruning ratio per layer (compressed layer names, ``deepzip.kinds``), without
    retraining. ``model`` is left unchanged."""
    if not ratios or any(not 0.0 <= r <= 1.0 for r in ratios):
        raise ValueError(f"ratios must be a non-empty list of values in [0, 1], got {ratios}")
    probe = copy.deepcopy(model)
    remove_compression(probe)
    baseline = evaluate(probe)
    accuracy: dict[str, tuple[float, ...]] = {}
    for name, target in select_weights(probe, layers).items():
        original = target.weight.detach().clone()
        weights = to_numpy(original)
        points = []
        for ratio in ratios:
            mask = sparsity_mask(weights, ratio, weights != 0)
            with torch.no_grad():
                target.weight.copy_(original * torch.from_numpy(mask).to(original.device))
            acc = evaluate(probe)
            points.append(acc)
            if on_point is not None:
                on_point(name, ratio, acc)
        with torch.no_grad():
            target.weight.copy_(original)
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


def interpolate_sparsities(result: SensitivityResult, budget: float) -> dict[str, float]:
    """Per layer, the sparsity at which the accuracy loss, interpolated linearly between the
    measured ratios, reaches ``budget`` (absolute); the largest measured ratio when it never
    does. A continuous ``choose_sparsities``: it grows with ``budget`` without jumping from one
    measured ratio to the next, so that one number can be bisected over. The loss curve is made
    non-decreasing first (a loss measured at a ratio counts for every larger one)."""
    if budget < 0:
        raise ValueError(f"accuracy budget must be >= 0, got {budget}")
    order = np.argsort(result.ratios, kind="stable")
    grid = np.asarray(result.ratios, dtype=float)[order]
    chosen = {}
    for name, accs in result.accuracy.items():
        loss = np.maximum.accumulate(result.baseline - np.asarray(accs, dtype=float)[order])
        sparsity = float(grid[-1])
        for i in range(1, len(grid)):
            if loss[i] > budget:
                span = loss[i] - loss[i - 1]
                share = 1.0 if span <= 0 else max(0.0, (budget - loss[i - 1]) / span)
                sparsity = float(grid[i - 1] + share * (grid[i] - grid[i - 1]))
                break
        if loss[0] > budget:
            sparsity = 0.0
        chosen[name] = sparsity
    return chosen
