"""The byte-aware allocation of per-layer sparsities: a hand-worked case, and against a brute
force over every combination of grid points."""

import itertools

import numpy as np
import pytest

from deepzip.prune import SensitivityResult
from deepzip.prune.allocation import LOSS_FLOOR, Allocation, loss_curves, sparsities

RATIOS = (0.0, 0.5, 0.9, 0.99)


def test_a_layer_is_pruned_where_a_byte_costs_the_least_loss():
    """Two layers lose the same accuracy at each ratio; "big" holds 99 times the bytes of
    "small", so a byte removed from "big" costs 1/99 of the loss. Loss per unit of sparsity:
    0.02 on [0, 0.5], 0.175 on [0.5, 0.9], 4.44 on [0.9, 0.99]; per share of the bytes removed,
    divide by 0.99 ("big") or 0.01 ("small"): big 0.02, 0.18, 4.5; small 2, 17.5, 444."""
    same = (0.98, 0.97, 0.90, 0.5)
    result = SensitivityResult(0.98, RATIOS, {"big": same, "small": same})
    allocation = Allocation(result, {"big": 99.0, "small": 1.0})
    # Floor point: the loss reaches 0.1 point at 0.5 * 0.001 / 0.01 = 0.05 (to the grid).
    assert allocation.floor_point == pytest.approx({"big": 0.05, "small": 0.05}, abs=1 / 64)
    floor_small = allocation.floor_point["small"]
    # Keep 60%: "big"'s first segment (0.02) is the cheapest, "small" stays at its floor point.
    chosen = allocation.at(0.6)
    assert chosen["small"] == floor_small
    assert chosen["big"] == pytest.approx(1 - (0.6 - 0.01 * (1 - floor_small)) / 0.99)
    # Keep 5%: "big" is in its last segment (4.5 per share), so "small"'s first (2) is taken
    # whole and its second (17.5) not at all.
    chosen = allocation.at(0.05)
    assert chosen["small"] == pytest.approx(0.5)
    assert chosen["big"] == pytest.approx(1 - (0.05 - 0.01 * 0.5) / 0.99)
    # Keep less than "big" at its largest ratio with "small" at 0.5: "small"'s second segment.
    chosen = allocation.at(0.99 * 0.01 + 0.01 * 0.3)
    assert chosen["big"] == pytest.approx(0.99)
    assert chosen["small"] == pytest.approx(0.7)


def _summed_hull_loss(result, costs, chosen):
    """The summed loss at ``chosen`` on each layer's lower convex hull (interpolated)."""
    grid, curves = loss_curves(result)
    total = 0.0
    for name, loss in curves.items():
        # The lower convex hull evaluated at a point: the max over supporting lines is the
        # min over chords; on a fine grid, the min over pairs of points bracketing it.
        x = chosen[name]
        left, right = grid[grid <= x + 1e-12], grid[grid >= x - 1e-12]
        ll, lr = loss[grid <= x + 1e-12], loss[grid >= x - 1e-12]
        best = np.inf
        for i, a in enumerate(left):
            for j, b in enumerate(right):
                y = ll[i] if b == a else ll[i] + (lr[j] - ll[i]) * (x - a) / (b - a)
                best = min(best, y)
        total += best
    return total


@pytest.mark.parametrize("seed", range(4))
def test_no_choice_that_keeps_fewer_bytes_loses_less(seed):
    """Random non-monotone loss curves for three layers of different sizes: the allocation at
    a given byte budget keeps exactly that share, and no combination of grid points with no
    more bytes has a smaller summed loss (the allocation's loss taken on the hulls, which
    are below the curves)."""
    rng = np.random.default_rng(seed)
    accuracy = {
        name: tuple(
            0.98
            - np.concatenate([[0], np.sort(rng.uniform(0, 0.3, 3))])
            + rng.normal(0, 0.005, 4) * [0, 1, 1, 1]
        )
        for name in ("a", "b", "c")
    }
    result = SensitivityResult(0.98, RATIOS, accuracy)
    costs = {"a": 700.0, "b": 250.0, "c": 50.0}
    allocation = Allocation(result, costs)
    grid, curves = loss_curves(result)
    coarse = np.arange(0, len(grid), 8)  # every 8th grid point, for a brute force of 3 layers
    shares = {n: c / sum(costs.values()) for n, c in costs.items()}
    for kept in (0.5, 0.2, 0.08, 0.03):
        chosen = allocation.at(kept)
        floor_kept = allocation.kept(allocation.floor_point)
        assert allocation.kept(chosen) == pytest.approx(min(kept, floor_kept), abs=1e-9)
        ours = _summed_hull_loss(result, costs, chosen)
        for combo in itertools.product(coarse, repeat=3):
            point = dict(zip(("a", "b", "c"), (grid[i] for i in combo), strict=True))
            if (
                sum(shares[n] * (1 - s) for n, s in point.items())
                <= allocation.kept(chosen) + 1e-12
            ):
                theirs = sum(curves[n][i] for n, i in zip(("a", "b", "c"), combo, strict=True))
                assert ours <= theirs + 1e-9


def test_sparsities_grow_with_the_aggressiveness_and_span_dense_to_the_largest_ratio():
    result = SensitivityResult(
        0.98, RATIOS, {"a": (0.98, 0.97, 0.90, 0.5), "b": (0.98, 0.98, 0.98, 0.9795)}
    )
    costs = {"a": 10.0, "b": 1.0}
    steps = [sparsities(result, a, costs) for a in np.linspace(0, 1, 41)]
    assert steps[0] == {"a": 0.0, "b": 0.0}
    assert steps[-1] == {"a": 0.99, "b": 0.99}
    for name in ("a", "b"):
        values = [s[name] for s in steps]
        assert values == sorted(values)
    # "b" never loses more than the floor: at a third of the range it is at its floor point,
    # the largest ratio; "a" at its own, where it loses 0.1 point (0.05).
    third = sparsities(result, 1 / 3, costs)
    assert third["b"] == 0.99
    assert third["a"] == pytest.approx(0.05, abs=1 / 64)
    with pytest.raises(ValueError, match="aggressiveness"):
        sparsities(result, 1.5, costs)
    with pytest.raises(ValueError, match="no cost for layers b"):
        sparsities(result, 0.5, {"a": 1.0})


def test_losses_under_the_floor_count_as_none():
    result = SensitivityResult(0.98, RATIOS, {"a": (0.98, 0.98 - LOSS_FLOOR / 2, 0.97, 0.9)})
    grid, curves = loss_curves(result)
    assert curves["a"][grid <= 0.5].max() == 0
    assert curves["a"][-1] == pytest.approx(0.08 - LOSS_FLOOR)


def test_a_layer_that_loses_accuracy_unpruned_starts_dense():
    """A noisy analysis can measure a loss at ratio 0 (over the floor): the layer's floor point
    is then no pruning at all, and its hull starts there."""
    result = SensitivityResult(0.98, RATIOS, {"a": (0.975, 0.97, 0.90, 0.5)})
    allocation = Allocation(result, {"a": 1.0})
    assert allocation.floor_point == {"a": 0.0}
    assert allocation.at(0.5)["a"] == pytest.approx(0.5)
