"""1-D k-means of trained quantization: the fast fit against the slow reference, and the inits."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepzip.core import (
    KMeansResult,
    assign_codes,
    init_centroids,
    kmeans_1d,
    kmeans_1d_reference,
)
from deepzip.core.kmeans import _decision_thresholds

METHODS = ("linear", "density", "random")


def _argmin_codes(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return np.argmin(np.abs(flat[:, None] - np.asarray(centroids, dtype=np.float64)), axis=1)


def _assert_argmin_codes(codes: np.ndarray, values: np.ndarray, centroids: np.ndarray) -> None:
    """Codes equal argmin(|x - c|) but for the exception documented in deepzip.core.kmeans."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    codes = codes.reshape(-1).astype(np.intp)
    expected = _argmin_codes(x, centroids)
    distance = np.abs(x[:, None] - centroids)
    for i in np.flatnonzero(codes != expected):
        # Distances to two different centroids that round to the same float, seen from a value
        # outside the pair (never a tie at a midpoint).
        assert distance[i, codes[i]] == distance[i, expected[i]]
        pair = centroids[[codes[i], expected[i]]]
        assert not pair.min() <= x[i] <= pair.max()


def _pruned_normal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bimodal values like the surviving weights of a pruned layer."""
    x = rng.standard_normal(4 * n)
    return x[np.abs(x) > 1.2][:n]


def _cases() -> list[tuple[str, np.ndarray, int]]:
    rng = np.random.default_rng(1234)
    return [
        ("one value", np.array([0.7]), 4),
        ("one value k=1", np.array([-2.5]), 1),
        ("two values", np.array([1.0, -3.0]), 3),
        ("all equal", np.full(50, 0.25), 8),
        ("k > distinct", rng.choice([-1.0, 0.5, 2.0], size=97), 8),
        ("odd length", rng.standard_normal(101), 5),
        ("odd length k=2", rng.standard_normal(999), 2),
        ("pruned layer", _pruned_normal(rng, 1001), 16),
        ("heavy tailed", rng.standard_cauchy(501), 16),
        ("student t", rng.standard_t(2.0, size=777), 32),
        ("float32", rng.standard_normal(777).astype(np.float32), 16),
        ("float32 pruned", _pruned_normal(rng, 1500).astype(np.float32), 32),
        ("integer grid", rng.integers(-5, 6, size=300).astype(np.float64), 4),
        ("integer grid k=16", rng.integers(-5, 6, size=301).astype(np.float64), 16),
        ("2-D", rng.standard_normal((13, 7)), 6),
    ]


def _assert_same_fit(fast: KMeansResult, ref: KMeansResult, values: np.ndarray) -> None:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    scale = float(np.max(np.abs(flat)))
    assert fast.n_iter == ref.n_iter
    assert fast.converged == ref.converged
    assert fast.centroids.dtype == np.float64
    np.testing.assert_allclose(fast.centroids, ref.centroids, rtol=1e-9, atol=1e-12 * scale)
    assert fast.labels.dtype == ref.labels.dtype
    assert fast.labels.shape == np.shape(values)
    # Labels may differ only where a value is (up to rounding of the means) equally near both.
    differ = np.flatnonzero(fast.labels.reshape(-1) != ref.labels.reshape(-1))
    if differ.size:
        d_fast = np.abs(flat[differ] - fast.centroids[fast.labels.reshape(-1)[differ]])
        d_ref = np.abs(flat[differ] - ref.centroids[ref.labels.reshape(-1)[differ]])
        np.testing.assert_allclose(d_fast, d_ref, rtol=1e-9, atol=1e-12 * scale)
    assert fast.inertia == pytest.approx(ref.inertia, rel=1e-9, abs=1e-12 * scale**2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("name", "values", "k"), _cases(), ids=[c[0] for c in _cases()])
def test_fast_matches_reference(name: str, values: np.ndarray, k: int, method: str) -> None:
    init = init_centroids(values, k, method, seed=7)
    fast = kmeans_1d(values, init)
    ref = kmeans_1d_reference(values, init)
    assert fast.converged
    _assert_same_fit(fast, ref, values)


def test_fast_matches_reference_with_unsorted_duplicated_init() -> None:
    rng = np.random.default_rng(5)
    values = rng.standard_normal(400)
    init = np.array([0.5, -1.0, 0.5, 2.0, -1.0, 0.0, 0.5])
    _assert_same_fit(kmeans_1d(values, init), kmeans_1d_reference(values, init), values)


def test_relocation_hand_worked() -> None:
    values = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 13.0])
    init = np.array([1.0, 5.0, 6.0, 11.0])
    # Assignment to init: {0, 1, 2} -> 0 and {10, 11, 13} -> 3; clusters 1 and 2 are empty.
    # Distances 1, 0, 1, 1, 0, 2: 13 is farthest and goes to cluster 1 (the lowest empty). Then
    # 0, 2 and 10 tie at 1: cluster 0 before cluster 3, and below its centroid (0) before above
    # (2), so 0 goes to cluster 2. Cluster 0 keeps {1, 2}, cluster 3 keeps {10, 11}.
    one = kmeans_1d(values, init, max_iter=1)
    _assert_same_fit(one, kmeans_1d_reference(values, init, max_iter=1), values)
    np.testing.assert_array_equal(one.centroids, [1.5, 13.0, 0.0, 10.5])
    np.testing.assert_array_equal(one.labels, [2, 0, 0, 3, 3, 1])
    assert not one.converged
    # The next iteration relocates nothing and changes no assignment: a fixed point.
    fit = kmeans_1d(values, init)
    _assert_same_fit(fit, kmeans_1d_reference(values, init), values)
    np.testing.assert_array_equal(fit.centroids, [1.5, 13.0, 0.0, 10.5])
    assert (fit.n_iter, fit.converged) == (2, True)
    assert fit.inertia == 1.0


def test_relocation_ties_go_to_the_lower_cluster_then_below() -> None:
    values = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
    init = np.array([1.0, 5.0, 6.0, 11.0])
    # 0, 2, 10 and 12 all lie at distance 1: cluster 0's go first, 0 (below) before 2 (above).
    fit = kmeans_1d(values, init)
    _assert_same_fit(fit, kmeans_1d_reference(values, init), values)
    np.testing.assert_array_equal(fit.centroids, [1.0, 0.0, 2.0, 11.0])
    assert fit.converged
    assert fit.inertia == 2.0


def test_relocation_ties_on_one_side_go_to_the_value_farther_out() -> None:
    # 1e-20 and 2e-20 both lie at distance 1.0 (rounded) above the centroid -1.0, as does -2.0
    # below it: -2.0 goes first (below), then 2e-20 (farther out above), 1e-20 stays.
    values = np.array([1e-20, -2.0, 2e-20])
    init = np.array([-1.0, 100.0, 200.0])
    fit = kmeans_1d(values, init)
    _assert_same_fit(fit, kmeans_1d_reference(values, init), values)
    np.testing.assert_array_equal(fit.centroids, [1e-20, -2.0, 2e-20])
    np.testing.assert_array_equal(fit.labels, [0, 1, 2])
    assert fit.converged
    assert fit.inertia == 0.0


def test_relocation_empties_a_cluster_in_the_pruned_gap_example() -> None:
    # Centroids inside the gap of a pruned layer (and beyond its range) get no values at first.
    values = np.array([-3.0, -2.0, 2.0, 3.0])
    init = np.array([-2.5, -0.1, 0.1, 2.5, 10.0])
    # Three empty clusters, four values at distance 0.5: -3 and -2 (cluster 0) go to clusters 1
    # and 2, then 2 (cluster 3, below) to cluster 4. Cluster 0, left without values, keeps -2.5.
    fit = kmeans_1d(values, init)
    _assert_same_fit(fit, kmeans_1d_reference(values, init), values)
    np.testing.assert_array_equal(fit.centroids, [-2.5, -3.0, -2.0, 3.0, 2.0])
    np.testing.assert_array_equal(fit.labels, [1, 2, 4, 3])
    assert (fit.n_iter, fit.converged) == (2, True)
    assert fit.inertia == 0.0


def test_without_relocation_the_pruned_gap_clusters_stay_empty() -> None:
    values = np.array([-3.0, -2.0, 2.0, 3.0])
    init = np.array([-2.5, -0.1, 0.1, 2.5, 10.0])
    # Plain Lloyd: -3 and -2 go to cluster 0, 2 and 3 to cluster 3, whose means are where they
    # started; clusters 1, 2 and 4 keep their initial centroids and no values.
    for fit in (
        kmeans_1d(values, init, relocate=False),
        kmeans_1d_reference(values, init, relocate=False),
    ):
        np.testing.assert_array_equal(fit.centroids, init)
        np.testing.assert_array_equal(fit.labels, [0, 0, 3, 3])
        assert (fit.n_iter, fit.converged) == (1, True)
        assert fit.inertia == 4 * 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_relocation_equals_plain_lloyd(seed: int) -> None:
    values = _pruned_normal(np.random.default_rng(seed), 3000)
    init = init_centroids(values, 32, "linear")
    fit = kmeans_1d(values, init, max_iter=1000, relocate=False)
    assert fit.converged
    _assert_same_fit(fit, kmeans_1d_reference(values, init, max_iter=1000, relocate=False), values)
    assert np.unique(fit.labels).size < 32  # the gap's centroids are left unused
    assert fit.inertia == pytest.approx(_keep_rule_fit(values, init), rel=1e-12)
    # Relocating uses every cluster and fits better.
    assert kmeans_1d(values, init, max_iter=1000).inertia < fit.inertia


def test_relocation_with_fewer_distinct_values_than_clusters_terminates() -> None:
    values = np.array([1.0, 1.0, 1.0, 4.0])
    init = np.array([0.0, 10.0, 20.0, 30.0])
    # All go to cluster 0; 4 (farthest) goes to cluster 1 and two copies of 1 to clusters 2, 3.
    # Copies of a centroid get no values (ties to the lowest index), and with every value on its
    # centroid nothing more can be relocated: clusters 2 and 3 stay empty, on 1.0.
    fit = kmeans_1d(values, init)
    _assert_same_fit(fit, kmeans_1d_reference(values, init), values)
    np.testing.assert_array_equal(fit.centroids, [1.0, 4.0, 1.0, 1.0])
    np.testing.assert_array_equal(fit.labels, [0, 0, 0, 1])
    assert (fit.n_iter, fit.converged) == (2, True)
    # Nothing to relocate at all: every value is on a centroid from the start.
    values = np.array([0.0, 0.0, 3.0, 3.0])
    fit = kmeans_1d(values, init_centroids(values, 4))
    _assert_same_fit(fit, kmeans_1d_reference(values, init_centroids(values, 4)), values)
    np.testing.assert_array_equal(fit.centroids, [0.0, 1.0, 2.0, 3.0])
    assert (fit.n_iter, fit.converged, fit.inertia) == (1, True, 0.0)


def _keep_rule_fit(values: np.ndarray, init: np.ndarray) -> float:
    """Inertia of plain Lloyd that leaves an empty centroid where it was (the former rule)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    centroids = np.asarray(init, dtype=np.float64).copy()
    labels = _argmin_codes(x, centroids)
    for _ in range(1000):
        counts = np.bincount(labels, minlength=centroids.size)
        sums = np.bincount(labels, weights=x, minlength=centroids.size)
        centroids[counts > 0] = sums[counts > 0] / counts[counts > 0]
        new_labels = _argmin_codes(x, centroids)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return float(np.sum((x - centroids[labels]) ** 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("float32", [False, True])
def test_linear_init_on_a_pruned_layer_leaves_no_cluster_empty(seed: int, float32: bool) -> None:
    values = _pruned_normal(np.random.default_rng(seed), 3000)
    if float32:
        values = values.astype(np.float32)
    k = 32
    init = init_centroids(values, k, "linear")
    # Linear init puts centroids in the pruned gap around zero: they start without values.
    assert np.unique(_argmin_codes(values, init)).size < k
    fit = kmeans_1d(values, init, max_iter=1000)
    assert fit.converged
    _assert_same_fit(fit, kmeans_1d_reference(values, init, max_iter=1000), values)
    assert np.unique(fit.labels).size == k
    assert fit.inertia <= _keep_rule_fit(values, init)


def test_all_equal_values_use_the_first_centroid() -> None:
    values = np.full(9, -1.5, dtype=np.float32)
    init = init_centroids(values, 4)
    np.testing.assert_array_equal(init, np.full(4, -1.5))
    result = kmeans_1d(values, init)
    np.testing.assert_array_equal(result.labels, np.zeros(9, dtype=np.uint8))
    assert result.inertia == 0.0
    assert result.converged


# Values on a grid of 1/8 make every sum exact, so both fits compute bit-identical means and the
# comparison can be exact; ties between values and midpoints are frequent on such a grid.
grid_values = st.lists(st.integers(-64, 64), min_size=1, max_size=60).map(
    lambda ints: np.array(ints, dtype=np.float64) / 8
)


@settings(max_examples=150, deadline=None)
@given(
    values=grid_values,
    k=st.integers(1, 12),
    method=st.sampled_from(METHODS),
    seed=st.integers(0, 2**16),
    max_iter=st.integers(0, 40),
    relocate=st.booleans(),
)
def test_property_fast_equals_reference_exactly(
    values: np.ndarray, k: int, method: str, seed: int, max_iter: int, relocate: bool
) -> None:
    init = init_centroids(values, k, method, seed=seed)
    fast = kmeans_1d(values, init, max_iter=max_iter, relocate=relocate)
    ref = kmeans_1d_reference(values, init, max_iter=max_iter, relocate=relocate)
    np.testing.assert_array_equal(fast.centroids, ref.centroids)
    np.testing.assert_array_equal(fast.labels, ref.labels)
    assert fast.inertia == ref.inertia
    assert (fast.n_iter, fast.converged) == (ref.n_iter, ref.converged)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=80
    ),
    k=st.integers(1, 10),
    method=st.sampled_from(METHODS),
    float32=st.booleans(),
)
def test_property_fit_is_a_lloyd_fixed_point(
    values: list[float], k: int, method: str, float32: bool
) -> None:
    x = np.array(values, dtype=np.float32 if float32 else np.float64)
    result = kmeans_1d(x, init_centroids(x, k, method), max_iter=1000)
    assert result.converged
    flat = x.astype(np.float64)
    # Every value is coded with its nearest centroid ...
    _assert_argmin_codes(result.labels, flat, result.centroids)
    # ... and every used centroid is the mean of its cluster.
    labels = result.labels.astype(np.intp)
    counts = np.bincount(labels, minlength=k)
    used = counts > 0
    means = np.bincount(labels, weights=flat, minlength=k)[used] / counts[used]
    np.testing.assert_allclose(result.centroids[used], means, rtol=1e-9, atol=1e-9)
    # Relocation leaves a cluster empty only when no value is off its centroid, so only when there
    # are fewer distinct values than clusters.
    if not used.all():
        assert result.inertia == 0.0
        assert np.unique(flat).size < k
    assert result.inertia == pytest.approx(float(np.sum((flat - result.centroids[labels]) ** 2)))


