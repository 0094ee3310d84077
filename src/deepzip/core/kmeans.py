"""1-D k-means for trained quantization (Deep Compression, Han, Mao & Dally 2016, §3.1-3.2).

§3.1 (weight sharing): the weights of one layer are partitioned into k = 2^b clusters by k-means on
their values, minimising the within-cluster sum of squares; every weight is then stored as the b-bit
index of its cluster and the layer keeps one shared weight (centroid) per cluster, the codebook.
§3.2 (initialization of shared weights): linear (the paper's default and best), density-based and
random (Forgy) initial centroids; see ``init_centroids``.

``kmeans_1d`` is Lloyd's algorithm made fast by the single dimension. The values are sorted once
(O(n log n)) and their float64 prefix sums kept. In one dimension every cluster is a contiguous run
of the sorted values between two decision thresholds, the points halfway between consecutive
(sorted) centroids, so one iteration is k - 1 binary searches for the thresholds plus k prefix-sum
differences for the new means: O(k log n) instead of O(n k). Labels for the original order and the
inertia are computed once at the end, O(n) each (a lookup table over a uniform grid of the values
replaces most binary searches, see ``_labels``).

Both implementations here follow the same rules, so from the same initial centroids they reach the
same Lloyd fixed point (up to float rounding of the means):

- Assignment: each value goes to the nearest centroid, |x - c| computed in float64; a tie goes to
  the centroid with the lower index (what ``np.argmin`` does), which is the lower cluster when the
  centroids are sorted, as ``init_centroids`` returns them. The fast version takes the midpoint of
  two neighbouring centroids and corrects it by bisection over floats where needed, so that its
  threshold agrees with that very comparison rather than with the rounding of the midpoint. (Within
  the iterations only the number of values below each threshold counts: the midpoint is taken as
  it is when the values on both sides of its cut are on the right sides of that comparison.)
- Empty clusters are relocated, as scikit-learn's ``KMeans`` does
  (``_relocate_empty_clusters_dense`` in sklearn/cluster/_k_means_common.pyx). When an assignment
  leaves m clusters empty, the m values farthest from their assigned centroid (|x - c| in float64)
  leave their clusters, and each becomes on its own the cluster, and so the new centroid, of one
  empty cluster: the farthest value goes to the empty cluster with the lowest index, the next one
  to the next. (scikit-learn pairs the empty clusters, ascending, with its m farthest points in
  the order ``np.argpartition`` leaves them, which is not sorted; the set of new centroids is the
  same up to ties, only their indices may differ.) Here the order of the values is total and
  deterministic: larger distance first; equal distances go to
  the lower index of the assigned cluster, then, within one cluster, to the value below its
  centroid before the one above, then to the value farther out (the smaller below the centroid,
  the larger above). Copies of a value are interchangeable, so which copy moves does not matter.
  In one dimension this order makes the search cheap: the farthest values of a cluster lie at the
  two ends of its run of sorted values, so the fast version looks only at the m values at each end
  of every cluster, O(k m) candidates, and only in iterations with empty clusters.
- Only values at a positive distance are relocated. scikit-learn relocates nothing when the
  largest distance is zero and otherwise moves m points, even ones on their centroid; here, with
  fewer than m values off their centroid, those few are relocated and the remaining empty
  clusters (the highest indices) keep their centroids. A cluster that gives all its values away
  also keeps its centroid (scikit-learn's would go to zero). Each relocation strictly lowers the
  within-cluster sum of squares (in exact arithmetic), so relocation cannot cycle. With fewer
  distinct values than k some clusters end empty: a fit that converged has an empty cluster only
  if every value sits on its centroid (inertia zero). Duplicate centroids are allowed: a tie goes
  to the lowest index, so the copies receive no values (and are relocated when a value off its
  centroid exists).
- One iteration is: relocate values to the empty clusters (if any and possible), move every
  centroid to the mean of its cluster, then reassign. A mean is clipped to the smallest and
  largest value of its cluster, which undoes rounding beyond them (three copies of 0.1 sum to
  0.30000000000000004, whose third is not 0.1) and keeps neighbouring clusters in order. The fit
  stops at an exact fixed point (``converged=True``): an iteration that relocated nothing and
  after which no assignment changed; or after ``max_iter`` iterations. (scikit-learn's strict
  convergence test looks at the labels only; here an iteration that relocated is never the last
  one, which costs at most one more iteration.) The labels returned are always the assignment to
  the centroids returned, and the inertia is computed from them directly, O(n) in float64, rather
  than from prefix sums of x², which cancel badly for tight clusters.

The fast assignment is exactly the reference's ``argmin`` except for rounding ties far away: a
value whose distances to two centroids round to the same float although the centroids differ
(they are closer together than an ulp of the distance, e.g. 0.0 and 1e-300 seen from 1.0). The
reference then takes the lower index, the fast version the centroid on the value's side. Ties at
a midpoint, between the two centroids, always agree. The means themselves are rounded differently
(prefix-sum differences here, plain sums there), and where that rounding decides a tie of the
relocation order the two may relocate different values: typically the two values of a
two-value cluster, equally far from their mean in exact arithmetic. That swaps which empty
cluster gets which value; as the other value then forms a cluster of its own, the codebook as a
set and the inertia usually come out the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

InitMethod = Literal["linear", "density", "random"]

_INIT_METHODS: tuple[str, ...] = get_args(InitMethod)


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of one 1-D k-means fit.

    Attributes:
        centroids: float64 ``(k,)``, the codebook, in the order of the initial centroids.
        labels: cluster index of every value, same shape as the values; the smallest unsigned
            integer dtype that holds k - 1 (uint8 for k <= 256, else uint16, ...).
        inertia: within-cluster sum of squares, sum((x - centroids[labels])**2) in float64.
        n_iter: number of iterations (centroid updates) performed.
        converged: True when the last iteration changed no assignment (exact fixed point).
    """

    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool


