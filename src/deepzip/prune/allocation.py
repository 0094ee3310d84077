"""Per-layer sparsities that weigh each layer's accuracy loss against the bytes it saves.

The sensitivity analysis (Han et al. 2015, Fig. 6) says how much accuracy each layer loses when
pruned alone to each ratio. Allowing every layer the same loss (``interpolate_sparsities``)
prunes a small layer as hard as a large one, although the small one saves few bytes: in the
LeNet-5 search it pruned conv1 (500 weights, 0.1% of the bytes) to 4.5% kept, which cost accuracy
and saved nothing. Here the bytes to keep are given, and they are spent where they cost the
least loss: the marginal (greedy) allocation over the lower convex hulls of the layers' curves,
loss against bytes removed, takes the cheapest loss per byte first (the classic rate-allocation
argument: at the optimum every layer trades accuracy for bytes at the same rate, a Lagrange
multiplier). Its summed hull loss is the least of any choice that keeps no more bytes.

A layer's loss is its measured loss, made non-decreasing in the ratio, linearly interpolated on a
fine grid, less a noise floor (losses under it count as none); its bytes are estimated as its
weights times a cost per kept weight (the caller's: code bits plus index bits). Along a hull edge
the sparsity is interpolated, so the allocation moves continuously with the bytes to keep and one
number can be bisected over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from deepzip.prune.sensitivity import SensitivityResult

#: Losses under this (0.1 point of accuracy without retraining) count as none: measurement noise.
LOSS_FLOOR = 1e-3
#: Grid points between two measured ratios.
GRID_STEPS = 32
#: The share of the aggressiveness range that goes from dense to the noise floor.
DENSE_SHARE = 1 / 3
#: The most any layer is pruned.
MAX_SPARSITY = 0.999


def loss_curves(
    sensitivity: SensitivityResult, floor: float = LOSS_FLOOR
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The fine grid of sparsities (the measured ratios, ``GRID_STEPS`` points between two) and
    each layer's loss on it: non-decreasing, interpolated linearly, less ``floor``, at least 0.
    A ratio of 0 (no loss) is added when the analysis did not measure it."""
    order = np.argsort(sensitivity.ratios, kind="stable")
    ratios = np.asarray(sensitivity.ratios, dtype=float)[order]
    accuracy = {n: np.asarray(a, dtype=float)[order] for n, a in sensitivity.accuracy.items()}
    if ratios[0] > 0:
        ratios = np.concatenate([[0.0], ratios])
        accuracy = {n: np.concatenate([[sensitivity.baseline], a]) for n, a in accuracy.items()}
    pieces = [np.linspace(a, b, GRID_STEPS, endpoint=False) for a, b in pairwise(ratios)]
    grid = np.concatenate([*pieces, ratios[-1:]])
    curves = {}
    for name, acc in accuracy.items():
        measured = np.maximum.accumulate(np.maximum(sensitivity.baseline - acc, 0.0))
        loss = np.interp(grid, ratios, measured) - floor
        curves[name] = np.where(loss > 1e-9, loss, 0.0)  # float noise off the floor counts as none
    return grid, curves


def _shares(curves: Mapping[str, np.ndarray], costs: Mapping[str, float]) -> dict[str, float]:
    missing = sorted(set(curves) - set(costs))
    if missing:
        raise ValueError(f"no cost for layers {', '.join(missing)}")
    if any(not costs[n] > 0 for n in curves):
        raise ValueError("every layer's cost must be > 0")
    total = sum(costs[n] for n in curves)
    return {n: costs[n] / total for n in curves}


def _hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """The indices of the lower convex hull of the points (x increasing), from first to last."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b lies on or above the line from a to i: it is not a hull vertex.
            if (y[b] - y[a]) * (x[i] - x[a]) >= (y[i] - y[a]) * (x[b] - x[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


@dataclass(frozen=True)
class _Edge:
    slope: float  # loss per share of the bytes removed
    layer: str
    start: float  # sparsities at its ends
    end: float
    removed: float  # the share of the bytes it removes


class Allocation:
    """A sensitivity analysis and the layers' costs, ready to allocate: the floor point (every
    layer where its loss reaches the floor) and the hull edges past it."""

    def __init__(
        self, sensitivity: SensitivityResult, costs: Mapping[str, float], floor: float = LOSS_FLOOR
    ) -> None:
        grid, curves = loss_curves(sensitivity, floor)
        self.shares = _shares(curves, costs)
        self.floor_point: dict[str, float] = {}
        edges = []
        for order, (name, loss) in enumerate(curves.items()):
            zeros = np.flatnonzero(loss <= 0)
            plateau = int(zeros[-1]) if zeros.size else 0  # a loss even unpruned: noise
            self.floor_point[name] = float(grid[plateau])
            x, y = grid[plateau:], loss[plateau:]
            hull = _hull(x, y)
            for a, b in pairwise(hull):
                removed = self.shares[name] * (x[b] - x[a])
                slope = (y[b] - y[a]) / removed
                edges.append((slope, order, _Edge(slope, name, float(x[a]), float(x[b]), removed)))
        self.edges = [e for _, _, e in sorted(edges, key=lambda t: (t[0], t[1]))]
        self.last = {name: float(grid[-1]) for name in curves}

    def kept(self, sparsity: Mapping[str, float]) -> float:
        """The share of the dense bytes kept at these sparsities (the estimate)."""
        return sum(share * (1 - sparsity[n]) for n, share in self.shares.items())

    def at(self, kept: float) -> dict[str, float]:
        """The sparsities that keep ``kept`` of the bytes (clamped to what the floor point and
        the largest ratio allow), the cheapest loss per byte removed first."""
        chosen = dict(self.floor_point)
        to_remove = self.kept(chosen) - kept
        for edge in self.edges:
            if to_remove <= 0:
                break
            if to_remove < edge.removed:  # this edge in part, and no further
                share = to_remove / edge.removed
                chosen[edge.layer] = float(edge.start + share * (edge.end - edge.start))
                break
            chosen[edge.layer] = edge.end
            to_remove -= edge.removed
        return chosen


def sparsities(
    sensitivity: SensitivityResult, aggressiveness: float, costs: Mapping[str, float]
) -> dict[str, float]:
    """The per-layer sparsities at ``aggressiveness`` in [0, 1]: 0 prunes nothing; over the
    lower ``DENSE_SHARE`` every layer's kept fraction goes geometrically from all weights to
    its floor point (layers pruned together and retrained can lose more than each alone); over
    the rest the bytes kept go geometrically from the floor point's to those of every layer at
    the largest ratio, allocated by ``Allocation.at``. Non-decreasing in ``aggressiveness``."""
    if not 0 <= aggressiveness <= 1:
        raise ValueError(f"aggressiveness must be in [0, 1], got {aggressiveness}")
    allocation = Allocation(sensitivity, costs)
    if aggressiveness >= DENSE_SHARE:
        share = (aggressiveness - DENSE_SHARE) / (1 - DENSE_SHARE)
        start, end = allocation.kept(allocation.floor_point), allocation.kept(allocation.last)
        chosen = allocation.at(start * (end / start) ** share)
    else:
        share = aggressiveness / DENSE_SHARE
        chosen = {name: 1 - (1 - s) ** share for name, s in allocation.floor_point.items()}
    return {name: round(min(s, MAX_SPARSITY), 4) for name, s in chosen.items()}


__all__ = ["DENSE_SHARE", "LOSS_FLOOR", "Allocation", "loss_curves", "sparsities"]
