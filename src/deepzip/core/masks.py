"""Pruning masks by weight magnitude (Han et al. 2015, "Learning both Weights and Connections").

Pure numpy. A mask is a bool array of the weight's shape, True where a connection is kept. Three
ways to choose the connections to remove, all by magnitude:

- ``quality_mask``: the paper's rule, threshold = quality parameter × standard deviation of the
  layer's weights (computed over the whole tensor, pruned zeros included, so applying the same
  quality again converges instead of pruning ever deeper).
- ``sparsity_mask``: remove exactly round(sparsity × size) connections of one layer.
- ``global_sparsity_masks``: one magnitude threshold across several layers.

Every function takes the current mask and only ever removes connections from it: masks shrink.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _check(weights: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.ones(weights.shape, dtype=bool)
    if mask.shape != weights.shape:
        raise ValueError(f"mask shape {mask.shape} != weight shape {weights.shape}")
    return mask.astype(bool, copy=False)


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")


def quality_mask(weights: np.ndarray, quality: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Keep |w| > quality × std(w), where w is the layer's weight with pruned entries at zero."""
    if quality < 0:
        raise ValueError(f"quality parameter must be >= 0, got {quality}")
    mask = _check(weights, mask)
    effective = np.where(mask, weights, 0).astype(np.float64)
    threshold = quality * float(effective.std()) if effective.size else 0.0
    return mask & (np.abs(effective) > threshold)


def _keep_largest(magnitude: np.ndarray, keep: int) -> np.ndarray:
    """Bool mask of the ``keep`` largest entries of a flat array (ties broken by position)."""
    out = np.zeros(magnitude.size, dtype=bool)
    if keep >= magnitude.size:
        out[:] = True
    elif keep > 0:
        # A stable sort makes the choice among equal magnitudes deterministic.
        order = np.argsort(-magnitude, kind="stable")
        out[order[:keep]] = True
    return out


def sparsity_mask(
    weights: np.ndarray, sparsity: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """Remove the ``round(sparsity × size)`` smallest-magnitude weights of one layer.

    Already-pruned entries count as zero and go first, so the result is a subset of ``mask``
    whenever the requested sparsity is at least the current one.
    """
    _check_sparsity(sparsity)
    mask = _check(weights, mask)
    magnitude = np.abs(np.where(mask, weights, 0)).ravel().astype(np.float64)
    keep = weights.size - round(sparsity * weights.size)
    return (_keep_largest(magnitude, keep) & mask.ravel()).reshape(weights.shape)


def global_sparsity_masks(
    weights: Mapping[str, np.ndarray],
    sparsity: float,
    masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One magnitude threshold over all layers, removing ``round(sparsity × total)`` weights."""
    _check_sparsity(sparsity)
    masks = masks or {}
    names = list(weights)
    current = {n: _check(weights[n], masks.get(n)) for n in names}
    flat = [np.abs(np.where(current[n], weights[n], 0)).ravel().astype(np.float64) for n in names]
    magnitude = np.concatenate(flat) if flat else np.zeros(0)
    keep = magnitude.size - round(sparsity * magnitude.size)
    kept = _keep_largest(magnitude, keep)
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, part in zip(names, flat):
        piece = kept[start : start + part.size].reshape(weights[name].shape)
        out[name] = piece & current[name]
        start += part.size
    return out