def _as_values(values: np.ndarray) -> np.ndarray:
    """Flat float64 view or copy of real, finite, non-empty values."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"values must be real numbers, got dtype {values.dtype}")
    if values.size == 0:
        raise ValueError("values is empty: k-means needs at least one value")
    flat = values.astype(np.float64, copy=False).reshape(-1)
    if not np.isfinite(flat).all():
        raise ValueError("values contain NaN or infinity")
    return flat


def _as_centroids(init: np.ndarray) -> np.ndarray:
    """Float64 copy of the initial centroids, checked to be a non-empty finite 1-D array."""
    init = np.asarray(init)
    if init.ndim != 1:
        raise ValueError(f"initial centroids must be a 1-D array, got shape {init.shape}")
    if init.size == 0:
        raise ValueError("initial centroids are empty: k must be >= 1")
    if init.dtype.kind not in "biuf":
        raise TypeError(f"initial centroids must be real numbers, got dtype {init.dtype}")
    centroids = init.astype(np.float64, copy=True)
    if not np.isfinite(centroids).all():
        raise ValueError("initial centroids contain NaN or infinity")
    return centroids


def _check_max_iter(max_iter: int) -> None:
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")


def _code_dtype(k: int) -> np.dtype:
    """Smallest unsigned integer dtype holding the codes 0 .. k-1."""
    return np.min_scalar_type(k - 1)


def init_centroids(
    values: np.ndarray, k: int, method: InitMethod = "linear", seed: int = 0
) -> np.ndarray:
    """Initial centroids for ``kmeans_1d`` (Deep Compression §3.2), float64 ``(k,)``, ascending.

    - ``"linear"``: k points evenly spaced from min to max of the values (the paper's default; it
      keeps centroids on the rare large weights, which matter most). k = 1 gives [min].
    - ``"density"``: space the y-axis of the empirical CDF evenly and take the horizontal
      intersections, i.e. the quantiles at levels (i + 1/2) / k, i = 0 .. k-1, read off the step
      CDF (``np.quantile(method="inverted_cdf")``): each centroid is the median of one k-th of
      the values, and a member of them.
    - ``"random"`` (Forgy): k of the values drawn without replacement, seeded with
      ``np.random.default_rng(seed)``. If there are fewer than k values, all of them are used and
      the rest are drawn again with replacement.

    With fewer distinct values than k some centroids coincide (density, random) or get no values
    (linear); all values equal gives k equal centroids. ``kmeans_1d`` accepts this: it relocates
    empty clusters to the values farthest from their centroids while there are values off their
    centroid, and leaves the rest empty (see the module docstring). Linear init on a pruned layer
    puts centroids in the pruned gap around zero; they start empty and are relocated.

    Args:
        values: the weights to cluster, any shape (flattened), real and finite.
        k: number of clusters, >= 1 (2**bits in the paper).
        method: ``"linear"``, ``"density"`` or ``"random"``.
        seed: seed for ``"random"``; ignored by the other methods.

    Raises:
        ValueError: empty values, non-finite values, k < 1 or an unknown method.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if method not in _INIT_METHODS:
        raise ValueError(f"unknown init method {method!r}; expected one of {_INIT_METHODS}")
    flat = _as_values(values)
    if method == "linear":
        centroids = np.linspace(flat.min(), flat.max(), k)
    elif method == "density":
        levels = (np.arange(k) + 0.5) / k
        centroids = np.quantile(flat, levels, method="inverted_cdf")
    else:
        rng = np.random.default_rng(seed)
        if k <= flat.size:
            positions = rng.choice(flat.size, size=k, replace=False)
        else:
            extra = rng.choice(flat.size, size=k - flat.size, replace=True)
            positions = np.concatenate([np.arange(flat.size), extra])
        centroids = flat[positions]
    return np.sort(np.asarray(centroids, dtype=np.float64))