@pytest.mark.parametrize("method", METHODS)
def test_inertia_never_increases(method: str) -> None:
    values = _pruned_normal(np.random.default_rng(3), 2000)
    init = init_centroids(values, 16, method, seed=1)
    final = kmeans_1d(values, init)
    assert final.converged
    inertias = []
    for max_iter in range(final.n_iter + 3):
        fast = kmeans_1d(values, init, max_iter=max_iter)
        assert fast.n_iter == min(max_iter, final.n_iter)
        assert fast.converged == (max_iter >= final.n_iter)
        if max_iter <= 3:
            _assert_same_fit(fast, kmeans_1d_reference(values, init, max_iter=max_iter), values)
        inertias.append(fast.inertia)
    assert all(b <= a * (1 + 1e-12) for a, b in pairwise(inertias))
    assert inertias[-1] == final.inertia


def test_linear_init_is_evenly_spaced_from_min_to_max() -> None:
    values = np.random.default_rng(0).standard_normal(1001).astype(np.float32)
    centroids = init_centroids(values, 32, "linear")
    assert centroids.dtype == np.float64
    assert centroids.shape == (32,)
    assert centroids[0] == float(values.min())
    assert centroids[-1] == float(values.max())
    np.testing.assert_allclose(np.diff(centroids), (centroids[-1] - centroids[0]) / 31)
    assert init_centroids(values, 1, "linear")[0] == float(values.min())