@dataclass(frozen=True)
class _Boundaries:
    """The k - 1 boundaries between the centroids in sorted order, before exact thresholds.

    ``order`` is a stable argsort of the centroids. For each pair of consecutive distinct sorted
    centroids (sorted positions ``distinct`` and ``distinct + 1``), ``low`` and ``high`` are the
    two, ``low_wins_ties`` whether the lower one wins a tie (lower index) and ``guess`` the
    rounded midpoint clipped to [low, high): the exact threshold, the largest x where
    ``_low_wins`` holds, is usually the guess itself and otherwise a few floats away.
    """

    order: np.ndarray
    distinct: np.ndarray
    low: np.ndarray
    high: np.ndarray
    low_wins_ties: np.ndarray
    guess: np.ndarray

    def wins(self, x: np.ndarray) -> np.ndarray:
        return _low_wins(x, self.low, self.high, self.low_wins_ties)


def _boundaries(centroids: np.ndarray) -> _Boundaries:
    order = np.argsort(centroids, kind="stable")
    sorted_c = centroids[order]
    distinct = np.flatnonzero(sorted_c[:-1] < sorted_c[1:])
    # Within a run of equal centroids the stable sort puts the lowest index first; that one wins
    # every tie, so it is the run's representative against the next distinct centroid.
    run_start = np.zeros(centroids.size, dtype=np.intp)
    run_start[distinct + 1] = distinct + 1
    owner = order[np.maximum.accumulate(run_start)]
    low, high = sorted_c[distinct], sorted_c[distinct + 1]
    low_wins_ties = owner[distinct] < order[distinct + 1]
    guess = np.clip(0.5 * low + 0.5 * high, low, np.nextafter(high, -np.inf))
    return _Boundaries(order, distinct, low, high, low_wins_ties, guess)