def test_density_init_takes_quantiles_of_the_cdf() -> None:
    values = _pruned_normal(np.random.default_rng(1), 999)
    k = 16
    centroids = init_centroids(values, k, "density")
    levels = (np.arange(k) + 0.5) / k
    np.testing.assert_array_equal(centroids, np.quantile(values, levels, method="inverted_cdf"))
    assert np.isin(centroids, values).all()
    # Horizontal intersection of the step CDF: F(c) reaches the level at c and not before.
    below_or_at = np.mean(values[:, None] <= centroids, axis=0)
    below = np.mean(values[:, None] < centroids, axis=0)
    assert (below_or_at >= levels).all()
    assert (below < levels).all()


def test_random_init_draws_seeded_members_without_replacement() -> None:
    values = np.random.default_rng(2).standard_normal(500)
    a = init_centroids(values, 32, "random", seed=11)
    np.testing.assert_array_equal(a, init_centroids(values, 32, "random", seed=11))
    assert not np.array_equal(a, init_centroids(values, 32, "random", seed=12))
    assert np.isin(a, values).all()
    assert np.unique(a).size == 32  # distinct values, drawn without replacement
    # Duplicated values can be drawn as often as they occur, not more.
    repeated = np.repeat([1.0, 2.0, 3.0], [5, 1, 1])
    drawn = init_centroids(repeated, 7, "random", seed=0)
    np.testing.assert_array_equal(drawn, np.sort(repeated))
    # Fewer values than k: all of them, then repeats.
    few = np.array([3.0, -1.0])
    drawn = init_centroids(few, 5, "random", seed=0)
    assert set(drawn) == {-1.0, 3.0}