def _exact_thresholds(b: _Boundaries, which: np.ndarray | slice = slice(None)) -> np.ndarray:
    """The largest x where ``b.wins`` holds, for the boundaries ``which``.

    ``_low_wins`` is true at ``low``, false at ``high`` and monotone in between.
    """
    low, high = b.low[which], b.high[which]
    ties, t = b.low_wins_ties[which], b.guess[which].copy()
    off = ~_low_wins(t, low, high, ties)
    off |= _low_wins(np.nextafter(t, np.inf), low, high, ties)
    if off.any():
        t[off] = _largest_low_win(low[off], high[off], ties[off], t[off])
    return t


def _fill_copies(per_distinct: np.ndarray, distinct: np.ndarray, k: int, fill) -> np.ndarray:
    """Spread per-boundary values over the k - 1 sorted gaps: the copies of a centroid get empty
    ranges, so their boundary is the next distinct one's (``fill`` past the last)."""
    out = np.full(k - 1, fill, dtype=np.result_type(per_distinct, type(fill)))
    out[distinct] = per_distinct
    return np.minimum.accumulate(out[::-1])[::-1]


def _decision_thresholds(centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort the centroids and find the value ranges that are nearest to each.

    Returns ``(order, thresholds)``: ``order`` int64 ``(k,)`` is a stable argsort of the centroids
    and ``thresholds`` float64 ``(k-1,)`` is non-decreasing, such that a value x belongs to the
    centroid ``order[p]`` for the p with ``thresholds[p-1] < x <= thresholds[p]`` (open ends at
    -inf and +inf). This is the nearest centroid by |x - c| in float64 with ties to the lower index.
    """
    b = _boundaries(centroids)
    return b.order, _fill_copies(_exact_thresholds(b), b.distinct, centroids.size, np.inf)


def _float_key(x: np.ndarray) -> np.ndarray:
    """int64 keys that order like the float64 values and count the floats between them."""
    bits = x.view(np.int64)
    return np.where(bits >= 0, bits, -(bits & np.int64(0x7FFF_FFFF_FFFF_FFFF)))


def _key_float(key: np.ndarray) -> np.ndarray:
    """Inverse of ``_float_key`` (-0.0 comes back as +0.0)."""
    sign = np.int64(-0x8000_0000_0000_0000)
    return np.where(key >= 0, key, (-key) | sign).view(np.float64)


def _low_wins(
    x: np.ndarray, low: np.ndarray, high: np.ndarray, low_wins_ties: np.ndarray
) -> np.ndarray:
    """Whether x goes to the lower of two centroids: the float64 comparison of argmin(|x - c|)."""
    d_low, d_high = np.abs(x - low), np.abs(x - high)
    return (d_low < d_high) | ((d_low == d_high) & low_wins_ties)


def _largest_low_win(
    low: np.ndarray, high: np.ndarray, low_wins_ties: np.ndarray, guess: np.ndarray
) -> np.ndarray:
    """Largest float x in [low, high) where ``_low_wins`` holds, elementwise, by bisection.

    The answer is usually within a few ulps of ``guess`` (the midpoint), so a narrow bracket around
    it is tried first. It can be many ulps of ``guess`` away when ``guess`` is much nearer zero
    than the centroids, where |x - c| has a coarser resolution than x itself.
    """
    margin = 8 * np.spacing(np.maximum(np.abs(low), np.abs(high)))
    near_low = np.maximum(guess - margin, low)
    near_high = np.minimum(guess + margin, high)
    narrow = _low_wins(near_low, low, high, low_wins_ties)
    narrow &= ~_low_wins(near_high, low, high, low_wins_ties)
    a = _float_key(np.where(narrow, near_low, low))
    b = _float_key(np.where(narrow, near_high, high))
    # Invariant: true at key a, false at key b. middle = floor((a + b) / 2) without overflow.
    while True:
        middle = a // 2 + b // 2 + (a % 2 + b % 2) // 2
        if not (middle > a).any():
            return _key_float(a)
        holds = _low_wins(_key_float(middle), low, high, low_wins_ties)
        a = np.where(holds, middle, a)
        b = np.where(holds, b, middle)


_GRID_BINS = 1 << 16  # bins of the lookup table in ``_labels``
_GRID_MIN_VALUES = 1 << 18  # fewer values than this are binary-searched directly


def _grid_bin(x: np.ndarray, low: float, scale: float) -> np.ndarray:
    """Bin of each x on a uniform grid: a non-decreasing function of x (every step rounds
    monotonically), which is all ``_labels`` relies on; int32 in [0, _GRID_BINS - 1]."""
    position = np.subtract(x, low)
    position *= scale
    np.clip(position, 0, _GRID_BINS - 1, out=position)
    return position.astype(np.int32)


def _labels(flat: np.ndarray, order: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Cluster index of every value, in the smallest unsigned dtype, O(n) (O(n log k) if few).

    The position of x is the number of thresholds t < x. Binary search per value is slow for
    millions of values, so a lookup table over a uniform grid of ``_GRID_BINS`` bins does most
    of the work: as the bin is a non-decreasing function b(x), a threshold with b(t) < b(x) is
    below x and one with b(t) > b(x) above it. So the position is known from the bin alone unless
    a threshold shares the bin; only the few values in such bins (at most k - 1 of them) are
    binary-searched. This is exact whatever the rounding of b.
    """
    codes = order.astype(_code_dtype(order.size))
    if flat.size < _GRID_MIN_VALUES or order.size == 1:
        return codes[np.searchsorted(thresholds, flat, side="left")]
    low, high = float(flat.min()), float(flat.max())
    span = high - low
    scale = _GRID_BINS / span if 0 < span < np.inf else 0.0
    if not 0 < scale < np.inf:
        return codes[np.searchsorted(thresholds, flat, side="left")]
    with np.errstate(over="ignore"):  # thresholds far outside [low, high] go to the end bins
        threshold_bins = _grid_bin(thresholds, low, scale)  # non-decreasing, like thresholds
    bins = np.arange(_GRID_BINS)
    below = np.searchsorted(threshold_bins, bins, side="left")
    shared = np.searchsorted(threshold_bins, bins, side="right") > below
    value_bins = _grid_bin(flat, low, scale)
    labels = codes[below][value_bins]
    unsure = np.flatnonzero(shared[value_bins])
    labels[unsure] = codes[np.searchsorted(thresholds, flat[unsure], side="left")]
    return labels


def assign_codes(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for every value (ties to the lower index), values' shape.

    Equal to ``argmin(|values[..., None] - centroids|, axis=-1)`` in the smallest unsigned integer
    dtype that holds k - 1; O(n) (O(n log k) for few values). Used to code every weight of a
    layer with its codebook.
    """
    shape = np.shape(values)
    flat = _as_values(values)
    order, thresholds = _decision_thresholds(_as_centroids(centroids))
    return _labels(flat, order, thresholds).reshape(shape)


def _inertia(flat: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    return float(np.sum(np.square(flat - centroids[labels])))


def _farthest_at_cluster_ends(
    ordered: np.ndarray,
    centroids: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    m: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted positions of the (at most) m values to relocate, farthest first, O(k m log(k m)).

    The clusters are the runs ``ordered[starts[p]:ends[p]]`` with centroid ``centroids[order[p]]``.
    Below its centroid a cluster's distances fall with the position and above it they rise, and
    the relocation order (module docstring) takes the values of one side from the outer end
    inwards, so the m first of the whole order are among the m outermost values of each side of
    each cluster. Returns ``(positions, run, above)``: the positions in ``ordered`` in relocation
    order, the run p each one leaves, and whether it lies above its centroid (taken from the run's
    upper end) or below (from its lower end). Values on their centroid are never taken.
    """
    runs = np.flatnonzero(ends > starts)
    steps = np.arange(m)
    run = np.tile(np.repeat(runs, m), 2)
    above = np.repeat([False, True], runs.size * m)
    position = np.concatenate(
        [(starts[runs, None] + steps).ravel(), (ends[runs, None] - 1 - steps).ravel()]
    )
    inside = (position >= starts[run]) & (position < ends[run])
    run, above, position = run[inside], above[inside], position[inside]
    x = ordered[position]
    c = centroids[order[run]]
    off = np.where(above, x > c, x < c)
    run, above, position, x, c = run[off], above[off], position[off], x[off], c[off]
    distance = np.abs(x - c)
    # Primary key last: larger distance, lower cluster index, below first, farther out.
    rank = np.lexsort((np.where(above, -position, position), above, order[run], -distance))[:m]
    return position[rank], run[rank], above[rank]


def kmeans_1d(
    values: np.ndarray, init: np.ndarray, max_iter: int = 300, relocate: bool = True
) -> KMeansResult:
    """Lloyd's k-means on scalar values, O(k log n) per iteration after one O(n log n) sort.

    Empty clusters are relocated to the values farthest from their centroids, as in scikit-learn
    (O(k²) more in the iterations that have empty clusters).

    Args:
        values: the weights to cluster, any shape, real and finite (float32 is computed in float64).
        init: float ``(k,)`` initial centroids, e.g. from ``init_centroids``; any order.
        max_iter: most iterations (centroid updates) to run, >= 0.
        relocate: False leaves empty clusters empty, their centroids where they are (plain
            Lloyd's, as Deep Compression's linear initialisation runs: centroids that start in a
            pruned layer's gap around zero stay unused, and the codes in use are fewer and less
            evenly spread, which Huffman coding then turns into fewer bits).

    Returns:
        A ``KMeansResult``; see the module docstring for the rules (ties, empty clusters,
        relocation, stopping).
    """
    _check_max_iter(max_iter)
    shape = np.shape(values)
    flat = _as_values(values)
    centroids = _as_centroids(init)
    k = centroids.size
    # Sorting float32 before widening is faster and gives the same order.
    ordered = np.sort(np.asarray(values).reshape(-1)).astype(np.float64, copy=False)
    prefix = np.zeros(flat.size + 1)
    np.cumsum(ordered, out=prefix[1:])

    n = flat.size

    def clusters(centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stable argsort of the centroids, and start and end (exclusive) in ``ordered`` of every
        cluster, by sorted position.

        A boundary is the number of values where the lower centroid wins, the values up to the
        exact threshold. The rounded midpoint usually is that threshold or has no value between
        itself and it, which the values on both sides of its cut show; only other boundaries
        need the exact threshold (the midpoint of a pruned layer's two sides lies near zero,
        where that takes a bisection).
        """
        b = _boundaries(centroids)
        cut = np.searchsorted(ordered, b.guess, side="right")
        right = (cut == 0) | b.wins(ordered[np.maximum(cut - 1, 0)])
        right &= (cut == n) | ~b.wins(ordered[np.minimum(cut, n - 1)])
        if not right.all():
            wrong = np.flatnonzero(~right)
            cut[wrong] = np.searchsorted(ordered, _exact_thresholds(b, wrong), side="right")
        bounds = np.empty(k + 1, dtype=np.intp)
        bounds[0], bounds[-1] = 0, n
        bounds[1:-1] = _fill_copies(cut, b.distinct, k, n)
        return b.order, bounds[:-1], bounds[1:]

    def assignment(order: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """A key equal between two iterations exactly when no value changed cluster."""
        key = np.zeros((k, 2), dtype=np.intp)
        nonempty = ends > starts
        key[order[nonempty], 0] = starts[nonempty]
        key[order[nonempty], 1] = ends[nonempty]
        return key

    def update(
        centroids: np.ndarray, order: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> tuple[np.ndarray, bool]:
        """Relocation for the empty clusters, then the means; returns (centroids, relocated)."""
        centroids = centroids.copy()
        first, stop = starts.copy(), ends.copy()
        empty = np.sort(order[ends == starts])
        relocated = False
        if empty.size and relocate:
            position, run, above = _farthest_at_cluster_ends(
                ordered, centroids, order, starts, ends, empty.size
            )
            if position.size:
                relocated = True
                # Each becomes alone the cluster of an empty one; the runs they leave shrink at
                # the end they were taken from (the outermost values of each side go first).
                centroids[empty[: position.size]] = ordered[position]
                first += np.bincount(run[~above], minlength=k)
                stop -= np.bincount(run[above], minlength=k)
        nonempty = stop > first
        first, stop = first[nonempty], stop[nonempty]
        means = (prefix[stop] - prefix[first]) / (stop - first)
        # Clipped to the cluster's extremes (see the module docstring).
        centroids[order[nonempty]] = np.clip(means, ordered[first], ordered[stop - 1])
        return centroids, relocated

    order, starts, ends = clusters(centroids)
    key = assignment(order, starts, ends)
    n_iter, converged = 0, False
    while n_iter < max_iter:
        n_iter += 1
        centroids, relocated = update(centroids, order, starts, ends)
        order, starts, ends = clusters(centroids)
        new_key = assignment(order, starts, ends)
        if not relocated and np.array_equal(new_key, key):
            converged = True
            break
        key = new_key
    labels = _labels(flat, *_decision_thresholds(centroids))
    return KMeansResult(
        centroids=centroids,
        labels=labels.reshape(shape),
        inertia=_inertia(flat, centroids, labels),
        n_iter=n_iter,
        converged=converged,
    )


def kmeans_1d_reference(
    values: np.ndarray, init: np.ndarray, max_iter: int = 300, relocate: bool = True
) -> KMeansResult:
    """Slow, obvious O(n k)-per-iteration Lloyd's k-means with the same rules, for tests.

    Relocation sorts all values by the relocation order, O(n log n), in the iterations that have
    empty clusters.
    """
    _check_max_iter(max_iter)
    shape = np.shape(values)
    x = _as_values(values)
    centroids = _as_centroids(init)
    k = centroids.size

    def nearest(c: np.ndarray) -> np.ndarray:
        return np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)

    labels = nearest(centroids)
    n_iter, converged = 0, False
    while n_iter < max_iter:
        n_iter += 1
        member = labels.copy()
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        relocated = False
        if empty.size and relocate:
            assigned = centroids[labels]
            distance = np.abs(x - assigned)
            off = np.flatnonzero(distance > 0)
            above = x[off] > assigned[off]
            farther_out = np.where(above, -x[off], x[off])
            # Larger distance, lower cluster index, below the centroid first, farther out.
            rank = np.lexsort((farther_out, above, labels[off], -distance[off]))
            far = off[rank[: empty.size]]
            if far.size:
                relocated = True
                member[far] = empty[: far.size]
        counts = np.bincount(member, minlength=k)
        sums = np.bincount(member, weights=x, minlength=k)
        nonempty = counts > 0
        # Same rule as the fast fit: a mean is clipped to its cluster's extremes.
        lowest = np.full(k, np.inf)
        highest = np.full(k, -np.inf)
        np.minimum.at(lowest, member, x)
        np.maximum.at(highest, member, x)
        centroids = centroids.copy()
        centroids[nonempty] = np.clip(
            sums[nonempty] / counts[nonempty], lowest[nonempty], highest[nonempty]
        )
        new_labels = nearest(centroids)
        if not relocated and np.array_equal(new_labels, labels):
            converged = True
            break
        labels = new_labels
    return KMeansResult(
        centroids=centroids,
        labels=labels.astype(_code_dtype(k)).reshape(shape),
        inertia=_inertia(x, centroids, labels),
        n_iter=n_iter,
        converged=converged,
    )