@pytest.mark.parametrize("method", METHODS)
def test_inits_are_sorted_float64(method: str) -> None:
    values = np.random.default_rng(4).standard_cauchy(300).astype(np.float32)
    centroids = init_centroids(values, 20, method, seed=3)
    assert centroids.dtype == np.float64
    assert centroids.shape == (20,)
    assert (np.diff(centroids) >= 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_init_errors(method: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        init_centroids(np.array([]), 4, method)
    with pytest.raises(ValueError, match="k must be >= 1"):
        init_centroids(np.ones(3), 0, method)
    with pytest.raises(ValueError, match="NaN or infinity"):
        init_centroids(np.array([1.0, np.nan]), 2, method)
    with pytest.raises(ValueError, match="unknown init method"):
        init_centroids(np.ones(3), 2, "kmeans++")  # type: ignore[arg-type]


@pytest.mark.parametrize("fit", [kmeans_1d, kmeans_1d_reference])
def test_fit_errors(fit) -> None:
    with pytest.raises(ValueError, match="empty"):
        fit(np.array([], dtype=np.float32), np.array([0.0]))
    with pytest.raises(ValueError, match="k must be >= 1"):
        fit(np.ones(3), np.array([]))
    with pytest.raises(ValueError, match="1-D"):
        fit(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="max_iter"):
        fit(np.ones(3), np.ones(2), max_iter=-1)
    with pytest.raises(TypeError, match="real numbers"):
        fit(np.ones(3, dtype=complex), np.ones(2))


def test_assign_codes_matches_argmin() -> None:
    rng = np.random.default_rng(9)
    values = rng.standard_normal((37, 11)).astype(np.float32)
    centroids = np.concatenate([rng.standard_normal(20), [0.0, 0.0, -0.3]])
    rng.shuffle(centroids)
    codes = assign_codes(values, centroids)
    assert codes.shape == values.shape
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes.reshape(-1), _argmin_codes(values, centroids))


def test_assign_codes_near_a_threshold_that_straddles_zero() -> None:
    # Between -1.75 and 1.7400000000000002 the midpoint is near zero, where |x - c| has a much
    # coarser resolution than x: the exact threshold is many ulps from the rounded midpoint.
    centroids = np.array([1.7400000000000002, -1.75, 3.0])
    mid = 0.5 * centroids[0] + 0.5 * centroids[1]
    sweep = mid + np.arange(-3000, 3000) * np.spacing(mid)
    values = np.concatenate([sweep, np.nextafter(sweep, np.inf), [0.0, -0.0]])
    np.testing.assert_array_equal(assign_codes(values, centroids), _argmin_codes(values, centroids))


@pytest.mark.parametrize("case", ["normal", "duplicated centroids", "huge range", "tiny range"])
def test_assign_codes_on_many_values_equals_the_binary_search(case: str) -> None:
    # From 2**18 values on, codes come from a lookup table over a grid and only values in a bin
    # with a threshold are binary-searched; in chunks below that size every value is.
    rng = np.random.default_rng(10)
    centroids = rng.standard_normal(40)
    if case == "duplicated centroids":
        centroids = np.concatenate([centroids, centroids[:6], [centroids.max()] * 3])
    values = rng.standard_normal(300_000) * 2
    if case == "huge range":
        values[:2] = [-1e308, 1e308]
    if case == "tiny range":
        values, centroids = values * 1e-300, centroids * 1e-300
    # Values on and next to every decision threshold.
    _, thresholds = _decision_thresholds(centroids)
    thresholds = thresholds[np.isfinite(thresholds)]
    near = np.concatenate([thresholds, np.nextafter(thresholds, np.inf)])
    near = np.concatenate([near, np.nextafter(thresholds, -np.inf)])
    values[2 : 2 + near.size] = near
    rng.shuffle(values)
    codes = assign_codes(values, centroids)
    chunks = [assign_codes(chunk, centroids) for chunk in np.array_split(values, 4)]
    np.testing.assert_array_equal(codes, np.concatenate(chunks))
    sample = rng.choice(values.size, 2000, replace=False)
    _assert_argmin_codes(codes[sample], values[sample], centroids)
    if case != "huge range":
        np.testing.assert_array_equal(codes[sample], _argmin_codes(values[sample], centroids))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(-1e300, 1e300), min_size=1, max_size=30),
    centroids=st.lists(st.floats(-1e300, 1e300), min_size=1, max_size=8),
)
def test_property_assign_codes_matches_argmin(values: list[float], centroids: list[float]) -> None:
    x, c = np.array(values), np.array(centroids)
    _assert_argmin_codes(assign_codes(x, c), x, c)


@pytest.mark.parametrize(("k", "dtype"), [(1, np.uint8), (256, np.uint8), (257, np.uint16)])
def test_code_dtype_is_the_smallest_that_holds_k(k: int, dtype: type) -> None:
    values = np.linspace(-1.0, 1.0, 600)
    init = init_centroids(values, k)
    assert kmeans_1d(values, init, max_iter=2).labels.dtype == dtype
    assert kmeans_1d_reference(values, init, max_iter=2).labels.dtype == dtype
    assert assign_codes(values, init).dtype == dtype
